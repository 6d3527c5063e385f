//! Outbound bodies: `chat.completion`, `chat.completion.chunk`, usage and tool calls.
//! Field presence follows the OpenAI spec exactly: `content` and `refusal` are always present
//! on a message (possibly `null`), `finish_reason` always present on a chunk choice.

use serde::Serialize;

use crate::openai::ExtraContent;

#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The tier Gemini says it served the request at, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: FinishReason,
    /// Always present; `null` unless log probabilities were requested.
    pub logprobs: Option<ChoiceLogprobs>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    /// Legacy `functions` API: the model called a function.
    FunctionCall,
}

#[derive(Debug, Default, Serialize)]
pub struct ResponseMessage {
    pub role: Role,
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallOut>,
    /// Legacy `functions` API: the one call of this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallOut>,
    /// Web sources from Google Search grounding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// Images the model generated, as data URLs (OpenAI has no field for these; the shape is
    /// the one OpenRouter and others use, see docs/mapping.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageOut>,
    /// Audio the model generated, in OpenAI's `message.audio` shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioOut>,
    /// `google.code_execution`: what Gemini's code-execution tool ran and printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<ExtraContent>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Annotation {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url_citation: UrlCitation,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UrlCitation {
    /// Character (not byte) offsets into `content`.
    pub start_index: usize,
    pub end_index: usize,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub image_url: ImageUrlOut,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageUrlOut {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AudioOut {
    pub id: String,
    /// Base64 audio as Gemini returned it.
    pub data: String,
    pub expires_at: u64,
    pub transcript: String,
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Assistant,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCallOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<ExtraContent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionCallOut {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct ChoiceLogprobs {
    pub content: Vec<TokenLogprob>,
    pub refusal: Option<Vec<TokenLogprob>>,
}

pub use crate::openai::logprobs::{TokenLogprob, TopLogprob};

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptTokensDetails,
    pub completion_tokens_details: CompletionTokensDetails,
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct CompletionTokensDetails {
    pub reasoning_tokens: u64,
}

#[derive(Debug, Serialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    /// Present only when the client asked for usage: `null` on every chunk but the last.
    #[serde(skip_serializing_if = "UsageField::is_absent")]
    pub usage: UsageField,
    /// As in [`ChatCompletion::service_tier`], on every chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

/// The three states of a chunk's `usage`: absent, `null`, or the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageField {
    Absent,
    Null,
    Some(Usage),
}

impl UsageField {
    fn is_absent(&self) -> bool {
        matches!(self, UsageField::Absent)
    }
}

impl Serialize for UsageField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            UsageField::Some(usage) => usage.serialize(serializer),
            UsageField::Absent | UsageField::Null => serializer.serialize_none(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<FinishReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<ChoiceLogprobs>,
}

#[derive(Debug, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallChunk>,
    /// Legacy `functions` API: the call, whole, in one delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallOut>,
    /// Generated images, as in [`ResponseMessage::images`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageOut>,
    /// The code-execution steps of this event, as in [`ResponseMessage::extra_content`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<ExtraContent>,
}

#[derive(Debug, Serialize)]
pub struct ToolCallChunk {
    pub index: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCallOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<ExtraContent>,
}
