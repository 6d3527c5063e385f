//! The inspector's memory: the last N exchanges ([`Inspector`]), each with both sides of the
//! translation, kept in memory only and served to the page of `routes::inspector`
//! (docs/inspector.md).
//!
//! A request is captured into a [`Draft`] that its [`crate::observe::Trace`] carries only
//! when the inspector is on: every capture call is a closure on an `Option` that is `None`
//! when it is off, so the hot path pays one branch. The draft holds cheap clones (`Bytes`
//! share the buffer they came from) and is cut to the per-body cap, redacted and turned into
//! an [`Exchange`] once the response body ended, after the client has its last byte.
//!
//! Keys never enter the ring: the Gemini request's key header is stored as its fingerprint,
//! and every body is passed through [`Keys::redact`] (the pool's keys and the key the client
//! presented) before it is kept.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::keys::{Credentials, Keys};

/// Seconds of per-second figures kept for the status charts.
const SERIES_SECONDS: usize = 300;
/// Live subscribers that fell this far behind skip ahead (they reload the list).
const LIVE_BACKLOG: usize = 256;

/// What `--inspector*` asked for, resolved at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Exchanges kept.
    pub entries: usize,
    /// Bytes kept of each body; the rest is elided and counted.
    pub body_bytes: usize,
    /// `false`: metadata only (`--inspector-bodies off`).
    pub bodies: bool,
}

/// The ring of recent exchanges, the live feed and the per-second series.
pub struct Inspector {
    limits: Limits,
    next_id: AtomicU64,
    ring: Mutex<Ring>,
    live: tokio::sync::broadcast::Sender<Arc<Exchange>>,
    started: Instant,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Arc<Exchange>>,
    series: VecDeque<Second>,
}

/// One second of traffic, for the charts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Second {
    /// Seconds since the inspector started.
    pub t: u64,
    pub requests: u64,
    /// Summed over the second's requests, in microseconds.
    pub own_us: u64,
    pub gemini_us: u64,
}

/// Token counts as Gemini reported them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tokens {
    pub prompt: Option<u64>,
    pub output: Option<u64>,
    pub reasoning: Option<u64>,
    pub cached: Option<u64>,
}

/// The list row of one exchange.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: u64,
    pub request_id: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub method: String,
    pub route: String,
    pub path: String,
    pub client_model: Option<String>,
    pub model: Option<String>,
    pub status: u16,
    pub stream: bool,
    pub duration_ms: f64,
    /// Pollux's own time (`x-pollux-overhead-us`).
    pub own_ms: f64,
    /// Time spent waiting on Gemini.
    pub gemini_ms: Option<f64>,
    pub tokens: Tokens,
    pub dropped: Vec<String>,
    pub retries: u32,
    /// The fingerprint of the upstream key of the last attempt.
    pub key: Option<String>,
    /// How the body ended: `complete`, `failed` or `gone`.
    pub end: &'static str,
}

/// A body as kept: text (UTF-8, lossy) up to the cap, its full size and how much was cut.
#[derive(Debug, Clone, Serialize)]
pub struct Body {
    pub size: usize,
    pub elided: usize,
    pub text: String,
}

/// One piece of a stream and when it arrived, in ms since the request started.
#[derive(Debug, Clone, Serialize)]
pub struct Piece {
    pub at_ms: f64,
    pub data: String,
}

/// A stream as kept: its pieces up to the cap, and how many bytes of later pieces were cut.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pieces {
    pub size: usize,
    pub elided: usize,
    pub items: Vec<Piece>,
}

/// One attempt at Gemini: which key (fingerprint), what came back.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at_ms: f64,
    pub method: String,
    pub url: String,
    pub key: Option<String>,
    /// `None`: no answer (connection failed).
    pub status: Option<u16>,
    /// A failed attempt's body (already redacted by the upstream client).
    pub error: Option<Body>,
}

/// The four sides of an exchange and its attempts; `None` where there was nothing (or
/// bodies are off).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bodies {
    pub client_request: Option<Body>,
    pub gemini_request: Option<Body>,
    pub gemini_response: Option<Body>,
    pub gemini_events: Option<Pieces>,
    pub client_response: Option<Body>,
    pub client_chunks: Option<Pieces>,
    pub attempts: Vec<Attempt>,
}

/// One finished exchange.
#[derive(Debug, Serialize)]
pub struct Exchange {
    #[serde(flatten)]
    pub summary: Summary,
    pub bodies: Bodies,
}

