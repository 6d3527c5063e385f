//! The translate crate's one integration-test binary (ripgrep's `tests/it` layout): new
//! integration tests are modules here, not new `tests/*.rs` binaries.

mod golden;
mod media_golden;
