//! The streaming state machine: one Gemini SSE event in, zero or more
//! `chat.completion.chunk`s out, and [`StreamTranslator::finish`] at end of stream.
//!
//! It owns the streaming rules of `docs/streaming.md`: the role only in a choice's first
//! chunk, tool-call indices counted across the whole stream (Gemini sends each call whole,
//! one per event, always at part 0), exactly one `finish_reason` per choice, usage from the
//! last event (Gemini's counts are cumulative), and an error when the upstream ends without
//! a finish reason (Gemini sends no `[DONE]`; `finishReason` marks the end).

use crate::build::code_execution::{code_step, fenced_code, fenced_output, result_step, separator};
use crate::build::finish;
use crate::build::parts::{classify, PartOut};
use crate::build::safety::{blocked_prompt_refusal, content_filter_refusal};
use crate::build::stops::StopScanner;
use crate::chat::finish::{finish_reason, Overrides};
use crate::chat::response::{self, IdSource, ResponseContext};
use crate::gemini;
use crate::openai::chat::{self, ChatCompletionChunk, ChunkChoice, Delta, UsageField};
use crate::openai::ExtraContent;
use crate::TranslateError;

/// Per-choice progress.
#[derive(Debug, Default, Clone)]
struct ChoiceState {
    started: bool,
    /// Any text (or refusal) was sent for this choice.
    wrote_text: bool,
    /// The text sent so far ends a line (or there is none), so a code block can follow it.
    at_line_start: bool,
    tool_calls: u32,
    finished: bool,
    /// Stop sequences beyond Gemini's five, enforced here.
    stops: StopScanner,
}

pub struct StreamTranslator {
    ctx: ResponseContext,
    include_usage: bool,
    choices: Vec<ChoiceState>,
    usage: Option<chat::Usage>,
    service_tier: Option<String>,
}

impl StreamTranslator {
    pub fn new(ctx: ResponseContext, include_usage: bool) -> Self {
        let n = ctx.n.max(1) as usize;
        let state = ChoiceState {
            stops: StopScanner::new(ctx.extra_stops.clone()),
            at_line_start: true,
            ..ChoiceState::default()
        };
        StreamTranslator {
            ctx,
            include_usage,
            choices: vec![state; n],
            usage: None,
            service_tier: None,
        }
    }

    /// The tier Gemini said it serves the stream at, stamped on every chunk.
    pub fn set_service_tier(&mut self, tier: Option<String>) {
        self.service_tier = tier;
    }

