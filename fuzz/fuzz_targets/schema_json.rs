//! `cargo fuzz run schema_json`: see [`pollux_fuzz::schema_json`] and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pollux_fuzz::schema_json(data));