/// What a request captured while it ran (see the module doc).
#[derive(Debug, Default)]
pub struct Draft {
    started: Option<Instant>,
    /// The key the client presented, only to redact it from the bodies.
    presented: Option<String>,
    path: String,
    client_model: Option<String>,
    client_request: Option<Bytes>,
    gemini_request: Option<Bytes>,
    gemini_response: Option<Bytes>,
    gemini_events: Option<RawPieces>,
    client_chunks: RawPieces,
    attempts: Vec<RawAttempt>,
    tokens: Tokens,
    body_cap: usize,
    bodies: bool,
}

#[derive(Debug, Default)]
struct RawPieces {
    size: usize,
    kept: usize,
    items: Vec<(Duration, Bytes)>,
}

impl RawPieces {
    fn push(&mut self, at: Duration, data: Bytes, cap: usize) {
        self.size += data.len();
        if self.kept + data.len() <= cap {
            self.kept += data.len();
            self.items.push((at, data));
        }
    }
}

#[derive(Debug)]
struct RawAttempt {
    at: Duration,
    method: String,
    url: String,
    key: Option<String>,
    status: Option<u16>,
    error: Option<Bytes>,
}

impl Draft {
    fn elapsed(&self) -> Duration {
        self.started.map(|t| t.elapsed()).unwrap_or_default()
    }

    /// The client's request body as read.
    pub fn client_request(&mut self, body: &Bytes) {
        if self.bodies {
            self.client_request = Some(body.clone());
        }
    }

    /// The model the client named.
    pub fn client_model(&mut self, model: &str) {
        self.client_model = Some(model.to_owned());
    }

    /// The body of the request to Gemini (the last one sent, when there were several).
    pub fn gemini_request(&mut self, body: &Bytes) {
        if self.bodies && !body.is_empty() {
            self.gemini_request = Some(body.clone());
        }
    }

    /// One attempt at Gemini; `key` is the fingerprint of the key it used.
    pub fn attempt(
        &mut self,
        method: &str,
        url: &str,
        key: Option<String>,
        status: Option<u16>,
        error: Option<&Bytes>,
    ) {
        let at = self.elapsed();
        let error = error.filter(|_| self.bodies).cloned();
        self.attempts.push(RawAttempt {
            at,
            method: method.to_owned(),
            url: url.to_owned(),
            key,
            status,
            error,
        });
    }

    /// Gemini's whole (non-streamed) answer.
    pub fn gemini_response(&mut self, body: &Bytes) {
        self.tokens_from(body);
        if self.bodies {
            self.gemini_response = Some(body.clone());
        }
    }

    /// One event of Gemini's stream (its `data:`), as it arrived.
    pub fn gemini_event(&mut self, data: &str) {
        // Gemini counts tokens cumulatively: the last event that has them wins.
        if data.contains("usageMetadata") {
            self.tokens_from(data.as_bytes());
        }
        if !self.bodies {
            return;
        }
        let at = self.elapsed();
        let cap = self.body_cap;
        self.gemini_events
            .get_or_insert_with(RawPieces::default)
            .push(at, Bytes::copy_from_slice(data.as_bytes()), cap);
    }

    /// One chunk of the answer to the client, as written.
    pub fn client_chunk(&mut self, chunk: &Bytes) {
        if self.bodies {
            let at = self.elapsed();
            let cap = self.body_cap;
            self.client_chunks.push(at, chunk.clone(), cap);
        }
    }

    fn tokens_from(&mut self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct WithUsage {
            usage_metadata: Option<pollux_translate::gemini::UsageMetadata>,
        }
        if let Ok(WithUsage {
            usage_metadata: Some(u),
        }) = serde_json::from_slice(body)
        {
            self.tokens = Tokens {
                prompt: Some(u.prompt_token_count),
                output: Some(u.candidates_token_count),
                reasoning: Some(u.thoughts_token_count),
                cached: Some(u.cached_content_token_count),
            };
        }
    }
}

/// What the observing middleware knows when a request ends.
pub struct Ending<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub stream: bool,
    pub model: Option<&'a str>,
    pub duration: Duration,
    pub own: Duration,
    pub gemini: Option<Duration>,
    pub dropped: Option<&'a str>,
    pub end: &'static str,
}

