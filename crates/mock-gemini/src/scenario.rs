//! Scenarios: what the mock answers to one model request. A test queues them (in process with
//! `MockGemini::push`, out of process as JSON on `POST /_mock/scenarios`); each
//! `generateContent` or `streamGenerateContent` request that passes the mock's checks takes the
//! next one.
//!
//! The JSON form is internally tagged by `kind`:
//!
//! ```json
//! {"kind": "answer", "chunks": [[{"text": "Hel"}], [{"text": "lo"}]], "finish_reason": "STOP"}
//! {"kind": "json", "status": 429, "body": {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}}
//! {"kind": "raw", "status": 502, "content_type": "text/html", "body": "<html>..."}
//! {"kind": "stream", "steps": [{"event": {"candidates": []}}, {"delay_ms": 50}, {"raw": "{...}"}, "cut"]}
//! {"kind": "hang_before_head"}
//! ```
//!
//! An `answer` adapts to the request: one response for `generateContent`, one SSE event per
//! chunk for `streamGenerateContent`. `json`, `raw` and `stream` go on the wire as scripted,
//! except that a success body lacking `modelVersion`/`responseId` gets them, and on `gemini-3*`
//! models the first `functionCall` part of a reply gets a `thoughtSignature` if it has none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::body::{error_body, html_error_page, rate_limited_body, split_text};

/// What the mock answers to one model request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scenario {
    /// A model answer, rendered the way Gemini renders it for the request's method, with
    /// realistic cumulative `usageMetadata`, `modelVersion` and `responseId`.
    Answer {
        /// The parts of each streamed event; a plain request gets all of them in one response
        /// (adjacent text parts joined).
        chunks: Vec<Vec<Value>>,
        /// The `finishReason` of the last event.
        #[serde(default = "stop")]
        finish_reason: String,
        /// A Gemini error body. When set, a stream sends the chunks without a `finishReason`
        /// and then writes this body bare (pretty-printed, not framed as `data:`), as Gemini
        /// does when it fails after the 200; a plain request gets it as its error response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fail: Option<Value>,
        /// Candidate fields beside `content` that built-in tools add (`groundingMetadata`,
        /// `urlContextMetadata`), set on the candidate of the plain response or of the
        /// stream's last event, where Gemini reports them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        candidate: Option<Value>,
    },
    /// A JSON response written as scripted (pretty-printed, as Google's REST front end writes).
    Json {
        #[serde(default = "ok")]
        status: u16,
        body: Value,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// Wait this long before the response head.
        #[serde(default, skip_serializing_if = "is_zero")]
        delay_ms: u64,
    },
    /// A non-JSON response, e.g. the HTML page of a gateway in front of the API.
    Raw {
        status: u16,
        #[serde(default = "text_plain")]
        content_type: String,
        body: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "is_zero")]
        delay_ms: u64,
    },
    /// A 200 `text/event-stream` response made of scripted steps.
    Stream {
        steps: Vec<StreamStep>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "is_zero")]
        delay_ms: u64,
    },
    /// Accept the request and never send a response head.
    HangBeforeHead,
}

/// One step of a scripted stream. JSON: `{"event": {...}}`, `{"raw": "..."}`,
/// `{"delay_ms": 100}`, `"cut"`, `"hang"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStep {
    /// One event, written as `data: <compact json>\r\n\r\n`.
    Event(Value),
    /// Bytes written verbatim.
    Raw(String),
    /// Pause this many milliseconds.
    #[serde(rename = "delay_ms")]
    Delay(u64),
    /// Abort the connection mid-body: the client sees an incomplete body, not a clean end.
    Cut,
    /// Stop writing and never finish.
    Hang,
}

/// The MIME type of Gemini's speech.
pub const SPEECH_MIME: &str = "audio/L16;codec=pcm;rate=24000";

/// The transcript the mock hears in any audio.
pub const TRANSCRIPT: &str = "Hello from mock-gemini. This is a transcript.";

