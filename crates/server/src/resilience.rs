//! What keeps one request's use of the upstream bounded: the cap on concurrent upstream
//! requests ([`Limiter`]), the overall time cap ([`Deadline`]), and the wrapper around a
//! streamed response body ([`StreamLease::wrap`]) that sends SSE keep-alive comments, enforces
//! the overall cap after the 200, and holds the concurrency slot and the open-stream gauge
//! for exactly as long as the stream lives.
//!
//! The wrapper works on the bytes going to the client, not on upstream events: it only ever
//! *polls* the translated stream, never drops or restarts it, so the per-read idle timeout
//! inside the stream keeps counting across keep-alives, and an upstream event is never lost
//! to a timer. It is also pull-based like the rest of the body: actix polls it only when the
//! client connection can take more bytes, so a slow reader stops Pollux reading upstream
//! (TCP flow control then slows Gemini) instead of filling memory.
//!
//! `docs/operations.md` describes the behaviour for operators.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::error::ApiError;
use crate::failure::UpstreamFailure;
use crate::metrics::Metrics;
use crate::observe::Trace;
use crate::sse;

/// The cap on upstream requests in flight, shared by every worker. Beyond it a request is
/// refused at once (429) rather than queued: a queue would only hide overload from clients
/// that know how to back off.
pub struct Limiter {
    /// `None` when unlimited.
    slots: Option<Arc<Semaphore>>,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl Limiter {
    /// `limit` 0 means unlimited.
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Limiter {
        Limiter {
            slots: (limit > 0).then(|| Arc::new(Semaphore::new(limit))),
            limit,
            metrics,
        }
    }

    /// Takes a slot for one upstream request, or refuses with 429 `concurrency_limit`.
    pub fn acquire(&self) -> Result<UpstreamPermit, ApiError> {
        let permit = match &self.slots {
            None => None,
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.metrics.concurrency_rejected();
                    return Err(ApiError::ConcurrencyLimit { limit: self.limit });
                }
            },
        };
        self.metrics.upstream_started();
        Ok(UpstreamPermit {
            _slot: permit,
            metrics: self.metrics.clone(),
        })
    }
}

/// One upstream request's slot; dropping it frees the slot.
pub struct UpstreamPermit {
    _slot: Option<OwnedSemaphorePermit>,
    metrics: Arc<Metrics>,
}

impl Drop for UpstreamPermit {
    fn drop(&mut self) {
        self.metrics.upstream_ended();
    }
}

/// The overall time cap of one request, counted from its arrival.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
    total: Duration,
}

impl Deadline {
    /// A deadline `cap` from now; `None` never expires.
    pub fn start(cap: Option<Duration>) -> Deadline {
        Deadline {
            at: cap.map(|c| Instant::now() + c),
            total: cap.unwrap_or_default(),
        }
    }

    /// The error a request gets when it runs past the cap.
    pub fn error(&self) -> ApiError {
        ApiError::from(self.failure())
    }

    /// The same cap as an upstream failure ([`Upstream::head`](crate::upstream::Upstream::head)),
    /// which maps to [`Deadline::error`].
    pub fn failure(&self) -> UpstreamFailure {
        UpstreamFailure::Deadline {
            limit_secs: self.total.as_secs(),
        }
    }

    /// Runs `work` within the deadline; past it, `work` is dropped (cancelling any upstream
    /// request inside it) and the result is a 504.
    pub async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        self.bound(work).await.unwrap_or_else(|| Err(self.error()))
    }

    /// Runs `work` within the deadline; `None` when it ran past it (and was dropped).
    pub async fn bound<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        match self.at {
            None => Some(work.await),
            Some(at) => tokio::time::timeout_at(at.into(), work).await.ok(),
        }
    }

    fn sleep(&self) -> Option<Pin<Box<Sleep>>> {
        self.at
            .map(|at| Box::pin(tokio::time::sleep_until(at.into())))
    }
}

/// What a streamed response holds on to while it runs.
pub struct StreamLease {
    pub permit: UpstreamPermit,
    pub deadline: Deadline,
    pub keepalive: Option<Duration>,
    pub metrics: Arc<Metrics>,
    pub trace: Trace,
}

impl StreamLease {
    /// Wraps a translated SSE body: keep-alives while it is silent, the overall cap, the
    /// open-stream gauge and the concurrency slot.
    pub fn wrap<S, E>(self, body: S) -> LeasedStream<S>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        self.metrics.stream_opened();
        LeasedStream {
            state: State::Streaming {
                body: Box::pin(body),
                _open: OpenStream(self.metrics.clone()),
                _permit: self.permit,
            },
            keepalive: self
                .keepalive
                .map(|every| (every, Box::pin(tokio::time::sleep(every)))),
            deadline: self.deadline.sleep(),
            cap: self.deadline,
            trace: self.trace,
        }
    }
}

/// Counts one open stream until dropped.
struct OpenStream(Arc<Metrics>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.stream_closed();
    }
}

