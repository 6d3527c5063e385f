//! Native pass-through: `/v1beta/...` requests in Gemini's own format go upstream unchanged
//! (method, path, query, body; streaming too) and the answer comes back as Gemini sent it,
//! so Gemini-native clients can share one Pollux and its keys.
//!
//! What changes on the way: the client's key (`x-goog-api-key`, `?key=` or a bearer token)
//! is checked like on every route, before the body is read, and replaced by the upstream key
//! ([`crate::keys`]); the path and query are checked decoded and rebuilt
//! ([`upstream_path_and_query`]), so no dot segment and no `key` parameter, however spelled,
//! goes upstream; only content headers are forwarded. Pollux's own refusals (400, 401, 413,
//! 429 at the concurrency cap) keep the OpenAI error shape used everywhere else. An upstream
//! error (any non-2xx) is read whole and loses the keys it may echo
//! ([`crate::keys::Keys::redact`]) before it is passed on; successes stream through untouched.
//! A forwarded call holds one slot of the upstream concurrency cap until its answer has been
//! sent in full.
//!
//! Explicit caches live in the project of the key that created them: a cache created here
//! (`POST /v1beta/cachedContents`) is remembered with the pool key that created it
//! ([`crate::keys::KeyPool::learn_owner`]), and calls on one cache
//! (`/v1beta/cachedContents/{id}`) go to that key (key affinity), as do OpenAI-shaped
//! requests naming it in `extra_body.google.cached_content`.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage as _, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt;
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::body::read_limited;
use crate::error::ApiError;
use crate::keys::{cached_content_hint, presented_key, ServedBy};
use crate::observe::Trace;
use crate::resilience::Deadline;
use crate::routes::models::check_id_len;
use crate::state::AppState;
use crate::upstream::{Call, Upstream, UpstreamFailure};

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
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let query_key = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value);
    // The key before anything else, the body included.
    let key = upstream
        .keys()
        .authorize(presented_key(req.headers()).or(query_key.as_deref()))?;
    upstream.require_gemini_api("The native /v1beta pass-through")?;
    let path_and_query = upstream_path_and_query(req.uri().path(), req.query_string())?;
    let url = format!("{}{path_and_query}", upstream.base());
    let body = read_limited(payload, req.headers(), &shared.config, &Trace::of(&req)).await?;
    let headers: Vec<(HeaderName, HeaderValue)> = FORWARDED_REQUEST
        .iter()
        .filter_map(|name| Some((name.clone(), req.headers().get(name)?.clone())))
        .collect();
    log::debug!(
        "native pass-through: {} {}",
        req.method(),
        path_and_query.split('?').next().unwrap_or_default()
    );
    let cache = cache_route(req.method(), &path_and_query);
    let hint = match &cache {
        CacheRoute::One(id) => Some(cached_content_hint(id)),
        CacheRoute::Create | CacheRoute::None => None,
    };
    let permit = shared.limiter.acquire()?;
    let trace = Trace::of(&req);
    let deadline = Deadline::start(shared.config.request_timeout());
    let call = Call {
        method: req.method().clone(),
        url: &url,
        key: &key,
        headers: &headers,
        json: false,
        body,
        affinity: hint.as_deref(),
        pin: None,
    };
    let response = match upstream.head(call, &trace, &deadline, true).await {
        Ok(response) => response,
        // Gemini's answer, whatever it is, goes back as it came (redacted).
        Err(
            UpstreamFailure::Refused { status, answer, .. }
            | UpstreamFailure::Unparseable { status, answer },
        ) => {
            let mut out = HttpResponse::build(status);
            copy_headers(&mut out, &answer.headers);
            return Ok(out.body(answer.body));
        }
        Err(failure) => return Err(failure.into()),
    };
    // Passed through as it arrives: the wait on Gemini ends with its head.
    trace.upstream_first_event();
    let mut out = HttpResponse::build(
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
    );
    copy_headers(&mut out, response.headers());
    let served_by = response.extensions().get::<ServedBy>().copied();
    if let (CacheRoute::Create, Some(ServedBy(index))) = (&cache, served_by) {
        // A small JSON answer: read whole, to learn the new cache's name.
        let mut response = response;
        let answer = response
            .body()
            .limit(shared.config.max_upstream_body_bytes)
            .await
            .map_err(|e| ApiError::BadGateway {
                message: format!("Reading the upstream response failed: {e}"),
                code: Some("upstream_error".to_owned()),
            })?;
        if let Ok(created) = serde_json::from_slice::<CreatedCache>(&answer) {
            upstream.keys().pool().learn_owner(&created.name, index);
        }
        drop(permit);
        return Ok(out.body(answer));
    }
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

