//! Per-request observability, as one actix middleware ([`Observe`]): the request id
//! (`x-request-id`, the client's if sane, else generated), the `x-pollux-overhead-us` header,
//! one access-log line per request, and the request-level metrics.
//!
//! Handlers report what only they know (model, upstream timings, tokens) through the
//! request's [`Trace`], a cheap handle the middleware puts in the request extensions. The
//! log line and the metrics are written when the response *body* ends or is dropped, not when
//! the handler returns, so a stream is logged once, with its whole duration and its tokens,
//! and a client that goes away mid-stream is logged as `end=gone`.
//!
//! Overhead is the time until the response head was ready minus the time spent waiting on
//! Gemini: for a plain request the whole upstream exchange, for a stream the wait for its
//! first event (Pollux answers 200 only after that event).
//!
//! The access line is written by [`access_log`] for the `pollux::access` log target at `info`;
//! `RUST_LOG` selects it (`RUST_LOG=info,pollux::access=off` silences it). It never carries a key or message
//! content; those appear, if at all, only at `debug` in other targets.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{ready, Future, Ready};
use std::io::Write;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;

use crate::access_log;
use crate::inspect::{Draft, Inspector, Meta};
use crate::keys::presented_key;
use crate::metrics::{Finished, Metrics};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const OVERHEAD: HeaderName = HeaderName::from_static("x-pollux-overhead-us");

/// The longest client request id kept.
const MAX_ID_LEN: usize = 128;

/// What a handler reports about its request. Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct Trace(Rc<TraceState>);

#[derive(Debug, Default)]
struct TraceState {
    model: RefCell<Option<String>>,
    stream: Cell<bool>,
    upstream_sent: Cell<Option<Instant>>,
    /// An exchange was sent and its wait has not ended yet.
    upstream_open: Cell<bool>,
    /// Time spent waiting on the upstream before the response head was ready, summed over
    /// the request's exchanges (embedding batches, model-list pages).
    upstream_wait: Cell<Option<Duration>>,
    first_event: Cell<Option<Duration>>,
    upstream_total: Cell<Option<Duration>>,
    tokens: Cell<Option<(u64, u64)>>,
    /// A stream ended with an in-band error event after its 200.
    failed_in_band: Cell<bool>,
    /// What the inspector keeps of this request; `None` when it is off.
    capture: RefCell<Option<Box<Draft>>>,
}

impl Trace {
    /// The trace of this request; a detached one when the app runs without [`Observe`].
    pub fn of(req: &HttpRequest) -> Trace {
        req.extensions().get::<Trace>().cloned().unwrap_or_default()
    }

    /// Records into the inspector's draft of this request; nothing (one branch) when the
    /// inspector is off. See [`crate::inspect`].
    pub fn capture(&self, f: impl FnOnce(&mut Draft)) {
        if let Some(draft) = self.0.capture.borrow_mut().as_mut() {
            f(draft);
        }
    }

    /// Whether the inspector captures this request (to skip work only it needs).
    pub fn capturing(&self) -> bool {
        self.0.capture.borrow().is_some()
    }

    pub fn set_model(&self, model: &str) {
        *self.0.model.borrow_mut() = Some(model.to_owned());
    }

    /// An upstream exchange is about to go out ([`crate::upstream::Upstream::head`]).
    pub fn upstream_sent(&self, stream: bool) {
        self.0.stream.set(stream);
        self.0.upstream_sent.set(Some(Instant::now()));
        self.0.upstream_open.set(true);
    }

    /// Ends the open exchange's wait; its length, if one was open.
    fn end_wait(&self) -> Option<Duration> {
        if !self.0.upstream_open.replace(false) {
            return None;
        }
        let d = self.since_sent()?;
        let sum = |c: &Cell<Option<Duration>>| c.set(Some(c.get().unwrap_or_default() + d));
        sum(&self.0.upstream_wait);
        Some(d)
    }

    fn since_sent(&self) -> Option<Duration> {
        self.0.upstream_sent.get().map(|t| t.elapsed())
    }

    /// An exchange has its whole upstream answer (or failed).
    pub fn upstream_answered(&self) {
        if let Some(d) = self.end_wait() {
            let total = &self.0.upstream_total;
            total.set(Some(total.get().unwrap_or_default() + d));
        }
    }

    /// A stream has its first upstream event (or, passed through, its head), and is about
    /// to answer 200.
    pub fn upstream_first_event(&self) {
        if let Some(d) = self.end_wait() {
            self.0.first_event.set(Some(d));
        }
    }

    /// A stream's upstream ended (or was cut off by the overall cap).
    pub fn upstream_finished(&self) {
        if self.0.upstream_total.get().is_none() {
            self.0.upstream_total.set(self.since_sent());
        }
    }