enum State<S> {
    /// The translated body is running; it holds the upstream response, the concurrency
    /// slot and the gauge, all released together when this state is left or dropped.
    Streaming {
        body: Pin<Box<S>>,
        _open: OpenStream,
        _permit: UpstreamPermit,
    },
    /// The body ended, or the overall cap cut it short.
    Done,
}

/// A streamed response body under a [`StreamLease`]; see [`StreamLease::wrap`].
pub struct LeasedStream<S> {
    state: State<S>,
    /// The interval and the timer of the next keep-alive comment.
    keepalive: Option<(Duration, Pin<Box<Sleep>>)>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// The overall cap, whose in-band error is sent when it is reached (and written only
    /// then: encoding it up front cost every stream about 3,000 instructions).
    cap: Deadline,
    trace: Trace,
}

impl<S, E> Stream for LeasedStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is boxed or Unpin, so the wrapper is Unpin.
        let this = self.get_mut();
        let State::Streaming { body, .. } = &mut this.state else {
            return Poll::Ready(None);
        };

        // 1. Past the overall cap: one error event, and the upstream is released now.
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                this.state = State::Done;
                this.trace.upstream_finished();
                return Poll::Ready(Some(Ok(sse::raw_event(&this.cap.error().envelope()))));
            }
        }

        // 2. The translated body: anything it sends also counts as a sign of life.
        match body.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if let Some((every, timer)) = &mut this.keepalive {
                    timer.as_mut().reset((Instant::now() + *every).into());
                }
                return Poll::Ready(Some(item));
            }
            Poll::Ready(None) => {
                this.state = State::Done;
                this.trace.upstream_finished();
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }

        // 3. Silent for a whole interval: a comment keeps idle proxies from cutting us off.
        if let Some((every, timer)) = &mut this.keepalive {
            if timer.as_mut().poll(cx).is_ready() {
                // The timer is polled again (and its waker registered) on the next poll,
                // which actix makes as soon as it has written this comment.
                timer.as_mut().reset((Instant::now() + *every).into());
                return Poll::Ready(Some(Ok(sse::KEEP_ALIVE)));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn lease(limiter: &Limiter, cap: Option<Duration>, keepalive: Option<Duration>) -> StreamLease {
        StreamLease {
            permit: limiter.acquire().unwrap(),
            deadline: Deadline::start(cap),
            keepalive,
            metrics: limiter.metrics.clone(),
            trace: Trace::default(),
        }
    }

    #[test]
    fn limiter_refuses_beyond_the_cap_and_frees_on_drop() {
        let metrics = Arc::new(Metrics::default());
        let limiter = Limiter::new(2, metrics.clone());
        let a = limiter.acquire().unwrap();
        let _b = limiter.acquire().unwrap();
        let refused = limiter.acquire().err().unwrap();
        assert!(matches!(refused, ApiError::ConcurrencyLimit { limit: 2 }));
        drop(a);
        assert!(limiter.acquire().is_ok());
        let unlimited = Limiter::new(0, metrics);
        let many: Vec<_> = (0..10_000).map(|_| unlimited.acquire().unwrap()).collect();
        assert_eq!(many.len(), 10_000);
    }

    #[actix_rt::test]
    async fn keepalive_fills_silence_without_losing_items() {
        let metrics = Arc::new(Metrics::default());
        let limiter = Limiter::new(1, metrics.clone());
        let body = async_stream::stream! {
            yield Ok::<_, std::io::Error>(Bytes::from_static(b"a"));
            tokio::time::sleep(Duration::from_millis(130)).await;
            yield Ok(Bytes::from_static(b"b"));
        };
        let wrapped = lease(&limiter, None, Some(Duration::from_millis(50))).wrap(body);
        assert_eq!(metrics.open_streams(), 1);
        assert!(limiter.acquire().is_err(), "the stream holds the slot");
        let out: Vec<Bytes> = wrapped.map(Result::unwrap).collect().await;
        assert_eq!(out.first().unwrap(), "a");
        assert_eq!(out.last().unwrap(), "b");
        let keepalives = out.iter().filter(|b| **b == sse::KEEP_ALIVE).count();
        assert!(keepalives >= 1, "{out:?}");
        assert_eq!(metrics.open_streams(), 0);
        assert!(limiter.acquire().is_ok(), "the slot is free again");
    }

    #[actix_rt::test]
    async fn deadline_ends_the_stream_with_an_error_event() {
        let metrics = Arc::new(Metrics::default());
        let limiter = Limiter::new(1, metrics.clone());
        let body = async_stream::stream! {
            yield Ok::<_, std::io::Error>(Bytes::from_static(b"a"));
            futures_util::future::pending::<()>().await;
        };
        let wrapped = lease(&limiter, Some(Duration::from_millis(50)), None).wrap(body);
        let out: Vec<Bytes> = wrapped.map(Result::unwrap).collect().await;
        assert_eq!(out.len(), 2, "{out:?}");
        let text = std::str::from_utf8(&out[1]).unwrap();
        assert!(text.starts_with("data: {\"error\""), "{text}");
        assert!(text.contains("upstream_timeout"), "{text}");
        assert_eq!(metrics.open_streams(), 0);
    }
}
