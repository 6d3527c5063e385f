//! `cargo fuzz run schema_legacy`: see [`pollux_fuzz::schema_legacy`] and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pollux_fuzz::schema_legacy(data));
