//! The connection to Gemini: one `awc::Client` per worker (it is not `Send`), URL building
//! under a base that may carry a path prefix, and the API key, which only ever travels in
//! the `x-goog-api-key` header (never in a URL, never in a log line).
//!
//! With Pollux's own key pool ([`crate::keys`]) one call may try several keys: a 429 or an
//! `API_KEY_INVALID` answer moves the request to the next key, which is possible because
//! nothing has been sent to the client yet.
//!
//! Every route reaches Gemini through [`Upstream::head`] (streams) or [`Upstream::whole`]
//! (whole answers): one path that applies the keys, the retries and the request's deadline,
//! records the wait on the request's [`Trace`] (so it is never counted as Pollux overhead)
//! and returns a typed [`UpstreamFailure`], which leaves through `From` for
//! [`ApiError`].
//!
//! With `--upstream vertex` and a project, requests carry a Vertex AI OAuth token
//! (`Authorization: Bearer`, from [`TokenSource`], refreshed by one task for all workers)
//! instead of a key; in Vertex AI express mode the key travels as it does to AI Studio.
//! [`Endpoint`] builds either upstream's URLs.
//!
//! A 2xx answer from a pool key carries the key's index ([`ServedBy`]) in its extensions, so
//! a route can learn which key owns what the call created.
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
use actix_web::HttpMessage as _;
use awc::error::{ConnectError, SendRequestError};
use awc::{Client, ClientResponse, Connector};
use bytes::Bytes;

use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
pub use crate::failure::UpstreamFailure;
use crate::gcp_auth::TokenSource;
use crate::inspect::UsedKey;
use crate::keys::{fingerprint, presented_key, Credentials, Keys, ServedBy};
use crate::metrics::Metrics;
use crate::observe::Trace;
use crate::resilience::Deadline;
use crate::retry::RetryPolicy;

/// Per-worker upstream client.
pub struct Upstream {
    client: Client,
    endpoint: Endpoint,
    keys: Arc<Keys>,
    /// Vertex AI's OAuth tokens, when they authorize the calls instead of keys.
    token: Option<Arc<TokenSource>>,
    max_body: usize,
    retry: RetryPolicy,
    metrics: Option<Arc<Metrics>>,
}

/// What the upstream answered before its body.
pub type UpstreamResponse = ClientResponse;

/// Encodes an outbound body; plain structs cannot fail to encode, but say so if they do.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::BadGateway {
        message: format!("Could not encode the upstream request: {e}"),
        code: None,
    })
}

/// One request to Gemini, as every route describes it to [`Upstream::head`] and
/// [`Upstream::whole`].
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    /// The credentials the request was authorized with (the pool, or the client's own key).
    pub key: &'a Credentials,
    /// Headers forwarded as they are (the native pass-through's content headers).
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// Sends `Content-Type: application/json`.
    pub json: bool,
    pub body: Bytes,
    /// Keeps a conversation on one pool key ([`crate::keys::affinity_hint`]).
    pub affinity: Option<&'a str>,
    /// Binds a series of calls to one pool key ([`KeyPin`]).
    pub pin: Option<&'a KeyPin>,
}

/// The pool key a series of calls must share: a Files API upload belongs to the project of
/// the key that made it, so the calls that use the file go out on that same key. The first
/// call picks a key as usual (rotating past cooled-down ones) and records it; the calls after
/// it use that key only, with no rotation. A client's own key is one key anyway.
#[derive(Debug, Default)]
pub struct KeyPin(std::cell::Cell<Option<usize>>);

