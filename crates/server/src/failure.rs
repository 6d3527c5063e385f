//! [`UpstreamFailure`] is what every failed upstream call comes back as: Gemini's error body
//! is parsed once, where the answer is read, and the key pool, the retry policy
//! (`crate::retry`), the error a client gets ([`crate::error::ApiError`]'s `From`) and the
//! native pass-through all read the parsed value. It sits beside the error type, below
//! everything that produces or reads it.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use bytes::Bytes;
use pollux_translate::gemini;

/// How one upstream call failed, typed: what happened, and through [`Self::retryable`]
/// whether a repeat could fix it. Every text in it is already redacted
/// ([`crate::keys::Keys::redact`]).
#[derive(Debug)]
pub enum UpstreamFailure {
    /// Gemini answered non-2xx with its own JSON error (`{"error": {...}}`).
    Refused {
        status: StatusCode,
        error: Box<gemini::ErrorResponse>,
        /// `RetryInfo.retryDelay`, in whole seconds.
        retry_after: Option<u64>,
        /// The answer as received; empty for an error Gemini wrote into a stream.
        answer: Box<Answer>,
    },
    /// A non-2xx answer that is not a Gemini error: a proxy's HTML page, a cut body.
    Unparseable {
        status: StatusCode,
        answer: Box<Answer>,
    },
    /// The connection could not be made (refused, unresolvable, TLS).
    Connect(String),
    /// Connecting or the response head took longer than the configured timeouts.
    Timeout { connecting: bool },
    /// The exchange broke after the connection was made (reset, a malformed head), or the
    /// answer's body could not be read.
    Broken(String),
    /// Every key of the pool was rejected as invalid: the operator's problem.
    NoKeys,
    /// The request's overall time cap ([`crate::resilience::Deadline`]) ran out.
    Deadline { limit_secs: u64 },
    /// No usable Vertex AI access token: the message names the credential source.
    Credentials(String),
}

/// The headers and (redacted) body of a failed answer, for the native pass-through, which
/// hands them on as they came. Boxed in [`UpstreamFailure`]: a failure then costs an
/// allocation, and the `Result` of every successful call stays small.
#[derive(Debug, Default)]
pub struct Answer {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl UpstreamFailure {
    /// A non-2xx answer whose (redacted) body has been read: the one place Gemini's error
    /// body is parsed.
    pub fn from_answer(status: StatusCode, headers: HeaderMap, body: Bytes) -> UpstreamFailure {
        let parsed = parse_error(&body);
        let answer = Box::new(Answer { headers, body });
        match parsed {
            Some(error) => UpstreamFailure::Refused {
                status,
                retry_after: error.error.retry_after_secs(),
                error: Box::new(error),
                answer,
            },
            None => UpstreamFailure::Unparseable { status, answer },
        }
    }

    /// An error Gemini wrote into a stream, already parsed; its own `code` is the status
    /// (500 when it gives none).
    pub fn in_stream(error: gemini::ErrorResponse) -> UpstreamFailure {
        let status = StatusCode::from_u16(error.error.code)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        UpstreamFailure::Refused {
            status,
            retry_after: error.error.retry_after_secs(),
            error: Box::new(error),
            answer: Box::default(),
        }
    }

    /// The parsed Gemini error, if Gemini sent one.
    pub fn gemini_error(&self) -> Option<&gemini::ErrorStatus> {
        match self {
            UpstreamFailure::Refused { error, .. } => Some(&error.error),
            _ => None,
        }
    }

    /// Gemini reported the key itself as invalid (`ErrorInfo.reason`).
    pub fn key_invalid(&self) -> bool {
        self.gemini_error()
            .is_some_and(|e| e.reason() == Some("API_KEY_INVALID"))
    }

    /// How this failure counts for the retry policy; `None` when a repeat cannot fix it:
    /// 429 (see `crate::retry::RetryPolicy::delay` for per-day quotas), 500 and 503 answered as Gemini
    /// errors, and connections that could not be made.
    pub fn retry_class(&self) -> Option<Failure> {
        match self {
            UpstreamFailure::Refused {
                status,
                error,
                retry_after,
                ..
            } => match status.as_u16() {
                429 => Some(Failure::RateLimited {
                    retry_after: retry_after.map(Duration::from_secs),
                    daily: error.error.is_daily_quota(),
                }),
                500 | 503 => Some(Failure::Unavailable),
                _ => None,
            },
            // A 500/503 from something in front of Gemini is as passing as Gemini's own.
            UpstreamFailure::Unparseable { status, .. } => {
                matches!(status.as_u16(), 500 | 503).then_some(Failure::Unavailable)
            }
            UpstreamFailure::Connect(_) => Some(Failure::Connect),
            UpstreamFailure::Timeout { .. }
            | UpstreamFailure::Broken(_)
            | UpstreamFailure::NoKeys
            | UpstreamFailure::Credentials(_)
            | UpstreamFailure::Deadline { .. } => None,
        }
    }

    /// Whether a repeat of the same request could succeed.
    pub fn retryable(&self) -> bool {
        self.retry_class().is_some()
    }
}

#[cfg(test)]
thread_local! {
    /// Gemini error bodies parsed on this thread, for the tests that count them.
    pub static ERROR_PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn parse_error(body: &[u8]) -> Option<gemini::ErrorResponse> {
    #[cfg(test)]
    ERROR_PARSES.with(|n| n.set(n.get() + 1));
    serde_json::from_slice(body).ok()
}

/// What a failed attempt looked like, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429; `retry_after` from `RetryInfo`, `daily` when a per-day quota is exhausted.
    RateLimited {
        retry_after: Option<Duration>,
        daily: bool,
    },
    /// 500 or 503.
    Unavailable,
    /// The connection could not be made.
    Connect,
}
