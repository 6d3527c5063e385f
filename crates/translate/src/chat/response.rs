//! Gemini `GenerateContentResponse` → OpenAI `chat.completion`, plus the pieces the stream
//! state machine shares with it: usage, log probabilities and tool-call mapping.
//!
//! <https://ai.google.dev/api/generate-content#generatecontentresponse> →
//! <https://platform.openai.com/docs/api-reference/chat/object>.

use crate::build::code_execution::{code_step, fenced_code, fenced_output, result_step, separator};
use crate::build::finish;
use crate::build::grounding::{citations, fetched_pages, Citation};
use crate::build::logprobs::token_logprobs;
use crate::build::names::ToolNames;
use crate::build::parts::{classify, compact_json, PartOut};
use crate::build::safety::{blocked_prompt_refusal, content_filter_refusal};
use crate::build::stops::StopScanner;
use crate::build::usage::tokens;
use crate::gemini;
use crate::openai::chat::{self, FinishReason};

use super::finish::{finish_reason, Overrides};
use crate::openai::ExtraContent;
use crate::TranslateError;

pub use crate::build::options::{IdSource, SequentialIds};

/// Everything the response needs that Gemini does not provide.
pub struct ResponseContext {
    /// `chatcmpl-...`, shared by every chunk of a stream.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model name exactly as the client sent it.
    pub model: String,
    pub names: ToolNames,
    /// Number of choices the client asked for.
    pub n: u32,
    /// Stop sequences beyond Gemini's five, enforced on the answer (`Translated::extra_stops`).
    pub extra_stops: Vec<String>,
}

/// Maps a complete (non-streamed) Gemini answer.
pub fn to_openai(
    resp: gemini::GenerateContentResponse,
    ctx: &ResponseContext,
    ids: &mut dyn IdSource,
) -> Result<chat::ChatCompletion, TranslateError> {
    let usage = resp.usage_metadata.map(|u| usage(&u));
    if resp.candidates.is_empty() {
        let reason = resp
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.clone())
            .ok_or_else(|| {
                TranslateError::UpstreamFormat("the response has no candidates".to_owned())
            })?;
        return Ok(chat::ChatCompletion {
            id: ctx.id.clone(),
            object: "chat.completion",
            created: ctx.created,
            model: ctx.model.clone(),
            choices: (0..ctx.n.max(1))
                .map(|index| blocked_choice(index, &reason))
                .collect(),
            usage,
            service_tier: None,
        });
    }

    let mut choices = Vec::with_capacity(resp.candidates.len());
    for candidate in resp.candidates {
        let index = candidate.index.unwrap_or(0);
        let ending = finish::ending(candidate.finish_reason, candidate.finish_message.as_deref())?;
        let mut message = chat::ResponseMessage::default();
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut steps = Vec::new();
        // Where each answer part's text starts in `text`, for grounding offsets.
        let mut part_starts = Vec::new();
        for (part_index, part) in candidate
            .content
            .into_iter()
            .flat_map(|c| c.parts)
            .enumerate()
        {
            match classify(part) {
                PartOut::Text(t) => {
                    part_starts.push((part_index, text.len()));
                    text.push_str(&t);
                }
                PartOut::Media(blob) if blob.mime_type.starts_with("audio/") => {
                    message.audio = Some(chat::AudioOut {
                        id: format!("audio_{}", ctx.id),
                        data: blob.data,
                        expires_at: ctx.created + 3600,
                        transcript: String::new(),
                    });
                }
                PartOut::Media(blob) => message.images.push(image_out(&blob)),
                PartOut::Thought(t) => reasoning.push_str(&t),
                PartOut::Call(call, signature) => {
                    message
                        .tool_calls
                        .push(tool_call(call, signature, &ctx.names, ids));
                }
                PartOut::Code(code) => {
                    text.push_str(separator(text.is_empty() || text.ends_with('\n')));
                    text.push_str(&fenced_code(&code));
                    steps.push(code_step(&code));
                }
                PartOut::CodeResult(result) => {
                    text.push_str(separator(text.is_empty() || text.ends_with('\n')));
                    text.push_str(&fenced_output(&result));
                    steps.push(result_step(&result));
                }
                PartOut::Nothing => {}
            }
        }
        message.extra_content = ExtraContent::code_execution(steps);
        let mut cited = candidate
            .grounding_metadata
            .as_ref()
            .map(|g| citations(g, &text, &part_starts))
            .unwrap_or_default();
        if let Some(pages) = &candidate.url_context_metadata {
            let read = fetched_pages(pages, &text, &cited);
            cited.extend(read);
        }
        message.annotations = annotations(cited);
        let mut overrides = Overrides {
            tool_calls: !message.tool_calls.is_empty(),
            stopped: false,
            legacy_functions: ctx.names.legacy_functions(),
        };
        if !ctx.extra_stops.is_empty() {
            let (cut, stopped) = StopScanner::cut(&ctx.extra_stops, &text);
            if stopped {
                // Output after a stop sequence never happened, calls included.
                text = cut;
                message.tool_calls.clear();
                overrides.stopped = true;
            }
        }
        let finish = finish_reason(ending, overrides);
        if ctx.names.legacy_functions() && !message.tool_calls.is_empty() {
            // The legacy API has room for one call per answer: the first one.
            let first = message.tool_calls.swap_remove(0);
            message.tool_calls.clear();
            message.function_call = Some(first.function);
        }
        if !text.is_empty() || (message.tool_calls.is_empty() && message.function_call.is_none()) {
            message.content = Some(text);
        }
        if finish == FinishReason::ContentFilter && message.content.as_deref() == Some("") {
            message.content = None;
            message.refusal = Some(content_filter_refusal(candidate.finish_reason));
        }
        message.reasoning_content = (!reasoning.is_empty()).then_some(reasoning);
        choices.push(chat::Choice {
            index,
            message,
            finish_reason: finish,
            logprobs: candidate.logprobs_result.as_ref().map(logprobs),
        });
    }
    choices.sort_by_key(|c| c.index);
    Ok(chat::ChatCompletion {
        id: ctx.id.clone(),
        object: "chat.completion",
        created: ctx.created,
        model: ctx.model.clone(),
        choices,
        usage,
        service_tier: None,
    })
}