impl<'a> Call<'a> {
    /// A POST of a JSON body.
    pub fn post_json(url: &'a str, key: &'a Credentials, body: impl Into<Bytes>) -> Call<'a> {
        Call {
            method: Method::POST,
            url,
            key,
            headers: &[],
            json: true,
            body: body.into(),
            affinity: None,
            pin: None,
        }
    }

    /// The same call, kept on the pool key `hint` ranks first.
    pub fn with_affinity(mut self, hint: Option<&'a str>) -> Call<'a> {
        self.affinity = hint;
        self
    }

    /// A GET without a body.
    pub fn get(url: &'a str, key: &'a Credentials) -> Call<'a> {
        Call {
            method: Method::GET,
            url,
            key,
            headers: &[],
            json: false,
            body: Bytes::new(),
            affinity: None,
            pin: None,
        }
    }

    /// The same call, on the key `pin` holds (or, for the first call, recorded there).
    pub fn pinned(mut self, pin: Option<&'a KeyPin>) -> Call<'a> {
        self.pin = pin;
        self
    }
}

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
            endpoint: Endpoint::from_config(config),
            keys,
            token: None,
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

    /// Authorizes every call with Vertex AI OAuth tokens from `token`.
    pub fn with_token(mut self, token: Option<Arc<TokenSource>>) -> Upstream {
        self.token = token;
        self
    }

    /// `{base}/v1beta/models/{model}:{method}`, or Vertex AI's shape of it.
    pub fn model_url(&self, model: &str, method: &str) -> String {
        self.endpoint.model_url(model, method)
    }

    /// `{base}`, without a trailing slash.
    pub fn base(&self) -> &str {
        self.endpoint.base()
    }

    /// The upstream's URL shapes and wire dialect.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Refuses a route Pollux serves only in front of the Gemini API (not yet for Vertex AI),
    /// with a 400 that says so rather than Vertex's 404 for an AI Studio path.
    pub fn require_gemini_api(&self, what: &str) -> Result<(), ApiError> {
        match self.endpoint.dialect() {
            pollux_translate::Dialect::Gemini => Ok(()),
            pollux_translate::Dialect::Vertex => Err(ApiError::InvalidRequest {
                message: format!(
                    "{what} is not available with the Vertex AI upstream (--upstream vertex) yet."
                ),
                param: None,
                code: Some("unsupported_with_vertex".to_owned()),
            }),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Authorizes a request by the key it presented (see [`Keys::authorize`]).
    pub fn key_for(&self, headers: &HeaderMap) -> Result<Credentials, ApiError> {
        if self.token.is_some() && !self.keys.has_client_keys() {
            // The operator's Google Cloud credentials serve everyone (`check_exposure`
            // keeps this to loopback unless client keys are set or it was asked for).
            return Ok(Credentials::Pool);
        }
        self.keys.authorize(presented_key(headers))
    }

    /// Sends `call` and returns its 2xx response head; the body is the caller's to read
    /// (a stream). The one upstream path, with [`Upstream::whole`]: the whole exchange runs
    /// within `deadline`, the pool's keys and the retry policy apply (`Upstream::send`),
    /// the wait is recorded on `trace` from here (a failure ends it; on success the caller
    /// ends it when it answers, e.g. at a stream's first event), and any failure comes back
    /// typed, its error body read, redacted and parsed once.
    pub async fn head(
        &self,
        call: Call<'_>,
        trace: &Trace,
        deadline: &Deadline,
        stream: bool,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        trace.upstream_sent(stream);
        trace.capture(|d| d.gemini_request(&call.body));
        let head = deadline
            .bound(self.send(&call, trace))
            .await
            .unwrap_or_else(|| Err(deadline.failure()));
        if head.is_err() {
            trace.upstream_answered();
        }
        head
    }

    /// Sends `call` and reads its whole 2xx body (within the configured limit): like
    /// [`Upstream::head`], with the wait on `trace` ending when the body is in.
    pub async fn whole(
        &self,
        call: Call<'_>,
        trace: &Trace,
        deadline: &Deadline,
    ) -> Result<Bytes, UpstreamFailure> {
        Ok(self.whole_with_tier(call, trace, deadline).await?.0)
    }

    /// [`Upstream::whole`], with the service tier Gemini reports it answered at (its
    /// `x-gemini-service-tier` header), when it reports one.
    pub async fn whole_with_tier(
        &self,
        call: Call<'_>,
        trace: &Trace,
        deadline: &Deadline,
    ) -> Result<(Bytes, Option<String>), UpstreamFailure> {
        trace.upstream_sent(false);
        trace.capture(|d| d.gemini_request(&call.body));
        let body = deadline
            .bound(async {
                let mut response = self.send(&call, trace).await?;
                let tier = service_tier(&response);
                Ok((self.read_body(&mut response).await?, tier))
            })
            .await
            .unwrap_or_else(|| Err(deadline.failure()));
        trace.upstream_answered();
        if let Ok((bytes, _)) = &body {
            trace.capture(|d| d.gemini_response(bytes));
        }
        body
    }

    /// Reads an error body (up to 1 MiB), redacted; a body that cannot be read is empty.
    async fn error_body(&self, response: &mut UpstreamResponse, key: &Credentials) -> Bytes {
        let body = response.body().limit(1024 * 1024).await.unwrap_or_default();
        self.keys.redact_bytes(body, key)
    }

    /// A non-2xx answer as a failure: its body read, redacted and parsed once; the attempt
    /// is shown by the inspector with the key's fingerprint (`used`).
    async fn failure(
        &self,
        mut response: UpstreamResponse,
        key: &Credentials,
        trace: &Trace,
        call: &Call<'_>,
        used: impl FnOnce() -> UsedKey,
    ) -> UpstreamFailure {
        let body = self.error_body(&mut response, key).await;
        trace.capture(|d| {
            let status = Some(response.status().as_u16());
            d.attempt(&call.method, call.url, used(), status, Some(&body));
        });
        let headers = response.headers().clone();
        UpstreamFailure::from_answer(response.status(), headers, body)
    }

    /// An attempt that got a 2xx head, or no answer at all, for the inspector.
    fn attempted(
        trace: &Trace,
        call: &Call<'_>,
        used: impl FnOnce() -> UsedKey,
        status: Option<u16>,
    ) {
        trace.capture(|d| d.attempt(&call.method, call.url, used(), status, None));
    }

    /// Sends one request, trying the pool's keys in turn: a key answered 429 cools down and
    /// one reported invalid leaves the rotation, and either way the next key is tried while
    /// there is one. A client's own key is tried once.
    ///
    /// A failure a repeat can fix ([`UpstreamFailure::retryable`]: 429 within the retry
    /// policy, 500, 503, a refused connection) is retried with backoff (see
    /// [`crate::retry`]) — safe because nothing has reached the client yet.
    async fn send(
        &self,
        call: &Call<'_>,
        trace: &Trace,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        let mut retry = 0;
        loop {
            let failure = match self.send_with_keys(call, trace).await {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            let Some(class) = failure.retry_class() else {
                return Err(failure);
            };
            let Some(wait) = self.retry.delay(retry, class) else {
                return Err(failure);
            };
            log::info!(
                "upstream attempt {} failed ({class:?}); retrying in {} ms",
                retry + 1,
                wait.as_millis()
            );
            if let Some(metrics) = &self.metrics {
                metrics.retried();
            }
            drop(failure);
            actix_web::rt::time::sleep(wait).await;
            retry += 1;
        }
    }

    async fn send_with_keys(
        &self,
        call: &Call<'_>,
        trace: &Trace,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        if let Some(token) = &self.token {
            return self.send_with_token(call, token, trace).await;
        }
        let sent = |used: UsedKey, result: Result<UpstreamResponse, SendRequestError>| {
            let result = result.map_err(send_error);
            match &result {
                Ok(r) if r.status().is_success() => {
                    Self::attempted(trace, call, || used, Some(r.status().as_u16()))
                }
                Ok(_) => {}
                Err(_) => Self::attempted(trace, call, || used, None),
            }
            result
        };
        let request = |key: &str| {
            self.request(call)
                .insert_header(("x-goog-api-key", key))
                .send_body(call.body.clone())
        };
        if let Credentials::Client(own) = call.key {
            let response = sent(UsedKey::Presented, request(own).await)?;
            if response.status().is_success() {
                return Ok(response);
            }
            return Err(self
                .failure(response, call.key, trace, call, || UsedKey::Presented)
                .await);
        }
        let pool = self.keys.pool();
        let order = match call.pin.and_then(|pin| pin.0.get()) {
            Some(index) => vec![index],
            None => pool
                .attempt_order_for(call.affinity)
                .map_err(|_| UpstreamFailure::NoKeys)?,
        };
        let mut rate_limited = None;
        for (attempt, index) in order.iter().copied().enumerate() {
            let more = attempt + 1 < order.len();
            let used = pool.key(index);
            let response = sent(UsedKey::Pool(index), request(used).await)?;
            let status = response.status();
            if status.is_success() {
                if let Some(pin) = call.pin {
                    pin.0.set(Some(index));
                }
                response.extensions_mut().insert(ServedBy(index));
                return Ok(response);
            }
            let failure = self
                .failure(response, call.key, trace, call, || UsedKey::Pool(index))
                .await;
            if !matches!(status.as_u16(), 400 | 401 | 403 | 429) {
                return Err(failure);
            }
            if failure.key_invalid() {
                pool.invalid(index);
                pool.share(index).await;
                continue;
            }
            if let UpstreamFailure::Refused {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after,
                ..
            } = &failure
            {
                pool.rate_limited(index, retry_after.map(Duration::from_secs));
                pool.share(index).await;
                if let Some(metrics) = &self.metrics {
                    metrics.key_cooled_down();
                }
                if more {
                    log::info!(
                        "retrying with the next upstream key after a 429 on {}",
                        fingerprint(pool.key(index))
                    );
                    rate_limited = Some(failure);
                    continue;
                }
            }
            return Err(failure);
        }
        // The last key tried was invalid: answer with an earlier key's 429 if there was one;
        // otherwise every key was invalid, the operator's problem and not the client's.
        Err(rate_limited.unwrap_or(UpstreamFailure::NoKeys))
    }

    /// `call` as a request, without its credentials.
    fn request(&self, call: &Call<'_>) -> awc::ClientRequest {
        let mut req = self.client.request(call.method.clone(), call.url);
        if call.json {
            req = req.insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ));
        }
        for (name, value) in call.headers {
            req = req.insert_header((name.clone(), value.clone()));
        }
        req
    }

    /// Sends one request with the current Vertex AI access token.
    async fn send_with_token(
        &self,
        call: &Call<'_>,
        token: &TokenSource,
        trace: &Trace,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        let bearer = token.bearer().await?;
        let response = self
            .request(call)
            .insert_header((header::AUTHORIZATION, format!("Bearer {bearer}")))
            .send_body(call.body.clone())
            .await
            .map_err(send_error)?;
        if response.status().is_success() {
            let used = || UsedKey::Fingerprint(fingerprint(&bearer));
            Self::attempted(trace, call, used, Some(response.status().as_u16()));
            return Ok(response);
        }
        let used = || UsedKey::Fingerprint(fingerprint(&bearer));
        Err(self.failure(response, call.key, trace, call, used).await)
    }

    /// Reads a whole (non-streamed) upstream body within the configured limit.
    async fn read_body(&self, response: &mut UpstreamResponse) -> Result<Bytes, UpstreamFailure> {
        response.body().limit(self.max_body).await.map_err(|e| {
            UpstreamFailure::Broken(format!("Reading the upstream response failed: {e}"))
        })
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
fn send_error(err: SendRequestError) -> UpstreamFailure {
    match err {
        SendRequestError::Timeout => UpstreamFailure::Timeout { connecting: false },
        SendRequestError::Connect(ConnectError::Timeout) => {
            UpstreamFailure::Timeout { connecting: true }
        }
        SendRequestError::Connect(e) => UpstreamFailure::Connect(e.to_string()),
        other => UpstreamFailure::Broken(format!("The upstream request failed: {other}")),
    }
}

/// The tier Gemini reports it served a request at
/// (<https://ai.google.dev/gemini-api/docs/priority-inference>: `x-gemini-service-tier`,
/// `standard` after a downgrade), in OpenAI's words.
pub fn service_tier(response: &UpstreamResponse) -> Option<String> {
    response
        .headers()
        .get("x-gemini-service-tier")
        .and_then(|v| v.to_str().ok())
        .map(pollux_translate::build::generation::reported_service_tier)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use mock_gemini::{MockGemini, Scenario};

    use super::*;
    use crate::failure::ERROR_PARSES;

    fn upstream(mock: &MockGemini, keys: &[&str], max_retries: u32) -> Upstream {
        let mut config = Config::defaults();
        config.upstream = mock.base_url();
        config.api_keys = keys.iter().map(|k| (*k).to_owned()).collect();
        config.max_retries = max_retries;
        config.retry_base_ms = 1;
        Upstream::new(&config)
    }

    fn generate(upstream: &Upstream) -> String {
        upstream.model_url("gemini-2.5-flash", "generateContent")
    }

    const BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;

    /// One plain call that the test expects to fail, within `deadline`.
    async fn failing_call(upstream: &Upstream, deadline: Option<Duration>) -> UpstreamFailure {
        let key = upstream.key_for(&HeaderMap::new()).unwrap();
        let url = generate(upstream);
        upstream
            .whole(
                Call::post_json(&url, &key, BODY),
                &Trace::default(),
                &Deadline::start(deadline),
            )
            .await
            .unwrap_err()
    }

    /// Gemini's error body is parsed once per failed answer: the key pool, the retry policy
    /// and the client's error all read that one parse (it used to be three times per 429).
    #[actix_rt::test]
    async fn each_error_body_is_parsed_once() {
        let mock = MockGemini::start().unwrap();
        // Two keys, each answered 429 (rotation), then one retry of the pool answered 429
        // twice more: four answers.
        let upstream = upstream(&mock, &["k1", "k2"], 1);
        mock.push_all((0..4).map(|_| Scenario::rate_limited(0)));
        ERROR_PARSES.with(|n| n.set(0));
        let failure = failing_call(&upstream, None).await;
        assert!(failure.retryable());
        let error = ApiError::from(failure);
        assert_eq!(mock.request_count(), 4);
        assert_eq!(ERROR_PARSES.with(|n| n.get()), 4, "one parse per answer");
        assert_eq!(actix_web::ResponseError::status_code(&error), 429);
        // A 503, retried once: two answers, two parses, and the error keeps its status.
        let upstream = super::Upstream::new(&{
            let mut config = Config::defaults();
            config.upstream = mock.base_url();
            config.api_key = Some("k".to_owned());
            config.max_retries = 1;
            config.retry_base_ms = 1;
            config
        });
        mock.push_all((0..2).map(|_| Scenario::error(503, "UNAVAILABLE", "overloaded")));
        ERROR_PARSES.with(|n| n.set(0));
        let failure = failing_call(&upstream, None).await;
        assert!(matches!(
            &failure,
            UpstreamFailure::Refused { status, .. } if status.as_u16() == 503
        ));
        assert_eq!(
            actix_web::ResponseError::status_code(&ApiError::from(failure)),
            503
        );
        assert_eq!(ERROR_PARSES.with(|n| n.get()), 2);
    }

    #[actix_rt::test]
    async fn the_deadline_ends_the_call_as_a_typed_failure() {
        let mock = MockGemini::start().unwrap();
        mock.push(Scenario::HangBeforeHead);
        let upstream = upstream(&mock, &["k1"], 0);
        let failure = failing_call(&upstream, Some(Duration::from_millis(50))).await;
        assert!(matches!(failure, UpstreamFailure::Deadline { .. }));
        assert!(!failure.retryable());
        let error = ApiError::from(failure);
        assert_eq!(actix_web::ResponseError::status_code(&error), 504);
    }
}
