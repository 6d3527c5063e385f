//! The Responses state machine: Gemini events in, output items and stream events out, and
//! one final response object.
//!
//! Items open and close in Gemini's order; at most one is open at a time (a reasoning item
//! gathering a thought summary, or a message gathering text), and a part of another kind
//! closes it. Gemini sends each function call whole, so a call item opens and closes within
//! one event. Every item's `added` event comes before its deltas and its `done` event after
//! them; every event carries the next `sequence_number`.
//!
//! Thought signatures: a signed call gets a reasoning item right before it whose
//! `encrypted_content` is the [`Envelope`] (the open summary item when there is one, else a
//! new one), when the client asked for `reasoning.encrypted_content`; either way the
//! signature is kept for [`StreamTranslator::take_signatures`] (the server's per-process
//! cache). A signed text part's envelope rides in a reasoning item right after its message.
//!
//! The machine ends in exactly one terminal state: `completed`, `incomplete` (output limit,
//! content filter), or `failed` (Gemini's unusable finish reasons, an empty answer, a
//! failure reported by the server, a stream that ended without a finish reason). A plain
//! request runs the same machine with events off ([`super::to_response`]), so a stream's
//! final `response` equals the unstreamed answer.

use crate::build::finish::{self, Ending};
use crate::build::grounding::{citations, fetched_pages, retrieved, Citation, Retrieved, Source};
use crate::build::logprobs::token_logprobs;
use crate::build::options::IdSource;
use crate::build::parts::{classify, compact_json, PartOut};
use crate::build::safety::{blocked_prompt_refusal, content_filter_refusal};
use crate::build::usage::tokens;
use crate::gemini;
use crate::openai::responses::TokenLogprob;
use crate::openai::responses::{
    Annotation, CodeInterpreterCallItem, CodeInterpreterOutput, CustomToolCallItem, Echo,
    EventBody, FileSearchCallItem, FileSearchResult, FunctionCallItem, IncompleteDetails,
    IncompleteReason, InputTokensDetails, MessageItem, MessagePart, OutputItem,
    OutputTokensDetails, ReasoningItem, Response, ResponseError, Status, StreamEvent, SummaryText,
    Usage, WebSearchAction, WebSearchCallItem,
};
use crate::responses::envelope::{Envelope, Target};
use crate::responses::response::ResponseContext;
use crate::TranslateError;

/// The item being built.
enum Open {
    /// A thought summary (only when summaries were asked for), or a reasoning item that
    /// will only carry an envelope.
    Reasoning {
        id: String,
        summary: String,
        /// Whether the summary part was announced (`reasoning_summary_part.added`).
        part_added: bool,
    },
    Message {
        id: String,
        text: String,
        /// Where each Gemini part's text starts in `text`, by its index in the event, for
        /// grounding offsets.
        part_starts: Vec<(usize, usize)>,
        /// The thought signature a text part carried.
        signature: Option<String>,
        annotations: Vec<Annotation>,
        logprobs: Vec<TokenLogprob>,
    },
    /// Code Gemini's code-execution tool ran, waiting for its result part.
    Code { id: String, code: String },
}

/// What `code_interpreter_call` items say for the container Gemini ran code in.
const CONTAINER: &str = "gemini_code_execution";

/// The fields of the response object that the run decides, as of one moment.
struct Progress {
    created_at: u64,
    status: Status,
    completed_at: Option<u64>,
    error: Option<ResponseError>,
    incomplete_details: Option<IncompleteDetails>,
    usage: Option<Usage>,
}

impl Progress {
    fn into_response(self, id: String, output: Vec<OutputItem>, echo: Echo) -> Response {
        Response {
            id,
            object: "response",
            created_at: self.created_at,
            status: self.status,
            completed_at: self.completed_at,
            error: self.error,
            incomplete_details: self.incomplete_details,
            output,
            usage: self.usage,
            echo,
        }
    }
}

