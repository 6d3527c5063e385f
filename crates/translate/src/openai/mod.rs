//! The OpenAI side's wire types. Each API Pollux speaks has its own folder ([`chat`] for Chat
//! Completions, [`responses`] for the Responses API); what every OpenAI body shares sits beside them: reading a body
//! (`body`) within [`Limits`], the one-pass reader of tagged objects, Google's
//! extension slots ([`GoogleOptions`], [`ExtraContent`]), the error envelope, and the
//! embeddings and model-list bodies.

pub mod audio;
mod body;
pub mod chat;
mod embeddings;
mod error;
mod google;
mod limits;
pub mod logprobs;
mod models;
mod reasoning;
pub mod responses;
mod tagged;

pub use embeddings::*;
pub use error::*;
pub use google::*;
pub use limits::Limits;
pub use models::*;
pub use reasoning::ReasoningEffort;
