//! Reading request bodies within the configured limit, so an oversized upload is refused
//! with OpenAI's error shape (413) instead of actix's plain-text default.

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::web;
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::error::ApiError;

pub async fn read_limited(
    mut payload: web::Payload,
    headers: &HeaderMap,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = payload.next().await {
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
    Ok(body.freeze())
}