pub struct StreamTranslator {
    ctx: ResponseContext,
    /// Off for a plain request: only the final response is wanted.
    emit: bool,
    next_sequence: u64,
    output: Vec<OutputItem>,
    open: Option<Open>,
    usage: Option<Usage>,
    /// Set once the terminal state is known.
    ended: Option<Status>,
    incomplete: Option<IncompleteReason>,
    error: Option<ResponseError>,
    /// Signatures of calls, for the server's cache (`call_id`, signature).
    signatures: Vec<(String, String)>,
    searches: Vec<String>,
    /// Documents File Search retrieved, for the `file_search_call` item.
    documents: Vec<Retrieved>,
    /// Whether any answer content (text, refusal, call) was produced.
    answered: bool,
}

impl StreamTranslator {
    /// A machine for a streamed response.
    pub fn new(ctx: ResponseContext) -> Self {
        Self::with_events(ctx, true)
    }

    pub(crate) fn with_events(ctx: ResponseContext, emit: bool) -> Self {
        StreamTranslator {
            ctx,
            emit,
            next_sequence: 0,
            output: Vec::new(),
            open: None,
            usage: None,
            ended: None,
            incomplete: None,
            error: None,
            signatures: Vec::new(),
            searches: Vec::new(),
            documents: Vec::new(),
            answered: false,
        }
    }

    /// `response.created` and `response.in_progress`, the stream's first two events.
    pub fn start(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.emit {
            let response = Box::new(self.snapshot(Status::InProgress));
            self.push(
                &mut out,
                EventBody::Created {
                    response: response.clone(),
                },
            );
            self.push(&mut out, EventBody::InProgress { response });
        }
        out
    }

    /// The tier Gemini said it served the request at, for the response's `service_tier`.
    pub fn set_service_tier(&mut self, tier: String) {
        self.ctx.echo.service_tier = tier;
    }

    /// When the answer completed (Unix seconds), for `completed_at`; the server sets it
    /// when the upstream stream ends.
    pub fn set_completed_at(&mut self, at: u64) {
        self.ctx.completed_at = at;
    }

    /// Whether the terminal state is known (no further upstream event can change it).
    pub fn is_done(&self) -> bool {
        self.ended.is_some()
    }

