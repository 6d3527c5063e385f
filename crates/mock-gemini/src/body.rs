//! Gemini-shaped JSON the mock writes: the `{"error": {...}}` envelope with its `google.rpc`
//! details, `GenerateContentResponse` bodies for a plain answer and for each streamed event
//! (with cumulative `usageMetadata`), the SSE frame, and the ids the mock invents.
//!
//! Shapes follow <https://ai.google.dev/api/generate-content#generatecontentresponse> and
//! <https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes>; unit tests check every
//! response body against `$defs/GenerateContentResponse` of the oracle schema.

use bytes::Bytes;
use serde_json::{json, Map, Value};

/// Gemini's error envelope: `{"error": {"code", "message", "status", "details"?}}`. Gemini
/// leaves `details` out when it has none (a 503 "model is overloaded" has none).
pub fn error_body(code: u16, status: &str, message: &str, details: Vec<Value>) -> Value {
    let mut error = json!({ "code": code, "message": message, "status": status });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json!({ "error": error })
}

/// A `google.rpc.BadRequest` detail with one field violation per `(field, description)`.
pub fn bad_request_detail(violations: &[(String, String)]) -> Value {
    let field_violations: Vec<Value> = violations
        .iter()
        .map(|(field, description)| {
            if field.is_empty() {
                json!({ "description": description })
            } else {
                json!({ "field": field, "description": description })
            }
        })
        .collect();
    json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": field_violations,
    })
}

/// The 429 body Gemini writes when a quota runs out: `QuotaFailure`, `Help` and `RetryInfo`
/// details. Gemini sends no `Retry-After` header; the delay lives only in `retryDelay`.
pub fn rate_limited_body(retry_delay_secs: u64) -> Value {
    error_body(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more \
         information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        vec![
            json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": { "location": "global", "model": "gemini-2.5-flash" },
                    "quotaValue": "10"
                }]
            }),
            json!({
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"
                }]
            }),
            json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{retry_delay_secs}s")
            }),
        ],
    )
}

/// The HTML page Google's front end serves when something before the API fails.
pub fn html_error_page(status: u16) -> String {
    let reason = match status {
        502 => "Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        404 => "Not Found",
        _ => "Error",
    };
    format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  \
         <title>Error {status} ({reason})!!1</title>\n  \
         <p><b>{status}.</b> <ins>That\u{2019}s an error.</ins>\n  \
         <p>The server encountered a temporary error and could not complete your request.\
         <p>Please try again in 30 seconds.  <ins>That\u{2019}s all we know.</ins>\n"
    )
}

/// One SSE frame exactly as Gemini writes it: `data: <compact json>\r\n\r\n`.
pub fn sse_frame(event: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, event);
    out.extend_from_slice(b"\r\n\r\n");
    Bytes::from(out)
}

/// What a reply needs to know about the request it answers.
#[derive(Debug, Clone)]
pub(crate) struct ReplyContext {
    pub model: String,
    pub response_id: String,
    pub prompt_tokens: u64,
}

impl ReplyContext {
    /// Fill `modelVersion` and `responseId` into a scripted success body that lacks them, so
    /// scripted bodies look like real ones without every test writing them out.
    pub fn complete(&self, body: &mut Value) {
        let Some(obj) = body.as_object_mut() else {
            return;
        };
        if !(obj.contains_key("candidates") || obj.contains_key("promptFeedback")) {
            return;
        }
        obj.entry("modelVersion")
            .or_insert_with(|| Value::String(self.model.clone()));
        obj.entry("responseId")
            .or_insert_with(|| Value::String(self.response_id.clone()));
    }

    fn usage(&self, candidates: Option<u64>) -> Value {
        let mut usage = Map::new();
        usage.insert("promptTokenCount".into(), self.prompt_tokens.into());
        if let Some(c) = candidates {
            usage.insert("candidatesTokenCount".into(), c.into());
        }
        usage.insert(
            "totalTokenCount".into(),
            (self.prompt_tokens + candidates.unwrap_or(0)).into(),
        );
        usage.insert(
            "promptTokensDetails".into(),
            json!([{ "modality": "TEXT", "tokenCount": self.prompt_tokens }]),
        );
        Value::Object(usage)
    }

    fn response(&self, parts: Vec<Value>, finish: Option<&str>, usage: Value) -> Value {
        let mut candidate = Map::new();
        candidate.insert("content".into(), json!({ "parts": parts, "role": "model" }));
        if let Some(reason) = finish {
            candidate.insert("finishReason".into(), reason.into());
        }
        candidate.insert("index".into(), 0.into());
        json!({
            "candidates": [Value::Object(candidate)],
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        })
    }

    /// A whole answer as one `generateContent` response. Adjacent plain text parts are joined,
    /// as Gemini's non-streaming answers hold one text part where a stream held many.
    pub fn plain(&self, chunks: &[Vec<Value>], finish: &str) -> Value {
        let mut parts: Vec<Value> = Vec::new();
        for part in chunks.iter().flatten() {
            if let (Some(last), Some(text)) = (parts.last_mut(), plain_text(part)) {
                if let Some(prev) = plain_text(last).map(str::to_owned) {
                    *last = json!({ "text": prev + text });
                    continue;
                }
            }
            parts.push(part.clone());
        }
        let tokens = chunks.iter().map(|c| chunk_tokens(c)).sum();
        self.response(parts, Some(finish), self.usage(Some(tokens)))
    }

