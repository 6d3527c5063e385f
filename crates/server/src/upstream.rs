//! The connection to Gemini: one `awc::Client` per worker (it is not `Send`), URL building
//! under a base that may carry a path prefix, and the API key, which only ever travels in
//! the `x-goog-api-key` header (never in a URL, never in a log line).
//!
//! With Pollux's own key pool ([`crate::keys`]) one call may try several keys: a 429 or an
//! `API_KEY_INVALID` answer moves the request to the next key, which is possible because
//! nothing has been sent to the client yet ([`Upstream::send`]).
//!
//! Every error body read here is redacted ([`Keys::redact`]) as it is read, before it is
//! parsed, logged, mapped to an [`ApiError`] or passed through to a native client.

use std::sync::Arc;
use std::time::Duration;

use actix_service::{Service, ServiceExt as _};
use actix_tls::connect::{ConnectError as TcpConnectError, ConnectInfo, Connection};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Uri;
use actix_web::http::{Method, StatusCode};
use actix_web::rt::net::TcpStream;
use awc::error::{ConnectError, SendRequestError};
use awc::{Client, ClientResponse, Connector};
use bytes::Bytes;
use pollux_translate::gemini;

use crate::config::Config;
use crate::error::ApiError;
use crate::keys::{fingerprint, presented_key, Credentials, Keys};
use crate::metrics::Metrics;
use crate::retry::{Failure, RetryPolicy};

/// Per-worker upstream client.
pub struct Upstream {
    client: Client,
    base: String,
    keys: Arc<Keys>,
    max_body: usize,
    retry: RetryPolicy,
    metrics: Option<Arc<Metrics>>,
}

