//! When and how long to wait before repeating an upstream request that failed in a way a
//! repeat can fix: 429 (except a per-day quota), 500, 503 and connection failures. Retries
//! happen only before anything was sent to the client; the wait grows exponentially with
//! jitter (so replicas do not retry in lockstep) and honours Gemini's `RetryInfo.retryDelay`,
//! but never beyond `max_delay`: a longer wait is the client's to decide, so the 429 goes out
//! with `Retry-After` instead.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::config::Config;
use crate::failure::Failure;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Repeats after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// The first backoff; doubled on each further retry.
    pub base: Duration,
    /// The longest single wait Pollux accepts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &Config) -> RetryPolicy {
        RetryPolicy {
            max_retries: config.max_retries,
            base: Duration::from_millis(config.retry_base_ms),
            max_delay: Duration::from_secs(config.retry_max_delay_secs),
        }
    }

    /// How long to wait before retry number `retry` (0-based) after `failure`, or `None`
    /// when this failure must go to the client as it is.
    pub fn delay(&self, retry: u32, failure: Failure) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        let backoff = self.backoff(retry, jitter());
        let wait = match failure {
            Failure::RateLimited { daily: true, .. } => return None,
            Failure::RateLimited {
                retry_after: Some(asked),
                ..
            } => asked.max(backoff),
            Failure::RateLimited { .. } | Failure::Unavailable | Failure::Connect => backoff,
        };
        (wait <= self.max_delay).then_some(wait)
    }

    /// `base * 2^retry`, capped at `max_delay`, scaled by `0.5 + jitter / 2` ("equal
    /// jitter"): never less than half the nominal wait, never more than all of it.
    fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let nominal = self
            .base
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_delay);
        nominal.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// A uniform value in `[0, 1)` from the standard library's randomly seeded hasher.
fn jitter() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderMap;
    use actix_web::http::StatusCode;
    use bytes::Bytes;

    use super::*;
    use crate::failure::UpstreamFailure;

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_is_capped() {
        let p = policy(10);
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(0, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(800));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(5));
        for retry in 0..5 {
            let d = p.delay(retry, Failure::Unavailable).unwrap();
            let nominal = Duration::from_millis(100 << retry);
            assert!(d >= nominal / 2 && d <= nominal, "{d:?} for retry {retry}");
        }
    }

    #[test]
    fn honours_retry_info_up_to_the_cap_and_never_retries_daily_quota() {
        let p = policy(3);
        let asked = |s| Failure::RateLimited {
            retry_after: Some(Duration::from_secs(s)),
            daily: false,
        };
        assert_eq!(p.delay(0, asked(2)), Some(Duration::from_secs(2)));
        assert_eq!(
            p.delay(0, asked(30)),
            None,
            "longer than max_delay: the client decides"
        );
        assert_eq!(
            p.delay(
                0,
                Failure::RateLimited {
                    retry_after: None,
                    daily: true
                }
            ),
            None
        );
        assert!(p.delay(0, Failure::Connect).is_some());
    }

    #[test]
    fn stops_after_max_retries() {
        let p = policy(2);
        assert!(p.delay(1, Failure::Unavailable).is_some());
        assert_eq!(p.delay(2, Failure::Unavailable), None);
        assert_eq!(policy(0).delay(0, Failure::Unavailable), None);
    }

    #[test]
    fn failures_say_whether_a_repeat_can_fix_them() {
        let answer = |status: u16, body: &str| {
            UpstreamFailure::from_answer(
                StatusCode::from_u16(status).unwrap(),
                HeaderMap::new(),
                Bytes::from(body.to_owned()),
            )
        };
        let gemini = |status: u16, name: &str, details: &str| {
            answer(
                status,
                &format!(
                    r#"{{"error":{{"code":{status},"message":"m","status":"{name}","details":{details}}}}}"#
                ),
            )
        };
        let retry_info =
            r#"[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]"#;
        let limited = gemini(429, "RESOURCE_EXHAUSTED", retry_info);
        assert_eq!(
            limited.retry_class(),
            Some(Failure::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
                daily: false
            })
        );
        assert!(matches!(
            limited,
            UpstreamFailure::Refused {
                retry_after: Some(7),
                ..
            }
        ));
        for (status, name) in [(500, "INTERNAL"), (503, "UNAVAILABLE")] {
            assert_eq!(
                gemini(status, name, "[]").retry_class(),
                Some(Failure::Unavailable)
            );
        }
        for (status, name) in [
            (400, "INVALID_ARGUMENT"),
            (404, "NOT_FOUND"),
            (504, "DEADLINE_EXCEEDED"),
        ] {
            assert!(!gemini(status, name, "[]").retryable(), "{status}");
        }
        let html = answer(503, "<html>busy</html>");
        assert!(matches!(html, UpstreamFailure::Unparseable { .. }));
        assert!(html.retryable(), "a busy proxy may pass");
        assert!(!answer(502, "<html>bad gateway</html>").retryable());
        assert!(UpstreamFailure::Connect("refused".to_owned()).retryable());
        assert!(!UpstreamFailure::Broken("reset".to_owned()).retryable());
        assert!(!UpstreamFailure::Timeout { connecting: false }.retryable());
        assert!(!UpstreamFailure::NoKeys.retryable());
        let invalid = gemini(
            400,
            "INVALID_ARGUMENT",
            r#"[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]"#,
        );
        assert!(invalid.key_invalid() && !invalid.retryable());
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let values: Vec<f64> = (0..32).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }
}
