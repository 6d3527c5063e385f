//! Pollux's HTTP server: an actix-web app exposing the OpenAI Chat Completions API, backed
//! by Gemini's `generateContent` / `streamGenerateContent` through an awc client.
//!
//! - [`config`]: flags and environment.
//! - [`app`]: routes, shared state, binding.
//! - [`routes`]: request handlers.
//! - [`upstream`]: the Gemini client.
//! - [`error`]: the one error type and its HTTP mapping.
//! - [`signatures`]: the thought-signature memory.
//! - [`keys`]: client keys and the upstream key pool.
//! - [`media`]: fetching remote images of chat requests, behind an SSRF guard.
//! - [`config_file`]: the TOML config file and the service settings' checks.
//! - [`metrics`]: counters and histograms, `GET /metrics`.
//! - [`observe`]: request ids, the access log, the overhead header.
//! - [`guard`]: the Host, Origin and content-type checks in front of every route.
//! - [`access_log`]: the buffered writer of access lines.
//! - [`resilience`]: the upstream concurrency cap, the overall deadline, stream keep-alive.
//! - [`retry`]: when and how long to wait before repeating a failed upstream request.

pub mod access_log;
pub mod app;
pub mod config;
pub mod config_file;
pub mod error;
pub mod guard;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod observe;
pub mod resilience;
pub mod retry;
pub mod routes;
pub mod settings;
pub mod signatures;
mod sse;
pub mod state;
pub mod upstream;

pub use app::{bind, configure};
pub use config::Config;
pub use error::ApiError;
