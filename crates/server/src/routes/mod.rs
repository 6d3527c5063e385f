//! Request handlers, one module per API surface.

pub mod audio;
mod body;
pub(crate) mod call;
pub mod chat;
pub mod embeddings;
mod generate;
pub mod health;
pub mod images;
pub mod inspector;
pub mod metrics;
pub mod models;
pub mod native;
pub mod responses;
pub mod service;
pub mod stored;