    /// The usage of the latest event that carried `usageMetadata`.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The signatures seen since the last call, by `call_id`, for the server to remember.
    pub fn take_signatures(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.signatures)
    }

    /// Translates one upstream event.
    pub fn on_event(
        &mut self,
        event: gemini::GenerateContentResponse,
        ids: &mut dyn IdSource,
    ) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended.is_some() {
            return out;
        }
        if let Some(u) = &event.usage_metadata {
            self.usage = Some(usage(u));
        }
        let Some(candidate) = event
            .candidates
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        else {
            if let Some(reason) = event.prompt_feedback.and_then(|f| f.block_reason) {
                // The prompt was blocked: nothing was generated.
                self.refuse(&mut out, blocked_prompt_refusal(&reason), ids);
                self.incomplete = Some(IncompleteReason::ContentFilter);
                self.ended = Some(Status::Incomplete);
            }
            return out;
        };
        let ending = finish::ending(candidate.finish_reason, candidate.finish_message.as_deref());
        // The event's tokens go with its first text delta.
        let mut logprobs = candidate
            .logprobs_result
            .as_ref()
            .filter(|_| self.ctx.output.logprobs)
            .map(token_logprobs);
        for (index, part) in candidate
            .content
            .into_iter()
            .flat_map(|c| c.parts)
            .enumerate()
        {
            let signature = part.thought_signature.clone();
            match classify(part) {
                PartOut::Thought(text) => self.thought(&mut out, text, ids),
                PartOut::Text(text) => {
                    let tokens = if text.is_empty() {
                        None
                    } else {
                        logprobs.take()
                    };
                    self.text(
                        &mut out,
                        index,
                        text,
                        signature,
                        tokens.unwrap_or_default(),
                        ids,
                    )
                }
                PartOut::Call(call, signature) => self.call(&mut out, call, signature, ids),
                PartOut::Code(code) => self.code(&mut out, code.code, ids),
                PartOut::CodeResult(result) => self.code_result(&mut out, result, ids),
                // Generated media has no output item here; a signature on an otherwise empty
                // part belongs with the text around it.
                PartOut::Media(_) | PartOut::Nothing => {
                    if let (Some(sig), Some(Open::Message { signature, .. })) =
                        (signature, self.open.as_mut())
                    {
                        *signature = Some(sig);
                    }
                }
            }
        }
        if let Some(grounding) = &candidate.grounding_metadata {
            self.searches
                .extend(grounding.web_search_queries.iter().cloned());
            self.documents.extend(retrieved(grounding));
        }
        self.annotate(
            &mut out,
            candidate.grounding_metadata.as_ref(),
            candidate.url_context_metadata.as_ref(),
        );
        if candidate.finish_reason.is_some() {
            match ending {
                Ok(ending) => self.finish_with(&mut out, ending, candidate.finish_reason, ids),
                Err(e) => self.fail_with(&mut out, "server_error", e.to_string(), ids, false),
            }
        }
        out
    }

    /// Ends the stream after the upstream's last event: the terminal event (whose response is
    /// the final object), or a failure when Gemini never finished.
    pub fn finish(&mut self, ids: &mut dyn IdSource) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended.is_none() {
            let message = TranslateError::StreamIncomplete.to_string();
            self.fail_with(&mut out, "server_error", message, ids, false);
        }
        self.terminal(&mut out);
        out
    }

    /// Ends the stream with a failure the server met (the upstream connection was lost, an
    /// error arrived in-band): an `error` event, then `response.failed`.
    pub fn fail(
        &mut self,
        code: &'static str,
        message: String,
        ids: &mut dyn IdSource,
    ) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.ended = None;
        self.fail_with(&mut out, code, message, ids, true);
        self.terminal(&mut out);
        out
    }

    /// The response object as it stands, with `status` (`queued` or `in_progress` while a
    /// background response waits or runs).
    pub fn response(&self, status: Status) -> Response {
        let mut response = self.snapshot(status);
        response.output = self.output.clone();
        response
    }

    /// The final response object (for a plain request, after [`Self::finish`]). It takes the
    /// id, the echoed settings and the items instead of copying them: for a plain request
    /// this is the only object built.
    pub fn into_response(self) -> Response {
        let status = self.ended.unwrap_or(Status::Failed);
        self.progress(status)
            .into_response(self.ctx.id, self.output, self.ctx.echo)
    }

    fn push(&mut self, out: &mut Vec<StreamEvent>, body: EventBody) {
        out.push(StreamEvent {
            body,
            sequence_number: self.next_sequence,
        });
        self.next_sequence += 1;
    }

    /// `output_item.added` for an item at the next output index, then the events that
    /// follow it.
    fn announce(
        &mut self,
        out: &mut Vec<StreamEvent>,
        item: OutputItem,
        then: impl IntoIterator<Item = EventBody>,
    ) {
        let output_index = self.output.len();
        self.push(out, EventBody::OutputItemAdded { output_index, item });
        for body in then {
            self.push(out, body);
        }
    }

    /// The response object as of now, without its items.
    fn snapshot(&self, status: Status) -> Response {
        self.progress(status)
            .into_response(self.ctx.id.clone(), Vec::new(), self.ctx.echo.clone())
    }

    fn progress(&self, status: Status) -> Progress {
        let ended = matches!(
            status,
            Status::Completed | Status::Incomplete | Status::Failed
        );
        Progress {
            created_at: self.ctx.created_at,
            status,
            completed_at: (status == Status::Completed).then_some(self.ctx.completed_at),
            error: self.error.clone(),
            incomplete_details: self.incomplete.map(|reason| IncompleteDetails { reason }),
            usage: if ended {
                Some(self.usage.unwrap_or_default())
            } else {
                None
            },
        }
    }

    /// The terminal event, its response holding every item.
    fn terminal(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.emit {
            return;
        }
        let status = self.ended.unwrap_or(Status::Failed);
        let mut response = self.snapshot(status);
        response.output = self.output.clone();
        let response = Box::new(response);
        let body = match status {
            Status::Completed => EventBody::Completed { response },
            Status::Incomplete => EventBody::Incomplete { response },
            _ => EventBody::Failed { response },
        };
        self.push(out, body);
    }

    fn thought(&mut self, out: &mut Vec<StreamEvent>, text: String, ids: &mut dyn IdSource) {
        if !self.ctx.output.summaries || text.is_empty() {
            return;
        }
        if !matches!(self.open, Some(Open::Reasoning { .. })) {
            self.close(out, ids);
            self.open_reasoning(out, ids);
        }
        let output_index = self.output.len();
        let emit = self.emit;
        let Some(Open::Reasoning {
            id,
            summary,
            part_added,
        }) = self.open.as_mut()
        else {
            return;
        };
        summary.push_str(&text);
        if !emit {
            return;
        }
        let id = id.clone();
        let added = std::mem::replace(part_added, true);
        if !added {
            self.push(
                out,
                EventBody::SummaryPartAdded {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: SummaryText::new(String::new()),
                },
            );
        }
        self.push(
            out,
            EventBody::SummaryTextDelta {
                item_id: id,
                output_index,
                summary_index: 0,
                delta: text,
            },
        );
    }

    fn open_reasoning(&mut self, out: &mut Vec<StreamEvent>, ids: &mut dyn IdSource) {
        let id = ids.item_id("rs");
        if self.emit {
            let item = OutputItem::Reasoning(ReasoningItem {
                id: id.clone(),
                summary: Vec::new(),
                encrypted_content: None,
                status: Status::InProgress,
            });
            self.announce(out, item, []);
        }
        self.open = Some(Open::Reasoning {
            id,
            summary: String::new(),
            part_added: false,
        });
    }

    fn text(
        &mut self,
        out: &mut Vec<StreamEvent>,
        index: usize,
        text: String,
        signature: Option<String>,
        tokens: Vec<TokenLogprob>,
        ids: &mut dyn IdSource,
    ) {
        if text.is_empty() && signature.is_none() {
            return;
        }
        if !matches!(self.open, Some(Open::Message { .. })) {
            if text.is_empty() {
                // A signature on an empty part, with no message open: nothing to attach it to.
                return;
            }
            self.close(out, ids);
            self.open_message(out, ids);
        }
        self.answered = true;
        let output_index = self.output.len();
        let emit = self.emit;
        let Some(Open::Message {
            id,
            text: all,
            part_starts,
            signature: kept,
            logprobs,
            ..
        }) = self.open.as_mut()
        else {
            return;
        };
        part_starts.push((index, all.len()));
        all.push_str(&text);
        if signature.is_some() {
            *kept = signature;
        }
        if !emit {
            logprobs.extend(tokens);
            return;
        }
        logprobs.extend(tokens.iter().cloned());
        if !text.is_empty() {
            let id = id.clone();
            self.push(
                out,
                EventBody::OutputTextDelta {
                    item_id: id,
                    output_index,
                    content_index: 0,
                    delta: text,
                    logprobs: tokens,
                },
            );
        }
    }

    fn open_message(&mut self, out: &mut Vec<StreamEvent>, ids: &mut dyn IdSource) {
        let id = ids.item_id("msg");
        if self.emit {
            let output_index = self.output.len();
            let item = OutputItem::Message(MessageItem {
                id: id.clone(),
                role: "assistant",
                status: Status::InProgress,
                content: Vec::new(),
            });
            let part = EventBody::ContentPartAdded {
                item_id: id.clone(),
                output_index,
                content_index: 0,
                part: MessagePart::text(String::new()),
            };
            self.announce(out, item, [part]);
        }
        self.open = Some(Open::Message {
            id,
            text: String::new(),
            part_starts: Vec::new(),
            signature: None,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        });
    }

    /// Grounding (search, Maps, File Search) and the pages URL context read: citations on
    /// the open message's text.
    fn annotate(
        &mut self,
        out: &mut Vec<StreamEvent>,
        grounding: Option<&gemini::GroundingMetadata>,
        pages: Option<&gemini::UrlContextMetadata>,
    ) {
        if grounding.is_none() && pages.is_none() {
            return;
        }
        let output_index = self.output.len();
        let emit = self.emit;
        let Some(Open::Message {
            id,
            text,
            part_starts,
            annotations,
            ..
        }) = self.open.as_mut()
        else {
            return;
        };
        let mut cited: Vec<Citation> = grounding
            .map(|g| citations(g, text, part_starts))
            .unwrap_or_default();
        if let Some(pages) = pages {
            let read = fetched_pages(pages, text, &cited);
            cited.extend(read);
        }
        let added: Vec<Annotation> = cited
            .into_iter()
            .map(|c| match c.source {
                Source::Web => Annotation::UrlCitation {
                    start_index: c.start,
                    end_index: c.end,
                    url: c.url,
                    title: c.title,
                },
                Source::Document => Annotation::FileCitation {
                    file_id: c.url,
                    index: c.end,
                    filename: c.title,
                },
            })
            .collect();
        let first = annotations.len();
        annotations.extend(added.iter().cloned());
        if !emit {
            return;
        }
        let id = id.clone();
        for (k, annotation) in added.into_iter().enumerate() {
            self.push(
                out,
                EventBody::AnnotationAdded {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    annotation_index: first + k,
                    annotation,
                },
            );
        }
    }

    /// Code Gemini ran: a `code_interpreter_call` item, open until its result arrives.
    fn code(&mut self, out: &mut Vec<StreamEvent>, code: String, ids: &mut dyn IdSource) {
        self.close(out, ids);
        self.answered = true;
        let id = ids.item_id("ci");
        if self.emit {
            let output_index = self.output.len();
            let item = OutputItem::CodeInterpreterCall(CodeInterpreterCallItem {
                id: id.clone(),
                status: "in_progress",
                container_id: CONTAINER.to_owned(),
                code: Some(String::new()),
                outputs: None,
            });
            self.announce(
                out,
                item,
                [
                    EventBody::CodeInterpreterInProgress {
                        item_id: id.clone(),
                        output_index,
                    },
                    EventBody::CodeInterpreterCodeDelta {
                        item_id: id.clone(),
                        output_index,
                        delta: code.clone(),
                    },
                    EventBody::CodeInterpreterCodeDone {
                        item_id: id.clone(),
                        output_index,
                        code: code.clone(),
                    },
                    EventBody::CodeInterpreterInterpreting {
                        item_id: id.clone(),
                        output_index,
                    },
                ],
            );
        }
        self.open = Some(Open::Code { id, code });
    }

    /// What running the open code gave: the item completes with its output as logs. A result
    /// with no code before it gets an item of its own.
    fn code_result(
        &mut self,
        out: &mut Vec<StreamEvent>,
        result: gemini::CodeExecutionResult,
        ids: &mut dyn IdSource,
    ) {
        if !matches!(self.open, Some(Open::Code { .. })) {
            self.close(out, ids);
            let id = ids.item_id("ci");
            self.open = Some(Open::Code {
                id,
                code: String::new(),
            });
        }
        let Some(Open::Code { id, code }) = self.open.take() else {
            return;
        };
        self.answered = true;
        let ok = result.outcome.as_deref().is_none_or(|o| o == "OUTCOME_OK");
        let logs = result.output.unwrap_or_default();
        if self.emit {
            let output_index = self.output.len();
            self.push(
                out,
                EventBody::CodeInterpreterCompleted {
                    item_id: id.clone(),
                    output_index,
                },
            );
        }
        let item = OutputItem::CodeInterpreterCall(CodeInterpreterCallItem {
            id,
            status: if ok { "completed" } else { "failed" },
            container_id: CONTAINER.to_owned(),
            code: Some(code),
            outputs: Some(vec![CodeInterpreterOutput::Logs { logs }]),
        });
        self.done(out, item);
    }

    fn call(
        &mut self,
        out: &mut Vec<StreamEvent>,
        call: gemini::FunctionCall,
        signature: Option<String>,
        ids: &mut dyn IdSource,
    ) {
        let call_id = match call.id {
            Some(id) if !id.is_empty() => id,
            _ => ids.tool_call_id(),
        };
        if let Some(signature) = &signature {
            self.signatures.push((call_id.clone(), signature.clone()));
            if self.ctx.output.encrypted_content {
                let envelope = Envelope {
                    signature: signature.clone(),
                    target: Target::Call(call_id.clone()),
                };
                // The open summary carries it; else a reasoning item of its own.
                if !matches!(self.open, Some(Open::Reasoning { .. })) {
                    self.close(out, ids);
                    self.open_reasoning(out, ids);
                }
                self.close_with(out, Some(envelope.seal()));
            }
        }
        self.close(out, ids);
        self.answered = true;
        let client_name = self.ctx.names.to_client(&call.name).to_owned();
        let arguments = call
            .args
            .map(|a| compact_json(a.get()))
            .unwrap_or_else(|| "{}".to_owned());
        let shape = self.ctx.shapes.get(&client_name).cloned();
        let (namespace, name, custom) = match shape {
            Some(s) => (s.namespace, s.name, s.custom),
            None => (None, client_name, false),
        };
        let output_index = self.output.len();
        let item = if custom {
            let item = CustomToolCallItem {
                id: ids.item_id("ctc"),
                call_id,
                namespace,
                name,
                input: custom_input(&arguments),
            };
            if self.emit {
                let added = CustomToolCallItem {
                    input: String::new(),
                    ..item.clone()
                };
                self.announce(
                    out,
                    OutputItem::CustomToolCall(added),
                    [
                        EventBody::CustomInputDelta {
                            item_id: item.id.clone(),
                            output_index,
                            delta: item.input.clone(),
                        },
                        EventBody::CustomInputDone {
                            item_id: item.id.clone(),
                            output_index,
                            input: item.input.clone(),
                        },
                    ],
                );
            }
            OutputItem::CustomToolCall(item)
        } else {
            let item = FunctionCallItem {
                id: ids.item_id("fc"),
                call_id,
                namespace,
                name,
                arguments,
                status: Status::Completed,
            };
            if self.emit {
                let added = FunctionCallItem {
                    arguments: String::new(),
                    status: Status::InProgress,
                    ..item.clone()
                };
                self.announce(
                    out,
                    OutputItem::FunctionCall(added),
                    [
                        EventBody::ArgumentsDelta {
                            item_id: item.id.clone(),
                            output_index,
                            delta: item.arguments.clone(),
                        },
                        EventBody::ArgumentsDone {
                            item_id: item.id.clone(),
                            output_index,
                            name: item.name.clone(),
                            arguments: item.arguments.clone(),
                        },
                    ],
                );
            }
            OutputItem::FunctionCall(item)
        };
        self.done(out, item);
    }

    /// Adds a finished item to the output (with its `output_item.done`).
    fn done(&mut self, out: &mut Vec<StreamEvent>, item: OutputItem) {
        if self.emit {
            let output_index = self.output.len();
            self.push(
                out,
                EventBody::OutputItemDone {
                    output_index,
                    item: item.clone(),
                },
            );
        }
        self.output.push(item);
    }

    /// Closes the open item, if any.
    fn close(&mut self, out: &mut Vec<StreamEvent>, ids: &mut dyn IdSource) {
        let message_signature = match &self.open {
            Some(Open::Message { signature, .. }) => signature.clone(),
            _ => None,
        };
        self.close_with(out, None);
        // A signed text part's envelope follows its message.
        if let (Some(signature), true) = (message_signature, self.ctx.output.encrypted_content) {
            let envelope = Envelope {
                signature,
                target: Target::Text(0),
            };
            self.open_reasoning(out, ids);
            self.close_with(out, Some(envelope.seal()));
        }
    }

    /// Closes the open item, a reasoning item with `encrypted_content` when given.
    fn close_with(&mut self, out: &mut Vec<StreamEvent>, encrypted_content: Option<String>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let output_index = self.output.len();
        let item = match open {
            Open::Reasoning {
                id,
                summary,
                part_added,
            } => {
                if self.emit && part_added {
                    self.push(
                        out,
                        EventBody::SummaryTextDone {
                            item_id: id.clone(),
                            output_index,
                            summary_index: 0,
                            text: summary.clone(),
                        },
                    );
                    self.push(
                        out,
                        EventBody::SummaryPartDone {
                            item_id: id.clone(),
                            output_index,
                            summary_index: 0,
                            part: SummaryText::new(summary.clone()),
                        },
                    );
                }
                let summary = if summary.is_empty() {
                    Vec::new()
                } else {
                    vec![SummaryText::new(summary)]
                };
                OutputItem::Reasoning(ReasoningItem {
                    id,
                    summary,
                    encrypted_content,
                    status: Status::Completed,
                })
            }
            Open::Message {
                id,
                text,
                annotations,
                logprobs,
                ..
            } => {
                let part = MessagePart::OutputText {
                    text: text.into(),
                    annotations,
                    logprobs,
                };
                if self.emit {
                    if let MessagePart::OutputText { text, logprobs, .. } = &part {
                        self.push(
                            out,
                            EventBody::OutputTextDone {
                                item_id: id.clone(),
                                output_index,
                                content_index: 0,
                                text: text.clone(),
                                logprobs: logprobs.clone(),
                            },
                        );
                    }
                    self.push(
                        out,
                        EventBody::ContentPartDone {
                            item_id: id.clone(),
                            output_index,
                            content_index: 0,
                            part: part.clone(),
                        },
                    );
                }
                OutputItem::Message(MessageItem {
                    id,
                    role: "assistant",
                    status: Status::Completed,
                    content: vec![part],
                })
            }
            // The result never came: the run is reported without output.
            Open::Code { id, code } => OutputItem::CodeInterpreterCall(CodeInterpreterCallItem {
                id,
                status: "incomplete",
                container_id: CONTAINER.to_owned(),
                code: Some(code),
                outputs: None,
            }),
        };
        self.done(out, item);
    }

    /// A message holding one refusal part.
    fn refuse(&mut self, out: &mut Vec<StreamEvent>, refusal: String, ids: &mut dyn IdSource) {
        self.close(out, ids);
        self.answered = true;
        let id = ids.item_id("msg");
        let output_index = self.output.len();
        let part = MessagePart::Refusal {
            refusal: refusal.clone(),
        };
        if self.emit {
            let added = OutputItem::Message(MessageItem {
                id: id.clone(),
                role: "assistant",
                status: Status::InProgress,
                content: Vec::new(),
            });
            self.announce(
                out,
                added,
                [
                    EventBody::ContentPartAdded {
                        item_id: id.clone(),
                        output_index,
                        content_index: 0,
                        part: MessagePart::Refusal {
                            refusal: String::new(),
                        },
                    },
                    EventBody::RefusalDelta {
                        item_id: id.clone(),
                        output_index,
                        content_index: 0,
                        delta: refusal.clone(),
                    },
                    EventBody::RefusalDone {
                        item_id: id.clone(),
                        output_index,
                        content_index: 0,
                        refusal,
                    },
                    EventBody::ContentPartDone {
                        item_id: id.clone(),
                        output_index,
                        content_index: 0,
                        part: part.clone(),
                    },
                ],
            );
        }
        self.done(
            out,
            OutputItem::Message(MessageItem {
                id,
                role: "assistant",
                status: Status::Completed,
                content: vec![part],
            }),
        );
    }

    /// The searches Gemini ran, as one completed `web_search_call` item.
    fn web_search(&mut self, out: &mut Vec<StreamEvent>, ids: &mut dyn IdSource) {
        if self.searches.is_empty() {
            return;
        }
        let queries = std::mem::take(&mut self.searches);
        let id = ids.item_id("ws");
        let output_index = self.output.len();
        let item = |status| {
            OutputItem::WebSearchCall(WebSearchCallItem {
                id: id.clone(),
                status,
                action: WebSearchAction {
                    kind: "search",
                    query: queries.join(" | "),
                    queries: queries.clone(),
                },
            })
        };
        if self.emit {
            let added = item("in_progress");
            self.announce(
                out,
                added,
                [
                    EventBody::WebSearchInProgress {
                        item_id: id.clone(),
                        output_index,
                    },
                    EventBody::WebSearchSearching {
                        item_id: id.clone(),
                        output_index,
                    },
                    EventBody::WebSearchCompleted {
                        item_id: id.clone(),
                        output_index,
                    },
                ],
            );
        }
        let done = item("completed");
        self.done(out, done);
    }

    /// The documents File Search retrieved, as one completed `file_search_call` item.
    fn file_search(&mut self, out: &mut Vec<StreamEvent>, ids: &mut dyn IdSource) {
        if self.documents.is_empty() {
            return;
        }
        let documents = std::mem::take(&mut self.documents);
        let id = ids.item_id("fs");
        let output_index = self.output.len();
        if self.emit {
            let added = OutputItem::FileSearchCall(FileSearchCallItem {
                id: id.clone(),
                status: "in_progress",
                queries: Vec::new(),
                results: None,
            });
            self.announce(
                out,
                added,
                [
                    EventBody::FileSearchInProgress {
                        item_id: id.clone(),
                        output_index,
                    },
                    EventBody::FileSearchSearching {
                        item_id: id.clone(),
                        output_index,
                    },
                    EventBody::FileSearchCompleted {
                        item_id: id.clone(),
                        output_index,
                    },
                ],
            );
        }
        let results = documents
            .into_iter()
            .map(|d| FileSearchResult {
                file_id: d.uri,
                filename: d.title,
                text: d.text,
            })
            .collect();
        let done = OutputItem::FileSearchCall(FileSearchCallItem {
            id,
            status: "completed",
            queries: Vec::new(),
            results: Some(results),
        });
        self.done(out, done);
    }

    /// Gemini finished the candidate.
    fn finish_with(
        &mut self,
        out: &mut Vec<StreamEvent>,
        ending: Ending,
        reason: Option<gemini::FinishReason>,
        ids: &mut dyn IdSource,
    ) {
        self.close(out, ids);
        self.web_search(out, ids);
        self.file_search(out, ids);
        match ending {
            Ending::Stop if self.answered => self.ended = Some(Status::Completed),
            Ending::Stop => {
                // Gemini 3 sometimes answers nothing at all (often right after tool output):
                // never a `completed` response with nothing in it.
                self.error = Some(ResponseError {
                    code: "server_error",
                    message: "Gemini returned an empty answer (no text and no tool call); retrying the request usually helps.".to_owned(),
                });
                self.ended = Some(Status::Failed);
            }
            Ending::Length => {
                self.incomplete = Some(IncompleteReason::MaxOutputTokens);
                self.ended = Some(Status::Incomplete);
            }
            Ending::ContentFilter => {
                if !self.answered {
                    self.refuse(out, content_filter_refusal(reason), ids);
                }
                self.incomplete = Some(IncompleteReason::ContentFilter);
                self.ended = Some(Status::Incomplete);
            }
        }
    }

    /// Fails the response: closes what is open, records the error, and (when `event`)
    /// reports it as an `error` event first.
    fn fail_with(
        &mut self,
        out: &mut Vec<StreamEvent>,
        code: &'static str,
        message: String,
        ids: &mut dyn IdSource,
        event: bool,
    ) {
        self.close(out, ids);
        if self.emit && event {
            self.push(
                out,
                EventBody::Error {
                    code: Some(code.to_owned()),
                    message: message.clone(),
                    param: None,
                },
            );
        }
        self.error = Some(ResponseError { code, message });
        self.incomplete = None;
        self.ended = Some(Status::Failed);
    }
}

/// A custom tool's input from the arguments Gemini gave its one-string function.
fn custom_input(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(mut map)) => match map.remove("input") {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}

/// Usage in the Responses API's field names ([`tokens`] does the counting).
pub fn usage(u: &gemini::UsageMetadata) -> Usage {
    let t = tokens(u);
    Usage {
        input_tokens: t.input,
        input_tokens_details: InputTokensDetails {
            cached_tokens: t.cached,
            cache_write_tokens: 0,
        },
        output_tokens: t.output,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: t.reasoning,
        },
        total_tokens: t.total,
    }
}
