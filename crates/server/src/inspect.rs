//! The inspector's memory: the last N exchanges ([`Inspector`]), each with both sides of the
//! translation, kept in memory only and served to the page of `routes::inspector`
//! (docs/inspector.md).
//!
//! An exchange enters the ring when its request arrives ([`Inspector::begin`]: listed as
//! `pending`), is marked `streaming` when a stream's 200 goes out, and is finished when its
//! response body ends ([`Inspector::finish`]); each step goes to the live feed. While the
//! request runs, its [`Draft`] rides on its [`crate::observe::Trace`] only when the inspector
//! is on: every capture call is a closure on an `Option` that is `None` when it is off, so the
//! hot path pays one branch. When it is on, capture only takes references: `Bytes` clones
//! share the buffers Pollux already holds (the client's body, the Gemini body, Gemini's
//! answer and each network read of its stream, each chunk written to the client), with a
//! timestamp; a body larger than the per-body cap is the one thing copied (its kept prefix), so
//! the ring never holds a large buffer.
//!
//! Everything else is lazy: cutting to the cap, decoding Gemini's stream into events, token
//! counts, key fingerprints, redaction and the JSON rows happen when the page (or a script)
//! first asks for the exchange, on the asking request's task, and the result replaces the raw
//! draft. A server nobody inspects never pays for them.
//!
//! Keys never reach the page: the upstream key of an attempt is kept as its place in the pool
//! and shown as its fingerprint, and every body is passed through [`Keys::redact`] (the pool's
//! keys and the key the client presented, which the draft keeps only for that) when it is
//! rendered. `Authorization` headers are not kept at all.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::Method;
use bytes::Bytes;
use pollux_translate::sse::{SseDecoder, SseItem};
use serde::Serialize;

use crate::keys::{fingerprint, Credentials, Keys};

/// Seconds of per-second figures kept for the status charts.
const SERIES_SECONDS: usize = 300;
/// Live subscribers that fell this far behind skip ahead (they reload the list).
const LIVE_BACKLOG: usize = 256;
/// Network reads of a stream kept past the body cap: its last event (with the final token
/// counts) is in them.
const TAIL_READS: usize = 2;

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
    /// What bodies are redacted with, and the pool whose keys attempts name by place.
    keys: Arc<Keys>,
    next_id: AtomicU64,
    ring: Mutex<Ring>,
    live: tokio::sync::broadcast::Sender<Update>,
    started: Instant,
}

/// One step of an exchange, for the live feed: the entry and how far it was when sent (it
/// may have moved on by the time a subscriber reads it).
#[derive(Debug, Clone)]
pub struct Update {
    entry: Arc<Entry>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Pending,
    Streaming(u16),
    Done,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Arc<Entry>>,
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

/// A tool whose name Pollux rewrote for Gemini (`crates/translate/src/build/names.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// The name the client declared.
    pub client: String,
    /// The name Gemini was given (and answers with; Pollux maps it back).
    pub gemini: String,
}

/// The list row of one exchange.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: u64,
    pub request_id: String,
    /// RFC 3339, UTC: when the request arrived.
    pub time: String,
    pub method: String,
    /// The matched route pattern; the path while the exchange is in flight.
    pub route: String,
    pub path: String,
    pub client_model: Option<String>,
    pub model: Option<String>,
    /// `None` while no response head went out.
    pub status: Option<u16>,
    /// `pending` (no answer yet), `streaming` (a stream's 200 went out) or `done`.
    pub state: &'static str,
    pub stream: bool,
    /// So far, while in flight.
    pub duration_ms: f64,
    /// Pollux's own time (`x-pollux-overhead-us`).
    pub own_ms: f64,
    /// Time spent waiting on Gemini.
    pub gemini_ms: Option<f64>,
    pub tokens: Tokens,
    pub dropped: Vec<String>,
    /// Tool names rewritten for Gemini, as the translation recorded them.
    pub renamed: Vec<Renamed>,
    pub retries: u32,
    /// The fingerprint of the upstream key of the last attempt.
    pub key: Option<String>,
    /// How the body ended: `complete`, `failed` or `gone`; `None` while in flight.
    pub end: Option<&'static str>,
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
/// bodies are off, or the exchange is still in flight).
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