impl Inspector {
    pub fn new(limits: Limits) -> Inspector {
        let (live, _) = tokio::sync::broadcast::channel(LIVE_BACKLOG);
        Inspector {
            limits: Limits {
                entries: limits.entries.max(1),
                ..limits
            },
            next_id: AtomicU64::new(1),
            ring: Mutex::new(Ring::default()),
            live,
            started: Instant::now(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh draft for a request to `path`, which presented `presented` (kept only to
    /// redact it).
    pub fn draft(&self, path: &str, presented: Option<&str>) -> Draft {
        Draft {
            started: Some(Instant::now()),
            presented: presented.map(str::to_owned),
            path: path.to_owned(),
            body_cap: self.limits.body_bytes,
            bodies: self.limits.bodies,
            ..Draft::default()
        }
    }

    /// Turns a finished request's draft into an exchange: kept in the ring (the oldest
    /// leaves past the limit), counted in the series, sent to live subscribers.
    pub fn finish(&self, draft: Draft, end: &Ending<'_>, keys: &Keys) {
        let credentials = match &draft.presented {
            Some(own) => Credentials::Client(own.clone()),
            None => Credentials::Pool,
        };
        let cap = self.limits.body_bytes;
        let body = |bytes: &Bytes| capped(keys, &credentials, bytes, cap);
        let pieces = |raw: &RawPieces| Pieces {
            size: raw.size,
            elided: raw.size - raw.kept,
            items: raw
                .items
                .iter()
                .map(|(at, data)| Piece {
                    at_ms: ms(*at),
                    data: keys
                        .redact(&String::from_utf8_lossy(data), &credentials)
                        .into_owned(),
                })
                .collect(),
        };
        let streamed = draft.client_chunks.items.len() > 1 || end.stream;
        let (client_response, client_chunks) = if !self.limits.bodies {
            (None, None)
        } else if streamed {
            (None, Some(pieces(&draft.client_chunks)))
        } else {
            let mut whole = Vec::with_capacity(draft.client_chunks.kept);
            for (_, c) in &draft.client_chunks.items {
                whole.extend_from_slice(c);
            }
            let mut b = capped(keys, &credentials, &Bytes::from(whole), cap);
            b.size = draft.client_chunks.size;
            b.elided = draft.client_chunks.size.saturating_sub(b.text.len());
            (Some(b), None)
        };
        let attempts: Vec<Attempt> = draft
            .attempts
            .iter()
            .map(|a| Attempt {
                at_ms: ms(a.at),
                method: a.method.clone(),
                url: a.url.clone(),
                key: a.key.clone(),
                status: a.status,
                error: a.error.as_ref().map(body),
            })
            .collect();
        let now = jiff::Timestamp::now();
        let started = now
            .checked_sub(jiff::SignedDuration::try_from(end.duration).unwrap_or_default())
            .unwrap_or(now);
        let exchange = Arc::new(Exchange {
            summary: Summary {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                request_id: end.request_id.to_owned(),
                time: started.to_string(),
                method: end.method.to_owned(),
                route: end.route.to_owned(),
                path: draft.path.clone(),
                client_model: draft.client_model.clone(),
                model: end.model.map(str::to_owned),
                status: end.status,
                stream: end.stream,
                duration_ms: ms(end.duration),
                own_ms: ms(end.own),
                gemini_ms: end.gemini.map(ms),
                tokens: draft.tokens,
                dropped: end
                    .dropped
                    .map(|d| d.split(", ").map(str::to_owned).collect())
                    .unwrap_or_default(),
                retries: u32::try_from(attempts.len().saturating_sub(1)).unwrap_or(u32::MAX),
                key: attempts.last().and_then(|a| a.key.clone()),
                end: end.end,
            },
            bodies: Bodies {
                client_request: draft.client_request.as_ref().map(body),
                gemini_request: draft.gemini_request.as_ref().map(body),
                gemini_response: draft.gemini_response.as_ref().map(body),
                gemini_events: draft.gemini_events.as_ref().map(pieces),
                client_response,
                client_chunks,
                attempts,
            },
        });
        let t = self.started.elapsed().as_secs();
        {
            let mut ring = self.ring();
            if ring.entries.len() >= self.limits.entries {
                ring.entries.pop_front();
            }
            ring.entries.push_back(exchange.clone());
            if ring.series.back().is_none_or(|s| s.t != t) {
                if ring.series.len() >= SERIES_SECONDS {
                    ring.series.pop_front();
                }
                ring.series.push_back(Second {
                    t,
                    ..Second::default()
                });
            }
            if let Some(second) = ring.series.back_mut() {
                second.requests += 1;
                second.own_us += micros(end.own);
                second.gemini_us += end.gemini.map(micros).unwrap_or(0);
            }
        }
        // No subscriber is fine.
        let _ = self.live.send(exchange);
    }

    /// The kept exchanges, newest first.
    pub fn list(&self) -> Vec<Arc<Exchange>> {
        self.ring().entries.iter().rev().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<Exchange>> {
        self.ring()
            .entries
            .iter()
            .rev()
            .find(|e| e.summary.id == id)
            .cloned()
    }

    /// The last minutes, one entry per second that had traffic, and the current second.
    pub fn series(&self) -> (u64, Vec<Second>) {
        let series = self.ring().series.iter().copied().collect();
        (self.started.elapsed().as_secs(), series)
    }

    /// New exchanges as they finish.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Exchange>> {
        self.live.subscribe()
    }
}

fn capped(keys: &Keys, credentials: &Credentials, bytes: &Bytes, cap: usize) -> Body {
    let mut end = bytes.len().min(cap);
    // Cut on a character boundary (a cut inside one would show as U+FFFD).
    while end > 0 && end < bytes.len() && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    let text = keys
        .redact(&String::from_utf8_lossy(&bytes[..end]), credentials)
        .into_owned();
    Body {
        size: bytes.len(),
        elided: bytes.len() - end,
        text,
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ending(status: u16) -> Ending<'static> {
        Ending {
            request_id: "req_1",
            method: "POST",
            route: "/v1/chat/completions",
            status,
            stream: false,
            model: Some("gemini-2.5-flash"),
            duration: Duration::from_millis(10),
            own: Duration::from_millis(1),
            gemini: Some(Duration::from_millis(9)),
            dropped: Some("logit_bias, seed"),
            end: "complete",
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_bodies_are_capped_on_a_char_boundary() {
        let inspector = Inspector::new(Limits {
            entries: 3,
            body_bytes: 4,
            bodies: true,
        });
        let keys = Keys::from_config(&crate::config::Config::defaults());
        for _ in 0..5 {
            let mut d = inspector.draft("/v1/chat/completions", None);
            d.client_request(&Bytes::from_static("abcé€x".as_bytes()));
            inspector.finish(d, &ending(200), &keys);
        }
        let list = inspector.list();
        assert_eq!(
            list.iter().map(|e| e.summary.id).collect::<Vec<_>>(),
            [5, 4, 3]
        );
        let body = list[0].bodies.client_request.as_ref().unwrap();
        assert_eq!(body.text, "abc", "é is two bytes: cut before it");
        assert_eq!((body.size, body.elided), (9, 6));
        assert_eq!(list[0].summary.dropped, ["logit_bias", "seed"]);
        assert_eq!(
            inspector.series().1.iter().map(|s| s.requests).sum::<u64>(),
            5
        );
    }

    #[test]
    fn presented_keys_are_redacted_and_bodies_off_keeps_metadata_only() {
        let keys = Keys::from_config(&crate::config::Config::defaults());
        let inspector = Inspector::new(Limits {
            entries: 10,
            body_bytes: 1024,
            bodies: true,
        });
        let mut d = inspector.draft("/v1/chat/completions", Some("AIzaSecretKey123"));
        d.client_request(&Bytes::from_static(b"{\"k\":\"AIzaSecretKey123\"}"));
        inspector.finish(d, &ending(200), &keys);
        let list = inspector.list();
        let text = &list[0].bodies.client_request.as_ref().unwrap().text;
        assert!(!text.contains("AIzaSecretKey123"), "{text}");
        assert!(text.contains("[redacted key "), "{text}");

        let off = Inspector::new(Limits {
            entries: 10,
            body_bytes: 1024,
            bodies: false,
        });
        let mut d = off.draft("/v1/chat/completions", None);
        d.client_request(&Bytes::from_static(b"{}"));
        d.gemini_response(&Bytes::from_static(
            b"{\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":5}}",
        ));
        off.finish(d, &ending(200), &keys);
        let e = &off.list()[0];
        assert!(e.bodies.client_request.is_none() && e.bodies.gemini_response.is_none());
        assert_eq!(e.summary.tokens.output, Some(4));
        assert_eq!(e.summary.tokens.reasoning, Some(5));
    }
}
