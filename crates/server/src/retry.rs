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
    use super::*;

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
    fn jitter_is_in_range_and_varies() {
        let values: Vec<f64> = (0..32).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }
}
