//! `POST /v1/chat/completions`, plain and streaming.
//!
//! A stream is answered 200 only after Gemini answered 2xx *and* its first event was read
//! and translated; any failure before that is an ordinary error response. After the 200, a
//! failure becomes one in-band `data: {"error": ...}` event and the stream ends. When the
//! client goes away, actix drops the response stream, which drops the upstream response
//! and closes that connection: nothing keeps reading from Gemini.
//!
//! Upstream text that becomes an error (error bodies, in-band stream errors, a finish
//! message, a parse error quoting the body) loses the request's keys first
//! ([`crate::keys::Keys::redact`]); error bodies are redacted as [`Upstream`] reads them.
//!
//! Every upstream call holds a concurrency slot and runs under the overall deadline
//! ([`crate::resilience`]); a stream's body is wrapped for keep-alives. Timings, model and
//! tokens go to the request's [`Trace`] for the access log and metrics.

use actix_web::{web, HttpRequest, HttpResponse};
use pollux_translate::chat::remote_media;
use pollux_translate::gemini::GenerateContentResponse;
use pollux_translate::openai::chat::{ChatCompletionChunk, ChatCompletionRequest, Message};
use pollux_translate::sse::SseItem;
use pollux_translate::{
    to_gemini, to_openai, RequestOptions, ResponseContext, StreamTranslator, TranslateError,
};

use super::body::read_limited;
use super::generate::{
    affinity, encode_sized, parse_event, unix_now, with_dropped, UpstreamEvents,
};
use crate::error::ApiError;
use crate::ids::RandomIds;
use crate::keys::Credentials;
use crate::media::MediaFetcher;
use crate::observe::Trace;
use crate::resilience::{Deadline, StreamLease};
use crate::sse;
use crate::state::AppState;
use crate::upstream::{Call, Upstream};

