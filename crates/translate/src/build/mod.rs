//! The Gemini-side builders both OpenAI dialects share: each takes plain values (strings,
//! slices, numbers, Gemini wire types), never a dialect's request type, so Chat Completions
//! and the Responses API map to Gemini by the same rules.

pub mod finish;
pub mod generation;
pub mod media;
pub mod names;
pub(crate) mod parts;
pub mod safety;
pub mod schema;
pub mod signatures;
pub mod stops;
