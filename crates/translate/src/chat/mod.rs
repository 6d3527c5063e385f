//! The Chat Completions dialect: a [`ChatCompletionRequest`](crate::openai::chat::ChatCompletionRequest)
//! mapped to Gemini ([`request`]), Gemini's answer mapped to a `chat.completion`
//! ([`response`]), and the state machine turning Gemini's stream into
//! `chat.completion.chunk`s ([`stream`]). The rules both dialects follow live in
//! [`build`](crate::build); what is here is Chat Completions' own.

pub mod finish;
pub mod request;
pub mod response;
pub mod stream;

pub use request::{remote_media, to_gemini, RemoteMedia, RequestOptions, Translated};
pub use response::{to_openai, IdSource, ResponseContext, SequentialIds};
pub use stream::StreamTranslator;