    /// Translates one upstream event. An `Err` is a failure to report in-band; the stream
    /// must end after it.
    pub fn on_event(
        &mut self,
        event: gemini::GenerateContentResponse,
        ids: &mut dyn IdSource,
    ) -> Result<Vec<ChatCompletionChunk>, TranslateError> {
        if let Some(u) = &event.usage_metadata {
            self.usage = Some(response::usage(u));
        }
        let mut out = Vec::new();
        if event.candidates.is_empty() {
            if let Some(reason) = event.prompt_feedback.and_then(|f| f.block_reason) {
                for index in 0..self.choices.len() {
                    // A choice that already has its finish reason gets nothing more (a late
                    // blockReason would otherwise end it a second time).
                    if self.choices[index].finished {
                        continue;
                    }
                    let delta = Delta {
                        refusal: Some(blocked_prompt_refusal(&reason)),
                        ..Delta::default()
                    };
                    self.push_delta(&mut out, index as u32, delta, None);
                    self.push_finish(&mut out, index as u32, chat::FinishReason::ContentFilter);
                }
            }
            // An event with only usage (or nothing) carries no delta.
            return Ok(out);
        }
        for candidate in event.candidates {
            let index = candidate.index.unwrap_or(0);
            let Some(state) = self.choices.get(index as usize) else {
                return Err(TranslateError::UpstreamFormat(format!(
                    "candidate index {index} is beyond the {} choices asked for",
                    self.choices.len()
                )));
            };
            if state.finished {
                continue;
            }
            let ending =
                finish::ending(candidate.finish_reason, candidate.finish_message.as_deref())?;
            let logprobs = candidate.logprobs_result.as_ref().map(response::logprobs);
            let mut delta = Delta::default();
            let mut steps = Vec::new();
            let mut at_line_start = state.at_line_start;
            let mut tool_calls = state.tool_calls;
            let mut stops = std::mem::take(&mut self.choices[index as usize].stops);
            for part in candidate.content.into_iter().flat_map(|c| c.parts) {
                match classify(part) {
                    // Everything after a stop sequence is discarded, calls included.
                    PartOut::Text(t)
                        if !t.is_empty()
                            && push_text(&mut stops, &mut delta, &mut at_line_start, &t) =>
                    {
                        break;
                    }
                    PartOut::Media(blob) => delta.images.push(response::image_out(&blob)),
                    PartOut::Code(code) => {
                        let block = [separator(at_line_start), &fenced_code(&code)].concat();
                        steps.push(code_step(&code));
                        if push_text(&mut stops, &mut delta, &mut at_line_start, &block) {
                            break;
                        }
                    }
                    PartOut::CodeResult(result) => {
                        let block = [separator(at_line_start), &fenced_output(&result)].concat();
                        steps.push(result_step(&result));
                        if push_text(&mut stops, &mut delta, &mut at_line_start, &block) {
                            break;
                        }
                    }
                    PartOut::Thought(t) if !t.is_empty() => delta
                        .reasoning_content
                        .get_or_insert_with(String::new)
                        .push_str(&t),
                    PartOut::Call(call, signature) if self.ctx.names.legacy_functions() => {
                        // The legacy API carries one call per answer: the first one.
                        if tool_calls == 0 {
                            let call = response::tool_call(call, signature, &self.ctx.names, ids);
                            delta.function_call = Some(call.function);
                        }
                        tool_calls += 1;
                    }
                    PartOut::Call(call, signature) => {
                        let call = response::tool_call(call, signature, &self.ctx.names, ids);
                        delta.tool_calls.push(chat::ToolCallChunk {
                            index: tool_calls,
                            id: call.id,
                            kind: call.kind,
                            function: call.function,
                            extra_content: call.extra_content,
                        });
                        tool_calls += 1;
                    }
                    _ => {}
                }
            }
            delta.extra_content = ExtraContent::code_execution(steps);
            let stopped = stops.stopped();
            let overrides = Overrides {
                tool_calls: tool_calls > 0,
                stopped,
                legacy_functions: self.ctx.names.legacy_functions(),
            };
            let finish = match candidate.finish_reason {
                _ if stopped => Some(finish_reason(ending, overrides)),
                Some(_) => {
                    // The end: text held back for a possible stop sequence is plain text.
                    let held = stops.flush();
                    if !held.is_empty() {
                        delta
                            .content
                            .get_or_insert_with(String::new)
                            .push_str(&held);
                    }
                    Some(finish_reason(ending, overrides))
                }
                None => None,
            };
            let wrote_text = delta.content.is_some();
            if let Some(state) = self.choices.get_mut(index as usize) {
                state.tool_calls = tool_calls;
                state.stops = stops;
                state.at_line_start = at_line_start;
                state.wrote_text |= wrote_text;
                if finish == Some(chat::FinishReason::ContentFilter) && !state.wrote_text {
                    // Stopped for content before any text: say why, as the plain answer does.
                    delta.refusal = Some(content_filter_refusal(candidate.finish_reason));
                    state.wrote_text = true;
                }
            }
            let has_delta = delta.content.is_some()
                || delta.reasoning_content.is_some()
                || delta.refusal.is_some()
                || !delta.images.is_empty()
                || delta.extra_content.is_some()
                || !delta.tool_calls.is_empty()
                || delta.function_call.is_some();
            if has_delta {
                self.push_delta(&mut out, index, delta, logprobs);
            }
            if let Some(finish) = finish {
                self.push_finish(&mut out, index, finish);
            }
        }
        Ok(out)
    }
}

/// Appends answer text (plain, or a fenced code-execution block) to the delta through the
/// choice's stop scanner, which holds back what may begin a stop sequence: code blocks are
/// content too, and a stop sequence inside one ends the answer as in text. True once a stop
/// sequence was seen.
fn push_text(
    stops: &mut StopScanner,
    delta: &mut Delta,
    at_line_start: &mut bool,
    text: &str,
) -> bool {
    let visible = stops.push(text);
    if !visible.is_empty() {
        *at_line_start = visible.ends_with('\n');
        delta
            .content
            .get_or_insert_with(String::new)
            .push_str(&visible);
    }
    stops.stopped()
}

