//! `POST /v1/responses` (the OpenAI Responses API), plain and streaming.
//!
//! The same path as chat ([`super::chat`]): the key is checked before the body is read,
//! remote media are fetched behind the SSRF guard, the Gemini call holds a concurrency slot
//! under the overall deadline, and upstream text that becomes an error loses the request's
//! keys first. A stream is answered 200 only after Gemini answered 2xx and its first event
//! was read; it opens with `response.created` and `response.in_progress` and always ends
//! with exactly one terminal event: a failure after the 200 becomes an `error` event and
//! `response.failed`.
//!
//! Every thought signature of an answer is remembered by its `call_id` in the per-process
//! cache, so a client that replays its calls without the reasoning items still has them
//! re-attached ([`pollux_translate::responses::envelope`] is the stateless path).

use actix_web::{web, HttpRequest, HttpResponse};
use pollux_translate::gemini::GenerateContentResponse;
use pollux_translate::openai::responses::{CreateResponse, StreamEvent};
use pollux_translate::responses::{
    remote_media, to_gemini, to_response, ResponseContext, StreamTranslator,
};
use pollux_translate::sse::SseItem;
use pollux_translate::{RequestOptions, TranslateError};

use super::body::read_limited;
use super::generate::{
    encode_sized, parse_event, unix_now, with_dropped, RandomIds, UpstreamEvents,
};
use crate::error::ApiError;
use crate::keys::Credentials;
use crate::media::MediaFetcher;
use crate::observe::Trace;
use crate::resilience::{Deadline, StreamLease};
use crate::sse;
use crate::state::AppState;
use crate::upstream::{Call, Upstream};

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
    media: web::Data<MediaFetcher>,
) -> Result<HttpResponse, ApiError> {
    let deadline = Deadline::start(shared.config.request_timeout());
    let trace = Trace::of(&req);
    let key = upstream.key_for(req.headers())?;
    let body = read_limited(payload, req.headers(), &shared.config).await?;
    let request = CreateResponse::from_slice_within(&body, &shared.config.chat_limits())?;
    let body_len = body.len();
    drop(body);
    let resolved = super::models::resolve(&shared.settings, request.model.as_deref())?;
    let model = resolved.gemini.as_str();
    trace.set_model(model);
    let fetched = deadline
        .within(media.fetch_all(remote_media(&request)))
        .await?;

    let capabilities = shared.settings.capabilities.resolve(model);
    let stream = request.is_stream();
    let translated = to_gemini(
        request,
        &resolved.client,
        &RequestOptions {
            signatures: &shared.signatures,
            media: &fetched,
            capabilities: Some(&capabilities),
            strict_params: shared.config.strict_params,
            legacy_schemas: shared.config.legacy_schemas,
            default_safety_settings: shared.settings.safety_settings.as_deref(),
            ..RequestOptions::new(model)
        },
    )?;
    let dropped = translated.dropped.join(", ");
    let upstream_body = encode_sized(&translated.body, body_len)?;
    drop(translated.body);
    let now = unix_now();
    let ctx = ResponseContext {
        id: format!("resp_{}", uuid::Uuid::new_v4().simple()),
        created_at: now,
        completed_at: now,
        names: translated.names,
        shapes: translated.shapes,
        echo: translated.echo,
        output: translated.output,
    };
    log::debug!("response: model={model} stream={stream}");
    let permit = shared.limiter.acquire()?;

    if stream {
        let url = format!(
            "{}?alt=sse",
            upstream.model_url(model, "streamGenerateContent")
        );
        let call = Call::post_json(&url, &key, upstream_body);
        let response = upstream.head(call, &trace, &deadline, true).await?;
        let run = StreamRun {
            events: UpstreamEvents::new(
                response,
                shared.config.stream_idle_timeout(),
                shared.config.max_upstream_body_bytes,
            ),
            machine: StreamTranslator::new(ctx),
            shared: shared.clone(),
            trace: trace.clone(),
            key: key.clone(),
        };
        let lease = StreamLease {
            permit,
            deadline,
            keepalive: shared.config.keepalive(),
            metrics: shared.metrics.clone(),
            trace: trace.clone(),
        };
        let response = deadline.within(run.respond(lease)).await?;
        trace.upstream_first_event();
        Ok(with_dropped(response, &dropped))
    } else {
        let url = upstream.model_url(model, "generateContent");
        let call = Call::post_json(&url, &key, upstream_body);
        let bytes = upstream.whole(call, &trace, &deadline).await?;
        drop(permit);
        let parsed = serde_json::from_slice::<GenerateContentResponse>(&bytes)
            .map_err(|e| TranslateError::UpstreamFormat(e.to_string()))
            .map_err(|e| shared.keys.redact_error(e.into(), &key))?;
        let ctx = ResponseContext {
            completed_at: unix_now(),
            ..ctx
        };
        let (mut response, signatures) = to_response(parsed, ctx, &mut RandomIds);
        for (call_id, signature) in &signatures {
            shared.signatures.insert(call_id, signature);
        }
        if let Some(error) = &mut response.error {
            // A finish message is upstream text.
            error.message = redact_text(&shared, &key, std::mem::take(&mut error.message));
        }
        if let Some(usage) = &response.usage {
            trace.set_usage(usage.input_tokens, usage.output_tokens);
        }
        Ok(with_dropped(HttpResponse::Ok().json(response), &dropped))
    }
}