/// One exchange as the page sees it.
#[derive(Debug, Serialize)]
pub struct Exchange {
    #[serde(flatten)]
    pub summary: Summary,
    pub bodies: Bodies,
}

/// One exchange in the ring: what was known when it arrived, and how far it got.
#[derive(Debug)]
pub struct Entry {
    id: u64,
    request_id: String,
    method: Method,
    path: String,
    begun: Instant,
    wall: SystemTime,
    progress: Mutex<Progress>,
}

#[derive(Debug)]
enum Progress {
    Pending,
    Streaming {
        status: u16,
    },
    /// Finished, not yet asked for: the raw capture.
    Done(Box<Done>),
    /// Finished and rendered once; the raw capture is gone.
    Rendered(Arc<Exchange>),
}

#[derive(Debug)]
struct Done {
    raw: Raw,
    meta: Meta,
}

impl Entry {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the observing middleware knows when a request ends.
#[derive(Debug)]
pub struct Meta {
    pub route: String,
    pub status: u16,
    pub stream: bool,
    pub model: Option<String>,
    pub duration: Duration,
    pub own: Duration,
    pub gemini: Option<Duration>,
    /// `x-pollux-dropped-params`.
    pub dropped: Option<String>,
    pub end: &'static str,
}

/// Which key an attempt used, kept without the key.
#[derive(Debug, Clone)]
pub enum UsedKey {
    /// The pool's key at this place.
    Pool(usize),
    /// The key the client presented (forwarded).
    Presented,
    /// Already a fingerprint (an access token).
    Fingerprint(String),
}

/// What a request captured while it ran (see the module doc).
#[derive(Debug)]
pub struct Draft {
    entry: Arc<Entry>,
    raw: Raw,
}

/// The capture itself: references and timestamps, rendered later.
#[derive(Debug, Default)]
struct Raw {
    /// The key the client presented, only to redact it (and name it) when rendering.
    presented: Option<String>,
    body_cap: usize,
    bodies: bool,
    client_model: Option<String>,
    client_request: Option<Kept>,
    gemini_request: Option<Kept>,
    gemini_response: Option<Kept>,
    /// Network reads of Gemini's stream, up to the cap.
    gemini_reads: Option<RawPieces>,
    /// The last reads of a stream past the cap (or of any stream with bodies off).
    gemini_tail: VecDeque<Bytes>,
    client_chunks: RawPieces,
    attempts: Vec<RawAttempt>,
    renamed: Vec<Renamed>,
    /// Set only where the body that has them is not kept whole (see [`Raw::tokens`]).
    tokens: Option<Tokens>,
}

/// A body up to the cap: the buffer itself when it fits, else a copy of its first part.
#[derive(Debug)]
struct Kept {
    bytes: Bytes,
    size: usize,
}

impl Kept {
    fn new(bytes: &Bytes, cap: usize) -> Kept {
        let size = bytes.len();
        let bytes = if size <= cap {
            bytes.clone()
        } else {
            Bytes::copy_from_slice(&bytes[..cut(bytes, cap)])
        };
        Kept { bytes, size }
    }

    fn whole(&self) -> bool {
        self.bytes.len() == self.size
    }
}

/// Where to cut `bytes` to keep at most `cap` of them: on a character boundary (a cut inside
/// one would show as U+FFFD).
fn cut(bytes: &[u8], cap: usize) -> usize {
    let mut end = bytes.len().min(cap);
    while end > 0 && end < bytes.len() && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    end
}

#[derive(Debug, Default)]
struct RawPieces {
    size: usize,
    kept: usize,
    /// The cap was reached: later pieces are only counted.
    full: bool,
    items: Vec<(Duration, Bytes)>,
}

impl RawPieces {
    /// Keeps `data` (or the part of it that fits under `cap`); whether all of it was kept.
    fn push(&mut self, at: Duration, data: &Bytes, cap: usize) -> bool {
        self.size += data.len();
        if self.full {
            return false;
        }
        let room = cap.saturating_sub(self.kept);
        if data.len() <= room {
            self.kept += data.len();
            self.items.push((at, data.clone()));
            return true;
        }
        // What fits of this piece, copied; nothing after it.
        self.full = true;
        let end = cut(data, room);
        if end > 0 {
            self.kept += end;
            self.items.push((at, Bytes::copy_from_slice(&data[..end])));
        }
        false
    }

