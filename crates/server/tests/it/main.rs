//! The server crate's one integration-test binary: each file that used to be its own
//! `tests/*.rs` binary is a module here, so `cargo test` compiles the shared harness and links
//! the dependency tree once instead of once per file (ripgrep's `tests/it` layout).

mod support;

mod audio;
mod chat;
mod faults;
mod guard;
mod images;
mod inspector;
mod limits;
mod media;
mod observability;
mod process;
mod replicas;
mod responses;
mod retries;
mod service;
mod shared;
mod stored;
mod surface;
mod tools;
mod upstream_path;
mod vertex;
