//! Reading request bodies within the configured limits: an oversized upload is refused with
//! OpenAI's error shape (413) instead of actix's plain-text default, and a body that trickles
//! in is cut off with 408.
//!
//! The time limit is `--body-read-timeout-secs` plus one second for every
//! `--body-min-rate` bytes received so far: a large upload on a slow but honest link keeps
//! earning time, while a client sending a byte every few seconds (to hold a connection and a
//! worker's buffer for ever) is cut off after about the timeout. actix's own
//! `client_request_timeout` covers only the request head.
//!
//! [`receive`] is how a JSON route starts: the key checked, then the body read, parsed and
//! freed.

use std::time::Duration;

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::{web, HttpRequest};
use bytes::BytesMut;
use futures_util::StreamExt;
use pollux_translate::TranslateError;
use tokio::time::{timeout_at, Instant};

use crate::config::Config;
use crate::error::ApiError;
use crate::keys::Credentials;
use crate::observe::Trace;
use crate::upstream::Upstream;

/// Checks the request's key, then reads its body within the limits and parses it. Returns
/// the request's trace, the credentials its headers present, the parsed body and the raw
/// body's length (which sizes the upstream body: [`super::generate::encode_sized`]).
pub async fn receive<T>(
    req: &HttpRequest,
    payload: web::Payload,
    config: &Config,
    upstream: &Upstream,
    parse: impl FnOnce(&[u8]) -> Result<T, TranslateError>,
) -> Result<(Trace, Credentials, T, usize), ApiError> {
    let trace = Trace::of(req);
    // The key is checked from the headers before the body is read: an unauthorized client
    // must not get to make Pollux buffer (or wait for) up to `--max-body-bytes`.
    let key = upstream.key_for(req.headers())?;
    let body = read_limited(payload, req.headers(), config, &trace).await?;
    let request = parse(&body)?;
    // The parsed request owns its strings: free the raw body (it may be tens of MB of
    // inline media) before the handler builds more copies.
    let body_len = body.len();
    drop(body);
    Ok((trace, key, request, body_len))
}

/// Refuses (413) a body whose declared `Content-Length` is above `limit`, before any of it
/// is read; returns the declared length.
pub fn check_declared(headers: &HeaderMap, limit: usize) -> Result<Option<usize>, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(declared)
}

pub async fn read_limited(
    mut payload: web::Payload,
    headers: &HeaderMap,
    config: &Config,
    trace: &Trace,
) -> Result<web::Bytes, ApiError> {
    let limit = config.max_body_bytes;
    let declared = check_declared(headers, limit)?;
    let clock = BodyClock::start(config);
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    loop {
        let next = match clock.deadline(body.len()) {
            Some(deadline) => timeout_at(deadline, payload.next())
                .await
                .map_err(|_| clock.timed_out(body.len()))?,
            None => payload.next().await,
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ApiError::InvalidRequest {
            message: format!("Reading the request body failed: {e}"),
            param: None,
            code: Some("invalid_body".to_owned()),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    trace.capture(|d| d.client_request(&body));
    Ok(body)
}

/// The body read's time budget: a fixed allowance plus credit for the bytes received.
struct BodyClock {
    started: Instant,
    allowance: Option<Duration>,
    min_rate: u64,
}

impl BodyClock {
    fn start(config: &Config) -> BodyClock {
        BodyClock {
            started: Instant::now(),
            allowance: config.body_read_timeout(),
            min_rate: config.body_min_rate,
        }
    }

    /// When the read must have ended, having received `received` bytes so far (`None`: no
    /// limit, or one too far away to represent).
    fn deadline(&self, received: usize) -> Option<Instant> {
        let allowance = self.allowance?;
        let earned = match self.min_rate {
            0 => Duration::ZERO,
            rate => Duration::try_from_secs_f64(received as f64 / rate as f64).ok()?,
        };
        self.started.checked_add(allowance.checked_add(earned)?)
    }

    fn timed_out(&self, received: usize) -> ApiError {
        ApiError::RequestTimeout(format!(
            "The request body arrived too slowly: {received} bytes in {}s.",
            self.started.elapsed().as_secs()
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn received_bytes_earn_time_at_the_minimum_rate() {
        let mut config = Config::defaults();
        config.body_read_timeout_secs = 10;
        config.body_min_rate = 1000;
        let clock = BodyClock::start(&config);
        let base = clock.deadline(0).unwrap();
        assert_eq!(base - clock.started, Duration::from_secs(10));
        assert_eq!(clock.deadline(5000).unwrap() - base, Duration::from_secs(5));
        config.body_min_rate = 0;
        let flat = BodyClock::start(&config);
        assert_eq!(
            flat.deadline(1 << 30).unwrap() - flat.started,
            Duration::from_secs(10)
        );
        config.body_read_timeout_secs = 0;
        assert!(BodyClock::start(&config).deadline(0).is_none());
    }
}