    fn elided(&self) -> usize {
        self.size - self.kept
    }
}

#[derive(Debug)]
struct RawAttempt {
    at: Duration,
    method: Method,
    url: String,
    key: UsedKey,
    status: Option<u16>,
    error: Option<Kept>,
}

impl Draft {
    fn elapsed(&self) -> Duration {
        self.entry.begun.elapsed()
    }

    /// The client's request body as read.
    pub fn client_request(&mut self, body: &Bytes) {
        if self.raw.bodies {
            self.raw.client_request = Some(Kept::new(body, self.raw.body_cap));
        }
    }

    /// The model the client named.
    pub fn client_model(&mut self, model: &str) {
        self.raw.client_model = Some(model.to_owned());
    }

    /// The tool names the translation rewrote for Gemini: `(client, gemini)`.
    pub fn renamed<'a>(&mut self, renamed: impl Iterator<Item = (&'a str, &'a str)>) {
        self.raw
            .renamed
            .extend(renamed.map(|(client, gemini)| Renamed {
                client: client.to_owned(),
                gemini: gemini.to_owned(),
            }));
    }

    /// The body of the request to Gemini (the last one sent, when there were several).
    pub fn gemini_request(&mut self, body: &Bytes) {
        if self.raw.bodies && !body.is_empty() {
            self.raw.gemini_request = Some(Kept::new(body, self.raw.body_cap));
        }
    }

    /// One attempt at Gemini, with the key it used.
    pub fn attempt(
        &mut self,
        method: &Method,
        url: &str,
        key: UsedKey,
        status: Option<u16>,
        error: Option<&Bytes>,
    ) {
        let at = self.elapsed();
        let cap = self.raw.body_cap;
        let error = error.filter(|_| self.raw.bodies).map(|e| Kept::new(e, cap));
        self.raw.attempts.push(RawAttempt {
            at,
            method: method.clone(),
            url: url.to_owned(),
            key,
            status,
            error,
        });
    }

    /// Gemini's whole (non-streamed) answer.
    pub fn gemini_response(&mut self, body: &Bytes) {
        let kept = Kept::new(body, self.raw.body_cap);
        // The token counts are at the end of the body: read them now if that is not kept.
        if !self.raw.bodies || !kept.whole() {
            self.raw.tokens = usage(body);
        }
        if self.raw.bodies {
            self.raw.gemini_response = Some(kept);
        }
    }

    /// One network read of Gemini's stream, as it arrived (decoded into events only when
    /// the exchange is rendered).
    pub fn gemini_read(&mut self, read: &Bytes) {
        let at = self.elapsed();
        let cap = self.raw.body_cap;
        let all = self.raw.bodies
            && self
                .raw
                .gemini_reads
                .get_or_insert_with(RawPieces::default)
                .push(at, read, cap);
        if !all {
            if self.raw.gemini_tail.len() == TAIL_READS {
                self.raw.gemini_tail.pop_front();
            }
            self.raw.gemini_tail.push_back(read.clone());
        }
    }

    /// One chunk of the answer to the client, as written.
    pub fn client_chunk(&mut self, chunk: &Bytes) {
        if self.raw.bodies {
            let at = self.elapsed();
            let cap = self.raw.body_cap;
            self.raw.client_chunks.push(at, chunk, cap);
        }
    }
}

impl Raw {
    /// Gemini's token counts: from its answer, or from the last event of its stream that has
    /// them (Gemini counts cumulatively).
    fn tokens(&self) -> Option<Tokens> {
        if self.tokens.is_some() {
            return self.tokens;
        }
        if let Some(answer) = &self.gemini_response {
            return usage(&answer.bytes);
        }
        let mut text = Vec::new();
        match &self.gemini_reads {
            Some(reads) if self.gemini_tail.is_empty() => {
                for (_, read) in &reads.items {
                    text.extend_from_slice(read);
                }
            }
            _ => {
                for read in &self.gemini_tail {
                    text.extend_from_slice(read);
                }
            }
        }
        // Gemini writes each event as one `data:` line; a line cut by the start of the tail
        // does not parse and is passed over.
        String::from_utf8_lossy(&text)
            .lines()
            .rev()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter(|data| data.contains("usageMetadata"))
            .find_map(|data| usage(data.trim_start().as_bytes()))
    }
}

