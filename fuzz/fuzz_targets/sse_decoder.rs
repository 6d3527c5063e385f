//! `cargo fuzz run sse_decoder`: see [`pollux_fuzz::sse_decoder`] and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pollux_fuzz::sse_decoder(data));
