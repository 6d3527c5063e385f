//! Per-key scripting: a key a test marks as rate limited answers every Gemini call with 429
//! `RESOURCE_EXHAUSTED` and a `RetryInfo` delay; a key marked invalid answers 400
//! `API_KEY_INVALID`. Rules last until cleared, so a client's key rotation can be watched from
//! the recorded requests' `x-goog-api-key` headers.

use serde::{Deserialize, Serialize};

use crate::body::rate_limited_body;
use crate::checks::{self, Rejection};

/// What one scripted key gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyRule {
    /// Every call: 429 with `RetryInfo.retryDelay` of this many seconds.
    RateLimited { retry_delay_secs: u64 },
    /// Every call: 400 `INVALID_ARGUMENT`, reason `API_KEY_INVALID`.
    Invalid,
}

impl KeyRule {
    /// The rejection this rule answers with.
    pub(crate) fn rejection(&self, key: &str) -> Rejection {
        match self {
            KeyRule::RateLimited { retry_delay_secs } => {
                let body = rate_limited_body(*retry_delay_secs);
                let error = &body["error"];
                let mut r = Rejection::new(
                    429,
                    "RESOURCE_EXHAUSTED",
                    error["message"].as_str().unwrap_or_default(),
                );
                r.details = error["details"].as_array().cloned().unwrap_or_default();
                r
            }
            KeyRule::Invalid => match checks::api_key(Some(key), key) {
                Err(r) => r,
                Ok(()) => Rejection::invalid("API key not valid. Please pass a valid API key."),
            },
        }
    }
}