impl StreamTranslator {
    /// Ends the stream: an error when a choice never finished, else the usage chunk if
    /// the client asked for one.
    pub fn finish(&mut self) -> Result<Option<ChatCompletionChunk>, TranslateError> {
        if self.choices.iter().any(|c| !c.finished) {
            return Err(TranslateError::StreamIncomplete);
        }
        if !self.include_usage {
            return Ok(None);
        }
        let mut chunk = self.chunk(Vec::new());
        chunk.usage = UsageField::Some(self.usage.unwrap_or_default());
        Ok(Some(chunk))
    }

    /// The usage of the latest event that carried `usageMetadata`, if any.
    pub fn usage(&self) -> Option<&chat::Usage> {
        self.usage.as_ref()
    }

    /// True once every choice has its finish reason.
    pub fn is_done(&self) -> bool {
        self.choices.iter().all(|c| c.finished)
    }

    fn push_delta(
        &mut self,
        out: &mut Vec<ChatCompletionChunk>,
        index: u32,
        mut delta: Delta,
        logprobs: Option<chat::ChoiceLogprobs>,
    ) {
        if let Some(state) = self.choices.get_mut(index as usize) {
            if !state.started {
                state.started = true;
                delta.role = Some(chat::Role::Assistant);
                if delta.content.is_none() && delta.refusal.is_none() {
                    // OpenAI's first chunk always carries `content: ""` beside the role.
                    delta.content = Some(String::new());
                }
            }
        }
        out.push(self.chunk(vec![ChunkChoice {
            index,
            delta,
            finish_reason: None,
            logprobs,
        }]));
    }

    fn push_finish(
        &mut self,
        out: &mut Vec<ChatCompletionChunk>,
        index: u32,
        finish: chat::FinishReason,
    ) {
        let started = self
            .choices
            .get(index as usize)
            .is_some_and(|state| state.started);
        if !started {
            self.push_delta(out, index, Delta::default(), None);
        }
        if let Some(state) = self.choices.get_mut(index as usize) {
            state.finished = true;
        }
        out.push(self.chunk(vec![ChunkChoice {
            index,
            delta: Delta::default(),
            finish_reason: Some(finish),
            logprobs: None,
        }]));
    }

    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.ctx.id.clone(),
            object: "chat.completion.chunk",
            created: self.ctx.created,
            model: self.ctx.model.clone(),
            choices,
            usage: if self.include_usage {
                UsageField::Null
            } else {
                UsageField::Absent
            },
            service_tier: self.service_tier.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::build::names::ToolNames;
    use crate::chat::response::SequentialIds;
    use serde_json::{json, Value};

    fn translator(n: u32, include_usage: bool) -> StreamTranslator {
        translator_for(n, include_usage, ToolNames::default(), Vec::new())
    }

    /// One choice, no usage, with the given tool names and extra stop sequences.
    fn translator_with(names: ToolNames, extra_stops: Vec<String>) -> StreamTranslator {
        translator_for(1, false, names, extra_stops)
    }

    fn translator_for(
        n: u32,
        include_usage: bool,
        names: ToolNames,
        extra_stops: Vec<String>,
    ) -> StreamTranslator {
        StreamTranslator::new(
            ResponseContext {
                id: "chatcmpl-s".to_owned(),
                created: 1,
                model: "gemini-3-pro-preview".to_owned(),
                names,
                n,
                extra_stops,
            },
            include_usage,
        )
    }

    fn run(t: &mut StreamTranslator, events: &[Value]) -> Result<Vec<Value>, TranslateError> {
        let mut ids = SequentialIds::default();
        let mut out = Vec::new();
        for e in events {
            let e: gemini::GenerateContentResponse = serde_json::from_value(e.clone()).unwrap();
            for c in t.on_event(e, &mut ids)? {
                out.push(serde_json::to_value(c).unwrap());
            }
        }
        if let Some(c) = t.finish()? {
            out.push(serde_json::to_value(c).unwrap());
        }
        Ok(out)
    }