    /// The stream's 200 went out, but it ended with an in-band error event.
    pub fn failed_in_band(&self) {
        self.0.failed_in_band.set(true);
    }

    pub fn set_usage(&self, prompt: u64, completion: u64) {
        self.0.tokens.set(Some((prompt, completion)));
    }

    /// Called when the handler has answered: an upstream exchange it started but recorded
    /// no answer for failed (error status, timeout, bad body), and it ended about now.
    fn settle(&self) -> Duration {
        if self.0.upstream_open.get() {
            self.upstream_answered();
        }
        self.0.upstream_wait.get().unwrap_or_default()
    }
}

/// The client's request id when it is a sane token, else a fresh one.
pub fn request_id(headers: &HeaderMap) -> String {
    let sane = |s: &&str| {
        !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(sane)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::new_v4().simple()))
}

/// The middleware; register it with `App::wrap`.
pub struct Observe {
    metrics: Arc<Metrics>,
    inspector: Option<Arc<Inspector>>,
}

impl Observe {
    pub fn new(metrics: Arc<Metrics>) -> Observe {
        Observe {
            metrics,
            inspector: None,
        }
    }

    /// Captures requests into `inspector` (see [`crate::inspect`]).
    pub fn with_inspector(mut self, inspector: Option<Arc<Inspector>>) -> Observe {
        self.inspector = inspector;
        self
    }
}

/// Whether a request is one the inspector shows: not the page's own, not probes or scrapes.
fn inspected(path: &str) -> bool {
    !(path == "/"
        || path.starts_with("/inspector")
        || path == "/favicon.ico"
        || path == "/metrics"
        || path == "/healthz"
        || path == "/readyz")
}

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<Logged>;
    type Error = Error;
    type Transform = ObserveService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ObserveService {
            service: Rc::new(service),
            metrics: self.metrics.clone(),
            inspector: self.inspector.clone(),
        }))
    }
}

pub struct ObserveService<S> {
    service: Rc<S>,
    metrics: Arc<Metrics>,
    inspector: Option<Arc<Inspector>>,
}

impl<S, B> Service<ServiceRequest> for ObserveService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<Logged>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let id = request_id(req.headers());
        let trace = Trace::default();
        let inspecting = match &self.inspector {
            Some(i) if inspected(req.path()) => {
                let draft = i.begin(&id, req.method(), req.path(), presented_key(req.headers()));
                *trace.0.capture.borrow_mut() = Some(Box::new(draft));
                Some(i.clone())
            }
            _ => None,
        };
        req.extensions_mut().insert(trace.clone());
        let method = req.method().to_string();
        let metrics = self.metrics.clone();
        let service = self.service.clone();
        Box::pin(async move {
            // actix turns handler and extractor errors into responses before they reach us;
            // an error that still escapes is logged here and answered by actix.
            let mut res = match service.call(req).await {
                Ok(res) => res.map_into_boxed_body(),
                Err(e) => {
                    let access = Access {
                        id,
                        method,
                        // The request went into the service; its path is not at hand.
                        route: "unmatched".to_owned(),
                        path: None,
                        status: e.as_response_error().status_code().as_u16(),
                        started,
                        overhead: started.elapsed(),
                        trace,
                        metrics,
                        inspecting,
                        dropped: None,
                    };
                    access.finish(End::Failed);
                    return Err(e);
                }
            };
            let overhead = started.elapsed().saturating_sub(trace.settle());
            metrics.record_overhead(overhead);
            let headers = res.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert(REQUEST_ID, v);
            }
            headers.insert(OVERHEAD, HeaderValue::from(overhead.as_micros() as u64));
            let (route, path) = route_and_path(res.request());
            if let Some(inspector) = &inspecting {
                if trace.0.stream.get() && res.status().is_success() {
                    let status = res.status().as_u16();
                    trace.capture(|d| inspector.streaming(d, status));
                }
            }
            let dropped = inspecting.as_ref().and_then(|_| {
                res.headers()
                    .get("x-pollux-dropped-params")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
            let access = Access {
                id,
                method,
                route,
                path,
                status: res.status().as_u16(),
                started,
                overhead,
                trace,
                metrics,
                inspecting,
                dropped,
            };
            Ok(res.map_body(|_, body| Logged {
                body,
                access: Some(access),
            }))
        })
    }
}

/// The longest path an access line shows of a request no route matched.
const MAX_LOGGED_PATH: usize = 256;