/// The outcome of [`Upstream::send`].
pub enum Sent {
    /// A response head; the body is still to be read (any status).
    Head(UpstreamResponse),
    /// A refusal whose body was read to decide about the key (429, 400/401/403); the body
    /// is already redacted.
    Refused {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

/// What the upstream answered before its body.
pub type UpstreamResponse = ClientResponse;

impl Upstream {
    /// A client with its own key pool (built from `config`).
    pub fn new(config: &Config) -> Upstream {
        Upstream::with_keys(config, Arc::new(Keys::from_config(config)))
    }

    /// A client sharing `keys` (the pool's cooldowns) with the other workers.
    pub fn with_keys(config: &Config, keys: Arc<Keys>) -> Upstream {
        // No pool limit: every in-flight request (a held stream too) needs its own HTTP/1.1
        // connection, and awc makes request 257 wait for a free one under a limit of 256.
        let connector = Connector::new()
            .connector(nodelay_tcp())
            .timeout(config.connect_timeout())
            .limit(0);
        let client = Client::builder()
            .connector(connector)
            .timeout(config.response_timeout())
            .disable_redirects()
            .finish();
        Upstream {
            client,
            base: config.upstream_base().to_owned(),
            keys,
            max_body: config.max_upstream_body_bytes,
            retry: RetryPolicy::from_config(config),
            metrics: None,
        }
    }

    /// Counts retries and key cooldowns in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Upstream {
        self.metrics = Some(metrics);
        self
    }

    /// `{base}/v1beta/models/{model}:{method}`.
    pub fn model_url(&self, model: &str, method: &str) -> String {
        format!("{}/v1beta/models/{model}:{method}", self.base)
    }

    /// `{base}`, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Authorizes a request by the key it presented (see [`Keys::authorize`]).
    pub fn key_for(&self, headers: &HeaderMap) -> Result<Credentials, ApiError> {
        self.keys.authorize(presented_key(headers))
    }

    /// POSTs a JSON body and returns once the response head has arrived. A refusal read
    /// while choosing keys comes back as the error it maps to.
    pub async fn post_json(
        &self,
        url: &str,
        key: &Credentials,
        body: impl Into<Bytes>,
    ) -> Result<UpstreamResponse, ApiError> {
        let json = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )];
        match self
            .send(Method::POST, url, key, &json, body.into())
            .await?
        {
            Sent::Head(response) => Ok(response),
            Sent::Refused { status, body, .. } => {
                Err(ApiError::from_upstream(status.as_u16(), &body))
            }
        }
    }

    /// Reads an error body (up to 1 MiB), redacted; a body that cannot be read is empty.
    pub async fn error_body(&self, response: &mut UpstreamResponse, key: &Credentials) -> Bytes {
        let body = response.body().limit(1024 * 1024).await.unwrap_or_default();
        self.keys.redact_bytes(body, key)
    }

    /// Sends one request, trying the pool's keys in turn: a key answered 429 cools down and
    /// one reported invalid leaves the rotation, and either way the next key is tried while
    /// there is one. A client's own key is tried once.
    ///
    /// A failure a repeat can fix (429 within the retry policy, 500, 503, a refused
    /// connection) is retried with backoff (see [`crate::retry`]) — safe because nothing has
    /// reached the client yet.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        key: &Credentials,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Sent, ApiError> {
        let mut retry = 0;
        loop {
            let outcome = self
                .send_with_keys(method.clone(), url, key, headers, body.clone())
                .await;
            let Some(failure) = retryable(&outcome) else {
                return outcome;
            };
            let Some(wait) = self.retry.delay(retry, failure) else {
                return outcome;
            };
            log::info!(
                "upstream attempt {} failed ({failure:?}); retrying in {} ms",
                retry + 1,
                wait.as_millis()
            );
            if let Some(metrics) = &self.metrics {
                metrics.retried();
            }
            // Dropping a failed response head closes its connection before the wait.
            drop(outcome);
            actix_web::rt::time::sleep(wait).await;
            retry += 1;
        }
    }

    async fn send_with_keys(
        &self,
        method: Method,
        url: &str,
        key: &Credentials,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Sent, ApiError> {
        let request = |key: &str| {
            let mut req = self.client.request(method.clone(), url);
            for (name, value) in headers {
                req = req.insert_header((name.clone(), value.clone()));
            }
            req.insert_header(("x-goog-api-key", key))
                .send_body(body.clone())
        };
        if let Credentials::Client(own) = key {
            let mut response = request(own).await.map_err(send_error)?;
            if response.status() != StatusCode::TOO_MANY_REQUESTS {
                return Ok(Sent::Head(response));
            }
            // Read now so the retry policy can see Gemini's RetryInfo.
            let body = self.error_body(&mut response, key).await;
            return Ok(Sent::Refused {
                status: response.status(),
                headers: response.headers().clone(),
                body,
            });
        }
        let pool = self.keys.pool();
        let order = pool.attempt_order().map_err(|_| no_keys())?;
        let mut rate_limited = None;
        for (attempt, index) in order.iter().copied().enumerate() {
            let more = attempt + 1 < order.len();
            let mut response = request(pool.key(index)).await.map_err(send_error)?;
            let status = response.status();
            if !matches!(status.as_u16(), 400 | 401 | 403 | 429) {
                return Ok(Sent::Head(response));
            }
            let body = self.error_body(&mut response, key).await;
            let error = serde_json::from_slice::<gemini::ErrorResponse>(&body).ok();
            let refused = Sent::Refused {
                status,
                headers: response.headers().clone(),
                body,
            };
            let invalid = error
                .as_ref()
                .is_some_and(|e| e.error.reason() == Some("API_KEY_INVALID"));
            if invalid {
                pool.invalid(index);
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let delay = error
                    .as_ref()
                    .and_then(|e| e.error.retry_after_secs())
                    .map(Duration::from_secs);
                pool.rate_limited(index, delay);
                if let Some(metrics) = &self.metrics {
                    metrics.key_cooled_down();
                }
                if more {
                    log::info!(
                        "retrying with the next upstream key after a 429 on {}",
                        fingerprint(pool.key(index))
                    );
                    rate_limited = Some(refused);
                    continue;
                }
            }
            return Ok(refused);
        }
        // The last key tried was invalid: answer with an earlier key's 429 if there was one;
        // otherwise every key was invalid, the operator's problem and not the client's.
        rate_limited.ok_or_else(no_keys)
    }

    /// Reads a whole (non-streamed) upstream body within the configured limit.
    pub async fn read_body(&self, response: &mut UpstreamResponse) -> Result<Bytes, ApiError> {
        response
            .body()
            .limit(self.max_body)
            .await
            .map_err(|e| ApiError::BadGateway {
                message: format!("Reading the upstream response failed: {e}"),
                code: Some("upstream_error".to_owned()),
            })
    }

    /// Reads an error body, redacted; a failure to read still yields an error for the
    /// client.
    pub async fn error_from(&self, mut response: UpstreamResponse, key: &Credentials) -> ApiError {
        let status = response.status().as_u16();
        let body = self.error_body(&mut response, key).await;
        ApiError::from_upstream(status, &body)
    }
}

