//! One JSON call to Gemini for the routes that read a whole answer (models, embeddings):
//! send through the key pool, map a refusal or a non-2xx answer to [`ApiError`], parse the
//! body as the expected Gemini type.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use bytes::Bytes;
use pollux_translate::TranslateError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::keys::Credentials;
use crate::upstream::{Sent, Upstream};

/// GETs (no body) or POSTs (a JSON body) `url` and parses the 2xx answer as `T`.
pub async fn gemini_json<T: DeserializeOwned>(
    upstream: &Upstream,
    url: &str,
    key: &Credentials,
    body: Option<Vec<u8>>,
) -> Result<T, ApiError> {
    let (method, headers, body) = match body {
        Some(body) => (
            Method::POST,
            vec![(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            Bytes::from(body),
        ),
        None => (Method::GET, Vec::new(), Bytes::new()),
    };
    let mut response = match upstream.send(method, url, key, &headers, body).await? {
        Sent::Head(response) => response,
        Sent::Refused { status, body, .. } => {
            return Err(ApiError::from_upstream(status.as_u16(), &body))
        }
    };
    if !response.status().is_success() {
        return Err(upstream.error_from(response, key).await);
    }
    let bytes = upstream.read_body(&mut response).await?;
    // serde's message may quote a piece of the body.
    serde_json::from_slice(&bytes).map_err(|e| {
        let error = ApiError::from(TranslateError::UpstreamFormat(e.to_string()));
        upstream.keys().redact_error(error, key)
    })
}

/// Encodes an outbound body; plain structs cannot fail to encode, but say so if they do.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::BadGateway {
        message: format!("Could not encode the upstream request: {e}"),
        code: None,
    })
}
