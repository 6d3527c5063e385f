//! Inbound Gemini bodies: `GenerateContentResponse` (one per plain answer, one per SSE event)
//! and Gemini's error envelope. Every collection defaults to empty and every enum has an
//! `Unknown` catch-all, because the real API grows and gateways add fields.

use serde::Deserialize;

use super::Content;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    #[serde(default)]
    pub finish_message: Option<String>,
    /// Absent on the first candidate of many responses; treat as 0.
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub logprobs_result: Option<LogprobsResult>,
    #[serde(default)]
    pub grounding_metadata: Option<GroundingMetadata>,
    /// The pages the URL-context tool read.
    #[serde(default)]
    pub url_context_metadata: Option<UrlContextMetadata>,
}

/// The URL-context tool's record of the pages it fetched
/// (<https://ai.google.dev/gemini-api/docs/url-context>).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlContextMetadata {
    #[serde(default)]
    pub url_metadata: Vec<UrlMetadata>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlMetadata {
    #[serde(default)]
    pub retrieved_url: String,
    /// `URL_RETRIEVAL_STATUS_SUCCESS`, `..._ERROR`, `..._PAYWALL`, `..._UNSAFE`.
    #[serde(default)]
    pub url_retrieval_status: String,
}

/// Google Search grounding: the sources and which answer segments they support.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroundingMetadata {
    #[serde(default)]
    pub grounding_chunks: Vec<GroundingChunk>,
    #[serde(default)]
    pub grounding_supports: Vec<GroundingSupport>,
    /// The searches Gemini ran.
    #[serde(default)]
    pub web_search_queries: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroundingChunk {
    #[serde(default)]
    pub web: Option<WebSource>,
    /// A passage from a File Search store (`uri`/`title` name the document).
    #[serde(default)]
    pub retrieved_context: Option<RetrievedContext>,
    /// A place from Google Maps grounding.
    #[serde(default)]
    pub maps: Option<WebSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrievedContext {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSource {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroundingSupport {
    #[serde(default)]
    pub segment: Option<Segment>,
    #[serde(default)]
    pub grounding_chunk_indices: Vec<usize>,
}

/// A span of one part's text. Indices are UTF-8 byte offsets within that part.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    #[serde(default)]
    pub part_index: usize,
    #[serde(default)]
    pub start_index: usize,
    #[serde(default)]
    pub end_index: usize,
}

/// Why a candidate stopped. The list grows; `Unknown` keeps new values from failing a parse.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinishReason {
    FinishReasonUnspecified,
    Stop,
    MaxTokens,
    Safety,
    Recitation,
    Language,
    Other,
    Blocklist,
    ProhibitedContent,
    Spii,
    MalformedFunctionCall,
    ImageSafety,
    ImageProhibitedContent,
    ImageRecitation,
    ImageOther,
    NoImage,
    UnexpectedToolCall,
    TooManyToolCalls,
    MissingThoughtSignature,
    #[serde(other)]
    Unknown,
}

impl FinishReason {
    /// The wire name, as Gemini spells it (`Unknown` stands for any value this build lacks).
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::FinishReasonUnspecified => "FINISH_REASON_UNSPECIFIED",
            FinishReason::Stop => "STOP",
            FinishReason::MaxTokens => "MAX_TOKENS",
            FinishReason::Safety => "SAFETY",
            FinishReason::Recitation => "RECITATION",
            FinishReason::Language => "LANGUAGE",
            FinishReason::Other => "OTHER",
            FinishReason::Blocklist => "BLOCKLIST",
            FinishReason::ProhibitedContent => "PROHIBITED_CONTENT",
            FinishReason::Spii => "SPII",
            FinishReason::MalformedFunctionCall => "MALFORMED_FUNCTION_CALL",
            FinishReason::ImageSafety => "IMAGE_SAFETY",
            FinishReason::ImageProhibitedContent => "IMAGE_PROHIBITED_CONTENT",
            FinishReason::ImageRecitation => "IMAGE_RECITATION",
            FinishReason::ImageOther => "IMAGE_OTHER",
            FinishReason::NoImage => "NO_IMAGE",
            FinishReason::UnexpectedToolCall => "UNEXPECTED_TOOL_CALL",
            FinishReason::TooManyToolCalls => "TOO_MANY_TOOL_CALLS",
            FinishReason::MissingThoughtSignature => "MISSING_THOUGHT_SIGNATURE",
            FinishReason::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// Token counts. Gemini counts cumulatively in a stream: the last event's figures are final.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub total_token_count: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogprobsResult {
    #[serde(default)]
    pub top_candidates: Vec<TopCandidates>,
    #[serde(default)]
    pub chosen_candidates: Vec<LogprobsCandidate>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopCandidates {
    #[serde(default)]
    pub candidates: Vec<LogprobsCandidate>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogprobsCandidate {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub log_probability: f64,
}

/// Gemini's error body: `{"error": {"code", "message", "status", "details"}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorStatus,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorStatus {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

/// One `google.rpc` detail. Only the fields Pollux acts on are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default, rename = "@type")]
    pub type_url: String,
    /// `google.rpc.RetryInfo`: a protobuf Duration such as `"7s"` or `"0.5s"`.
    #[serde(default)]
    pub retry_delay: Option<String>,
    /// `google.rpc.ErrorInfo`: e.g. `API_KEY_INVALID`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `google.rpc.QuotaFailure`.
    #[serde(default)]
    pub violations: Vec<QuotaViolation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaViolation {
    #[serde(default)]
    pub quota_id: Option<String>,
}

impl ErrorStatus {
    /// The delay `RetryInfo` asks for, in whole seconds rounded up.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.details
            .iter()
            .filter_map(|d| d.retry_delay.as_deref())
            .find_map(parse_duration_secs)
    }

    /// True when a quota violation names a per-day limit: retrying soon will not help.
    pub fn is_daily_quota(&self) -> bool {
        self.details
            .iter()
            .flat_map(|d| d.violations.iter())
            .filter_map(|v| v.quota_id.as_deref())
            .any(|id| id.contains("PerDay"))
    }

    /// The `ErrorInfo.reason`, if any (`API_KEY_INVALID`, ...).
    pub fn reason(&self) -> Option<&str> {
        self.details.iter().find_map(|d| d.reason.as_deref())
    }
}

/// Parses a protobuf JSON Duration (`"7s"`, `"1.5s"`) into whole seconds, rounding up.
fn parse_duration_secs(text: &str) -> Option<u64> {
    let secs: f64 = text.strip_suffix('s')?.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(secs.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_rounds_up_and_rejects_garbage() {
        assert_eq!(parse_duration_secs("7s"), Some(7));
        assert_eq!(parse_duration_secs("0.2s"), Some(1));
        assert_eq!(parse_duration_secs("7"), None);
        assert_eq!(parse_duration_secs("-1s"), None);
    }
}
