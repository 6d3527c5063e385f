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
//!
//! With `store` (OpenAI's default) the conversation behind `previous_response_id` and the
//! items behind `item_reference`s come from the store first ([`super::stored`]), and the
//! response is stored before its body or terminal event is sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use pollux_translate::gemini::GenerateContentResponse;
use pollux_translate::openai::responses::{CreateResponse, EventBody, Input, Status, StreamEvent};
use pollux_translate::responses::{
    remote_media, to_gemini, to_response, ResponseContext, StreamTranslator,
};
use pollux_translate::sse::SseItem;
use pollux_translate::{Dialect, RequestOptions, TranslateError};

use super::body::read_limited;
use super::generate::{
    affinity, encode_sized, parse_event, unix_now, with_dropped, UpstreamEvents,
};
use super::stored::{self, ChainSignatures, Keep};
use crate::error::ApiError;
use crate::ids::ResponseIds;
use crate::keys::Credentials;
use crate::media::MediaFetcher;
use crate::observe::Trace;
use crate::resilience::{Deadline, StreamLease, UpstreamPermit};
use crate::runs::{Mirror, Run};
use crate::sse;
use crate::state::AppState;
use crate::store::Lookup;
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
    let owner = shared.keys.owner(req.headers());
    let body = read_limited(payload, req.headers(), &shared.config, &trace).await?;
    let mut request = CreateResponse::from_slice_within(&body, &shared.config.chat_limits())?;
    let body_len = body.len();
    drop(body);
    let resolved = super::models::resolve(&shared.settings, request.model.as_deref())?;
    let model = resolved.gemini.as_str();
    trace.set_model(model);
    pollux_translate::images::check_text_model(model)?;
    trace.capture(|d| d.client_model(&resolved.client));
    let background = request.background == Some(true);
    let keep_it = request.store != Some(false);
    if background && !keep_it {
        return Err(ApiError::InvalidRequest {
            message: "A background response must be stored: remove 'store: false' (its status is read back by id).".to_owned(),
            param: Some("background".to_owned()),
            code: None,
        });
    }
    let mut ids = ResponseIds::new();
    let storing = keep_it.then_some((&mut ids, body_len));
    let (keep, history_signatures) =
        conversation(&shared, &mut request, owner.as_deref(), storing).await?;
    let cache = shared
        .signatures_for(&unsigned_calls(&request, &history_signatures))
        .await;
    let signatures = ChainSignatures {
        chain: history_signatures,
        cache: &cache,
    };
    let fetched = deadline
        .within(media.fetch_all(remote_media(&request)))
        .await?;

    let capabilities = shared.settings.capabilities.resolve(model);
    let stream = request.is_stream();
    let prompt_cache_key = request.prompt_cache_key.clone();
    let translated = to_gemini(
        request,
        &resolved.client,
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
    let hint = affinity(&shared, &translated.body, prompt_cache_key.as_deref());
    drop(translated.body);
    let now = unix_now();
    let ctx = ResponseContext {
        id: ids.response_id(),
        created_at: now,
        completed_at: now,
        names: translated.names,
        shapes: translated.shapes,
        echo: translated.echo,
        output: translated.output,
    };
    log::debug!("response: model={model} stream={stream} background={background}");
    let permit = shared.limiter.acquire()?;
    // Built only where it is used: a plain request sends to `generateContent`.
    let stream_url = || {
        format!(
            "{}?alt=sse",
            upstream.model_url(model, "streamGenerateContent")
        )
    };

    if let (true, Some(keep)) = (background, keep.clone()) {
        let machine = StreamTranslator::new(ctx);
        let queued = machine.response(Status::Queued);
        keep.write_logged(&queued, Vec::new()).await;
        let run = Run::new(owner);
        shared.runs.insert(&queued.id, run.clone());
        let ttl = Duration::from_secs(shared.config.response_store_ttl_secs);
        let work = Background {
            run: run.clone(),
            mirror: shared
                .shared
                .as_ref()
                .map(|replicas| Mirror::new(replicas.clone(), &queued.id, ttl)),
            machine,
            ids,
            keep,
            shared: shared.clone(),
            upstream: upstream.clone(),
            key,
            trace: trace.clone(),
            url: stream_url(),
            body: upstream_body,
            hint,
            permit,
        };
        let (task, handle) = futures_util::future::abortable(work.run());
        run.set_abort(handle);
        actix_web::rt::spawn(task);
        let response = if stream {
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .insert_header(("cache-control", "no-cache"))
                .insert_header(("x-accel-buffering", "no"))
                .streaming(run.follow(None).map(Ok::<_, actix_web::Error>))
        } else {
            match queued.to_json() {
                Ok(body) => HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body),
                Err(e) => return Err(encode_failed(e)),
            }
        };
        return Ok(with_dropped(response, &dropped));
    }

    if stream {
        let url = stream_url();
        let call = Call::post_json(&url, &key, upstream_body).with_affinity(hint.as_deref());
        let response = upstream.head(call, &trace, &deadline, true).await?;
        let mut machine = StreamTranslator::new(ctx);
        if let Some(tier) = crate::upstream::service_tier(&response) {
            machine.set_service_tier(tier);
        }
        let run = StreamRun {
            events: UpstreamEvents::new(
                response,
                shared.config.stream_idle_timeout(),
                shared.config.max_upstream_body_bytes,
                &trace,
            ),
            machine,
            ids,
            shared: shared.clone(),
            trace: trace.clone(),
            key: key.clone(),
            keep,
            signatures: Vec::new(),
            background: None,
        };
        let lease = StreamLease {
            permit,
            deadline,
            keepalive: shared.config.keepalive(),
            metrics: shared.metrics.clone(),
            trace: trace.clone(),
        };
        // Boxed: inline, the stream's state (the machine, the upstream reader) made this
        // handler's future 14.6 KB instead of 6.4 KB, and actix moves every request's
        // handler future into a box of its own, plain requests included
        // (docs/benchmarks.md).
        let response = deadline.within(Box::pin(run.respond(lease))).await?;
        trace.upstream_first_event();
        Ok(with_dropped(response, &dropped))
    } else {
        let url = upstream.model_url(model, "generateContent");
        let call = Call::post_json(&url, &key, upstream_body).with_affinity(hint.as_deref());
        let (bytes, tier) = upstream.whole_with_tier(call, &trace, &deadline).await?;
        drop(permit);
        let parsed = serde_json::from_slice::<GenerateContentResponse>(&bytes)
            .map_err(|e| TranslateError::UpstreamFormat(e.to_string()))
            .map_err(|e| shared.keys.redact_error(e.into(), &key))?;
        let mut ctx = ResponseContext {
            completed_at: unix_now(),
            ..ctx
        };
        if let Some(tier) = tier {
            ctx.echo.service_tier = tier;
        }
        let (mut response, signatures) = to_response(parsed, ctx, &mut ids);
        shared.remember_signatures(signatures.clone()).await;
        if let Some(error) = &mut response.error {
            // A finish message is upstream text.
            error.message = redact_text(&shared, &key, std::mem::take(&mut error.message));
        }
        if let Some(usage) = &response.usage {
            trace.set_usage(usage.input_tokens, usage.output_tokens);
        }
        let body = Bytes::from(response.to_json().map_err(encode_failed)?);
        // Written before the body is sent: a follow-up sent the moment the client has the id
        // finds it.
        if let Some(keep) = keep {
            keep.write_reported(&response, body.clone(), signatures)
                .await;
        }
        Ok(with_dropped(
            HttpResponse::Ok()
                .content_type("application/json")
                .body(body),
            &dropped,
        ))
    }
}

