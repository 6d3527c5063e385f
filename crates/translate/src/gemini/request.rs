//! Outbound Gemini bodies: `GenerateContentRequest` and everything inside it.
//! `Content` and `Part` are shared with responses, so they also deserialize leniently.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// Gemini accepts at most this many `stopSequences`.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// `POST models/{model}:generateContent` body.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Turn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Turn>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_settings: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_content: Option<String>,
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    pub generation_config: GenerationConfig,
    /// Vertex AI only: billing labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// `flex` or `priority` (<https://ai.google.dev/gemini-api/docs/flex-inference>); absent
    /// means the standard tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<&'static str>,
}

impl GenerateContentRequest {
    /// A capacity for this body's JSON, for a request whose own body was `client_len` bytes,
    /// so that encoding does not grow its buffer by doubling (for a moment the old buffer and
    /// one twice its size, about 3x the body: issue #13, finding 6).
    ///
    /// Texts, media and tool declarations come out no longer than the client wrote them; what
    /// grows is the frame around each part (`{"text":…}` where the client wrote
    /// `"content":…`), and what Pollux adds: thought signatures (from its cache or the skip
    /// value), and the tool's name and a `{"result":…}` wrapper around each tool result. A
    /// margin covers the rest (`len / 16`, 1 KiB). Remote media the server fetched is not
    /// counted: the buffer grows for it.
    pub fn encoded_len_hint(&self, client_len: usize) -> usize {
        let mut added = 0usize;
        for turn in self.system_instruction.iter().chain(&self.contents) {
            for part in &turn.parts {
                added += match part {
                    TurnPart::Text(_) => 12,
                    TurnPart::Call(signed) => 16 + signed.signature.as_ref().map_or(0, String::len),
                    TurnPart::Response(response) => 16 + response.name.len(),
                    TurnPart::Other(part) => {
                        16 + part.thought_signature.as_ref().map_or(0, String::len)
                    }
                };
            }
        }
        client_len + client_len / 16 + 1024 + added
    }
}

/// One turn of the conversation as Pollux sends it: a [`Content`] whose parts are kept
/// compact ([`TurnPart`]).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Turn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub parts: Vec<TurnPart>,
}

/// A part of an outbound turn, written as the same JSON as the [`Part`] it stands for. A
/// request is mostly plain text parts, tool calls and tool results: those keep only what
/// they hold (a text part is its string, 24 bytes, where a [`Part`] is 120), anything else
/// is a boxed [`Part`]. A request of short messages would otherwise hold about 150 bytes of
/// Gemini parts and turns for each 32-byte message (issue #13, finding 6).
#[derive(Debug, Clone)]
pub enum TurnPart {
    /// A text part without a signature: `{"text": …}`.
    Text(String),
    /// `{"functionCall": …, "thoughtSignature": …}`.
    Call(Box<SignedCall>),
    /// `{"functionResponse": …}`.
    Response(Box<FunctionResponse>),
    /// Any other part: media, or text with a signature.
    Other(Box<Part>),
}

/// A function call of the history with the thought signature sent beside it.
#[derive(Debug, Clone)]
pub struct SignedCall {
    pub call: FunctionCall,
    pub signature: Option<String>,
}

impl TurnPart {
    pub fn text(text: impl Into<String>) -> Self {
        TurnPart::Text(text.into())
    }

    /// Attaches a thought signature (Gemini wants it back on the part it came with).
    pub fn set_thought_signature(&mut self, signature: String) {
        let part = match std::mem::replace(self, TurnPart::Text(String::new())) {
            TurnPart::Call(mut signed) => {
                signed.signature = Some(signature);
                TurnPart::Call(signed)
            }
            TurnPart::Text(text) => TurnPart::Other(Box::new(Part {
                text: Some(text),
                thought_signature: Some(signature),
                ..Part::default()
            })),
            TurnPart::Response(response) => TurnPart::Other(Box::new(Part {
                function_response: Some(response),
                thought_signature: Some(signature),
                ..Part::default()
            })),
            TurnPart::Other(mut part) => {
                part.thought_signature = Some(signature);
                TurnPart::Other(part)
            }
        };
        *self = part;
    }