/// The `usageMetadata` of a Gemini answer or stream event.
fn usage(body: &[u8]) -> Option<Tokens> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct WithUsage {
        usage_metadata: Option<pollux_translate::gemini::UsageMetadata>,
    }
    let u = serde_json::from_slice::<WithUsage>(body)
        .ok()?
        .usage_metadata?;
    Some(Tokens {
        prompt: Some(u.prompt_token_count),
        output: Some(u.candidates_token_count),
        reasoning: Some(u.thoughts_token_count),
        cached: Some(u.cached_content_token_count),
    })
}

impl Inspector {
    pub fn new(limits: Limits, keys: Arc<Keys>) -> Inspector {
        let (live, _) = tokio::sync::broadcast::channel(LIVE_BACKLOG);
        Inspector {
            limits: Limits {
                entries: limits.entries.max(1),
                ..limits
            },
            keys,
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

    /// Sends this step of `entry` to live subscribers, if any.
    fn publish(&self, entry: &Arc<Entry>, phase: Phase) {
        if self.live.receiver_count() > 0 {
            // A subscriber that left in between is fine.
            let _ = self.live.send(Update {
                entry: entry.clone(),
                phase,
            });
        }
    }

    /// A request to `path` arrived: it enters the ring as `pending` (the oldest entry leaves
    /// past the limit) and its draft is returned. `presented` is the key it presented, kept
    /// only to redact it.
    pub fn begin(
        &self,
        request_id: &str,
        method: &Method,
        path: &str,
        presented: Option<&str>,
    ) -> Draft {
        let entry = Arc::new(Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            request_id: request_id.to_owned(),
            method: method.clone(),
            path: path.to_owned(),
            begun: Instant::now(),
            wall: SystemTime::now(),
            progress: Mutex::new(Progress::Pending),
        });
        let evicted = {
            let mut ring = self.ring();
            let evicted = if ring.entries.len() >= self.limits.entries {
                ring.entries.pop_front()
            } else {
                None
            };
            ring.entries.push_back(entry.clone());
            evicted
        };
        // Freed outside the lock.
        drop(evicted);
        self.publish(&entry, Phase::Pending);
        Draft {
            entry,
            raw: Raw {
                presented: presented.map(str::to_owned),
                body_cap: self.limits.body_bytes,
                bodies: self.limits.bodies,
                ..Raw::default()
            },
        }
    }

    /// A stream's 200 went out.
    pub fn streaming(&self, draft: &Draft, status: u16) {
        {
            let mut progress = draft.entry.progress();
            if matches!(*progress, Progress::Pending) {
                *progress = Progress::Streaming { status };
            }
        }
        self.publish(&draft.entry, Phase::Streaming(status));
    }

    /// The request's body ended: its capture is kept as it is (rendered when first asked
    /// for), the series counts it and live subscribers hear of it.
    pub fn finish(&self, draft: Draft, meta: Meta) {
        let Draft { entry, mut raw } = draft;
        if !raw.bodies {
            // Metadata only: nothing of the answer stays to read the tokens from later.
            raw.tokens = raw.tokens();
            raw.gemini_tail.clear();
        }
        let t = self.started.elapsed().as_secs();
        {
            let mut ring = self.ring();
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
                second.own_us += micros(meta.own);
                second.gemini_us += meta.gemini.map(micros).unwrap_or(0);
            }
        }
        *entry.progress() = Progress::Done(Box::new(Done { raw, meta }));
        self.publish(&entry, Phase::Done);
    }

    /// The exchange as the page sees it: rendered once when finished (then kept that way),
    /// its row alone while in flight.
    pub fn exchange(&self, entry: &Entry) -> Arc<Exchange> {
        let mut progress = entry.progress();
        let rendered = match std::mem::replace(&mut *progress, Progress::Pending) {
            Progress::Rendered(x) => x,
            Progress::Done(done) => Arc::new(self.render(entry, *done)),
            in_flight => {
                let x = Arc::new(in_flight_row(entry, &in_flight));
                *progress = in_flight;
                return x;
            }
        };
        *progress = Progress::Rendered(rendered.clone());
        rendered
    }

