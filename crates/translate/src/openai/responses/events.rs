//! The Responses API's stream events (`ResponseStreamEvent` in OpenAI's spec): each is sent
//! as `event: <type>` and `data: <json>`, and every one carries the stream's strictly
//! increasing `sequence_number`.

use serde::Serialize;

use super::response::{Annotation, MessagePart, OutputItem, Response, SummaryText, TokenLogprob};

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
        text: String,
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
