//! Pollux's HTTP server: an actix-web app exposing the OpenAI Chat Completions API, backed
//! by Gemini's `generateContent` / `streamGenerateContent` through an awc client.
//!
//! Layers, top first:
//! 1. `app`: the composition root (state, services, routes, binding).
//! 2. `routes/*`: every handler, `/metrics` and the probes included.
//! 3. `state`: AppState, what every handler reads, with the model-list cache.
//! 4. `settings`: the settings in typed form, parsed and checked once at start-up.
//! 5. `upstream`, `gcp_auth`, `resilience`, `observe`, `guard`, `media/*`, `audio`, `store/*`, `runs`, `inspect`: services.
//! 6. `metrics`, `keys`, `shared`, `endpoint`, `retry`, `signatures`, `access_log`, `sse`, `ids`: leaf helpers.
//! 7. `config`, `config_file`: the raw flags, environment and config file.
//! 8. `error`, `failure`: the one error type and its HTTP mapping; how an upstream call failed.
//!
//! A module imports only from its own layer (never in a circle) or below; the `layers` test
//! reads the list above and fails on an upward import, a circle or an unlisted module.
//!
//! - [`config`]: flags and environment.
//! - [`config_file`]: the TOML config file, the key pool and aliases as listed, the
//!   redacted listing of `check-config`.
//! - [`settings`]: the typed settings ([`settings::Settings`]); [`Config::validate`].
//! - [`app`]: the composition root: [`bind`] and [`configure`].
//! - [`state`]: [`state::AppState`], shared by every worker.
//! - [`routes`]: request handlers.
//! - [`upstream`]: the Gemini client.
//! - [`endpoint`]: the URL shapes of AI Studio and Vertex AI.
//! - [`gcp_auth`]: Vertex AI's OAuth credentials and the shared token refresher.
//! - [`error`]: the one error type and its HTTP mapping.
//! - [`signatures`]: the thought-signature memory.
//! - [`ids`]: the ids Pollux makes up, a Responses item's naming its response.
//! - [`keys`]: client keys and the upstream key pool.
//! - [`media`]: fetching remote images of chat requests ([`media::fetch`]), behind an SSRF
//!   guard ([`media::guard`]).
//! - [`metrics`]: counters and histograms (served by `routes::metrics`).
//! - [`observe`]: request ids, the access log, the overhead header.
//! - [`guard`]: the Host, Origin and content-type checks in front of every route.
//! - [`access_log`]: the buffered writer of access lines.
//! - [`resilience`]: the upstream concurrency cap, the overall deadline, stream keep-alive.
//! - [`retry`]: when and how long to wait before repeating a failed upstream request.
//! - [`store`]: stored responses of the Responses API, embedded by default.
//! - [`runs`]: background responses in flight, their events and cancel handles.
//! - [`shared`]: the state replicas share in Redis (`--state`).
//! - [`audio`]: encoding speech into the client's `response_format`.
//! - [`inspect`]: the inspector's in-memory ring of recent exchanges (docs/inspector.md).

pub mod access_log;
pub mod app;
pub mod audio;
pub mod config;
pub mod config_file;
pub mod endpoint;
pub mod error;
pub mod failure;
pub mod gcp_auth;
pub mod guard;
pub mod ids;
pub mod inspect;
pub mod keys;
#[cfg(test)]
mod layers;
pub mod media;
pub mod metrics;
pub mod observe;
pub mod resilience;
pub mod retry;
pub mod routes;
pub mod runs;
pub mod settings;
pub mod shared;
pub mod signatures;
mod sse;
pub mod state;
pub mod store;
pub mod upstream;

pub use app::{bind, configure};
pub use config::Config;
pub use error::ApiError;
