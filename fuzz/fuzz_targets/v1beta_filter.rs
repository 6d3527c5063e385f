//! `cargo fuzz run v1beta_filter --features v1beta`: the `/v1beta` pass-through's path and
//! query filter (`routes/native.rs`) on any input, read as `<path>?<query>`. Built only with
//! the `v1beta` feature, once that pure filter exists (docs/fuzzing.md).
#![no_main]

use pollux_server::routes::native::upstream_path_and_query;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let Ok(out) = upstream_path_and_query(path, query) else {
        return;
    };
    let (out_path, out_query) = out.split_once('?').unwrap_or((&out, ""));
    assert!(out_path.starts_with("/v1beta"), "{out:?} leaves /v1beta");
    assert!(
        !out_path.split('/').any(|seg| seg == ".." || seg == "."),
        "{out:?} keeps a dot segment"
    );
    assert!(!out_path.contains("//"), "{out:?} keeps an empty segment");
    assert!(
        !out_query
            .split('&')
            .any(|p| p == "key" || p.starts_with("key=")),
        "{out:?} sends the client's key upstream"
    );
});
