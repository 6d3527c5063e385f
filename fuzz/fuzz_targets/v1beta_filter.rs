//! `cargo fuzz run v1beta_filter --features v1beta`: the `/v1beta` pass-through's path and
//! query filter (`routes/native.rs`, `upstream_path_and_query`) on any input, read as
//! `<path>?<query>`. The filter's output must stay under `/v1beta`, keep no dot or empty
//! segment once decoded, and forward no query parameter whose decoded name is `key` in any
//! letter case.
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
    for segment in out_path.split('/').skip(1) {
        let decoded = percent_encoding::percent_decode_str(segment).collect::<Vec<u8>>();
        assert!(
            !decoded.is_empty() && decoded != b"." && decoded != b"..",
            "{out:?} keeps an empty or dot segment"
        );
    }
    assert!(
        !form_urlencoded::parse(out_query.as_bytes())
            .any(|(name, _)| name.eq_ignore_ascii_case("key")),
        "{out:?} sends a key parameter upstream"
    );
    // Normalised output is a fixed point: filtering it again changes nothing.
    let again = upstream_path_and_query(out_path, out_query);
    assert!(
        again.as_deref().is_ok_and(|twice| twice == out),
        "{out:?} is not stable under a second pass: {again:?}"
    );
});
