//! What the two generation routes (Chat Completions and the Responses API) share around one
//! `generateContent` / `streamGenerateContent` call: encoding the Gemini body, the
//! dropped-params header, and reading Gemini's stream ([`UpstreamEvents`], [`parse_event`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpResponse;
use futures_util::StreamExt;
use pollux_translate::gemini::{ErrorResponse, GenerateContentRequest, GenerateContentResponse};
use pollux_translate::sse::{SseDecoder, SseEvent, SseItem};
use pollux_translate::TranslateError;

use crate::error::ApiError;
use crate::observe::Trace;
use crate::state::AppState;
use crate::upstream::{UpstreamFailure, UpstreamResponse};

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Encodes the Gemini body into a buffer sized from the client's body and the Gemini body's
/// parts ([`GenerateContentRequest::encoded_len_hint`]), so encoding a large request does
/// not grow it by doubling and copying.
pub fn encode_sized(body: &GenerateContentRequest, client_len: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(body.encoded_len_hint(client_len));
    serde_json::to_writer(&mut out, body).map_err(|e| ApiError::BadGateway {
        message: format!("Could not encode the upstream request: {e}"),
        code: None,
    })?;
    Ok(out)
}

/// The key-affinity hint of a generation request ([`crate::keys::affinity_hint`]): the
/// explicit cache it names (which lives in one key's project:
/// [`crate::keys::cached_content_hint`]), else the client's `prompt_cache_key`, else the
/// first user turn of the Gemini body as encoded. Only
/// a pool of two or more keys has a choice to make: with one key (or the client's own) the
/// hint is not computed, since encoding and hashing the first turn cost a chat request a
/// sixth of its instructions (docs/benchmarks.md, change 17).
pub fn affinity(
    shared: &AppState,
    body: &GenerateContentRequest,
    prompt_cache_key: Option<&str>,
) -> Option<String> {
    if shared.keys.pool().len() < 2 {
        return None;
    }
    if let Some(name) = &body.cached_content {
        return Some(crate::keys::cached_content_hint(name));
    }
    let first = body
        .contents
        .iter()
        .find(|turn| turn.role == Some(pollux_translate::gemini::Role::User))
        .and_then(|turn| serde_json::to_vec(turn).ok());
    crate::keys::affinity_hint(prompt_cache_key, first.as_deref())
}

/// Names the parameters the model could not take, so a lenient drop is never silent.
pub fn with_dropped(mut response: HttpResponse, dropped: &str) -> HttpResponse {
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(dropped) {
        if !dropped.is_empty() {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("x-pollux-dropped-params"),
                value,
            );
        }
    }
    response
}

/// Upstream SSE items, read with an idle timeout between network reads.
pub struct UpstreamEvents {
    body: UpstreamResponse,
    decoder: SseDecoder,
    idle: Duration,
    ended: bool,
    /// The request's trace when the inspector captures it (its reads are kept).
    trace: Option<Trace>,
}

impl UpstreamEvents {
    /// One event may be as large as a whole non-streamed answer (`max_event`), no larger:
    /// an upstream that never ends its event would otherwise grow the buffer without bound.
    pub fn new(body: UpstreamResponse, idle: Duration, max_event: usize, trace: &Trace) -> Self {
        UpstreamEvents {
            body,
            decoder: SseDecoder::new_with_limit(max_event),
            idle,
            ended: false,
            trace: trace.capturing().then(|| trace.clone()),
        }
    }

    /// The next complete item; `Ok(None)` once the upstream closed the stream.
    pub async fn next(&mut self) -> Result<Option<SseItem>, ApiError> {
        loop {
            if let Some(item) = self.decoder.next_item().map_err(sse_error)? {
                return Ok(Some(item));
            }
            if self.ended {
                return self.decoder.finish().map_err(sse_error);
            }
            match actix_web::rt::time::timeout(self.idle, self.body.next()).await {
                Err(_) => {
                    return Err(ApiError::GatewayTimeout(format!(
                        "The upstream sent nothing for {} seconds.",
                        self.idle.as_secs()
                    )))
                }
                Ok(None) => self.ended = true,
                Ok(Some(Err(e))) => {
                    return Err(ApiError::BadGateway {
                        message: format!("The upstream connection was lost mid-stream: {e}"),
                        code: Some("upstream_disconnected".to_owned()),
                    })
                }
                Ok(Some(Ok(bytes))) => {
                    if let Some(trace) = &self.trace {
                        trace.capture(|d| d.gemini_read(&bytes));
                    }
                    self.decoder.push(&bytes)
                }
            }
        }
    }
}

fn sse_error(e: pollux_translate::sse::SseError) -> ApiError {
    ApiError::BadGateway {
        message: format!("The upstream stream is malformed: {e}"),
        code: Some("upstream_error".to_owned()),
    }
}

/// Parses one upstream event. Gemini may also frame an error as a `data:` event.
pub fn parse_event(event: &SseEvent) -> Result<GenerateContentResponse, ApiError> {
    let parsed: GenerateContentResponse = serde_json::from_str(&event.data)
        .map_err(|e| TranslateError::UpstreamFormat(format!("bad stream event: {e}")))?;
    if parsed.candidates.is_empty()
        && parsed.prompt_feedback.is_none()
        && event.data.contains("\"error\"")
    {
        if let Ok(err) = serde_json::from_str::<ErrorResponse>(&event.data) {
            return Err(UpstreamFailure::in_stream(err).into());
        }
    }
    Ok(parsed)
}
