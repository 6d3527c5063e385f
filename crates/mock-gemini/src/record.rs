//! The record of what the mock received: every request to a non-control path, in arrival
//! order, with the model and method parsed from a Gemini path, plus the stream counters a
//! test needs to prove that a client disconnect reached the upstream.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as received, prefix included.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names lowercased; repeated headers joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body bytes; in JSON, a UTF-8 (lossy) string.
    #[serde(with = "lossy_text")]
    pub body: Vec<u8>,
    /// The model of a `.../v1beta/models/{model}:{rpc}` path.
    pub model: Option<String>,
    /// `generateContent` or `streamGenerateContent` for a Gemini path.
    pub rpc: Option<String>,
}

impl RecordedRequest {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.body)
    }

    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Whether this was a streaming call.
    pub fn is_stream(&self) -> bool {
        self.rpc.as_deref() == Some("streamGenerateContent")
    }
}

mod lossy_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(body))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// Counters of streaming responses, shared with every stream body's guard.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    open: AtomicUsize,
    cancelled: AtomicUsize,
}

impl StreamCounters {
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn reset_cancelled(&self) {
        self.cancelled.store(0, Ordering::SeqCst);
    }
}

/// Held by a streaming body for its whole life. Dropped before [`StreamGuard::finish`], the
/// stream was abandoned by its client (actix drops the body when the connection goes away).
#[derive(Debug)]
pub(crate) struct StreamGuard {
    counters: Arc<StreamCounters>,
    finished: bool,
}

impl StreamGuard {
    pub fn new(counters: Arc<StreamCounters>) -> Self {
        counters.open.fetch_add(1, Ordering::SeqCst);
        StreamGuard {
            counters,
            finished: false,
        }
    }

    /// The stream ended as scripted (including a scripted cut).
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.counters.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_open_and_cancelled() {
        let c = Arc::new(StreamCounters::default());
        let mut done = StreamGuard::new(c.clone());
        let abandoned = StreamGuard::new(c.clone());
        assert_eq!(c.open(), 2);
        done.finish();
        drop(done);
        drop(abandoned);
        assert_eq!((c.open(), c.cancelled()), (0, 1));
    }

    #[test]
    fn recorded_request_json_form() {
        let r = RecordedRequest {
            method: "POST".into(),
            path: "/v1beta/models/m:generateContent".into(),
            query: String::new(),
            headers: BTreeMap::from([("x-goog-api-key".into(), "k".into())]),
            body: br#"{"a":1}"#.to_vec(),
            model: Some("m".into()),
            rpc: Some("generateContent".into()),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["body"], r#"{"a":1}"#);
        assert_eq!(r.json().unwrap()["a"], 1);
        assert_eq!(r.header("X-Goog-Api-Key"), Some("k"));
        let back: RecordedRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