    /// A finished exchange: cut, decoded, redacted and counted.
    fn render(&self, entry: &Entry, done: Done) -> Exchange {
        let Done { raw, meta } = done;
        let keys = &*self.keys;
        let credentials = match &raw.presented {
            Some(own) => Credentials::Client(own.clone()),
            None => Credentials::Pool,
        };
        let body = |kept: &Kept| Body {
            size: kept.size,
            elided: kept.size - kept.bytes.len(),
            text: keys
                .redact(&String::from_utf8_lossy(&kept.bytes), &credentials)
                .into_owned(),
        };
        let piece = |at: Duration, data: &str| Piece {
            at_ms: ms(at),
            data: keys.redact(data, &credentials).into_owned(),
        };
        let streamed = raw.client_chunks.items.len() > 1 || meta.stream;
        let (client_response, client_chunks) = if !raw.bodies {
            (None, None)
        } else if streamed {
            let chunks = &raw.client_chunks;
            let items = chunks
                .items
                .iter()
                .map(|(at, data)| piece(*at, &String::from_utf8_lossy(data)))
                .collect();
            (
                None,
                Some(Pieces {
                    size: chunks.size,
                    elided: chunks.elided(),
                    items,
                }),
            )
        } else {
            let mut whole = Vec::with_capacity(raw.client_chunks.kept);
            for (_, c) in &raw.client_chunks.items {
                whole.extend_from_slice(c);
            }
            let kept = Kept {
                bytes: Bytes::from(whole),
                size: raw.client_chunks.size,
            };
            (Some(body(&kept)), None)
        };
        let gemini_events = raw.gemini_reads.as_ref().map(|reads| Pieces {
            size: reads.size,
            elided: reads.elided(),
            items: events(reads)
                .into_iter()
                .map(|(at, data)| piece(at, &data))
                .collect(),
        });
        let key_name = |key: &UsedKey| match key {
            UsedKey::Pool(index) => Some(fingerprint(keys.pool().key(*index))),
            UsedKey::Presented => raw.presented.as_deref().map(fingerprint),
            UsedKey::Fingerprint(f) => Some(f.clone()),
        };
        let attempts: Vec<Attempt> = raw
            .attempts
            .iter()
            .map(|a| Attempt {
                at_ms: ms(a.at),
                method: a.method.to_string(),
                url: a.url.clone(),
                key: key_name(&a.key),
                status: a.status,
                error: a.error.as_ref().map(body),
            })
            .collect();
        Exchange {
            summary: Summary {
                route: meta.route,
                client_model: raw.client_model.clone(),
                model: meta.model,
                status: Some(meta.status),
                state: "done",
                stream: meta.stream,
                duration_ms: ms(meta.duration),
                own_ms: ms(meta.own),
                gemini_ms: meta.gemini.map(ms),
                tokens: raw.tokens().unwrap_or_default(),
                dropped: meta
                    .dropped
                    .map(|d| d.split(", ").map(str::to_owned).collect())
                    .unwrap_or_default(),
                renamed: raw.renamed.clone(),
                retries: u32::try_from(attempts.len().saturating_sub(1)).unwrap_or(u32::MAX),
                key: attempts.last().and_then(|a| a.key.clone()),
                end: Some(meta.end),
                ..Summary::in_flight(entry, None)
            },
            bodies: Bodies {
                client_request: raw.client_request.as_ref().map(body),
                gemini_request: raw.gemini_request.as_ref().map(body),
                gemini_response: raw.gemini_response.as_ref().map(body),
                gemini_events,
                client_response,
                client_chunks,
                attempts,
            },
        }
    }

    /// The kept exchanges, newest first.
    pub fn list(&self) -> Vec<Arc<Exchange>> {
        // Rendered outside the ring's lock: requests arriving meanwhile do not wait.
        let entries: Vec<_> = self.ring().entries.iter().rev().cloned().collect();
        entries.iter().map(|e| self.exchange(e)).collect()
    }

    /// How many exchanges are kept.
    pub fn kept(&self) -> usize {
        self.ring().entries.len()
    }

    pub fn get(&self, id: u64) -> Option<Arc<Exchange>> {
        let entry = self
            .ring()
            .entries
            .iter()
            .rev()
            .find(|e| e.id == id)
            .cloned()?;
        Some(self.exchange(&entry))
    }