    /// A whole answer as streamed events, one per chunk, `finishReason` on the last. The first
    /// of several events carries only prompt and total counts, as Gemini's early events may;
    /// later ones carry cumulative candidate counts. With `finish` `None` no event finishes
    /// (the stream is about to fail).
    pub fn events(&self, chunks: &[Vec<Value>], finish: Option<&str>) -> Vec<Value> {
        let mut cumulative = 0;
        let n = chunks.len();
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                cumulative += chunk_tokens(chunk);
                let last = i + 1 == n;
                let usage = if i == 0 && n > 1 {
                    self.usage(None)
                } else {
                    self.usage(Some(cumulative))
                };
                self.response(chunk.clone(), finish.filter(|_| last), usage)
            })
            .collect()
    }
}

/// The text of a part that is nothing but text (no thought flag, no signature).
fn plain_text(part: &Value) -> Option<&str> {
    let obj = part.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    obj.get("text")?.as_str()
}

/// A rough token count: about four characters a token, as a tokenizer would average.
pub(crate) fn tokens_for_chars(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

fn chunk_tokens(parts: &[Value]) -> u64 {
    parts
        .iter()
        .map(|p| match p.get("text").and_then(Value::as_str) {
            Some(t) => tokens_for_chars(t.chars().count()),
            None => tokens_for_chars(p.to_string().len()),
        })
        .sum()
}

/// Split `text` into at most `n` pieces of about equal length, never inside a character.
pub(crate) fn split_text(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let size = chars.len().div_ceil(n).max(1);
    let pieces: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
    if pieces.is_empty() {
        vec![String::new()]
    } else {
        pieces
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A fresh `responseId`: 22 URL-safe characters, the length Gemini's ids have.
pub(crate) fn response_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::gemini_errors;

    fn ctx() -> ReplyContext {
        ReplyContext {
            model: "gemini-2.5-flash".into(),
            response_id: response_id(),
            prompt_tokens: 7,
        }
    }

    #[test]
    fn response_ids_look_like_geminis() {
        let id = response_id();
        assert_eq!(id.len(), 22);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert_ne!(id, response_id());
    }

    #[test]
    fn split_text_keeps_characters_whole() {
        assert_eq!(split_text("abcdef", 3), vec!["ab", "cd", "ef"]);
        assert_eq!(split_text("ééé", 3), vec!["é", "é", "é"]);
        assert_eq!(split_text("a", 3), vec!["a"]);
        assert_eq!(split_text("", 3), vec![""]);
        assert_eq!(split_text("abcd", 3).concat(), "abcd");
    }

    #[test]
    fn plain_answer_joins_text_and_is_valid() {
        let chunks = vec![vec![json!({"text": "a"})], vec![json!({"text": "b"})]];
        let body = ctx().plain(&chunks, "STOP");
        assert_eq!(
            body["candidates"][0]["content"]["parts"],
            json!([{"text": "ab"}])
        );
        assert_eq!(body["candidates"][0]["finishReason"], "STOP");
        assert_eq!(body["usageMetadata"]["totalTokenCount"], 9);
        assert_eq!(
            gemini_errors("GenerateContentResponse", &body),
            Vec::<String>::new()
        );
    }

    #[test]
    fn events_have_cumulative_usage_and_one_finish() {
        let chunks = vec![
            vec![json!({"text": "abcd"})],
            vec![json!({"text": "efgh"})],
            vec![json!({"text": "ij"})],
        ];
        let events = ctx().events(&chunks, Some("STOP"));
        assert_eq!(events.len(), 3);
        assert!(events[0]["usageMetadata"]
            .get("candidatesTokenCount")
            .is_none());
        assert_eq!(events[1]["usageMetadata"]["candidatesTokenCount"], 2);
        assert_eq!(events[2]["usageMetadata"]["candidatesTokenCount"], 3);
        assert_eq!(events[2]["usageMetadata"]["totalTokenCount"], 10);
        assert!(events[0]["candidates"][0].get("finishReason").is_none());
        assert_eq!(events[2]["candidates"][0]["finishReason"], "STOP");
        for e in &events {
            assert_eq!(
                gemini_errors("GenerateContentResponse", e),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn frame_is_gemini_framing() {
        assert_eq!(&sse_frame(&json!({"a": 1}))[..], b"data: {\"a\":1}\r\n\r\n");
    }

    #[test]
    fn complete_fills_only_missing_ids_of_success_bodies() {
        let c = ctx();
        let mut ok = json!({"candidates": [], "modelVersion": "x"});
        c.complete(&mut ok);
        assert_eq!(ok["modelVersion"], "x");
        assert_eq!(ok["responseId"], json!(c.response_id));
        let mut err = json!({"error": {}});
        c.complete(&mut err);
        assert!(err.get("modelVersion").is_none());
    }
}