/// The matched route pattern (the metrics' label: bounded), and for a request no route
/// matched (`unmatched`) its path, without the query, which may carry a `key=`, so that an
/// operator sees what clients ask for. Matched requests pay nothing for the path. The path
/// is as the request line sent it (`http::Uri` admits no spaces or control characters, so
/// it cannot break the line), cut to [`MAX_LOGGED_PATH`] bytes.
fn route_and_path(req: &HttpRequest) -> (String, Option<String>) {
    if let Some(pattern) = req.match_pattern() {
        return (pattern, None);
    }
    let path = req.path();
    let mut end = path.len().min(MAX_LOGGED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let shown = if end < path.len() {
        format!("{}...", &path[..end])
    } else {
        path.to_owned()
    };
    ("unmatched".to_owned(), Some(shown))
}

/// Everything the access line needs, kept until the body ends.
struct Access {
    id: String,
    method: String,
    route: String,
    /// The path of a request no route matched (see [`route_and_path`]).
    path: Option<String>,
    status: u16,
    started: Instant,
    overhead: Duration,
    trace: Trace,
    metrics: Arc<Metrics>,
    /// Set when the inspector captures this request.
    inspecting: Option<Arc<Inspector>>,
    /// `x-pollux-dropped-params`, for the inspector.
    dropped: Option<String>,
}

impl End {
    /// A body sent whole whose stream carried an in-band error still failed.
    fn after(self, failed_in_band: bool) -> End {
        if self == End::Complete && failed_in_band {
            End::Failed
        } else {
            self
        }
    }
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Complete => "complete",
            End::Failed => "failed",
            End::Gone => "gone",
        }
    }
}

/// How a response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Every byte was handed to the connection.
    Complete,
    /// The body failed while being written.
    Failed,
    /// Dropped before its end: the client went away (or the server stopped).
    Gone,
}

impl Access {
    /// Records the request in the metrics at once (a `/metrics` scrape right after the
    /// response sees it) and leaves formatting the access line, and dropping what it was
    /// kept for, to [`access_log::write_line`]: that work no longer stands between the
    /// body's end and actix writing the response to the client.
    fn finish(mut self, end: End) {
        let end = end.after(self.trace.0.failed_in_band.get());
        let duration = self.started.elapsed();
        self.with_finished(duration, |done| self.metrics.record(done));
        if let Some(inspector) = self.inspecting.take() {
            self.inspect(&inspector, duration, end);
        }
        access_log::write_line(move |out| {
            self.with_finished(duration, |done| self.write_line(out, done, end));
        });
    }

    /// Hands the request's draft to the inspector.
    fn inspect(&mut self, inspector: &Inspector, duration: Duration, end: End) {
        let Some(draft) = self.trace.0.capture.borrow_mut().take() else {
            return;
        };
        let state = &self.trace.0;
        inspector.finish(
            *draft,
            Meta {
                route: self.route.clone(),
                status: self.status,
                stream: state.stream.get(),
                model: state.model.borrow().clone(),
                duration,
                own: self.overhead,
                gemini: state.upstream_total.get(),
                dropped: self.dropped.take(),
                end: end.name(),
            },
        );
    }

    /// What the metrics and the access line take from this request.
    fn with_finished<R>(&self, duration: Duration, f: impl FnOnce(&Finished<'_>) -> R) -> R {
        let state = &self.trace.0;
        let model = state.model.borrow();
        let tokens = state.tokens.get();
        f(&Finished {
            route: &self.route,
            model: model.as_deref(),
            status: self.status,
            duration,
            upstream: state.upstream_total.get(),
            first_event: state.first_event.get(),
            prompt_tokens: tokens.map(|t| t.0),
            completion_tokens: tokens.map(|t| t.1),
        })
    }

    /// `id method route model=.. status=.. ...` in logfmt-like `key=value` pairs, written
    /// straight into the log buffer (no `String` per field); `unmatched path=/..` for a
    /// request no route matched.
    fn write_line(&self, out: &mut Vec<u8>, done: &Finished<'_>, end: End) {
        struct Ms(Option<Duration>);
        impl fmt::Display for Ms {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Some(d) => write!(f, "{:.1}", d.as_secs_f64() * 1e3),
                    None => f.write_str("-"),
                }
            }
        }
        struct Count(Option<u64>);
        impl fmt::Display for Count {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Some(n) => write!(f, "{n}"),
                    None => f.write_str("-"),
                }
            }
        }
        // Writing into a `Vec` cannot fail.
        let _ = write!(out, "{} {} {}", self.id, self.method, self.route);
        if let Some(path) = &self.path {
            let _ = write!(out, " path={path}");
        }
        let _ = write!(
            out,
            " model={} status={} stream={} duration_ms={} upstream_ms={} first_event_ms={} overhead_us={} tokens_in={} tokens_out={} end={}",
            done.model.unwrap_or("-"),
            done.status,
            self.trace.0.stream.get(),
            Ms(Some(done.duration)),
            Ms(done.upstream),
            Ms(done.first_event),
            self.overhead.as_micros(),
            Count(done.prompt_tokens),
            Count(done.completion_tokens),
            end.name(),
        );
    }
}

