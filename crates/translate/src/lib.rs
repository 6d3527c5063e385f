//! Pure, synchronous translation between the OpenAI Chat Completions wire format and
//! Google's Gemini `generateContent` wire format.
//!
//! Nothing here performs IO or reads a clock or RNG: ids, timestamps and the echoed model
//! name come in through [`ResponseContext`], so every mapping is deterministic and golden
//! files stay byte-stable.
//!
//! - [`openai`] and [`gemini`] hold the wire types of each side.
//! - [`request`] maps a chat request to a `GenerateContentRequest`.
//! - [`response`] maps a `GenerateContentResponse` to a `chat.completion`.
//! - [`stream`] is the state machine turning Gemini SSE events into `chat.completion.chunk`s.
//! - [`sse`] decodes Server-Sent Events from raw bytes.
//! - [`models`] and [`embeddings`] map the model list and embeddings.

pub mod capabilities;
pub mod embeddings;
mod error;
pub mod gemini;
pub mod models;
pub mod names;
pub mod openai;
pub mod request;
pub mod response;
pub mod schema;
pub mod sse;
pub mod stops;
pub mod stream;

pub use error::TranslateError;
pub use request::{to_gemini, MediaSource, RequestOptions, SignatureSource, Translated};
pub use response::{to_openai, IdSource, ResponseContext};
pub use stream::StreamTranslator;