fn blocked_choice(index: u32, reason: &str) -> chat::Choice {
    chat::Choice {
        index,
        message: chat::ResponseMessage {
            refusal: Some(blocked_prompt_refusal(reason)),
            ..Default::default()
        },
        finish_reason: FinishReason::ContentFilter,
        logprobs: None,
    }
}

/// A generated image as a data URL.
pub(crate) fn image_out(blob: &gemini::Blob) -> chat::ImageOut {
    chat::ImageOut {
        kind: "image_url",
        image_url: chat::ImageUrlOut {
            url: format!("data:{};base64,{}", blob.mime_type, blob.data),
        },
    }
}

/// Grounding → `url_citation` annotations ([`citations`] does the reading). Chat has no
/// other annotation type, so a File Search document is cited by its name as the `url` and
/// its display name as the `title`.
fn annotations(cited: Vec<Citation>) -> Vec<chat::Annotation> {
    cited
        .into_iter()
        .map(|c| chat::Annotation {
            kind: "url_citation",
            url_citation: chat::UrlCitation {
                start_index: c.start,
                end_index: c.end,
                url: c.url,
                title: c.title,
            },
        })
        .collect()
}

/// One Gemini function call as an OpenAI tool call, the signature riding in `extra_content`.
pub(crate) fn tool_call(
    call: gemini::FunctionCall,
    signature: Option<String>,
    names: &ToolNames,
    ids: &mut dyn IdSource,
) -> chat::ToolCallOut {
    let id = match call.id {
        Some(id) if !id.is_empty() => id,
        _ => ids.tool_call_id(),
    };
    let arguments = call
        .args
        .map(|a| compact_json(a.get()))
        .unwrap_or_else(|| "{}".to_owned());
    chat::ToolCallOut {
        id,
        kind: "function",
        function: chat::FunctionCallOut {
            name: names.to_client(&call.name).to_owned(),
            arguments,
        },
        extra_content: signature.map(ExtraContent::signature),
    }
}

