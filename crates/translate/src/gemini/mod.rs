//! Gemini `generateContent` wire types, named as the v1beta REST reference names them
//! (<https://ai.google.dev/api/generate-content>). Requests are written strictly (the real
//! API rejects unknown fields, so every outbound `Option` is skipped when unset); responses
//! are read leniently (gateways add fields the protos lack, and enums grow).

mod embeddings;
mod files;
mod images;
mod models;
mod request;
mod response;

pub use embeddings::*;
pub use files::*;
pub use images::*;
pub use models::*;
pub use request::*;
pub use response::*;

/// Strips the `models/` prefix some clients copy from Gemini's model names.
pub fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}