/// Whether an outcome is worth repeating, and how it failed.
fn retryable(outcome: &Result<Sent, ApiError>) -> Option<Failure> {
    match outcome {
        Err(ApiError::BadGateway { code, .. })
            if code.as_deref() == Some("upstream_unreachable") =>
        {
            Some(Failure::Connect)
        }
        Ok(Sent::Head(response)) if matches!(response.status().as_u16(), 500 | 503) => {
            Some(Failure::Unavailable)
        }
        Ok(Sent::Refused { status, body, .. }) if *status == StatusCode::TOO_MANY_REQUESTS => {
            let error = serde_json::from_slice::<gemini::ErrorResponse>(body).ok();
            Some(Failure::RateLimited {
                retry_after: error
                    .as_ref()
                    .and_then(|e| e.error.retry_after_secs())
                    .map(Duration::from_secs),
                daily: error.as_ref().is_some_and(|e| e.error.is_daily_quota()),
            })
        }
        _ => None,
    }
}

/// No key of the pool can be used: every one was reported invalid.
fn no_keys() -> ApiError {
    ApiError::BadGateway {
        message: "Pollux has no valid upstream API key left: Gemini rejected every configured key."
            .to_owned(),
        code: Some("upstream_keys_invalid".to_owned()),
    }
}

/// awc's TCP connector with Nagle's algorithm off on every upstream connection: awc writes a
/// request's head and body separately, and neither actix-tls nor awc sets TCP_NODELAY, so a
/// small body could wait for the ACK of the head (up to the peer's 40 ms delayed ACK).
fn nodelay_tcp(
) -> impl Service<ConnectInfo<Uri>, Response = Connection<Uri, TcpStream>, Error = TcpConnectError> + Clone
{
    actix_tls::connect::Connector::default()
        .service()
        .map(|conn: Connection<Uri, TcpStream>| {
            if let Err(e) = conn.io_ref().set_nodelay(true) {
                log::debug!("cannot set TCP_NODELAY on an upstream connection: {e}");
            }
            conn
        })
}

/// Maps a failure to get a response head. The URL is not included: it names the upstream
/// host, which is fine, but we keep messages uniform and free of anything secret.
fn send_error(err: SendRequestError) -> ApiError {
    match err {
        SendRequestError::Timeout => {
            ApiError::GatewayTimeout("The upstream did not answer in time.".to_owned())
        }
        SendRequestError::Connect(ConnectError::Timeout) => {
            ApiError::GatewayTimeout("Connecting to the upstream timed out.".to_owned())
        }
        SendRequestError::Connect(e) => ApiError::BadGateway {
            message: format!("Could not connect to the upstream: {e}"),
            code: Some("upstream_unreachable".to_owned()),
        },
        other => ApiError::BadGateway {
            message: format!("The upstream request failed: {other}"),
            code: Some("upstream_error".to_owned()),
        },
    }
}