    /// `parts` in their compact form. A new vector: collecting in place would keep the
    /// larger buffer of the [`Part`]s.
    pub fn compact(parts: Vec<Part>) -> Vec<TurnPart> {
        let mut out = Vec::with_capacity(parts.len());
        out.extend(parts.into_iter().map(TurnPart::from));
        out
    }
}

impl From<Part> for TurnPart {
    fn from(part: Part) -> Self {
        match part {
            Part {
                text: Some(text),
                inline_data: None,
                file_data: None,
                function_call: None,
                function_response: None,
                executable_code: None,
                code_execution_result: None,
                thought: None,
                thought_signature: None,
            } => TurnPart::Text(text),
            Part {
                text: None,
                inline_data: None,
                file_data: None,
                function_call: None,
                function_response: Some(response),
                executable_code: None,
                code_execution_result: None,
                thought: None,
                thought_signature: None,
            } => TurnPart::Response(response),
            part => TurnPart::Other(Box::new(part)),
        }
    }
}

impl Serialize for TurnPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TurnPart::Text(text) => {
                let mut part = s.serialize_struct("Part", 1)?;
                part.serialize_field("text", text)?;
                part.end()
            }
            TurnPart::Call(signed) => {
                let fields = 1 + usize::from(signed.signature.is_some());
                let mut part = s.serialize_struct("Part", fields)?;
                part.serialize_field("functionCall", &signed.call)?;
                if let Some(signature) = &signed.signature {
                    part.serialize_field("thoughtSignature", signature)?;
                }
                part.end()
            }
            TurnPart::Response(response) => {
                let mut part = s.serialize_struct("Part", 1)?;
                part.serialize_field("functionResponse", response)?;
                part.end()
            }
            TurnPart::Other(part) => part.serialize(s),
        }
    }
}

/// One turn of the conversation as Gemini answers it (a request's turns are [`Turn`]s).
/// Gemini knows only the roles `user` and `model`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Model,
    /// Anything a future API sends; never written by Pollux.
    #[serde(other)]
    Unknown,
}

/// A part holds exactly one data field (`x-oneof` in the schema) plus optional metadata.
/// Kept as a struct of options rather than an enum so responses with new part kinds still
/// parse: unknown kinds simply come through with every known field empty. The data fields
/// other than `text` are boxed: a request is mostly text parts, and unboxed the part was
/// 312 bytes, ten times the JSON of a short message (issue #13, finding 6).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Box<Blob>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<Box<FileData>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Box<FunctionCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<Box<FunctionResponse>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_code: Option<Box<ExecutableCode>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_execution_result: Option<Box<CodeExecutionResult>>,
    /// Marks a thought summary; such text is reasoning, never answer content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque signature that must be returned unchanged with the part it came on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }

    /// Media sent inline, base64 in the request.
    pub fn inline(blob: Blob) -> Self {
        Part {
            inline_data: Some(Box::new(blob)),
            ..Part::default()
        }
    }

    /// Media by URI (a Files API upload).
    pub fn file(file: FileData) -> Self {
        Part {
            file_data: Some(Box::new(file)),
            ..Part::default()
        }
    }

    /// True for a thought-summary part (reasoning, not answer).
    pub fn is_thought(&self) -> bool {
        self.thought == Some(true)
    }
}

/// Code the model wrote for the code-execution tool
/// (<https://ai.google.dev/gemini-api/docs/code-execution>).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutableCode {
    /// `PYTHON` (the only language Gemini runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default)]
    pub code: String,
}

/// What running [`ExecutableCode`] gave.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CodeExecutionResult {
    /// `OUTCOME_OK`, `OUTCOME_FAILED`, `OUTCOME_DEADLINE_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Inline media: base64 `data` passed through as the client sent it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    pub data: String,
}

/// Media by URI (Files API, `gs://`, YouTube).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub file_uri: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// The call's arguments, a JSON object kept as raw text: Pollux never interprets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Box<RawValue>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// Always a JSON object (Gemini rejects anything else).
    pub response: Box<RawValue>,
}

/// One entry of `tools`. Each Gemini tool object carries one kind.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_search: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_context: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_maps: Option<GoogleMaps>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_search: Option<FileSearch>,
}

impl Tool {
    /// A tool Gemini runs itself (anything but function declarations).
    pub fn is_builtin(&self) -> bool {
        self.google_search.is_some()
            || self.url_context.is_some()
            || self.code_execution.is_some()
            || self.google_maps.is_some()
            || self.file_search.is_some()
    }
}

