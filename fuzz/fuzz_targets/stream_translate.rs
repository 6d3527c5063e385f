//! `cargo fuzz run stream_translate`: see [`pollux_fuzz::stream_translate`] and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pollux_fuzz::stream_translate(data));
