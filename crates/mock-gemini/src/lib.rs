//! `mock-gemini`: a scriptable fake of Google's Gemini API (`v1beta` `generateContent` and
//! `streamGenerateContent?alt=sse`) for Pollux's tests, benchmarks and offline demos.
//!
//! It shares no wire types with the rest of Pollux: every body is a `serde_json::Value` or a
//! string written the way Gemini writes it, and checked against the embedded oracle schema
//! ([`oracle`]). It is no kinder than the real API: requests are checked as Gemini checks them
//! (key, schema, content rules, Gemini 3 thought signatures) and refused with Gemini's error
//! bodies.
//!
//! ```no_run
//! use mock_gemini::{MockGemini, Scenario};
//! # fn main() -> std::io::Result<()> {
//! let mock = MockGemini::start()?;
//! mock.push(Scenario::text("Hello!"));
//! // point the client at mock.base_url() ...
//! assert_eq!(mock.request_count(), 0);
//! # Ok(()) }
//! ```
//!
//! It also answers Vertex AI's URL shapes (`.../publishers/google/models/{m}:{rpc}`), checks
//! their OAuth bearer tokens against those a test accepted, and refuses what Vertex refuses.
//! Explicit caches (`POST v1beta/cachedContents`) belong to the key that created them.
//!
//! With an empty queue the mock echoes the last user text ("mock-gemini says: ..."), speaks
//! a tone to a TTS request and hears [`TRANSCRIPT`] in any audio ([`Scenario::default_for`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod body;
mod caches;
pub mod catalog;
mod checks;
pub mod files;
pub mod images;
mod keyrules;
pub mod oracle;
mod record;
mod render;
mod scenario;
mod server;
pub mod signatures;
mod vertex;

pub use checks::Rejection;
pub use keyrules::KeyRule;
pub use record::RecordedRequest;
pub use scenario::{Scenario, StreamStep, SPEECH_MIME, TRANSCRIPT, TRANSCRIPT_SEGMENTS};
pub use server::{MockConfig, MockGemini, Tokens};