/// Makes `request.input` the whole conversation: the stored history behind
/// `previous_response_id` first, then the request's own items with their `item_reference`s
/// resolved. Returns what storing the response keeps of the own items (when `storing`: the
/// request's ids and body length) and the history's thought signatures.
async fn conversation(
    shared: &AppState,
    request: &mut CreateResponse,
    owner: Option<&str>,
    storing: Option<(&mut ResponseIds, usize)>,
) -> Result<(Option<Keep>, HashMap<String, String>), ApiError> {
    let mut own = match std::mem::take(&mut request.input) {
        Input::Text(text) => vec![stored::user_text(text)],
        Input::Items(items) => items,
    };
    stored::resolve_references(&*shared.store, &mut own, owner).await?;
    let keep = storing.map(|(ids, size)| {
        Keep::new(
            shared.store.clone(),
            owner.map(str::to_owned),
            request.previous_response_id.clone(),
            &own,
            ids,
            size,
        )
    });
    let history = stored::history(
        &*shared.store,
        request.previous_response_id.as_deref(),
        owner,
    )
    .await?;
    let mut items = history.items;
    items.extend(own);
    request.input = Input::Items(items);
    Ok((keep, history.signatures))
}

/// A background response's work: the same stream as a client's, its events kept in its
/// [`Run`] for followers (and in its [`Mirror`] for followers on other replicas) and its
/// record settled as it goes (in progress, then final, unless a cancel settled it first).
struct Background {
    run: Arc<Run>,
    mirror: Option<Mirror>,
    machine: StreamTranslator,
    ids: ResponseIds,
    keep: Keep,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
    key: Credentials,
    trace: Trace,
    url: String,
    body: Vec<u8>,
    /// The key-affinity hint, as for a foreground request.
    hint: Option<String>,
    permit: UpstreamPermit,
}

