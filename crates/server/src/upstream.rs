//! The connection to Gemini: one `awc::Client` per worker (it is not `Send`), URL building
//! under a base that may carry a path prefix, and the API key, which only ever travels in
//! the `x-goog-api-key` header (never in a URL, never in a log line).

use actix_web::http::header::{self, HeaderMap};
use awc::error::{ConnectError, SendRequestError};
use awc::{Client, ClientResponse, Connector};
use bytes::Bytes;

use crate::config::Config;
use crate::error::ApiError;

/// Per-worker upstream client.
pub struct Upstream {
    client: Client,
    base: String,
    api_key: Option<String>,
    max_body: usize,
}

/// What the upstream answered before its body.
pub type UpstreamResponse = ClientResponse;

impl Upstream {
    pub fn new(config: &Config) -> Upstream {
        let connector = Connector::new()
            .timeout(config.connect_timeout())
            .limit(256);
        let client = Client::builder()
            .connector(connector)
            .timeout(config.response_timeout())
            .disable_redirects()
            .finish();
        Upstream {
            client,
            base: config.upstream_base().to_owned(),
            api_key: config.api_key.clone(),
            max_body: config.max_upstream_body_bytes,
        }
    }

    /// `{base}/v1beta/models/{model}:{method}`.
    pub fn model_url(&self, model: &str, method: &str) -> String {
        format!("{}/v1beta/models/{model}:{method}", self.base)
    }

    /// The key to send: the configured one, else the client's bearer token.
    pub fn key_for(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        if let Some(key) = &self.api_key {
            return Ok(key.clone());
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty());
        match bearer {
            Some(key) => Ok(key.to_owned()),
            None => Err(ApiError::Unauthorized(
                "No API key provided: send your Gemini API key as 'Authorization: Bearer <key>', or start Pollux with GEMINI_API_KEY set.".to_owned(),
            )),
        }
    }

    /// POSTs a JSON body and returns once the response head has arrived.
    pub async fn post_json(
        &self,
        url: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<UpstreamResponse, ApiError> {
        self.client
            .post(url)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header(("x-goog-api-key", key))
            .send_body(body)
            .await
            .map_err(send_error)
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

    /// Reads an error body; a failure to read still yields an error for the client.
    pub async fn error_from(&self, mut response: UpstreamResponse) -> ApiError {
        let status = response.status().as_u16();
        match response.body().limit(1024 * 1024).await {
            Ok(body) => ApiError::from_upstream(status, &body),
            Err(_) => ApiError::from_upstream(status, b""),
        }
    }
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