/// A response body that writes the access line when it ends or is dropped.
pub struct Logged {
    body: BoxBody,
    access: Option<Access>,
}

impl Logged {
    fn finish(&mut self, end: End) {
        if let Some(access) = self.access.take() {
            access.finish(end);
        }
    }
}

impl MessageBody for Logged {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_next(cx);
        match &polled {
            Poll::Ready(None) => this.finish(End::Complete),
            Poll::Ready(Some(Err(_))) => this.finish(End::Failed),
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(access) = &this.access {
                    access.trace.capture(|d| d.client_chunk(chunk));
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        // A body actix never needed to poll (empty, or a HEAD answer) is complete.
        let end = match self.body.size() {
            BodySize::None | BodySize::Sized(0) => End::Complete,
            _ => End::Gone,
        };
        self.finish(end);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn a_stream_with_an_in_band_error_is_logged_as_failed() {
        assert_eq!(End::Complete.after(true), End::Failed);
        assert_eq!(End::Complete.after(false), End::Complete);
        assert_eq!(End::Gone.after(true), End::Gone);
    }

    use super::*;

    #[test]
    fn client_ids_are_kept_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123_X.y:z"));
        assert_eq!(request_id(&h), "abc-123_X.y:z");
        h.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert!(request_id(&h).starts_with("req_"));
        h.insert(REQUEST_ID, HeaderValue::from_str(&"a".repeat(129)).unwrap());
        assert!(request_id(&h).starts_with("req_"));
        assert!(request_id(&HeaderMap::new()).starts_with("req_"));
    }

    #[test]
    fn access_line_names_every_field_and_no_content() {
        let trace = Trace::default();
        trace.set_model("gemini-2.5-flash");
        trace.upstream_sent(true);
        trace.upstream_first_event();
        trace.upstream_finished();
        trace.set_usage(12, 34);
        let access = Access {
            id: "req_1".to_owned(),
            method: "POST".to_owned(),
            route: "/v1/chat/completions".to_owned(),
            path: None,
            status: 200,
            started: Instant::now(),
            overhead: Duration::from_micros(250),
            trace,
            metrics: Arc::new(Metrics::default()),
            inspecting: None,
            dropped: None,
        };
        let done = Finished {
            route: "/v1/chat/completions",
            model: Some("gemini-2.5-flash"),
            status: 200,
            duration: Duration::from_millis(1500),
            upstream: Some(Duration::from_millis(1400)),
            first_event: Some(Duration::from_millis(300)),
            prompt_tokens: Some(12),
            completion_tokens: Some(34),
        };
        let mut line = Vec::new();
        access.write_line(&mut line, &done, End::Gone);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "req_1 POST /v1/chat/completions model=gemini-2.5-flash status=200 stream=true \
             duration_ms=1500.0 upstream_ms=1400.0 first_event_ms=300.0 overhead_us=250 \
             tokens_in=12 tokens_out=34 end=gone"
        );
    }

    #[test]
    fn an_unmatched_request_is_logged_with_its_path_without_the_query() {
        use actix_web::test::TestRequest;
        let req = TestRequest::with_uri("/v1/assistants/x?key=AIzaSecret").to_http_request();
        let (route, path) = route_and_path(&req);
        assert_eq!(route, "unmatched", "the metrics label stays bounded");
        assert_eq!(path.as_deref(), Some("/v1/assistants/x"));
        let long = format!("/{}", "a".repeat(1000));
        let (_, path) = route_and_path(&TestRequest::with_uri(&long).to_http_request());
        assert_eq!(
            path.unwrap(),
            format!("/{}...", "a".repeat(MAX_LOGGED_PATH - 1))
        );

        let access = Access {
            id: "req_2".to_owned(),
            method: "POST".to_owned(),
            route,
            path: Some("/v1/assistants/x".to_owned()),
            status: 404,
            started: Instant::now(),
            overhead: Duration::from_micros(5),
            trace: Trace::default(),
            metrics: Arc::new(Metrics::default()),
            inspecting: None,
            dropped: None,
        };
        let done = Finished {
            route: "unmatched",
            model: None,
            status: 404,
            duration: Duration::from_millis(1),
            upstream: None,
            first_event: None,
            prompt_tokens: None,
            completion_tokens: None,
        };
        let mut line = Vec::new();
        access.write_line(&mut line, &done, End::Complete);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "req_2 POST unmatched path=/v1/assistants/x model=- status=404 stream=false \
             duration_ms=1.0 upstream_ms=- first_event_ms=- overhead_us=5 tokens_in=- \
             tokens_out=- end=complete"
        );
    }
}