/// Upstream text (a finish message) without the request's keys.
fn redact_text(shared: &AppState, key: &Credentials, message: String) -> String {
    let error = ApiError::BadGateway {
        message,
        code: None,
    };
    shared.keys.redact_error(error, key).to_string()
}

/// One streamed response: the upstream events, the state machine, where signatures go.
struct StreamRun {
    events: UpstreamEvents,
    machine: StreamTranslator,
    shared: web::Data<AppState>,
    trace: Trace,
    /// What the request was sent with, for redacting upstream text.
    key: Credentials,
}

impl StreamRun {
    /// Translates one upstream item; an error leaves redacted.
    fn translate(&mut self, item: SseItem) -> Result<Vec<StreamEvent>, ApiError> {
        let events = match item {
            SseItem::Event(event) => {
                let parsed =
                    parse_event(&event).map_err(|e| self.shared.keys.redact_error(e, &self.key))?;
                self.machine.on_event(parsed, &mut RandomIds)
            }
            // Gemini writes a failure after the 200 as a bare JSON error object.
            SseItem::Stray(text) => {
                return Err(self
                    .shared
                    .keys
                    .redact_error(ApiError::from_stream_error(&text), &self.key))
            }
        };
        for (call_id, signature) in self.machine.take_signatures() {
            self.shared.signatures.insert(&call_id, &signature);
        }
        Ok(events)
    }

    /// The failure as the stream's last events: `error`, then `response.failed`.
    fn failed(&mut self, error: &ApiError) -> Vec<StreamEvent> {
        self.trace.failed_in_band();
        let code = match error {
            ApiError::Upstream { status: 429, .. } => "rate_limit_exceeded",
            _ => "server_error",
        };
        self.machine.set_completed_at(unix_now());
        self.machine.fail(code, error.to_string(), &mut RandomIds)
    }

    /// Reads up to the first upstream event, then answers 200 with the rest streamed.
    async fn respond(mut self, lease: StreamLease) -> Result<HttpResponse, ApiError> {
        let mut first = self.machine.start();
        // Before the 200, a failure is an ordinary error response.
        let mut ended = false;
        loop {
            match self.events.next().await? {
                Some(item) => {
                    let events = self.translate(item)?;
                    let progressed = !events.is_empty() || self.machine.is_done();
                    first.extend(events);
                    if progressed {
                        break;
                    }
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let body = async_stream::stream! {
            for event in &first {
                yield Ok::<_, actix_web::Error>(sse::named_event(event.kind(), event));
            }
            if !ended {
                loop {
                    let item = match self.events.next().await {
                        Ok(Some(item)) => item,
                        Ok(None) => break,
                        // Once Gemini finished, a late failure costs the client nothing.
                        Err(_) if self.machine.is_done() => break,
                        Err(e) => {
                            let e = self.shared.keys.redact_error(e, &self.key);
                            for event in self.failed(&e) {
                                yield Ok(sse::named_event(event.kind(), &event));
                            }
                            return;
                        }
                    };
                    if self.machine.is_done() && matches!(item, SseItem::Stray(_)) {
                        break;
                    }
                    match self.translate(item) {
                        Ok(events) => {
                            for event in &events {
                                yield Ok(sse::named_event(event.kind(), event));
                            }
                        }
                        Err(e) => {
                            for event in self.failed(&e) {
                                yield Ok(sse::named_event(event.kind(), &event));
                            }
                            return;
                        }
                    }
                }
            }
            if let Some(usage) = self.machine.usage() {
                self.trace.set_usage(usage.input_tokens, usage.output_tokens);
            }
            self.machine.set_completed_at(unix_now());
            let last = self.machine.finish(&mut RandomIds);
            if last.iter().any(|e| e.kind() == "response.failed") {
                self.trace.failed_in_band();
            }
            for event in &last {
                yield Ok(sse::named_event(event.kind(), event));
            }
        };
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(lease.wrap(body)))
    }
}
