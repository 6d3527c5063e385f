//! Process-wide counters, gauges and histograms, and their Prometheus text exposition
//! (`GET /metrics`, format 0.0.4:
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>).
//!
//! Hand-written rather than a metrics crate: the set is small and fixed, every worker
//! records into one [`Metrics`] behind an `Arc`, and the exposition is a plain function that
//! tests can read. Counters and gauges are atomics; labelled series sit behind short-lived
//! mutexes (one lock per finished request). Client-chosen label values (the model) are capped
//! at [`MAX_MODELS`] distinct values so a client cannot grow the series without bound.
//!
//! `docs/operations.md` lists every metric. Retries and key cooldowns are defined here (and
//! exported at 0) for the upstream retry and key-pool code to increment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Distinct model label values kept; later ones are counted as `other`.
pub const MAX_MODELS: usize = 64;

/// Seconds: upstream latency, time to first token, request duration.
const LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Seconds: the time Pollux itself adds (microseconds to milliseconds).
const OVERHEAD_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// A cumulative histogram with fixed bucket bounds.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Per-bucket counts (not cumulative); the last slot is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: Duration) {
        let secs = value.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get_mut(slot) {
            *c += 1;
        }
        self.sum += secs;
        self.count += 1;
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines; `labels` is `a="x",` or empty.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count;
            let le = match self.bounds.get(i) {
                Some(b) => b.to_string(),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {cumulative}");
        }
        let labels = labels.trim_end_matches(',');
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What the access log knows about one finished request.
#[derive(Debug, Clone, Default)]
pub struct Finished<'a> {
    /// The matched route pattern, or `unmatched`.
    pub route: &'a str,
    pub model: Option<&'a str>,
    pub status: u16,
    /// From the request's arrival to the last byte of its response.
    pub duration: Duration,
    /// The whole upstream exchange: to the full body, or to the end of the stream.
    pub upstream: Option<Duration>,
    /// Streams: from sending upstream to its first event.
    pub first_event: Option<Duration>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

#[derive(Debug, Default)]
struct Series {
    /// route → model → status → count. Nested rather than keyed by a tuple so that a
    /// request of a series already seen is recorded without allocating its key.
    requests: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// route → duration histogram.
    durations: BTreeMap<String, Histogram>,
    /// model → upstream latency.
    upstream: BTreeMap<String, Histogram>,
    /// model → time to first token.
    first_token: BTreeMap<String, Histogram>,
    /// model → "completion" | "prompt" → tokens.
    tokens: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Model label values seen so far (at most [`MAX_MODELS`]).
    models: BTreeSet<String>,
}

impl Series {
    /// The label value for `model`: itself while fewer than [`MAX_MODELS`] distinct values
    /// have been seen, then `other` for new ones.
    fn model_label<'m>(&mut self, model: Option<&'m str>) -> &'m str {
        let Some(model) = model else {
            return "none";
        };
        if self.models.contains(model) {
            return model;
        }
        if self.models.len() < MAX_MODELS {
            self.models.insert(model.to_owned());
            return model;
        }
        "other"
    }
}

/// Applies `f` to the value under `key`, first inserting `new()` (and allocating the key)
/// only if the key is not there yet.
fn with_entry<V>(
    map: &mut BTreeMap<String, V>,
    key: &str,
    new: impl FnOnce() -> V,
    f: impl FnOnce(&mut V),
) {
    if let Some(v) = map.get_mut(key) {
        f(v);
    } else {
        let mut v = new();
        f(&mut v);
        map.insert(key.to_owned(), v);
    }
}

/// Every metric Pollux exports.
/// The response store's size, for `/metrics` (the store reports it; see `crate::store`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub entries: u64,
    pub bytes: u64,
    pub evictions: u64,
}

impl StoreStats {
    /// Appends the store's series to a `/metrics` body.
    pub fn render(&self, out: &mut String) {
        header(
            out,
            "pollux_response_store_entries",
            "gauge",
            "Responses held by the response store.",
        );
        let _ = writeln!(out, "pollux_response_store_entries {}", self.entries);
        header(
            out,
            "pollux_response_store_bytes",
            "gauge",
            "Bytes held by the response store (approximate).",
        );
        let _ = writeln!(out, "pollux_response_store_bytes {}", self.bytes);
        header(
            out,
            "pollux_response_store_evictions_total",
            "counter",
            "Stored responses evicted to stay within the store's entry and byte limits.",
        );
        let _ = writeln!(
            out,
            "pollux_response_store_evictions_total {}",
            self.evictions
        );
    }
}

