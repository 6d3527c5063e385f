//! The Responses API's stream events (`ResponseStreamEvent` in OpenAI's spec): each is sent
//! as `event: <type>` and `data: <json>`, and every one carries the stream's strictly
//! increasing `sequence_number`.

use serde::Serialize;

use super::response::{
    Annotation, MessagePart, OutputItem, Response, SharedText, SummaryText, TokenLogprob,
};

/// One event: its place in the stream and what it says.
#[derive(Debug, Clone, Serialize)]
pub struct StreamEvent {
    #[serde(flatten)]
    pub body: EventBody,
    pub sequence_number: u64,
}

impl StreamEvent {
    /// The event's `type`, also written as the SSE `event:` line.
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    /// Appends the event's JSON to `out`: the same bytes as `serde_json::to_writer`, with an
    /// event that carries the response object writing it through
    /// [`Response::write_json`], which copies the echoed settings in as encoded once.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let response = match &self.body {
            EventBody::Created { response }
            | EventBody::InProgress { response }
            | EventBody::Completed { response }
            | EventBody::Incomplete { response }
            | EventBody::Failed { response } => response,
            _ => {
                // The body as its own tagged struct (`type`, then its fields), its closing
                // brace making way for `sequence_number`: the derived form's bytes without
                // `#[serde(flatten)]`'s map detour, which cost a stream's eight other events
                // about 8,000 instructions (docs/benchmarks.md, change 21).
                serde_json::to_writer(&mut *out, &self.body)?;
                out.pop();
                return self.close(out);
            }
        };
        // The derived form: `type`, the body's fields, then `sequence_number`. No event
        // type needs escaping.
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(self.kind().as_bytes());
        out.extend_from_slice(b"\",\"response\":");
        response.write_json(out)?;
        self.close(out)
    }

    /// The event's last member and its closing brace.
    fn close(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b",\"sequence_number\":");
        serde_json::to_writer(&mut *out, &self.sequence_number)?;
        out.push(b'}');
        Ok(())
    }

    /// Appends the event framed for the stream: `event: <type>`, then `data: <json>`, then a
    /// blank line. On an error `out` is as it was.
    pub fn write_sse(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let start = out.len();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.kind().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        if let Err(e) = self.write_json(out) {
            out.truncate(start);
            return Err(e);
        }
        out.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// [`StreamEvent::write_sse`], returning where in `out` the response object it carries
    /// was written (`None` for an event that carries none): a stored stream keeps those bytes
    /// instead of encoding the response a second time.
    pub fn write_sse_locating(
        &self,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<Option<std::ops::Range<usize>>> {
        let start = out.len();
        self.write_sse(out)?;
        if !self.carries_response() {
            return Ok(None);
        }
        // `event: K\ndata: {"type":"K","response":` + object + `,"sequence_number":N}\n\n`.
        let kind = self.kind().len();
        let from = start + "event: \ndata: {\"type\":\"\",\"response\":".len() + 2 * kind;
        let mut tail = itoa_len(self.sequence_number);
        tail += ",\"sequence_number\":}\n\n".len();
        Ok(Some(from..out.len() - tail))
    }

    pub(crate) fn carries_response(&self) -> bool {
        matches!(
            self.body,
            EventBody::Created { .. }
                | EventBody::InProgress { .. }
                | EventBody::Completed { .. }
                | EventBody::Incomplete { .. }
                | EventBody::Failed { .. }
        )
    }

    /// The event framed for the stream ([`StreamEvent::write_sse`]).
    pub fn to_sse(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.frame_capacity());
        self.write_sse(&mut out)?;
        Ok(out)
    }

    /// About how many bytes the framed event takes: a response object with the echoed
    /// settings, or a delta.
    pub fn frame_capacity(&self) -> usize {
        match &self.body {
            EventBody::Created { response }
            | EventBody::InProgress { response }
            | EventBody::Completed { response }
            | EventBody::Incomplete { response }
            | EventBody::Failed { response } => 1024 + response.echo.len(),
            _ => 320,
        }
    }
}

