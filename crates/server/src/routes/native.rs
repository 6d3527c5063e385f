//! Native pass-through: `/v1beta/...` requests in Gemini's own format go upstream unchanged
//! (method, path, query, body; streaming too) and the answer comes back as Gemini sent it,
//! so Gemini-native clients can share one Pollux and its keys.
//!
//! What changes on the way: the client's key (`x-goog-api-key`, `?key=` or a bearer token)
//! is checked like on every route and replaced by the upstream key ([`crate::keys`]); the
//! `key` query parameter never goes upstream; only content headers are forwarded. Pollux's
//! own refusals (401, 413, 429 at the concurrency cap) keep the OpenAI error shape used
//! everywhere else. An upstream error (any non-2xx) is read whole and loses the keys it may
//! echo ([`crate::keys::Keys::redact`]) before it is passed on; successes stream through
//! untouched. A forwarded call holds one slot of the upstream concurrency cap until its
//! answer has been sent in full.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt;

use super::body::read_limited;
use crate::app::Shared;
use crate::error::ApiError;
use crate::keys::presented_key;
use crate::routes::models::check_id_len;
use crate::upstream::{Sent, Upstream};

/// Request headers worth forwarding; everything else (auth, cookies, hop-by-hop) stays.
const FORWARDED_REQUEST: &[HeaderName] = &[header::CONTENT_TYPE, header::ACCEPT];

/// The longest path and query forwarded upstream: Gemini's own calls take a few hundred
/// bytes at most, and common proxies refuse URLs beyond 8 KiB.
const MAX_FORWARDED_URL: usize = 8 * 1024;

/// Response headers not copied back: hop-by-hop, and what actix sets itself.
const DROPPED_RESPONSE: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "proxy-connection",
    "te",
    "trailer",
];

pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let query: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
    let query_key = query
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.as_str());
    let key = upstream
        .keys()
        .authorize(presented_key(req.headers()).or(query_key))?;
    let tail = req.uri().path().strip_prefix("/v1beta").unwrap_or_default();
    if tail.split('/').any(|seg| seg == ".." || seg == ".") || tail.contains("//") {
        return Err(ApiError::InvalidRequest {
            message: "Invalid path.".to_owned(),
            param: None,
            code: Some("invalid_path".to_owned()),
        });
    }
    // Model names and other ids travel in the path: bounded like everywhere else.
    for segment in tail.split('/') {
        check_id_len("A path segment", segment, None, "invalid_path")?;
    }
    let mut url = format!("{}/v1beta{tail}", upstream.base());
    let kept: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty() && *p != "key" && !p.starts_with("key="))
        .collect();
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept.join("&"));
    }
    // The query is forwarded too; far beyond any real Gemini call, it would only make the
    // URL too long for the HTTP client (a 502 for the client's own mistake).
    let forwarded = url.len() - upstream.base().len();
    if forwarded > MAX_FORWARDED_URL {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "The path and query are {forwarded} bytes long; at most {MAX_FORWARDED_URL} are forwarded."
            ),
            param: None,
            code: Some("invalid_path".to_owned()),
        });
    }
    let body = read_limited(payload, req.headers(), shared.config.max_body_bytes).await?;
    let headers: Vec<(HeaderName, HeaderValue)> = FORWARDED_REQUEST
        .iter()
        .filter_map(|name| Some((name.clone(), req.headers().get(name)?.clone())))
        .collect();
    log::debug!("native pass-through: {} /v1beta{tail}", req.method());
    let permit = shared.limiter.acquire()?;
    match upstream
        .send(req.method().clone(), &url, &key, &headers, body)
        .await?
    {
        Sent::Refused {
            status,
            headers,
            body,
        } => {
            let mut out = HttpResponse::build(status);
            copy_headers(&mut out, &headers);
            Ok(out.body(body))
        }
        Sent::Head(mut response) if !response.status().is_success() => {
            let mut out = HttpResponse::build(
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            );
            copy_headers(&mut out, response.headers());
            let body = upstream.error_body(&mut response, &key).await;
            Ok(out.body(body))
        }
        Sent::Head(response) => {
            let mut out = HttpResponse::build(
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            );
            copy_headers(&mut out, response.headers());
            let idle = shared.config.stream_idle_timeout();
            let body = async_stream::stream! {
                let _permit = permit;
                let mut response = response;
                loop {
                    match actix_web::rt::time::timeout(idle, response.next()).await {
                        Ok(Some(Ok(bytes))) => yield Ok::<_, std::io::Error>(bytes),
                        Ok(None) => break,
                        Ok(Some(Err(e))) => {
                            yield Err(std::io::Error::other(e.to_string()));
                            break;
                        }
                        Err(_) => {
                            yield Err(std::io::Error::other("upstream idle timeout"));
                            break;
                        }
                    }
                }
            };
            Ok(out.streaming(body))
        }
    }
}

fn copy_headers(out: &mut HttpResponseBuilder, headers: &header::HeaderMap) {
    for (name, value) in headers {
        if !DROPPED_RESPONSE.contains(&name.as_str()) {
            out.append_header((name.clone(), value.clone()));
        }
    }
}