/// Hands `events` to the run's followers, here and on other replicas; nothing once the run is
/// over (cancelled, or its final status lost to a cancel).
async fn emit(run: &Run, mirror: Option<&Mirror>, events: &[StreamEvent]) {
    if run.is_done() {
        return;
    }
    let frames: Vec<(u64, Bytes)> = events
        .iter()
        .map(|e| {
            (
                e.sequence_number,
                sse::responses_events(std::slice::from_ref(e)),
            )
        })
        .collect();
    for (sequence, frame) in &frames {
        run.push(*sequence, frame.clone());
    }
    if let Some(mirror) = mirror {
        mirror.push(&frames).await;
    }
}

impl Background {
    async fn run(mut self) {
        let (run, mirror) = (self.run.clone(), self.mirror.take());
        self.work(mirror.as_ref()).await;
        run.finish();
        if let Some(mirror) = &mirror {
            mirror.end().await;
        }
    }

    async fn work(mut self, mirror: Option<&Mirror>) {
        let _permit = self.permit;
        let start = self.machine.start();
        let open = self.machine.response(Status::InProgress);
        if !self.keep.settle(&open, Vec::new(), false).await {
            // Cancelled before it started.
            return;
        }
        emit(&self.run, mirror, &start).await;
        let deadline = Deadline::start(self.shared.config.request_timeout());
        let call =
            Call::post_json(&self.url, &self.key, self.body).with_affinity(self.hint.as_deref());
        let head = self.upstream.head(call, &self.trace, &deadline, true).await;
        let response = match head {
            Ok(response) => {
                // The tier Gemini says it served at, as a foreground stream reports it.
                if let Some(tier) = crate::upstream::service_tier(&response) {
                    self.machine.set_service_tier(tier);
                }
                response
            }
            Err(failure) => {
                let error = self.shared.keys.redact_error(failure.into(), &self.key);
                self.machine.set_completed_at(unix_now());
                let events =
                    self.machine
                        .fail(failure_code(&error), error.to_string(), &mut self.ids);
                if !self.run.is_done()
                    && self
                        .keep
                        .settle(&self.machine.response(Status::Failed), Vec::new(), true)
                        .await
                {
                    emit(&self.run, mirror, &events).await;
                }
                return;
            }
        };
        let mut stream = StreamRun {
            events: UpstreamEvents::new(
                response,
                self.shared.config.stream_idle_timeout(),
                self.shared.config.max_upstream_body_bytes,
                &self.trace,
            ),
            machine: self.machine,
            ids: self.ids,
            shared: self.shared.clone(),
            trace: self.trace.clone(),
            key: self.key.clone(),
            keep: Some(self.keep),
            signatures: Vec::new(),
            background: Some(self.run.clone()),
        };
        let ended = match stream.open().await {
            Ok((first, ended)) => {
                emit(&self.run, mirror, &first).await;
                ended
            }
            Err(e) => {
                let events = stream.failed(&e);
                // A follower reads each event apart: the frames are not reused here.
                stream.store(&events).await;
                emit(&self.run, mirror, &events).await;
                return;
            }
        };
        let rest = stream.rest(ended);
        futures_util::pin_mut!(rest);
        while let Some(batch) = rest.next().await {
            emit(&self.run, mirror, &batch.events).await;
        }
    }
}