/// [`TRANSCRIPT`] as timed segments and words, the JSON a transcription `responseSchema` asks
/// for.
pub static TRANSCRIPT_SEGMENTS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({"language": "English", "segments": [
        {"text": "Hello from mock-gemini.", "start": 0.0, "end": 1.25},
        {"text": "This is a transcript.", "start": 1.25, "end": 2.5}],
      "words": [
        {"word": "Hello", "start": 0.0, "end": 0.4}, {"word": "from", "start": 0.4, "end": 0.7},
        {"word": "mock-gemini.", "start": 0.7, "end": 1.25}, {"word": "This", "start": 1.25, "end": 1.6},
        {"word": "is", "start": 1.6, "end": 1.8}, {"word": "a", "start": 1.8, "end": 1.9},
        {"word": "transcript.", "start": 1.9, "end": 2.5}]})
});

fn stop() -> String {
    "STOP".to_owned()
}

fn ok() -> u16 {
    200
}

fn text_plain() -> String {
    "text/plain; charset=utf-8".to_owned()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Scenario {
    /// A text answer; streamed, it arrives in about three events.
    pub fn text(text: &str) -> Self {
        let chunks = split_text(text, 3)
            .into_iter()
            .map(|t| vec![json!({ "text": t })])
            .collect();
        Self::answer(chunks)
    }

    /// A text answer streamed as exactly these pieces, one event each.
    pub fn text_stream(pieces: &[&str]) -> Self {
        Self::answer(pieces.iter().map(|t| vec![json!({ "text": t })]).collect())
    }

    /// An answer of arbitrary parts, one chunk per streamed event, finishing with `STOP`.
    pub fn answer(chunks: Vec<Vec<Value>>) -> Self {
        Scenario::Answer {
            chunks,
            finish_reason: stop(),
            fail: None,
            candidate: None,
        }
    }

    /// A code-execution answer as Gemini writes it: `prelude` text, the `executableCode`
    /// part, its `codeExecutionResult` (`OUTCOME_OK` with `output`), then `conclusion`; one
    /// streamed event each.
    pub fn code_execution(prelude: &str, code: &str, output: &str, conclusion: &str) -> Self {
        Self::answer(vec![
            vec![json!({ "text": prelude })],
            vec![json!({ "executableCode": { "language": "PYTHON", "code": code } })],
            vec![json!({ "codeExecutionResult": { "outcome": "OUTCOME_OK", "output": output } })],
            vec![json!({ "text": conclusion })],
        ])
    }

    /// A text answer grounded in the documents of a File Search store: each `(uri, title,
    /// passage)` is a `retrievedContext` chunk supporting the whole text.
    pub fn file_search(text: &str, documents: &[(&str, &str, &str)]) -> Self {
        let chunks: Vec<Value> = documents
            .iter()
            .map(|(uri, title, passage)| {
                json!({ "retrievedContext": { "uri": uri, "title": title, "text": passage } })
            })
            .collect();
        let indices: Vec<usize> = (0..chunks.len()).collect();
        Self::text(text).with_candidate(json!({ "groundingMetadata": {
            "groundingChunks": chunks,
            "groundingSupports": [{ "segment": { "startIndex": 0, "endIndex": text.len(), "text": text },
                "groundingChunkIndices": indices }]
        }}))
    }

    /// A text answer after the URL-context tool read `urls` (all successfully).
    pub fn url_context(text: &str, urls: &[&str]) -> Self {
        let metadata: Vec<Value> = urls
            .iter()
            .map(|u| json!({ "retrievedUrl": u, "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS" }))
            .collect();
        Self::text(text)
            .with_candidate(json!({ "urlContextMetadata": { "urlMetadata": metadata } }))
    }

    /// The same answer with these candidate fields (see [`Scenario::Answer::candidate`]).
    pub fn with_candidate(mut self, fields: Value) -> Self {
        if let Scenario::Answer { candidate, .. } = &mut self {
            *candidate = Some(fields);
        }
        self
    }

    /// Speech as a Gemini TTS model answers it: `seconds` of a 440 Hz tone as 24 kHz signed
    /// 16-bit little-endian mono PCM in `inlineData` ([`SPEECH_MIME`]), in three events.
    pub fn speech(seconds: f64) -> Self {
        use base64::Engine as _;
        let samples = (seconds * 24_000.0).round() as usize;
        let pcm: Vec<u8> = (0..samples)
            .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 24_000.0).sin() * 8_000.0) as i16)
            .flat_map(i16::to_le_bytes)
            .collect();
        // Split on whole samples, as Gemini does.
        let third = (samples / 3).max(1) * 2;
        let chunks = pcm
            .chunks(third)
            .map(|c| {
                let data = base64::engine::general_purpose::STANDARD.encode(c);
                vec![json!({ "inlineData": { "mimeType": SPEECH_MIME, "data": data } })]
            })
            .collect();
        Self::answer(chunks)
    }

    /// What the mock answers a request with an empty queue: speech for a TTS request (50 ms
    /// of tone per character of its text), a fixed transcript for a request carrying audio
    /// (timed segments as JSON when it asks for a `responseSchema`), else the echo.
    pub fn default_for(request: &Value) -> Self {
        let config = request.get("generationConfig");
        let wants_audio = config
            .and_then(|c| c.get("responseModalities"))
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|m| m == "AUDIO"));
        let parts = || {
            request
                .get("contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("parts").and_then(Value::as_array))
                .flatten()
        };
        if wants_audio {
            let chars: usize = parts()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|t| t.chars().count())
                .sum();
            return Self::speech(chars as f64 * 0.05);
        }
        let hears_audio = parts().any(|p| {
            p.pointer("/inlineData/mimeType")
                .or_else(|| p.pointer("/fileData/mimeType"))
                .and_then(Value::as_str)
                .is_some_and(|m| m.starts_with("audio/") || m.starts_with("video/"))
        });
        if hears_audio {
            if config.and_then(|c| c.get("responseSchema")).is_some() {
                return Self::text(&TRANSCRIPT_SEGMENTS.to_string());
            }
            return Self::text(TRANSCRIPT);
        }
        Self::text(&crate::checks::last_user_text(request))
    }

    /// One function call (`args` is the JSON object of arguments).
    pub fn function_call(name: &str, args: Value) -> Self {
        Self::answer(vec![vec![
            json!({ "functionCall": { "name": name, "args": args } }),
        ]])
    }

    /// Parallel function calls, one per streamed event as Gemini sends them.
    pub fn function_calls(calls: &[(&str, Value)]) -> Self {
        Self::answer(
            calls
                .iter()
                .map(|(name, args)| vec![json!({ "functionCall": { "name": name, "args": args } })])
                .collect(),
        )
    }

    /// Text pieces streamed without a finish, then a bare error object: Gemini failing after
    /// the 200. A plain request gets the error as its response.
    pub fn text_then_error(pieces: &[&str], code: u16, status: &str, message: &str) -> Self {
        Scenario::Answer {
            chunks: pieces.iter().map(|t| vec![json!({ "text": t })]).collect(),
            finish_reason: stop(),
            fail: Some(error_body(code, status, message, Vec::new())),
            candidate: None,
        }
    }

    /// A Gemini error response, e.g. `error(503, "UNAVAILABLE", "The model is overloaded.
    /// Please try again later.")`.
    pub fn error(code: u16, status: &str, message: &str) -> Self {
        Scenario::Json {
            status: code,
            body: error_body(code, status, message, Vec::new()),
            headers: BTreeMap::new(),
            delay_ms: 0,
        }
    }

    /// A 429 `RESOURCE_EXHAUSTED` with `QuotaFailure` and a `RetryInfo` of `retry_delay_secs`.
    pub fn rate_limited(retry_delay_secs: u64) -> Self {
        Scenario::Json {
            status: 429,
            body: rate_limited_body(retry_delay_secs),
            headers: BTreeMap::new(),
            delay_ms: 0,
        }
    }

    /// An HTML error page with `status`, as a gateway in front of Gemini answers.
    pub fn html(status: u16) -> Self {
        Scenario::Raw {
            status,
            content_type: "text/html; charset=UTF-8".to_owned(),
            body: html_error_page(status),
            headers: BTreeMap::new(),
            delay_ms: 0,
        }
    }

    /// A scripted stream of steps (see [`StreamStep`]).
    pub fn stream(steps: Vec<StreamStep>) -> Self {
        Scenario::Stream {
            steps,
            headers: BTreeMap::new(),
            delay_ms: 0,
        }
    }

    /// The same scenario, answered only after `ms` milliseconds. For an answer (which has no
    /// delay of its own) this is a no-op; script a `stream` for timed events.
    pub fn delayed(mut self, ms: u64) -> Self {
        match &mut self {
            Scenario::Json { delay_ms, .. }
            | Scenario::Raw { delay_ms, .. }
            | Scenario::Stream { delay_ms, .. } => *delay_ms = ms,
            Scenario::Answer { .. } | Scenario::HangBeforeHead => {}
        }
        self
    }

    /// Every response body this scenario may send, for checks against the oracle schema.
    pub fn bodies(&self) -> Vec<Value> {
        match self {
            Scenario::Answer { fail, .. } => fail.iter().cloned().collect(),
            Scenario::Json { body, .. } => vec![body.clone()],
            Scenario::Stream { steps, .. } => steps
                .iter()
                .filter_map(|s| match s {
                    StreamStep::Event(v) => Some(v.clone()),
                    _ => None,
                })
                .collect(),
            Scenario::Raw { .. } | Scenario::HangBeforeHead => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips() {
        let all = vec![
            Scenario::text("hello"),
            Scenario::error(503, "UNAVAILABLE", "The model is overloaded."),
            Scenario::html(502),
            Scenario::stream(vec![
                StreamStep::Event(json!({"candidates": []})),
                StreamStep::Delay(5),
                StreamStep::Raw("x".into()),
                StreamStep::Cut,
                StreamStep::Hang,
            ]),
            Scenario::HangBeforeHead,
        ];
        for s in all {
            let text = serde_json::to_string(&s).unwrap();
            let back: Scenario = serde_json::from_str(&text).unwrap();
            assert_eq!(back, s, "{text}");
        }
    }

    #[test]
    fn json_form_is_friendly() {
        let s: Scenario = serde_json::from_value(json!({
            "kind": "stream",
            "steps": [{"event": {"candidates": []}}, {"delay_ms": 10}, "cut"]
        }))
        .unwrap();
        assert_eq!(
            s,
            Scenario::stream(vec![
                StreamStep::Event(json!({"candidates": []})),
                StreamStep::Delay(10),
                StreamStep::Cut,
            ])
        );
        let a: Scenario =
            serde_json::from_value(json!({"kind": "answer", "chunks": [[{"text": "x"}]]})).unwrap();
        assert_eq!(a, Scenario::text_stream(&["x"]));
        let bad = serde_json::from_value::<Scenario>(json!({"kind": "json", "bodyy": {}}));
        assert!(bad.is_err());
    }

    #[test]
    fn rate_limited_carries_retry_info() {
        let Scenario::Json { status, body, .. } = Scenario::rate_limited(7) else {
            panic!("not json");
        };
        assert_eq!(status, 429);
        let details = body["error"]["details"].as_array().unwrap();
        assert!(details
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
                && d["retryDelay"] == "7s"));
        assert!(details
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"));
    }
}