pub async fn completions(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
    media: web::Data<MediaFetcher>,
) -> Result<HttpResponse, ApiError> {
    let deadline = Deadline::start(shared.config.request_timeout());
    let trace = Trace::of(&req);
    // The key is checked from the headers before the body is read: an unauthorized client
    // must not get to make Pollux buffer (or wait for) up to `--max-body-bytes`.
    let key = upstream.key_for(req.headers())?;
    let body = read_limited(payload, req.headers(), &shared.config, &trace).await?;
    let chat = ChatCompletionRequest::from_slice_within(&body, &shared.config.chat_limits())?;
    // The parsed request owns its strings: free the raw body (it may be tens of MB of
    // inline media) before building more copies.
    let body_len = body.len();
    drop(body);
    // The default model and aliases apply; responses echo the name the client used.
    let resolved = super::models::resolve(&shared.settings, chat.model.as_deref())?;
    let client_model = resolved.client;
    let model = resolved.gemini.as_str();
    trace.set_model(model);
    pollux_translate::images::check_text_model(model)?;
    trace.capture(|d| d.client_model(&client_model));
    // Remote images are downloaded (behind the SSRF guard) only for authorized clients,
    // within the overall deadline however many there are.
    let fetched = deadline
        .within(media.fetch_all(remote_media(&chat)))
        .await?;

    let capabilities = shared.settings.capabilities.resolve(model);
    let (stream, include_usage) = (chat.is_stream(), chat.include_usage());
    let cache_key = chat.prompt_cache_key.clone();
    let signatures = shared.signatures_for(&unsigned_calls(&chat)).await;
    // Translation takes the request by value: inline media move into the Gemini body.
    let translated = to_gemini(
        chat,
        &RequestOptions {
            signatures: &signatures,
            media: &fetched,
            capabilities: Some(&capabilities),
            strict_params: shared.config.strict_params,
            legacy_schemas: shared.config.legacy_schemas,
            default_safety_settings: shared.settings.safety_settings.as_deref(),
            dialect: upstream.endpoint().dialect(),
            ..RequestOptions::new(model)
        },
    )?;
    let dropped = translated.dropped.join(", ");
    trace.capture(|d| d.renamed(translated.names.renamed()));
    let upstream_body = encode_sized(&translated.body, body_len)?;
    let hint = affinity(&shared, &translated.body, cache_key.as_deref());
    // Only the encoded body goes on: free the Gemini request's media now.
    drop(translated.body);
    let ctx = ResponseContext {
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        created: unix_now(),
        model: client_model.clone(),
        names: translated.names,
        n: translated.n,
        extra_stops: translated.extra_stops,
    };
    log::debug!("chat completion: model={model} stream={stream}");
    let permit = shared.limiter.acquire()?;

    if stream {
        let url = format!(
            "{}?alt=sse",
            upstream.model_url(model, "streamGenerateContent")
        );
        let call = Call::post_json(&url, &key, upstream_body).with_affinity(hint.as_deref());
        let response = upstream.head(call, &trace, &deadline, true).await?;
        let mut translator = StreamTranslator::new(ctx, include_usage);
        translator.set_service_tier(crate::upstream::service_tier(&response));
        let stream = StreamRun {
            events: UpstreamEvents::new(
                response,
                shared.config.stream_idle_timeout(),
                shared.config.max_upstream_body_bytes,
                &trace,
            ),
            translator,
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
        let response = deadline.within(stream.respond(lease)).await?;
        trace.upstream_first_event();
        Ok(with_dropped(response, &dropped))
    } else {
        let url = upstream.model_url(model, "generateContent");
        let call = Call::post_json(&url, &key, upstream_body).with_affinity(hint.as_deref());
        let (bytes, tier) = upstream.whole_with_tier(call, &trace, &deadline).await?;
        drop(permit);
        let mut completion = serde_json::from_slice::<GenerateContentResponse>(&bytes)
            .map_err(|e| TranslateError::UpstreamFormat(e.to_string()))
            .and_then(|parsed| to_openai(parsed, &ctx, &mut RandomIds))
            .map_err(|e| shared.keys.redact_error(e.into(), &key))?;
        completion.service_tier = tier;
        if let Some(usage) = &completion.usage {
            trace.set_usage(usage.prompt_tokens, usage.completion_tokens);
        }
        let signed = completion
            .choices
            .iter()
            .flat_map(|choice| &choice.message.tool_calls)
            .filter_map(|call| signed(&call.id, call.extra_content.as_ref()))
            .collect();
        shared.remember_signatures(signed).await;
        Ok(with_dropped(HttpResponse::Ok().json(completion), &dropped))
    }
}

/// The ids of the history's tool calls the client sent back without their signature.
fn unsigned_calls(chat: &ChatCompletionRequest) -> Vec<&str> {
    chat.messages
        .iter()
        .filter_map(|m| match m {
            Message::Assistant(m) => m.tool_calls.as_ref(),
            _ => None,
        })
        .flatten()
        .filter(|call| {
            call.extra_content
                .as_ref()
                .and_then(|e| e.thought_signature())
                .is_none()
        })
        .map(|call| call.id.as_str())
        .collect()
}

/// A call's id and thought signature, when it has one.
fn signed(
    id: &str,
    extra: Option<&pollux_translate::openai::ExtraContent>,
) -> Option<(String, String)> {
    let signature = extra.and_then(|e| e.thought_signature())?;
    Some((id.to_owned(), signature.to_owned()))
}

/// One streamed completion: the upstream events, the translator, and where signatures go.
struct StreamRun {
    events: UpstreamEvents,
    translator: StreamTranslator,
    shared: web::Data<AppState>,
    trace: Trace,
    /// What the request was sent with, for redacting upstream text.
    key: Credentials,
}

impl StreamRun {
    /// Translates one upstream item into client chunks; an error, before or after the 200,
    /// leaves redacted.
    fn translate(&mut self, item: SseItem) -> Result<Vec<ChatCompletionChunk>, ApiError> {
        self.translate_item(item)
            .map_err(|e| self.shared.keys.redact_error(e, &self.key))
    }

    fn translate_item(&mut self, item: SseItem) -> Result<Vec<ChatCompletionChunk>, ApiError> {
        match item {
            SseItem::Event(event) => {
                let parsed = parse_event(&event)?;
                let chunks = self.translator.on_event(parsed, &mut RandomIds)?;
                let signed: Vec<(String, String)> = chunks
                    .iter()
                    .flat_map(|chunk| &chunk.choices)
                    .flat_map(|choice| &choice.delta.tool_calls)
                    .filter_map(|call| signed(&call.id, call.extra_content.as_ref()))
                    .collect();
                if !signed.is_empty() {
                    self.shared.remember_signatures_soon(signed);
                }
                Ok(chunks)
            }
            // Gemini writes a failure after the 200 as a bare JSON error object.
            SseItem::Stray(text) => Err(ApiError::from_stream_error(&text)),
        }
    }

    /// Reads and translates up to the first chunk, then answers 200 with the rest streamed.
    async fn respond(mut self, lease: StreamLease) -> Result<HttpResponse, ApiError> {
        let mut first = Vec::new();
        while first.is_empty() {
            match self.events.next().await? {
                Some(item) => first = self.translate(item)?,
                None => {
                    // Nothing translatable arrived: the stream ended before it began.
                    self.translator.finish()?;
                    break;
                }
            }
        }
        let body = async_stream::stream! {
            for chunk in &first {
                yield Ok::<_, actix_web::Error>(sse::event(chunk));
            }
            loop {
                let item = match self.events.next().await {
                    Ok(Some(item)) => item,
                    Ok(None) => break,
                    // Once every choice has finished, a late failure costs the client nothing.
                    Err(_) if self.translator.is_done() => break,
                    Err(e) => {
                        self.trace.failed_in_band();
                        yield Ok(sse::raw_event(&e.envelope()));
                        return;
                    }
                };
                if self.translator.is_done() && matches!(item, SseItem::Stray(_)) {
                    break;
                }
                match self.translate(item) {
                    Ok(chunks) => {
                        for chunk in &chunks {
                            yield Ok(sse::event(chunk));
                        }
                    }
                    Err(e) => {
                        self.trace.failed_in_band();
                        yield Ok(sse::raw_event(&e.envelope()));
                        return;
                    }
                }
            }
            if let Some(usage) = self.translator.usage() {
                self.trace.set_usage(usage.prompt_tokens, usage.completion_tokens);
            }
            match self.translator.finish() {
                Ok(usage) => {
                    if let Some(chunk) = usage {
                        yield Ok(sse::event(&chunk));
                    }
                    yield Ok(sse::DONE);
                }
                Err(e) => {
                    self.trace.failed_in_band();
                    let e = self.shared.keys.redact_error(e.into(), &self.key);
                    yield Ok(sse::raw_event(&e.envelope()));
                }
            }
        };
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(lease.wrap(body)))
    }
}