#[derive(Debug)]
pub struct Metrics {
    series: Mutex<Series>,
    overhead: Mutex<Histogram>,
    open_streams: AtomicI64,
    upstream_in_flight: AtomicI64,
    concurrency_rejections: AtomicU64,
    retries: AtomicU64,
    key_cooldowns: AtomicU64,
    state_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            series: Mutex::default(),
            overhead: Mutex::new(Histogram::new(OVERHEAD_BUCKETS)),
            open_streams: AtomicI64::new(0),
            upstream_in_flight: AtomicI64::new(0),
            concurrency_rejections: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            key_cooldowns: AtomicU64::new(0),
            state_errors: AtomicU64::new(0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Records one finished request (called once per request, by the access log).
    pub fn record(&self, done: &Finished<'_>) {
        let mut guard = lock(&self.series);
        let s = &mut *guard;
        let model = s.model_label(done.model);
        with_entry(&mut s.requests, done.route, BTreeMap::new, |by_model| {
            with_entry(by_model, model, BTreeMap::new, |by_status| {
                *by_status.entry(done.status).or_default() += 1;
            });
        });
        let histogram = || Histogram::new(LATENCY_BUCKETS);
        with_entry(&mut s.durations, done.route, histogram, |h| {
            h.observe(done.duration);
        });
        if let Some(d) = done.upstream {
            with_entry(&mut s.upstream, model, histogram, |h| h.observe(d));
        }
        if let Some(d) = done.first_event {
            with_entry(&mut s.first_token, model, histogram, |h| h.observe(d));
        }
        for (kind, n) in [
            ("prompt", done.prompt_tokens),
            ("completion", done.completion_tokens),
        ] {
            if let Some(n) = n {
                with_entry(&mut s.tokens, model, BTreeMap::new, |by_kind| {
                    *by_kind.entry(kind).or_default() += n;
                });
            }
        }
    }

    /// Records the time Pollux itself spent on a request before answering.
    pub fn record_overhead(&self, overhead: Duration) {
        lock(&self.overhead).observe(overhead);
    }

    pub fn stream_opened(&self) {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_closed(&self) {
        self.open_streams.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn open_streams(&self) -> i64 {
        self.open_streams.load(Ordering::Relaxed)
    }

    pub fn upstream_started(&self) {
        self.upstream_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_ended(&self) {
        self.upstream_in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn concurrency_rejected(&self) {
        self.concurrency_rejections.fetch_add(1, Ordering::Relaxed);
    }

    /// One upstream attempt repeated after a retryable failure.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// One API key put on cooldown after the upstream refused it.
    pub fn key_cooled_down(&self) {
        self.key_cooldowns.fetch_add(1, Ordering::Relaxed);
    }

    /// One operation on the shared state failed or timed out.
    pub fn state_error(&self) {
        self.state_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let s = lock(&self.series);

        header(
            &mut out,
            "pollux_requests_total",
            "counter",
            "Requests answered, by route, model and HTTP status.",
        );
        for (route, by_model) in &s.requests {
            for (model, by_status) in by_model {
                for (status, n) in by_status {
                    let _ = writeln!(
                        out,
                        "pollux_requests_total{{route=\"{}\",model=\"{}\",status=\"{status}\"}} {n}",
                        escape(route),
                        escape(model)
                    );
                }
            }
        }

        header(
            &mut out,
            "pollux_request_duration_seconds",
            "histogram",
            "From a request's arrival to the last byte of its response (whole stream included).",
        );
        for (route, h) in &s.durations {
            h.render(
                &mut out,
                "pollux_request_duration_seconds",
                &format!("route=\"{}\",", escape(route)),
            );
        }

        header(&mut out, "pollux_upstream_latency_seconds", "histogram", "Upstream exchange: from sending to Gemini until its whole answer (plain) or the end of its stream.");
        for (model, h) in &s.upstream {
            h.render(
                &mut out,
                "pollux_upstream_latency_seconds",
                &format!("model=\"{}\",", escape(model)),
            );
        }

        header(
            &mut out,
            "pollux_time_to_first_token_seconds",
            "histogram",
            "Streams: from sending to Gemini until its first event.",
        );
        for (model, h) in &s.first_token {
            h.render(
                &mut out,
                "pollux_time_to_first_token_seconds",
                &format!("model=\"{}\",", escape(model)),
            );
        }

        header(
            &mut out,
            "pollux_tokens_total",
            "counter",
            "Tokens reported by Gemini, by model and kind (prompt or completion).",
        );
        for (model, by_kind) in &s.tokens {
            for (kind, n) in by_kind {
                let _ = writeln!(
                    out,
                    "pollux_tokens_total{{model=\"{}\",kind=\"{kind}\"}} {n}",
                    escape(model)
                );
            }
        }
        drop(s);

        header(
            &mut out,
            "pollux_overhead_seconds",
            "histogram",
            "Time spent in Pollux itself before answering: total minus time waiting on Gemini.",
        );
        lock(&self.overhead).render(&mut out, "pollux_overhead_seconds", "");

        let scalars: [(&str, &str, &str, i128); 6] = [
            (
                "pollux_open_streams",
                "gauge",
                "Streaming responses being written now.",
                self.open_streams.load(Ordering::Relaxed).into(),
            ),
            (
                "pollux_upstream_in_flight",
                "gauge",
                "Upstream requests (streams included) holding a concurrency slot now.",
                self.upstream_in_flight.load(Ordering::Relaxed).into(),
            ),
            (
                "pollux_concurrency_rejections_total",
                "counter",
                "Requests refused with 429 because --max-concurrent-upstream was reached.",
                self.concurrency_rejections.load(Ordering::Relaxed).into(),
            ),
            (
                "pollux_upstream_retries_total",
                "counter",
                "Upstream attempts repeated after a retryable failure.",
                self.retries.load(Ordering::Relaxed).into(),
            ),
            (
                "pollux_key_cooldowns_total",
                "counter",
                "API keys put on cooldown after Gemini refused them.",
                self.key_cooldowns.load(Ordering::Relaxed).into(),
            ),
            (
                "pollux_state_errors_total",
                "counter",
                "Operations on the shared state (--state) that failed or timed out.",
                self.state_errors.load(Ordering::Relaxed).into(),
            ),
        ];
        for (name, kind, help, value) in scalars {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value as the exposition format requires.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let mut out = String::new();
        h.render(&mut out, "x", "m=\"a\",");
        assert_eq!(
            out,
            "x_bucket{m=\"a\",le=\"0.1\"} 1\nx_bucket{m=\"a\",le=\"1\"} 2\nx_bucket{m=\"a\",le=\"+Inf\"} 3\nx_sum{m=\"a\"} 5.55\nx_count{m=\"a\"} 3\n"
        );
    }

    #[test]
    fn every_metric_is_exported_from_the_start() {
        let text = Metrics::default().render();
        for name in [
            "pollux_requests_total",
            "pollux_request_duration_seconds",
            "pollux_upstream_latency_seconds",
            "pollux_time_to_first_token_seconds",
            "pollux_tokens_total",
            "pollux_overhead_seconds",
            "pollux_open_streams",
            "pollux_upstream_in_flight",
            "pollux_concurrency_rejections_total",
            "pollux_upstream_retries_total",
            "pollux_key_cooldowns_total",
            "pollux_state_errors_total",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
        assert!(text.contains("\npollux_upstream_retries_total 0\n"));
        assert!(text.contains("\npollux_open_streams 0\n"));
    }

    #[test]
    fn records_labelled_series() {
        let m = Metrics::default();
        m.record(&Finished {
            route: "/v1/chat/completions",
            model: Some("gemini-2.5-flash"),
            status: 200,
            duration: Duration::from_millis(30),
            upstream: Some(Duration::from_millis(20)),
            first_event: None,
            prompt_tokens: Some(5),
            completion_tokens: Some(7),
        });
        let text = m.render();
        assert!(text.contains(
            "pollux_requests_total{route=\"/v1/chat/completions\",model=\"gemini-2.5-flash\",status=\"200\"} 1"
        ));
        assert!(text.contains("pollux_tokens_total{model=\"gemini-2.5-flash\",kind=\"prompt\"} 5"));
        assert!(
            text.contains("pollux_tokens_total{model=\"gemini-2.5-flash\",kind=\"completion\"} 7")
        );
        assert!(
            text.contains("pollux_upstream_latency_seconds_count{model=\"gemini-2.5-flash\"} 1")
        );
    }

    #[test]
    fn model_labels_are_capped_and_escaped() {
        let m = Metrics::default();
        for i in 0..MAX_MODELS + 5 {
            let model = format!("m\"{i}");
            m.record(&Finished {
                route: "r",
                model: Some(&model),
                status: 200,
                ..Finished::default()
            });
        }
        let text = m.render();
        assert!(text.contains("model=\"m\\\"0\""));
        assert!(text.contains("model=\"other\",status=\"200\"} 5"));
    }
}
