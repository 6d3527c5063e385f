//! The response object (`Response` in OpenAI's spec): what `POST /v1/responses` returns and
//! what the stream's `response.*` lifecycle events carry, with its output items.

use serde::Serialize;
use serde_json::Value;

pub use crate::openai::logprobs::TokenLogprob;

/// `status` of a response, and of the items that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    InProgress,
    Completed,
    Incomplete,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub status: Status,
    pub completed_at: Option<u64>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub output: Vec<OutputItem>,
    /// Absent until the response ended (OpenAI's spec has no null usage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub echo: Echo,
}

/// The request settings a response echoes, the same on every event of one response.
#[derive(Debug, Clone, Serialize)]
pub struct Echo {
    /// The model name exactly as the client sent it.
    pub model: String,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub max_tool_calls: Option<u32>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: EchoReasoning,
    pub service_tier: String,
    pub store: bool,
    pub background: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_logprobs: Option<u32>,
    pub text: EchoText,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub truncation: String,
    pub metadata: serde_json::Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
    pub prompt_cache_key: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EchoReasoning {
    pub effort: Option<String>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EchoText {
    pub format: Value,
    pub verbosity: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseError {
    /// One of `ResponseErrorCode` in OpenAI's spec (`server_error`, `rate_limit_exceeded`,
    /// `invalid_prompt`, ...).
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IncompleteDetails {
    pub reason: IncompleteReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    MaxOutputTokens,
    ContentFilter,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
    /// Gemini reports no cache writes; OpenAI's spec requires the field.
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Reasoning(ReasoningItem),
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    CustomToolCall(CustomToolCallItem),
    WebSearchCall(WebSearchCallItem),
    CodeInterpreterCall(CodeInterpreterCallItem),
    FileSearchCall(FileSearchCallItem),
}

impl OutputItem {
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Reasoning(r) => &r.id,
            OutputItem::Message(m) => &m.id,
            OutputItem::FunctionCall(f) => &f.id,
            OutputItem::CustomToolCall(c) => &c.id,
            OutputItem::WebSearchCall(w) => &w.id,
            OutputItem::CodeInterpreterCall(c) => &c.id,
            OutputItem::FileSearchCall(f) => &f.id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasoningItem {
    pub id: String,
    pub summary: Vec<SummaryText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: String) -> Self {
        SummaryText {
            kind: "summary_text",
            text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageItem {
    pub id: String,
    pub role: &'static str,
    pub status: Status,
    pub content: Vec<MessagePart>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessagePart {
    OutputText {
        text: String,
        annotations: Vec<Annotation>,
        logprobs: Vec<TokenLogprob>,
    },
    Refusal {
        refusal: String,
    },
}

impl MessagePart {
    pub fn text(text: String) -> Self {
        MessagePart::OutputText {
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// An annotation on output text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Annotation {
    /// A web page: character offsets into the part's text.
    UrlCitation {
        start_index: usize,
        end_index: usize,
        url: String,
        title: String,
    },
    /// A document of a File Search store; `index` is the character offset the citation
    /// applies at (the end of the passage it supports).
    FileCitation {
        file_id: String,
        index: usize,
        filename: String,
    },
}

/// Code Gemini's code-execution tool ran, and what it printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeInterpreterCallItem {
    pub id: String,
    /// `in_progress`, `interpreting`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// Gemini runs code in no container a client can address; a fixed name stands in.
    pub container_id: String,
    pub code: Option<String>,
    pub outputs: Option<Vec<CodeInterpreterOutput>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CodeInterpreterOutput {
    Logs { logs: String },
}

/// The documents Gemini's File Search retrieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSearchCallItem {
    pub id: String,
    pub status: &'static str,
    /// Gemini does not report the queries it ran: always empty.
    pub queries: Vec<String>,
    pub results: Option<Vec<FileSearchResult>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSearchResult {
    /// The document's name or URI in its File Search store.
    pub file_id: String,
    pub filename: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCallItem {
    pub id: String,
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub arguments: String,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomToolCallItem {
    pub id: String,
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub input: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSearchCallItem {
    pub id: String,
    pub status: &'static str,
    pub action: WebSearchAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSearchAction {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub query: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
}