/// The explicit-cache calls whose key matters.
enum CacheRoute {
    /// `POST /v1beta/cachedContents`: the answer names the new cache.
    Create,
    /// `/v1beta/cachedContents/{id}` (get, update, delete): the cache's key.
    One(String),
    None,
}

/// Which cache call `path_and_query` (as rebuilt by [`upstream_path_and_query`]) is.
fn cache_route(method: &actix_web::http::Method, path_and_query: &str) -> CacheRoute {
    let path = path_and_query.split('?').next().unwrap_or_default();
    match path.strip_prefix("/v1beta/cachedContents") {
        Some("") if method == actix_web::http::Method::POST => CacheRoute::Create,
        Some(rest) => match rest.strip_prefix('/') {
            Some(id) if !id.is_empty() && !id.contains('/') => CacheRoute::One(id.to_owned()),
            _ => CacheRoute::None,
        },
        None => CacheRoute::None,
    }
}

/// The part of a created cache Pollux reads.
#[derive(serde::Deserialize)]
struct CreatedCache {
    name: String,
}

/// What a rebuilt path segment keeps as it is: RFC 3986's `pchar` minus `;` and `&`, which
/// some servers read as parameter or field separators. Everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b'=');

/// The upstream path and query (`/v1beta/...` and `?...` if any) for a client's raw
/// (percent-encoded) `path` and `query`.
///
/// Checks run on the decoded text, because that is what the upstream acts on: `%2e%2e` is a
/// `..` and `%6Bey` is `key`. Refused (400 `invalid_path`): a path that is not `/v1beta/`
/// followed by segments, and any segment that decodes to nothing, `.`, `..`, or text holding
/// `/` or `\`. The path is rebuilt from the decoded segments, re-encoded, so the upstream
/// sees exactly the segments checked. Query parameters are read as form fields (`+` is a
/// space), as the client's `?key=` is read; any whose decoded name is `key` in any case is
/// dropped (the client's key never goes upstream, nor does a differently spelled one ride
/// along with the pool key), the rest are re-encoded in order, so a separator the upstream
/// might honour (`;`) arrives encoded. Pure (for tests and fuzzing), and idempotent on its
/// own output.
pub fn upstream_path_and_query(path: &str, query: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::InvalidRequest {
        message: "Invalid path.".to_owned(),
        param: None,
        code: Some("invalid_path".to_owned()),
    };
    let mut raw = path.split('/');
    if raw.next() != Some("") {
        return Err(invalid());
    }
    let mut out = String::with_capacity(path.len() + query.len() + 1);
    let mut segments = 0;
    for (i, text) in raw.enumerate() {
        let segment: Cow<'_, [u8]> = percent_decode_str(text).into();
        let refused = segment.is_empty()
            || *segment == *b"."
            || *segment == *b".."
            || segment.contains(&b'/')
            || segment.contains(&b'\\')
            || (i == 0 && *segment != *b"v1beta");
        if refused {
            return Err(invalid());
        }
        // Model names and other ids travel in the path: bounded like everywhere else, as
        // the segment goes upstream (re-encoded), so filtering the output again gives the
        // same answer (a raw control byte is one byte in, three out).
        let start = out.len() + 1;
        out.push('/');
        out.extend(percent_encode(&segment, SEGMENT));
        check_id_len("A path segment", &out[start..], None, "invalid_path")?;
        segments += 1;
    }
    if segments < 2 {
        return Err(invalid());
    }
    let mut kept = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if !name.eq_ignore_ascii_case("key") {
            kept.append_pair(&name, &value);
            any = true;
        }
    }
    if any {
        out.push('?');
        out.push_str(&kept.finish());
    }
    // The query is forwarded too; far beyond any real Gemini call, it would only make the
    // URL too long for the HTTP client (a 502 for the client's own mistake).
    if out.len() > MAX_FORWARDED_URL {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "The path and query are {} bytes long; at most {MAX_FORWARDED_URL} are forwarded.",
                out.len()
            ),
            param: None,
            code: Some("invalid_path".to_owned()),
        });
    }
    Ok(out)
}

