//! Gemini's complete (unstreamed) answer → the response object: the state machine of
//! [`stream`](super::stream) run over the one event with its events turned off, so a plain
//! answer and a stream's final `response` cannot differ.

use crate::build::names::ToolNames;
use crate::build::options::IdSource;
use crate::gemini;
use crate::openai::responses::{Echo, Response};
use crate::responses::request::OutputOptions;
use crate::responses::stream::StreamTranslator;
use crate::responses::CallShapes;

/// Everything the response needs that Gemini does not provide.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// `resp_...`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds, for `completed_at` (the server sets it when the answer is read).
    pub completed_at: u64,
    pub names: ToolNames,
    pub shapes: CallShapes,
    pub echo: Echo,
    pub output: OutputOptions,
}

/// Maps a complete Gemini answer, with the signatures of its calls by `call_id` (for the
/// server's cache).
pub fn to_response(
    resp: gemini::GenerateContentResponse,
    ctx: ResponseContext,
    ids: &mut dyn IdSource,
) -> (Response, Vec<(String, String)>) {
    let mut machine = StreamTranslator::with_events(ctx, false);
    machine.on_event(resp, ids);
    machine.finish(ids);
    let signatures = machine.take_signatures();
    (machine.into_response(), signatures)
}