    /// The last minutes, one entry per second that had traffic, and the current second.
    pub fn series(&self) -> (u64, Vec<Second>) {
        let series = self.ring().series.iter().copied().collect();
        (self.started.elapsed().as_secs(), series)
    }

    /// Exchanges as they arrive, start streaming and finish (render them with
    /// [`Inspector::row`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Update> {
        self.live.subscribe()
    }

    /// The row of an exchange as it was at `update`.
    pub fn row(&self, update: &Update) -> Summary {
        let in_flight = match update.phase {
            Phase::Pending => Progress::Pending,
            Phase::Streaming(status) => Progress::Streaming { status },
            Phase::Done => return self.exchange(&update.entry).summary.clone(),
        };
        in_flight_row(&update.entry, &in_flight).summary
    }
}

/// The row of an exchange still in flight.
fn in_flight_row(entry: &Entry, progress: &Progress) -> Exchange {
    let status = match progress {
        Progress::Streaming { status } => Some(*status),
        _ => None,
    };
    Exchange {
        summary: Summary::in_flight(entry, status),
        bodies: Bodies::default(),
    }
}

impl Summary {
    /// What is known of an exchange before it ends (`status` once a stream's 200 went
    /// out); a finished row overrides the rest.
    fn in_flight(entry: &Entry, status: Option<u16>) -> Summary {
        Summary {
            id: entry.id,
            request_id: entry.request_id.clone(),
            time: rfc3339(entry.wall),
            method: entry.method.to_string(),
            route: entry.path.clone(),
            path: entry.path.clone(),
            client_model: None,
            model: None,
            status,
            state: if status.is_some() {
                "streaming"
            } else {
                "pending"
            },
            stream: status.is_some(),
            duration_ms: ms(entry.begun.elapsed()),
            own_ms: 0.0,
            gemini_ms: None,
            tokens: Tokens::default(),
            dropped: Vec::new(),
            renamed: Vec::new(),
            retries: 0,
            key: None,
            end: None,
        }
    }
}

/// Gemini's stream as events (their `data`), each at the time of the read that completed
/// it; what does not decode is shown as the text it is.
fn events(reads: &RawPieces) -> Vec<(Duration, String)> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let mut last = Duration::ZERO;
    let data = |item: SseItem| match item {
        SseItem::Event(e) => e.data,
        SseItem::Stray(text) => text,
    };
    for (at, read) in &reads.items {
        last = *at;
        decoder.push(read);
        loop {
            match decoder.next_item() {
                Ok(Some(item)) => out.push((*at, data(item))),
                Ok(None) => break,
                Err(_) => {
                    let text: Vec<u8> = reads.items.iter().flat_map(|(_, r)| r.to_vec()).collect();
                    return vec![(Duration::ZERO, String::from_utf8_lossy(&text).into_owned())];
                }
            }
        }
    }
    if let Ok(Some(item)) = decoder.finish() {
        out.push((last, data(item)));
    }
    out
}

