//! `cargo fuzz run chat_translate`: see [`pollux_fuzz::chat_translate`] and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pollux_fuzz::chat_translate(data));
