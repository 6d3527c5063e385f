//! What every dialect's mapping takes besides the client's body: the per-request settings
//! ([`RequestOptions`]), the remote media a request names ([`RemoteMedia`]) and where the ids
//! of generated items come from ([`IdSource`]).

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::build::media::MediaSource;
use crate::build::signatures::SignatureSource;
use crate::capabilities::{Capabilities, SchemaFlavour};

/// Per-request settings that do not come from the client body.
pub struct RequestOptions<'a> {
    /// The upstream model id, without the `models/` prefix.
    pub model: &'a str,
    /// What the model accepts; `None` uses the built-in table.
    pub capabilities: Option<&'a Capabilities>,
    /// Send tool and response schemas in Google's legacy OpenAPI-subset form regardless of
    /// the model (for upstreams that only take the legacy form).
    pub legacy_schemas: bool,
    /// Refuse (400) instead of dropping parameters the model cannot take.
    pub strict_params: bool,
    pub signatures: &'a dyn SignatureSource,
    pub media: &'a dyn MediaSource,
    /// Server-wide `safetySettings` used when the client sends none.
    pub default_safety_settings: Option<&'a RawValue>,
    /// Which upstream the body is for (Vertex AI differs in a few details).
    pub dialect: Dialect,
}

/// The upstream's wire dialect. Vertex AI takes the Gemini API's `GenerateContentRequest`
/// with a few differences (see [`crate::build::vertex`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// The Gemini API (AI Studio).
    #[default]
    Gemini,
    /// Vertex AI (regional, global or express mode).
    Vertex,
}

impl<'a> RequestOptions<'a> {
    /// Options with every default: built-in capabilities, lenient parameters, no memory.
    pub fn new(model: &'a str) -> Self {
        RequestOptions {
            model,
            capabilities: None,
            legacy_schemas: false,
            strict_params: false,
            signatures: &(),
            media: &(),
            default_safety_settings: None,
            dialect: Dialect::Gemini,
        }
    }

    /// The model's capabilities, with the legacy schema form forced when asked (borrowed
    /// when nothing changes: this runs on every request).
    pub(crate) fn resolved_capabilities(&self) -> Cow<'a, Capabilities> {
        let mut caps = match self.capabilities {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(Capabilities::builtin(self.model)),
        };
        if self.legacy_schemas && caps.schema != SchemaFlavour::Legacy {
            caps.to_mut().schema = SchemaFlavour::Legacy;
        }
        caps
    }
}

/// A remote media URL in the request that the server must fetch before translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia<'a> {
    pub url: &'a str,
    /// Where the request has it (`messages[i].content[k]`, `input[i].content[k]`), for
    /// error messages.
    pub param: String,
}

/// Source of ids for what Gemini did not name (tool calls) or has no notion of (output
/// items). Kept outside the crate so translation stays deterministic: the server passes a
/// random source, tests a counter.
pub trait IdSource {
    fn tool_call_id(&mut self) -> String;

    /// An id for an output item of the Responses API, `{prefix}_...` (`rs`, `msg`, `fc`,
    /// `ctc`, `ws`).
    fn item_id(&mut self, prefix: &str) -> String {
        let call = self.tool_call_id();
        format!("{prefix}_{}", call.trim_start_matches("call_"))
    }
}

/// Deterministic ids (`call_1`, `call_2`, ...) for tests and golden files.
#[derive(Debug, Default)]
pub struct SequentialIds(pub u64);

impl IdSource for SequentialIds {
    fn tool_call_id(&mut self) -> String {
        self.0 += 1;
        format!("call_{}", self.0)
    }
}