/// An empty JSON object (`{}`), for tools that take no options.
#[derive(Debug, Default, Serialize)]
pub struct Empty {}

/// Grounding with Google Maps (<https://ai.google.dev/gemini-api/docs/maps-grounding>).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleMaps {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_widget: Option<bool>,
}

/// Retrieval from File Search stores (<https://ai.google.dev/gemini-api/docs/file-search>).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSearch {
    /// `fileSearchStores/...` names.
    pub file_search_store_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Full JSON Schema (the lossless path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<serde_json::Value>,
    /// Google's OpenAPI-subset `Schema`, for upstreams configured as legacy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_calling_config: Option<FunctionCallingConfig>,
    /// Built-in tools beside function declarations: Gemini 3 wants this set to combine them
    /// (<https://ai.google.dev/gemini-api/docs/tool-combination>).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_server_side_tool_invocations: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    pub mode: FunctionCallingMode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FunctionCallingMode {
    Auto,
    Any,
    None,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_modalities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_resolution: Option<&'static str>,
    /// The voice of a text-to-speech model's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speech_config: Option<SpeechConfig>,
    /// Fields a client passed through `extra_body.google.generation_config`, unchecked:
    /// Gemini itself answers 400 for a name it does not know.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl GenerationConfig {
    pub fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_empty()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.candidate_count.is_none()
            && self.response_mime_type.is_none()
            && self.response_json_schema.is_none()
            && self.response_schema.is_none()
            && self.response_logprobs.is_none()
            && self.logprobs.is_none()
            && self.thinking_config.is_none()
            && self.response_modalities.is_empty()
            && self.media_resolution.is_none()
            && self.speech_config.is_none()
            && self.extra.is_empty()
    }
}

/// `speechConfig`: one prebuilt voice (<https://ai.google.dev/api/generate-content#SpeechConfig>).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechConfig {
    pub voice_config: VoiceConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceConfig {
    pub prebuilt_voice_config: PrebuiltVoiceConfig,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrebuiltVoiceConfig {
    pub voice_name: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn response() -> Box<FunctionResponse> {
        Box::new(FunctionResponse {
            id: Some("r1".to_owned()),
            name: "f".to_owned(),
            response: raw(r#"{"result":1}"#),
        })
    }

    /// Each compact part is written as the `Part` it stands for, field for field; a signature
    /// added later lands where a `Part` carries it.
    #[test]
    fn compact_parts_write_the_json_of_their_part() {
        let call = FunctionCall {
            id: None,
            name: "f".to_owned(),
            args: Some(raw("{}")),
        };
        let parts = [
            Part::text("a \"b\""),
            Part {
                function_response: Some(response()),
                ..Part::default()
            },
            Part {
                function_call: Some(Box::new(call.clone())),
                thought_signature: Some("sig".to_owned()),
                ..Part::default()
            },
            Part {
                text: Some("t".to_owned()),
                thought: Some(true),
                ..Part::default()
            },
        ];
        let compact = [
            TurnPart::from(parts[0].clone()),
            TurnPart::from(parts[1].clone()),
            TurnPart::Call(Box::new(SignedCall {
                call,
                signature: Some("sig".to_owned()),
            })),
            TurnPart::from(parts[3].clone()),
        ];
        assert!(matches!(compact[0], TurnPart::Text(_)));
        assert!(matches!(compact[1], TurnPart::Response(_)));
        assert!(matches!(compact[3], TurnPart::Other(_)));
        for (part, compact) in parts.iter().zip(&compact) {
            assert_eq!(
                serde_json::to_string(compact).unwrap(),
                serde_json::to_string(part).unwrap()
            );
        }

        let mut text = TurnPart::text("a");
        text.set_thought_signature("s".to_owned());
        let mut result = TurnPart::Response(response());
        result.set_thought_signature("s".to_owned());
        assert_eq!(
            serde_json::to_value([text, result]).unwrap(),
            serde_json::json!([
                {"text": "a", "thoughtSignature": "s"},
                {"functionResponse": {"id": "r1", "name": "f", "response": {"result": 1}},
                    "thoughtSignature": "s"},
            ])
        );
    }
}