/// Usage in Chat Completions' field names ([`tokens`] does the counting).
pub fn usage(u: &gemini::UsageMetadata) -> chat::Usage {
    let t = tokens(u);
    chat::Usage {
        prompt_tokens: t.input,
        completion_tokens: t.output,
        total_tokens: t.total,
        prompt_tokens_details: chat::PromptTokensDetails {
            cached_tokens: t.cached,
        },
        completion_tokens_details: chat::CompletionTokensDetails {
            reasoning_tokens: t.reasoning,
        },
    }
}

/// `logprobsResult` → `choices[].logprobs` ([`token_logprobs`] does the reading).
pub fn logprobs(result: &gemini::LogprobsResult) -> chat::ChoiceLogprobs {
    chat::ChoiceLogprobs {
        content: token_logprobs(result),
        refusal: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn map(resp: Value) -> Result<Value, TranslateError> {
        let names = ToolNames::default();
        let ctx = ResponseContext {
            id: "chatcmpl-test".to_owned(),
            created: 1_700_000_000,
            model: "gemini-2.5-flash".to_owned(),
            names,
            n: 1,
            extra_stops: Vec::new(),
        };
        let resp: gemini::GenerateContentResponse = serde_json::from_value(resp).unwrap();
        let out = to_openai(resp, &ctx, &mut SequentialIds::default())?;
        Ok(serde_json::to_value(out).unwrap())
    }

    #[test]
    fn text_answer_with_thoughts_and_seed_doc_usage() {
        let out = map(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Thinking...", "thought": true},
                {"text": "Quantum "}, {"text": "mechanics."}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 153, "thoughtsTokenCount": 869,
                "totalTokenCount": 1027, "trafficType": "ON_DEMAND"},
            "modelVersion": "gemini-2.5-flash", "createTime": "2025-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000,
                "model": "gemini-2.5-flash",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Quantum mechanics.",
                    "refusal": null, "reasoning_content": "Thinking..."}, "finish_reason": "stop", "logprobs": null}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1022, "total_tokens": 1027,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 869}}
            })
        );
    }

    #[test]
    fn finish_reasons() {
        let f = |r: &str| {
            let out = map(
                json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": r}]}),
            )
            .unwrap();
            out["choices"][0]["finish_reason"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(f("STOP"), "stop");
        assert_eq!(f("MAX_TOKENS"), "length");
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "LANGUAGE",
        ] {
            assert_eq!(f(r), "content_filter", "{r}");
        }
        assert_eq!(f("OTHER"), "stop");
        assert_eq!(f("SOMETHING_NEW_2027"), "stop");
    }

    #[test]
    fn safety_stop_without_content_is_a_refusal() {
        let out = map(json!({"candidates": [{"finishReason": "SAFETY"}]})).unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert!(out["choices"][0]["message"]["refusal"]
            .as_str()
            .unwrap()
            .contains("finishReason SAFETY"));
    }

    #[test]
    fn blocked_prompt_is_content_filter_with_refusal() {
        let out = map(json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}})).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
        assert!(out["choices"][0]["message"]["refusal"]
            .as_str()
            .unwrap()
            .contains("SAFETY"));
        assert_eq!(out["usage"]["prompt_tokens"], 3);
        assert!(matches!(
            map(json!({})),
            Err(TranslateError::UpstreamFormat(_))
        ));
    }

    #[test]
    fn tool_calls_get_ids_signatures_and_tool_calls_finish() {
        let out = map(json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me check."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"id": "g-2", "name": "get_weather", "args": {"city": "Rome"}}}
        ]}, "finishReason": "STOP"}]}))
        .unwrap();
        let msg = &out["choices"][0]["message"];
        assert_eq!(msg["content"], "Let me check.");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            msg["tool_calls"],
            json!([
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                 "extra_content": {"google": {"thought_signature": "c2ln"}}},
                {"id": "g-2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ])
        );
    }

    #[test]
    fn legacy_functions_answer_with_function_call() {
        let mut names = ToolNames::default();
        names.register("lookup");
        names.set_legacy_functions();
        let ctx = ResponseContext {
            id: "c".to_owned(),
            created: 1,
            model: "m".to_owned(),
            names,
            n: 1,
            extra_stops: Vec::new(),
        };
        let resp: gemini::GenerateContentResponse =
            serde_json::from_value(json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "lookup", "args": {"q": "x"}}}]}, "finishReason": "STOP"}]}))
            .unwrap();
        let out =
            serde_json::to_value(to_openai(resp, &ctx, &mut SequentialIds::default()).unwrap())
                .unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], "function_call");
        assert_eq!(
            out["choices"][0]["message"]["function_call"],
            json!({"name": "lookup", "arguments": "{\"q\":\"x\"}"})
        );
        assert!(out["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
    }

    #[test]
    fn extra_stop_sequences_cut_the_plain_answer() {
        let ctx = ResponseContext {
            id: "c".to_owned(),
            created: 1,
            model: "m".to_owned(),
            names: ToolNames::default(),
            n: 1,
            extra_stops: vec!["six".to_owned(), "END".to_owned()],
        };
        let resp: gemini::GenerateContentResponse =
            serde_json::from_value(json!({"candidates": [{"content": {"parts": [
            {"text": "one two END three six"}]}, "finishReason": "MAX_TOKENS"}]}))
            .unwrap();
        let out =
            serde_json::to_value(to_openai(resp, &ctx, &mut SequentialIds::default()).unwrap())
                .unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "one two ");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn grounding_becomes_url_citations_with_char_offsets() {
        // "Café " is 6 bytes but 5 chars: offsets must be converted.
        let out = map(json!({"candidates": [{"content": {"parts": [{"text": "Café "}, {"text": "Pollux is a star."}]},
            "finishReason": "STOP",
            "groundingMetadata": {
                "webSearchQueries": ["pollux star"],
                "groundingChunks": [{"web": {"uri": "https://example.org/pollux", "title": "example.org"}}],
                "groundingSupports": [{"segment": {"partIndex": 1, "startIndex": 0, "endIndex": 17, "text": "Pollux is a star."},
                    "groundingChunkIndices": [0], "confidenceScores": [0.9]}]
            }}]}))
        .unwrap();
        assert_eq!(
            out["choices"][0]["message"]["annotations"],
            json!([{"type": "url_citation", "url_citation": {
            "start_index": 5, "end_index": 22, "url": "https://example.org/pollux", "title": "example.org"}}])
        );
        let content = out["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(
            content.chars().skip(5).take(17).collect::<String>(),
            "Pollux is a star."
        );
    }

    #[test]
    fn generated_images_and_audio_are_returned() {
        let out = map(json!({"candidates": [{"content": {"parts": [
            {"text": "Here it is."},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}]}, "finishReason": "STOP"}]}))
        .unwrap();
        let msg = &out["choices"][0]["message"];
        assert_eq!(
            msg["images"],
            json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}])
        );
        assert_eq!(msg["audio"]["data"], "UklGRg==");
        assert_eq!(msg["content"], "Here it is.");
    }

    #[test]
    fn calls_only_answer_has_null_content() {
        let out = map(json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f"}}]}, "finishReason": "STOP"}]})).unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
    }

    #[test]
    fn malformed_function_call_is_an_error_not_an_empty_stop() {
        let e = map(json!({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "Malformed function call: print(x"}]})).unwrap_err();
        match e {
            TranslateError::UpstreamFinish { reason, message } => {
                assert_eq!(reason, "MALFORMED_FUNCTION_CALL");
                assert!(message.contains("print(x"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn several_candidates_keep_their_index() {
        let out = map(json!({"candidates": [
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1},
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}
        ]}))
        .unwrap();
        assert_eq!(out["choices"][0]["index"], 0);
        assert_eq!(out["choices"][0]["message"]["content"], "a");
        assert_eq!(out["choices"][1]["message"]["content"], "b");
    }

    #[test]
    fn logprobs_are_mapped() {
        let out = map(json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP",
            "logprobsResult": {"chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
                "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "Hey", "logProbability": -2.5}]}]}}]}))
        .unwrap();
        assert_eq!(
            out["choices"][0]["logprobs"],
            json!({"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105],
            "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}, {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]}]}],
            "refusal": null})
        );
    }
}