/// Digits in `n`, written in decimal.
fn itoa_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "response.created")]
    Created { response: Box<Response> },
    #[serde(rename = "response.in_progress")]
    InProgress { response: Box<Response> },
    #[serde(rename = "response.completed")]
    Completed { response: Box<Response> },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Box<Response> },
    #[serde(rename = "response.failed")]
    Failed { response: Box<Response> },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: MessagePart,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: MessagePart,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: Vec<TokenLogprob>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: SharedText,
        logprobs: Vec<TokenLogprob>,
    },
    #[serde(rename = "response.output_text.annotation.added")]
    AnnotationAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        annotation_index: usize,
        annotation: Annotation,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        refusal: String,
    },
    #[serde(rename = "response.reasoning_summary_part.added")]
    SummaryPartAdded {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: SummaryText,
    },
    #[serde(rename = "response.reasoning_summary_part.done")]
    SummaryPartDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: SummaryText,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    SummaryTextDelta {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_summary_text.done")]
    SummaryTextDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        text: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: String,
        output_index: usize,
        name: String,
        arguments: String,
    },
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomInputDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomInputDone {
        item_id: String,
        output_index: usize,
        input: String,
    },
    #[serde(rename = "response.web_search_call.in_progress")]
    WebSearchInProgress {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.web_search_call.searching")]
    WebSearchSearching {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.web_search_call.completed")]
    WebSearchCompleted {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.code_interpreter_call.in_progress")]
    CodeInterpreterInProgress {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.code_interpreter_call_code.delta")]
    CodeInterpreterCodeDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.code_interpreter_call_code.done")]
    CodeInterpreterCodeDone {
        item_id: String,
        output_index: usize,
        code: String,
    },
    #[serde(rename = "response.code_interpreter_call.interpreting")]
    CodeInterpreterInterpreting {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.code_interpreter_call.completed")]
    CodeInterpreterCompleted {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.file_search_call.in_progress")]
    FileSearchInProgress {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.file_search_call.searching")]
    FileSearchSearching {
        item_id: String,
        output_index: usize,
    },
    #[serde(rename = "response.file_search_call.completed")]
    FileSearchCompleted {
        item_id: String,
        output_index: usize,
    },
    /// A failure the stream reports before its `response.failed`.
    #[serde(rename = "error")]
    Error {
        code: Option<String>,
        message: String,
        param: Option<String>,
    },
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Created { .. } => "response.created",
            EventBody::InProgress { .. } => "response.in_progress",
            EventBody::Completed { .. } => "response.completed",
            EventBody::Incomplete { .. } => "response.incomplete",
            EventBody::Failed { .. } => "response.failed",
            EventBody::OutputItemAdded { .. } => "response.output_item.added",
            EventBody::OutputItemDone { .. } => "response.output_item.done",
            EventBody::ContentPartAdded { .. } => "response.content_part.added",
            EventBody::ContentPartDone { .. } => "response.content_part.done",
            EventBody::OutputTextDelta { .. } => "response.output_text.delta",
            EventBody::OutputTextDone { .. } => "response.output_text.done",
            EventBody::AnnotationAdded { .. } => "response.output_text.annotation.added",
            EventBody::RefusalDelta { .. } => "response.refusal.delta",
            EventBody::RefusalDone { .. } => "response.refusal.done",
            EventBody::SummaryPartAdded { .. } => "response.reasoning_summary_part.added",
            EventBody::SummaryPartDone { .. } => "response.reasoning_summary_part.done",
            EventBody::SummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            EventBody::SummaryTextDone { .. } => "response.reasoning_summary_text.done",
            EventBody::ArgumentsDelta { .. } => "response.function_call_arguments.delta",
            EventBody::ArgumentsDone { .. } => "response.function_call_arguments.done",
            EventBody::CustomInputDelta { .. } => "response.custom_tool_call_input.delta",
            EventBody::CustomInputDone { .. } => "response.custom_tool_call_input.done",
            EventBody::WebSearchInProgress { .. } => "response.web_search_call.in_progress",
            EventBody::WebSearchSearching { .. } => "response.web_search_call.searching",
            EventBody::WebSearchCompleted { .. } => "response.web_search_call.completed",
            EventBody::CodeInterpreterInProgress { .. } => {
                "response.code_interpreter_call.in_progress"
            }
            EventBody::CodeInterpreterCodeDelta { .. } => {
                "response.code_interpreter_call_code.delta"
            }
            EventBody::CodeInterpreterCodeDone { .. } => "response.code_interpreter_call_code.done",
            EventBody::CodeInterpreterInterpreting { .. } => {
                "response.code_interpreter_call.interpreting"
            }
            EventBody::CodeInterpreterCompleted { .. } => {
                "response.code_interpreter_call.completed"
            }
            EventBody::FileSearchInProgress { .. } => "response.file_search_call.in_progress",
            EventBody::FileSearchSearching { .. } => "response.file_search_call.searching",
            EventBody::FileSearchCompleted { .. } => "response.file_search_call.completed",
            EventBody::Error { .. } => "error",
        }
    }
}
