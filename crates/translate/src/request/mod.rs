//! OpenAI chat request → Gemini `GenerateContentRequest`.
//!
//! Implements the request half of the mapping table in `docs/mapping.md`:
//! <https://platform.openai.com/docs/api-reference/chat/create> on one side,
//! <https://ai.google.dev/api/generate-content#request-body> on the other.
//! The work is split by what it maps: [`messages`] (the conversation), [`media`] (content
//! parts that carry files), [`tools`] (declarations and `tool_choice`) and [`generation`]
//! (sampling, output format and thinking controls).

mod generation;
mod media;
mod messages;
#[cfg(test)]
mod tests;
mod tools;

pub use media::is_gemini_uri;

use crate::capabilities::Family;
use crate::gemini;
use crate::names::ToolNames;
use crate::openai;
use crate::TranslateError;

use generation::map_generation_config;
use messages::map_messages;
use tools::{map_tool_choice, map_tools};

/// Gemini accepts at most this many `stopSequences`.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// Google's documented value for a function call whose real signature is unknown
/// (history written by another model or a client that dropped it).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Where earlier answers' thought signatures can be found when the client dropped them.
pub trait SignatureSource {
    fn signature_for(&self, tool_call_id: &str) -> Option<String>;
}

/// No remembered signatures.
impl SignatureSource for () {
    fn signature_for(&self, _: &str) -> Option<String> {
        None
    }
}

/// Per-request settings that do not come from the client body.
pub struct RequestOptions<'a> {
    /// The upstream model id, without the `models/` prefix.
    pub model: &'a str,
    /// Send tool and response schemas in Google's legacy OpenAPI-subset form.
    pub legacy_schemas: bool,
    pub signatures: &'a dyn SignatureSource,
}

/// The Gemini body plus what the response side needs to undo the mapping.
#[derive(Debug)]
pub struct Translated {
    pub body: gemini::GenerateContentRequest,
    /// Client tool names ↔ names sent to Gemini.
    pub names: ToolNames,
    /// Stop sequences beyond Gemini's limit, enforced by Pollux on the answer.
    pub extra_stops: Vec<String>,
    /// Number of choices the client asked for.
    pub n: u32,
}

/// Strips the `models/` prefix some clients copy from Gemini's model names.
pub fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// Maps a chat request to a Gemini request.
pub fn to_gemini(
    req: &openai::ChatCompletionRequest,
    opts: &RequestOptions<'_>,
) -> Result<Translated, TranslateError> {
    if req.messages.is_empty() {
        return Err(TranslateError::invalid(
            "'messages' must contain at least one message.",
            "messages",
        ));
    }
    let family = Family::of(opts.model);
    let mut names = ToolNames::default();
    let tools = map_tools(req, &mut names, opts.legacy_schemas)?;
    let tool_config = map_tool_choice(req, &names, !tools.is_empty())?;
    let (system_instruction, contents) = map_messages(&req.messages, &mut names, family, opts)?;
    let (generation_config, extra_stops) = map_generation_config(req, opts.legacy_schemas)?;
    let n = req.n.unwrap_or(1);

    let body = gemini::GenerateContentRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        safety_settings: None,
        cached_content: None,
        generation_config,
    };
    Ok(Translated {
        body,
        names,
        extra_stops,
        n,
    })
}