fn encode_failed(e: serde_json::Error) -> ApiError {
    ApiError::BadGateway {
        message: format!("Could not encode the response: {e}"),
        code: None,
    }
}

/// The `error.code` of a response failed by `error`.
fn failure_code(error: &ApiError) -> &'static str {
    match error {
        ApiError::Upstream { status: 429, .. } => "rate_limit_exceeded",
        _ => "server_error",
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

/// The events of one upstream event, and their frames when storing them framed them already.
struct Batch {
    events: Vec<StreamEvent>,
    framed: Option<Bytes>,
}

/// One streamed response: the upstream events, the state machine, where signatures go.
struct StreamRun {
    events: UpstreamEvents,
    machine: StreamTranslator,
    /// Where the ids of its output items come from.
    ids: ResponseIds,
    shared: web::Data<AppState>,
    trace: Trace,
    /// What the request was sent with, for redacting upstream text.
    key: Credentials,
    /// Where the response is stored when it ends (`None` with `store: false`).
    keep: Option<Keep>,
    /// The answer's signatures so far, for the stored record.
    signatures: Vec<(String, String)>,
    /// The run of a background response (whose cancel must not be overwritten).
    background: Option<Arc<Run>>,
}

impl StreamRun {
    /// Translates one upstream item; an error leaves redacted.
    fn translate(&mut self, item: SseItem) -> Result<Vec<StreamEvent>, ApiError> {
        let events = match item {
            SseItem::Event(event) => {
                let parsed =
                    parse_event(&event).map_err(|e| self.shared.keys.redact_error(e, &self.key))?;
                self.machine.on_event(parsed, &mut self.ids)
            }
            // Gemini writes a failure after the 200 as a bare JSON error object.
            SseItem::Stray(text) => {
                return Err(self
                    .shared
                    .keys
                    .redact_error(ApiError::from_stream_error(&text), &self.key))
            }
        };
        let signed = self.machine.take_signatures();
        if !signed.is_empty() {
            self.shared.remember_signatures_soon(signed.clone());
            self.signatures.extend(signed);
        }
        Ok(events)
    }

    /// Stores the response a terminal event carries, before the event is sent. Returns the
    /// events framed when it stored them: the record keeps the response's bytes out of the
    /// terminal event's frame, so the response is encoded once (docs/benchmarks.md, change
    /// 20). A background run settles its record instead and returns nothing: a follower
    /// reads each event apart, so the frames would not be reused.
    async fn store(&mut self, events: &[StreamEvent]) -> Option<Bytes> {
        let keep = self.keep.take()?;
        let response = events.iter().find_map(|e| match &e.body {
            EventBody::Completed { response }
            | EventBody::Incomplete { response }
            | EventBody::Failed { response } => Some(response),
            _ => None,
        })?;
        if let Some(run) = &self.background {
            let signatures = std::mem::take(&mut self.signatures);
            // Cancelled here (the record says so already), or a cancel sent to another
            // replica settled it first: the run ends without a final event of its own.
            if run.is_done() || !keep.settle(response, signatures, true).await {
                run.finish();
            }
            return None;
        }
        let (framed, body) = sse::responses_events_locating(events);
        let body = body?;
        let signatures = std::mem::take(&mut self.signatures);
        keep.write_reported(response, body, signatures).await;
        Some(framed)
    }

    /// The failure as the stream's last events: `error`, then `response.failed`.
    fn failed(&mut self, error: &ApiError) -> Vec<StreamEvent> {
        self.trace.failed_in_band();
        self.machine.set_completed_at(unix_now());
        self.machine
            .fail(failure_code(error), error.to_string(), &mut self.ids)
    }

    /// Reads upstream items until one makes progress (or the upstream ends): the events to
    /// send first, and whether the upstream already ended. A failure here comes before the
    /// 200: the caller's to answer.
    async fn open(&mut self) -> Result<(Vec<StreamEvent>, bool), ApiError> {
        let mut first = Vec::new();
        loop {
            match self.events.next().await? {
                Some(item) => {
                    let events = self.translate(item)?;
                    let progressed = !events.is_empty() || self.machine.is_done();
                    first.extend(events);
                    if progressed {
                        return Ok((first, false));
                    }
                }
                None => return Ok((first, true)),
            }
        }
    }

    /// The rest of the stream after [`StreamRun::open`]: the events of each upstream event
    /// together, until exactly one terminal event, the response stored before it is sent.
    fn rest(mut self, ended: bool) -> impl Stream<Item = Batch> {
        async_stream::stream! {
            if !ended {
                loop {
                    let item = match self.events.next().await {
                        Ok(Some(item)) => item,
                        Ok(None) => break,
                        // Once Gemini finished, a late failure costs the client nothing.
                        Err(_) if self.machine.is_done() => break,
                        Err(e) => {
                            let e = self.shared.keys.redact_error(e, &self.key);
                            let events = self.failed(&e);
                            let framed = self.store(&events).await;
                            yield Batch { events, framed };
                            return;
                        }
                    };
                    if self.machine.is_done() && matches!(item, SseItem::Stray(_)) {
                        break;
                    }
                    match self.translate(item) {
                        Ok(events) => {
                            if !events.is_empty() {
                                yield Batch { events, framed: None };
                            }
                        }
                        Err(e) => {
                            let events = self.failed(&e);
                            let framed = self.store(&events).await;
                            yield Batch { events, framed };
                            return;
                        }
                    }
                }
            }
            if let Some(usage) = self.machine.usage() {
                self.trace.set_usage(usage.input_tokens, usage.output_tokens);
            }
            self.machine.set_completed_at(unix_now());
            let last = self.machine.finish(&mut self.ids);
            if last.iter().any(|e| e.kind() == "response.failed") {
                self.trace.failed_in_band();
            }
            let framed = self.store(&last).await;
            yield Batch { events: last, framed };
        }
    }

    /// Reads up to the first upstream event, then answers 200 with the rest streamed.
    async fn respond(mut self, lease: StreamLease) -> Result<HttpResponse, ApiError> {
        let mut first = self.machine.start();
        // Before the 200, a failure is an ordinary error response.
        let (events, ended) = self.open().await?;
        first.extend(events);
        let first = Batch {
            events: first,
            framed: None,
        };
        let body = futures_util::stream::once(std::future::ready(first))
            .chain(self.rest(ended))
            .map(|batch| {
                Ok::<_, actix_web::Error>(
                    batch
                        .framed
                        .unwrap_or_else(|| sse::responses_events(&batch.events)),
                )
            });
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(lease.wrap(body)))
    }
}

