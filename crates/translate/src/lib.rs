//! Pure, synchronous translation between the OpenAI wire formats and Google's Gemini
//! `generateContent` wire format.
//!
//! Nothing here performs IO or reads a clock or RNG: ids, timestamps and the echoed model
//! name come in through [`ResponseContext`], so every mapping is deterministic and golden
//! files stay byte-stable.
//!
//! Layers, each importing only from those below it:
//! - Top, one module per OpenAI dialect: [`chat`] maps a Chat Completions request to
//!   Gemini, an answer back, and runs the stream state machine; [`responses`] does the same
//!   for the Responses API.
//! - Middle, shared by every dialect: [`build`] (the Gemini-side builders: parts and media,
//!   tools and schemas, generation and thinking, safety, usage, finish reasons, thought
//!   signatures, stop sequences, tool names) and [`capabilities`] (what each model accepts).
//! - Edges, the wires: [`openai`] (one folder per OpenAI API, plus what they share),
//!   [`gemini`], and [`sse`] (Server-Sent Events decoded from raw bytes).
//!
//! [`embeddings`] and [`models`] map the two smaller endpoints; [`speech`] and
//! [`transcription`] the audio ones.

pub mod build;
pub mod capabilities;
pub mod chat;
pub mod embeddings;
mod error;
pub mod gemini;
pub mod models;
pub mod openai;
pub mod responses;
pub mod speech;
pub mod sse;
pub mod transcription;

pub use build::media::MediaSource;
pub use build::signatures::SignatureSource;
pub use chat::{
    to_gemini, to_openai, IdSource, RequestOptions, ResponseContext, SequentialIds,
    StreamTranslator, Translated,
};
pub use error::TranslateError;