    #[test]
    fn text_stream_with_usage() {
        let mut t = translator(1, true);
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}], "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "index": 0}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 4, "totalTokenCount": 12}}),
        ]).unwrap();
        let deltas: Vec<Value> = out
            .iter()
            .map(|c| {
                c["choices"]
                    .get(0)
                    .map(|c| c["delta"].clone())
                    .unwrap_or(Value::Null)
            })
            .collect();
        assert_eq!(
            deltas,
            vec![
                json!({"role": "assistant", "content": "Hel"}),
                json!({"content": "lo"}),
                json!({}),
                Value::Null
            ]
        );
        assert_eq!(out[2]["choices"][0]["finish_reason"], "stop");
        assert!(out[..3]
            .iter()
            .all(|c| c["usage"].is_null() && c.as_object().unwrap().contains_key("usage")));
        assert_eq!(out[3]["choices"], json!([]));
        assert_eq!(out[3]["usage"]["completion_tokens"], 7);
        assert_eq!(out[3]["usage"]["total_tokens"], 12);
    }

    #[test]
    fn no_usage_field_without_include_usage() {
        let mut t = translator(1, false);
        let out = run(&mut t, &[json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]})]).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn tool_calls_get_stable_indices_across_events() {
        let mut t = translator(1, false);
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"parts": [{"text": "Checking."}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "w", "args": {"c": "Paris"}}, "thoughtSignature": "c2ln"}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "w", "args": {"c": "Rome"}}}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}),
        ]).unwrap();
        assert_eq!(
            out[1]["choices"][0]["delta"]["tool_calls"],
            json!([{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "w", "arguments": "{\"c\":\"Paris\"}"}, "extra_content": {"google": {"thought_signature": "c2ln"}}}])
        );
        assert_eq!(out[2]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
        assert_eq!(
            out[2]["choices"][0]["delta"]["tool_calls"][0]["id"],
            "call_2"
        );
        assert_eq!(out[3]["choices"][0]["finish_reason"], "tool_calls");
        let finishes = out
            .iter()
            .filter(|c| !c["choices"][0]["finish_reason"].is_null())
            .count();
        assert_eq!(finishes, 1);
    }

    #[test]
    fn legacy_functions_stream_one_function_call() {
        let mut names = ToolNames::default();
        names.register("lookup");
        names.set_legacy_functions();
        let mut t = translator_with(names, Vec::new());
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}}}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "lookup", "args": {"q": "y"}}}]}, "finishReason": "STOP"}]}),
        ]).unwrap();
        assert_eq!(
            out[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "",
            "function_call": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}})
        );
        assert_eq!(
            out.last().unwrap()["choices"][0]["finish_reason"],
            "function_call"
        );
        assert!(out
            .iter()
            .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()));
    }

    /// A sixth stop sequence split across events at every position: the client never sees
    /// text past it, the choice finishes with `stop`, and later events change nothing.
    #[test]
    fn extra_stop_sequences_split_across_events() {
        let text = "The answer is 42. DONE and more text";
        for at in 1..text.len() {
            let mut t = translator_with(ToolNames::default(), vec!["DONE".to_owned()]);
            let event = |t: &str, finish: Option<&str>| {
                let mut c = json!({"content": {"parts": [{"text": t}]}});
                if let Some(f) = finish {
                    c["finishReason"] = json!(f);
                }
                json!({"candidates": [c]})
            };
            let out = run(
                &mut t,
                &[
                    event(&text[..at], None),
                    event(&text[at..], None),
                    event(" tail", Some("STOP")),
                ],
            )
            .unwrap();
            let content: String = out
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect();
            assert_eq!(content, "The answer is 42. ", "split at {at}");
            let finishes: Vec<&Value> = out
                .iter()
                .map(|c| &c["choices"][0]["finish_reason"])
                .filter(|f| !f.is_null())
                .collect();
            assert_eq!(finishes, vec![&json!("stop")], "split at {at}");
        }
    }

    #[test]
    fn held_back_text_is_flushed_at_the_end() {
        let mut t = translator_with(ToolNames::default(), vec!["DONE".to_owned()]);
        let out = run(&mut t, &[json!({"candidates": [{"content": {"parts": [{"text": "almost DON"}]}, "finishReason": "MAX_TOKENS"}]})]).unwrap();
        let content: String = out
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "almost DON");
        assert_eq!(out.last().unwrap()["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn streamed_logprobs_and_safety_refusal() {
        let mut t = translator(1, false);
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "logprobsResult": {"chosenCandidates": [{"token": "Hi", "logProbability": -0.5}], "topCandidates": []}}]}),
            json!({"candidates": [{"finishReason": "STOP"}]}),
        ]).unwrap();
        assert_eq!(
            out[0]["choices"][0]["logprobs"]["content"][0]["token"],
            "Hi"
        );
        let mut t = translator(1, false);
        let out = run(
            &mut t,
            &[json!({"candidates": [{"finishReason": "SAFETY"}]})],
        )
        .unwrap();
        assert!(out[0]["choices"][0]["delta"]["refusal"]
            .as_str()
            .unwrap()
            .contains("SAFETY"));
        assert_eq!(out[1]["choices"][0]["finish_reason"], "content_filter");
    }

    #[test]
    fn thoughts_go_to_reasoning_content() {
        let mut t = translator(1, false);
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"parts": [{"text": "hmm", "thought": true}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "answer"}]}, "finishReason": "STOP"}]}),
        ]).unwrap();
        assert_eq!(
            out[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "reasoning_content": "hmm"})
        );
        assert_eq!(out[1]["choices"][0]["delta"], json!({"content": "answer"}));
    }

    #[test]
    fn stream_without_finish_reason_is_an_error() {
        let mut t = translator(1, true);
        let e = run(
            &mut t,
            &[json!({"candidates": [{"content": {"parts": [{"text": "cut"}]}}]})],
        )
        .unwrap_err();
        assert_eq!(e, TranslateError::StreamIncomplete);
    }

    #[test]
    fn blocked_prompt_in_stream() {
        let mut t = translator(1, false);
        let out = run(
            &mut t,
            &[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})],
        )
        .unwrap();
        assert_eq!(out[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(out[0]["choices"][0]["delta"]["refusal"]
            .as_str()
            .unwrap()
            .contains("PROHIBITED_CONTENT"));
        assert_eq!(out[1]["choices"][0]["finish_reason"], "content_filter");
    }

    /// Found by the `stream_translate` fuzz target
    /// (fuzz/regressions/stream_translate/late_block_reason.sse).
    #[test]
    fn block_reason_after_a_finish_does_not_end_the_choice_again() {
        let mut t = translator(2, false);
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP", "index": 0}]}),
            json!({"promptFeedback": {"blockReason": "SAFETY"}}),
        ]).unwrap();
        let finishes: Vec<(u64, &str)> = out
            .iter()
            .filter_map(|c| {
                let ch = &c["choices"][0];
                Some((ch["index"].as_u64()?, ch["finish_reason"].as_str()?))
            })
            .collect();
        assert_eq!(
            finishes,
            [(0, "stop"), (1, "content_filter")],
            "one finish_reason per choice: {out:?}"
        );
        assert_eq!(
            out.len(),
            4,
            "choice 0 gets nothing after its finish: {out:?}"
        );
    }

    #[test]
    fn several_choices_finish_independently() {
        let mut t = translator(2, false);
        let out = run(&mut t, &[
            json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "index": 0}, {"content": {"parts": [{"text": "b"}]}, "index": 1}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 0}, {"finishReason": "MAX_TOKENS", "index": 1}]}),
        ]).unwrap();
        let finishes: Vec<(u64, String)> = out
            .iter()
            .filter_map(|c| {
                let ch = &c["choices"][0];
                ch["finish_reason"]
                    .as_str()
                    .map(|f| (ch["index"].as_u64().unwrap(), f.to_owned()))
            })
            .collect();
        assert_eq!(
            finishes,
            vec![(0, "stop".to_owned()), (1, "length".to_owned())]
        );
    }

    #[test]
    fn malformed_call_mid_stream_is_an_error() {
        let mut t = translator(1, false);
        let e = run(
            &mut t,
            &[json!({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}]})],
        )
        .unwrap_err();
        assert!(matches!(e, TranslateError::UpstreamFinish { .. }));
    }
}