/// `countTokens` with the whole generation request, as Gemini wants it for tools and system
/// instructions to count.
#[derive(serde::Serialize)]
struct CountTokensRequest<'a> {
    #[serde(rename = "generateContentRequest")]
    request: ModelRequest<'a>,
}

#[derive(serde::Serialize)]
struct ModelRequest<'a> {
    model: String,
    #[serde(flatten)]
    body: &'a pollux_translate::gemini::GenerateContentRequest,
}

/// Vertex AI's `countTokens` takes the generation fields at the top level (and no
/// `generateContentRequest`, `safetySettings` or `toolConfig`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VertexCountTokens<'a> {
    contents: &'a [pollux_translate::gemini::Turn],
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<&'a pollux_translate::gemini::Turn>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [pollux_translate::gemini::Tool],
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountTokensResponse {
    #[serde(default)]
    total_tokens: u64,
}

/// `POST /v1/responses/input_tokens`: the request's input (with its stored history, tools and
/// instructions) counted by Gemini's `countTokens`.
pub async fn input_tokens(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
    media: web::Data<MediaFetcher>,
) -> Result<HttpResponse, ApiError> {
    let deadline = Deadline::start(shared.config.request_timeout());
    let trace = Trace::of(&req);
    let key = upstream.key_for(req.headers())?;
    let owner = shared.keys.owner(req.headers());
    let body = read_limited(payload, req.headers(), &shared.config, &trace).await?;
    let mut request = CreateResponse::from_slice_within(&body, &shared.config.chat_limits())?;
    drop(body);
    let resolved = super::models::resolve(&shared.settings, request.model.as_deref())?;
    let model = resolved.gemini.as_str();
    trace.set_model(model);
    let (_, history_signatures) =
        conversation(&shared, &mut request, owner.as_deref(), None).await?;
    // Counting is not generating: these only shape the answer.
    request.stream = None;
    request.background = None;
    let cache = shared
        .signatures_for(&unsigned_calls(&request, &history_signatures))
        .await;
    let signatures = ChainSignatures {
        chain: history_signatures,
        cache: &cache,
    };
    let fetched = deadline
        .within(media.fetch_all(remote_media(&request)))
        .await?;
    let capabilities = shared.settings.capabilities.resolve(model);
    let translated = to_gemini(
        request,
        &resolved.client,
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
    let upstream_body = match upstream.endpoint().dialect() {
        Dialect::Gemini => super::call::encode(&CountTokensRequest {
            request: ModelRequest {
                model: format!("models/{model}"),
                body: &translated.body,
            },
        })?,
        Dialect::Vertex => super::call::encode(&VertexCountTokens {
            contents: &translated.body.contents,
            system_instruction: translated.body.system_instruction.as_ref(),
            tools: &translated.body.tools,
        })?,
    };
    let url = upstream.model_url(model, "countTokens");
    let permit = shared.limiter.acquire()?;
    let counted: CountTokensResponse = super::call::gemini_json(
        &upstream,
        Call::post_json(&url, &key, upstream_body),
        &trace,
        &deadline,
    )
    .await?;
    drop(permit);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "object": "response.input_tokens",
        "input_tokens": counted.total_tokens,
    })))
}