fn rfc3339(wall: SystemTime) -> String {
    jiff::Timestamp::try_from(wall)
        .map(|t| t.to_string())
        .unwrap_or_default()
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

    fn meta(status: u16, stream: bool) -> Meta {
        Meta {
            route: "/v1/chat/completions".to_owned(),
            status,
            stream,
            model: Some("gemini-2.5-flash".to_owned()),
            duration: Duration::from_millis(10),
            own: Duration::from_millis(1),
            gemini: Some(Duration::from_millis(9)),
            dropped: Some("logit_bias, seed".to_owned()),
            end: "complete",
        }
    }

    fn inspector(entries: usize, body_bytes: usize, bodies: bool) -> Inspector {
        let keys = Arc::new(Keys::from_config(&crate::config::Config::defaults()));
        Inspector::new(
            Limits {
                entries,
                body_bytes,
                bodies,
            },
            keys,
        )
    }

    fn begin(inspector: &Inspector, presented: Option<&str>) -> Draft {
        inspector.begin("req_1", &Method::POST, "/v1/chat/completions", presented)
    }

    #[test]
    fn an_exchange_is_listed_from_its_start_and_rendered_when_finished() {
        let inspector = inspector(3, 4, true);
        let mut d = begin(&inspector, None);
        let row = inspector.list()[0].summary.clone();
        assert_eq!((row.state, row.status, row.end), ("pending", None, None));
        d.client_request(&Bytes::from_static("abcé€x".as_bytes()));
        inspector.streaming(&d, 200);
        let row = inspector.list()[0].summary.clone();
        assert_eq!((row.state, row.status), ("streaming", Some(200)));
        inspector.finish(d, meta(200, true));
        let x = inspector.get(1).unwrap();
        assert_eq!((x.summary.state, x.summary.end), ("done", Some("complete")));
        let body = x.bodies.client_request.as_ref().unwrap();
        assert_eq!(body.text, "abc", "é is two bytes: cut before it");
        assert_eq!((body.size, body.elided), (9, 6));
        assert_eq!(x.summary.dropped, ["logit_bias", "seed"]);
        assert!(
            Arc::ptr_eq(&x, &inspector.get(1).unwrap()),
            "rendered once, then kept"
        );
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let inspector = inspector(3, 64, true);
        for _ in 0..5 {
            let d = begin(&inspector, None);
            inspector.finish(d, meta(200, false));
        }
        let list = inspector.list();
        assert_eq!(
            list.iter().map(|e| e.summary.id).collect::<Vec<_>>(),
            [5, 4, 3]
        );
        assert_eq!(
            inspector.series().1.iter().map(|s| s.requests).sum::<u64>(),
            5
        );
    }

    #[test]
    fn presented_keys_are_redacted_and_bodies_off_keeps_metadata_only() {
        let inspector = inspector(10, 1024, true);
        let mut d = begin(&inspector, Some("AIzaSecretKey123"));
        d.client_request(&Bytes::from_static(b"{\"k\":\"AIzaSecretKey123\"}"));
        d.attempt(
            &Method::POST,
            "http://gemini/x",
            UsedKey::Presented,
            Some(200),
            None,
        );
        inspector.finish(d, meta(200, false));
        let x = &inspector.list()[0];
        let text = &x.bodies.client_request.as_ref().unwrap().text;
        assert!(!text.contains("AIzaSecretKey123"), "{text}");
        assert!(text.contains("[redacted key "), "{text}");
        assert_eq!(x.summary.key, Some(fingerprint("AIzaSecretKey123")));

        let off = inspector_off();
        let mut d = begin(&off, None);
        d.client_request(&Bytes::from_static(b"{}"));
        d.gemini_response(&Bytes::from_static(
            b"{\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":5}}",
        ));
        off.finish(d, meta(200, false));
        let e = &off.list()[0];
        assert!(e.bodies.client_request.is_none() && e.bodies.gemini_response.is_none());
        assert_eq!(e.summary.tokens.output, Some(4));
        assert_eq!(e.summary.tokens.reasoning, Some(5));
    }

    fn inspector_off() -> Inspector {
        inspector(10, 1024, false)
    }

    const EVENT_1: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one \"}]}}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1}}\r\n\r\n";
    const EVENT_2: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"two\"}]}}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2}}\r\n\r\n";

    #[test]
    fn a_streams_reads_become_events_with_their_times_and_its_last_tokens() {
        let inspector = inspector(10, 1024, true);
        let mut d = begin(&inspector, None);
        // The second event arrives split over two reads.
        let (a, b) = EVENT_2.split_at(20);
        for read in [EVENT_1, a, b] {
            d.gemini_read(&Bytes::from(read.to_owned()));
        }
        inspector.finish(d, meta(200, true));
        let x = &inspector.list()[0];
        let events = &x.bodies.gemini_events.as_ref().unwrap().items;
        assert_eq!(events.len(), 2);
        assert!(events[0].data.contains("one ") && events[1].data.contains("two"));
        assert!(events[0].at_ms <= events[1].at_ms);
        assert_eq!(x.summary.tokens.output, Some(2));

        // Past the cap the events are cut, but the tokens still come from the last event.
        let small = self::inspector(10, 40, true);
        let mut d = begin(&small, None);
        for read in [EVENT_1, EVENT_2] {
            d.gemini_read(&Bytes::from(read.to_owned()));
        }
        small.finish(d, meta(200, true));
        let x = &small.list()[0];
        let events = x.bodies.gemini_events.as_ref().unwrap();
        assert_eq!(events.elided, EVENT_1.len() + EVENT_2.len() - 40);
        assert_eq!(x.summary.tokens.output, Some(2));
    }
}