fn copy_headers(out: &mut HttpResponseBuilder, headers: &header::HeaderMap) {
    for (name, value) in headers {
        if !DROPPED_RESPONSE.contains(&name.as_str()) {
            out.append_header((name.clone(), value.clone()));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(path: &str, query: &str) -> String {
        upstream_path_and_query(path, query).unwrap()
    }

    fn refused(path: &str) -> bool {
        upstream_path_and_query(path, "").is_err()
    }

    /// Found by the `v1beta_filter` fuzz target: a segment of raw control bytes is short as
    /// sent but three times longer re-encoded, so the length limit applies to what goes
    /// upstream, and a second pass over the output gives the same answer.
    #[test]
    fn segment_length_is_checked_as_sent_upstream() {
        let raw = format!("m{}", "\u{0}".repeat(90));
        let encoded = upstream_path_and_query(&format!("/v1beta/{raw}"), "");
        assert!(encoded.is_err(), "270 bytes re-encoded: {encoded:?}");
        let at_limit = format!("/v1beta/m{}", "\u{0}".repeat(85));
        let out = ok(&at_limit, "");
        assert_eq!(out.len(), "/v1beta/".len() + 256);
        assert_eq!(ok(&out, ""), out);
    }

    #[test]
    fn plain_paths_and_queries_go_through_as_written() {
        assert_eq!(
            ok(
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                "alt=sse"
            ),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(ok("/v1beta/models", ""), "/v1beta/models");
        assert_eq!(
            ok("/v1beta/models", "pageSize=3&pageToken=ab+c%2Bd"),
            "/v1beta/models?pageSize=3&pageToken=ab+c%2Bd"
        );
    }

    #[test]
    fn dot_and_empty_segments_are_refused_in_any_spelling() {
        for path in [
            "/v1beta/models/%2e%2e/x",
            "/v1beta/models/%2E%2e/x",
            "/v1beta/models/.%2e/x",
            "/v1beta/../v1/models",
            "/v1beta/./models",
            "/v1beta/models/%2e",
            "/v1beta//models",
            "/v1beta/models/",
            "/v1beta/models%2f..%2fx",
            "/v1beta/models%5c..",
            "/v1bet%61",
            "/v1beta",
            "/v1",
            "v1beta/models",
            "",
        ] {
            assert!(refused(path), "{path} must be refused");
        }
        // Decoded first, then checked and re-encoded: the upstream sees what was checked.
        assert_eq!(ok("/v1bet%61/model%73/a%3Ab", ""), "/v1beta/models/a:b");
        assert_eq!(ok("/v1beta/a%20b%3Bc%3Fd", ""), "/v1beta/a%20b%3Bc%3Fd");
        assert_eq!(ok("/v1beta/...", ""), "/v1beta/...");
    }

    #[test]
    fn its_own_output_comes_back_unchanged() {
        for (path, query) in [
            ("/v1beta/models/a%20b+c:x", "pageToken=ab+c%2Bd&q=%3B%26&e="),
            ("/v1bet%61/%7Efiles/%C3%A9", "a=1;key=x&%FF=%FE"),
        ] {
            let once = ok(path, query);
            let (p2, q2) = once.split_once('?').unwrap_or((&once, ""));
            assert_eq!(ok(p2, q2), once);
        }
    }

    #[test]
    fn key_parameters_never_survive_in_any_spelling() {
        for query in [
            "key=secret",
            "KEY=secret",
            "Key=secret",
            "%6Bey=secret",
            "%4B%45%59=secret",
            "ke%79=secret",
            "key",
        ] {
            let built = ok("/v1beta/models", &format!("a=1&{query}&b=2"));
            assert_eq!(built, "/v1beta/models?a=1&b=2", "{query}");
        }
        assert_eq!(ok("/v1beta/models", "key=a&KEY=b"), "/v1beta/models");
        // A separator the upstream might honour is encoded, so it cannot smuggle a key in.
        assert_eq!(
            ok("/v1beta/models", "a=1;key=x"),
            "/v1beta/models?a=1%3Bkey%3Dx"
        );
        assert_eq!(
            ok("/v1beta/models", "keys=1&akey=2"),
            "/v1beta/models?keys=1&akey=2"
        );
    }
}
