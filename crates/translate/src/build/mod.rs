//! The Gemini-side builders both OpenAI dialects share: each takes plain values (strings,
//! slices, numbers, Gemini wire types, the OpenAI bits every dialect has), never a dialect's
//! request type, so Chat Completions and the Responses API map to Gemini by the same rules.
//!
//! Request side: `parts` (text, history calls and results), [`media`], `tools`
//! (declarations, schemas via [`schema`], `toolConfig`), [`generation`] (sampling, stops,
//! thinking), [`safety`] and [`signatures`]; answer side: [`finish`], [`usage`], [`stops`]
//! (stop sequences beyond Gemini's five), the refusal texts in [`safety`], citations from
//! [`grounding`] and code-execution blocks (`code_execution`); both sides:
//! [`names`] (client tool names ⇄ Gemini's); [`cache`] (what a request naming a cached
//! content leaves out); `body` (what `extra_body.google` and the server's options add to a
//! mapped request).

pub(crate) mod body;
pub mod cache;
pub(crate) mod code_execution;
pub(crate) mod conversation;
pub mod finish;
pub mod generation;
pub mod grounding;
pub mod logprobs;
pub mod media;
pub mod names;
pub mod options;
pub(crate) mod parts;
pub mod safety;
pub mod schema;
pub mod signatures;
pub mod stops;
pub(crate) mod tools;
pub mod usage;
pub mod vertex;
