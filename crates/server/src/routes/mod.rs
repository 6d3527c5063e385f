//! Request handlers, one module per API surface.

mod body;
pub mod chat;
