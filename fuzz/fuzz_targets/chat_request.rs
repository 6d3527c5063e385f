//! `cargo fuzz run chat_request`: see [`pollux_fuzz::chat_request`] and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pollux_fuzz::chat_request(data));