/// `POST /v1/responses/{id}/cancel`: stops a background response (its upstream request is
/// dropped) and marks it `cancelled`; one that already ended is returned as it is. Only
/// background responses can be cancelled: another stored one is a 400, an unknown id a 404.
pub async fn cancel(
    req: HttpRequest,
    shared: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = stored::caller(&req, &shared)?;
    let id = req.match_info().get("id").unwrap_or_default().to_owned();
    if let Some(run) = shared
        .runs
        .get(&id, owner.as_deref())
        .filter(|run| !run.is_done())
    {
        // Settled first, stopped only if the cancel won: a run that settled its final status
        // first still sends its final event.
        if let Some((body, cancelled)) =
            stored::mark_cancelled(&*shared.store, &id, owner.as_deref()).await?
        {
            if cancelled {
                run.cancel();
            }
            return Ok(HttpResponse::Ok()
                .content_type("application/json")
                .body(body));
        }
    }
    match shared.store.get(&id, owner.as_deref()).await? {
        Lookup::Found(record) => {
            let response = record.response_value()?;
            let running = matches!(response["status"].as_str(), Some("queued" | "in_progress"));
            if let (true, true, Some(replicas)) =
                (response["background"] == true, running, &shared.shared)
            {
                // Running on another replica: settled here, and the replica running it stops
                // it when the channel tells it (its own final status, should it come later,
                // loses to this one).
                if let Some((body, cancelled)) =
                    stored::mark_cancelled(&*shared.store, &id, owner.as_deref()).await?
                {
                    if cancelled {
                        replicas
                            .publish(::redis::pipe(), &format!("cancel {id}"))
                            .await
                            .map_err(|e| crate::store::StoreError::Unreachable(e.0))?;
                    }
                    return Ok(HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body));
                }
            }
            if response["background"] == true {
                Ok(HttpResponse::Ok()
                    .content_type("application/json")
                    .body(record.response.clone()))
            } else {
                Err(ApiError::InvalidRequest {
                    message: format!("Response '{id}' is not a background response: only background responses can be cancelled."),
                    param: None,
                    code: None,
                })
            }
        }
        _ => Err(ApiError::NotFound(format!(
            "Response with id '{id}' not found."
        ))),
    }
}

/// The call ids of the input's function calls whose signature neither the client nor the
/// stored chain has: what the shared signature cache is asked for.
fn unsigned_calls<'a>(
    request: &'a CreateResponse,
    chain: &HashMap<String, String>,
) -> Vec<&'a str> {
    match &request.input {
        Input::Items(items) => items
            .iter()
            .filter(|item| {
                matches!(
                    item.kind.as_deref(),
                    Some("function_call" | "custom_tool_call")
                )
            })
            .filter_map(|item| item.call_id.as_deref())
            .filter(|id| !chain.contains_key(*id))
            .collect(),
        Input::Text(_) => Vec::new(),
    }
}
