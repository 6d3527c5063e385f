//! mock-gemini's one integration-test binary (ripgrep's `tests/it` layout): new integration
//! tests are modules here, not new `tests/*.rs` binaries.

mod mock;
