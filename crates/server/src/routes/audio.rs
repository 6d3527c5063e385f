//! `POST /v1/audio/speech`, `/v1/audio/transcriptions` and `/v1/audio/translations` on
//! Gemini. The mapping rules live in [`pollux_translate::speech`] and
//! [`pollux_translate::transcription`], the encoders in [`crate::audio`]; docs/audio.md has
//! the tables.
//!
//! Speech in `pcm`, `mp3` or `opus`, or with a `stream_format`, streams: the body goes out as
//! `streamGenerateContent` delivers audio, answered 200 only once the first audio arrived (an
//! upstream refusal is still a proper error); a failure after that cuts the body (raw audio)
//! or ends it with an in-band error event (`sse`). `wav` without `stream_format` and `flac`
//! are encoded whole, so their headers are exact.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use futures_util::StreamExt;
use pollux_translate::gemini::{
    Blob, GenerateContentRequest, GenerateContentResponse, Part, UsageMetadata,
};
use pollux_translate::openai::audio::{
    SpeechFormat, SpeechRequest, SpeechStreamEvent, StreamFormat, TranscriptStreamEvent,
};
use pollux_translate::sse::SseItem;
use pollux_translate::transcription::{self, Rendered, Task, TranscriptionRequest};
use pollux_translate::{speech, TranslateError};

use super::body::receive;
use super::call::encode;
use super::generate::{parse_event, with_dropped, UpstreamEvents};
use super::models::{resolve, Resolved};
use crate::audio::{supported, Encoding};
use crate::error::ApiError;
use crate::guard::takes_files;
use crate::keys::Credentials;
use crate::media::files::{FileSession, INLINE_LIMIT};
use crate::observe::Trace;
use crate::resilience::{Deadline, StreamLease};
use crate::sse;
use crate::state::AppState;
use crate::upstream::{Call, Upstream};

/// The largest file taken, OpenAI's limit ("File uploads are currently limited to 25 MB").
/// Files above [`INLINE_LIMIT`] go through Gemini's Files API ([`crate::media::files`]).
pub const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;

/// Adds the three routes (with and without `/v1`).
pub fn register(cfg: &mut web::ServiceConfig) {
    for prefix in ["/v1", ""] {
        cfg.route(&format!("{prefix}/audio/speech"), web::post().to(speech));
        for (path, task) in [
            ("transcriptions", Task::Transcribe),
            ("translations", Task::Translate),
        ] {
            cfg.service(
                web::resource(format!("{prefix}/audio/{path}"))
                    .name(&takes_files(&format!("audio-{path}{prefix}")))
                    .route(web::post().to(move |req, form, shared, upstream| {
                        speech_to_text(task, req, form, shared, upstream)
                    })),
            );
        }
    }
}

/// [`resolve`], then OpenAI's audio model names not aliased by configuration go to their
/// default Gemini model.
fn resolve_audio(
    shared: &AppState,
    requested: Option<&str>,
    default: fn(&str) -> Option<&'static str>,
) -> Result<Resolved, ApiError> {
    let mut resolved = resolve(&shared.settings, requested)?;
    if !shared.settings.aliases.contains_key(&resolved.client) {
        if let Some(model) = default(&resolved.client) {
            resolved.gemini = model.to_owned();
        }
    }
    Ok(resolved)
}

pub async fn speech(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let deadline = Deadline::start(shared.config.request_timeout());
    let (trace, key, request, _) = receive(
        &req,
        payload,
        &shared.config,
        &upstream,
        SpeechRequest::from_slice,
    )
    .await?;
    let model = resolve_audio(&shared, request.model.as_deref(), speech::default_model)?;
    if !speech::is_tts_model(&model.gemini) {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "'{}' is not a text-to-speech model. Send a Gemini TTS model (such as \
                 gemini-2.5-flash-preview-tts) or tts-1 / tts-1-hd / gpt-4o-mini-tts.",
                model.client
            ),
            param: Some("model".to_owned()),
            code: Some("model_not_tts".to_owned()),
        });
    }
    trace.set_model(&model.gemini);
    let format = request.response_format.unwrap_or(SpeechFormat::Mp3);
    supported(format)?;
    let (gemini, dropped) = speech::to_gemini(&request)?;
    let sse_events = request.stream_format == Some(StreamFormat::Sse);
    let streamed = request.stream_format.is_some()
        || matches!(
            format,
            SpeechFormat::Pcm | SpeechFormat::Mp3 | SpeechFormat::Opus
        );
    log::debug!(
        "speech: model={} format={} streamed={streamed}",
        model.gemini,
        format.name()
    );
    let permit = shared.limiter.acquire()?;
    let upstream_body = encode(&gemini)?;
    // flac is encoded whole even when streamed: its encoder needs the whole signal.
    let mut encoding = Encoding::new(format, streamed && format != SpeechFormat::Flac)?;
    if !streamed {
        let url = upstream.model_url(&model.gemini, "generateContent");
        let call = Call::post_json(&url, &key, upstream_body);
        let bytes = upstream.whole(call, &trace, &deadline).await?;
        drop(permit);
        let answer = parse_answer(&bytes).map_err(|e| shared.keys.redact_error(e, &key))?;
        let pcm = speech::audio_of(&answer)?;
        if pcm.is_empty() {
            return Err(speech::no_audio(&answer, "").into());
        }
        let mut out = encoding.push(&pcm)?;
        out.extend(encoding.finish()?);
        if let Some(u) = &answer.usage_metadata {
            trace.set_usage(u.prompt_token_count, u.candidates_token_count);
        }
        let response = HttpResponse::Ok()
            .content_type(format.content_type())
            .body(out);
        return Ok(with_dropped(response, &dropped));
    }
    let url = format!(
        "{}?alt=sse",
        upstream.model_url(&model.gemini, "streamGenerateContent")
    );
    let call = Call::post_json(&url, &key, upstream_body);
    let head = upstream.head(call, &trace, &deadline, true).await?;
    let mut run = SpeechRun {
        events: UpstreamEvents::new(
            head,
            shared.config.stream_idle_timeout(),
            shared.config.max_upstream_body_bytes,
            &trace,
        ),
        encoding,
        usage: None,
        shared: shared.clone(),
        key: key.clone(),
    };
    // Answer only once audio came: until then a failure is still a proper error response.
    let first = deadline.within(run.first_audio()).await?;
    trace.upstream_first_event();
    let lease = StreamLease {
        // Comment lines would corrupt a raw audio body; SSE clients get them.
        keepalive: if sse_events {
            shared.config.keepalive()
        } else {
            None
        },
        ..shared.stream_lease(permit, deadline, &trace)
    };
    let body = async_stream::stream! {
        let mut pending = Some(first);
        loop {
            let chunk = match pending.take() {
                Some(chunk) => Ok(Some(chunk)),
                None => run.next_audio().await,
            };
            match chunk {
                Ok(Some(bytes)) if bytes.is_empty() => {}
                Ok(Some(bytes)) => yield Ok(frame(sse_events, bytes)),
                Ok(None) => break,
                Err(e) => {
                    trace.failed_in_band();
                    if sse_events {
                        yield Ok(sse::raw_event(&e.envelope()));
                        return;
                    }
                    // A raw body has no room for an error: cut it, so the client sees an
                    // incomplete transfer rather than a short, valid-looking file.
                    yield Err(actix_web::error::ErrorBadGateway(e.to_string()));
                    return;
                }
            }
        }
        if let Some(u) = &run.usage {
            trace.set_usage(u.prompt_token_count, u.candidates_token_count);
        }
        match run.encoding.finish() {
            Ok(tail) => {
                if !tail.is_empty() {
                    yield Ok(frame(sse_events, tail));
                }
                if sse_events {
                    let usage = speech::usage(run.usage.as_ref());
                    yield Ok(sse::event(&SpeechStreamEvent::Done { usage }));
                }
            }
            Err(e) => {
                trace.failed_in_band();
                if sse_events {
                    yield Ok(sse::raw_event(&e.envelope()));
                } else {
                    yield Err(actix_web::error::ErrorBadGateway(e.to_string()));
                }
            }
        }
    };
    let content_type = if sse_events {
        "text/event-stream"
    } else {
        format.content_type()
    };
    let response = HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(lease.wrap(body));
    Ok(with_dropped(response, &dropped))
}

/// Encoded audio as a body chunk: the bytes, or one `speech.audio.delta` event.
fn frame(sse_events: bool, bytes: Vec<u8>) -> bytes::Bytes {
    if sse_events {
        let audio = base64::engine::general_purpose::STANDARD.encode(&bytes);
        sse::event(&SpeechStreamEvent::Delta { audio })
    } else {
        bytes::Bytes::from(bytes)
    }
}

/// One upstream stream item as a Gemini event (a stray line is Gemini's bare error).
fn event_of(item: SseItem) -> Result<GenerateContentResponse, ApiError> {
    match item {
        SseItem::Event(event) => parse_event(&event),
        SseItem::Stray(text) => Err(ApiError::from_stream_error(&text)),
    }
}

fn parse_answer(bytes: &[u8]) -> Result<GenerateContentResponse, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| TranslateError::UpstreamFormat(e.to_string()).into())
}

/// One speech stream: upstream events in, encoded audio out.
struct SpeechRun {
    events: UpstreamEvents,
    encoding: Encoding,
    usage: Option<UsageMetadata>,
    shared: web::Data<AppState>,
    key: Credentials,
}

impl SpeechRun {
    /// The first encoded bytes (possibly empty for a buffered format), or the error of an
    /// upstream that sent no audio at all.
    async fn first_audio(&mut self) -> Result<Vec<u8>, ApiError> {
        let mut text = String::new();
        loop {
            let Some(item) = self.events.next().await? else {
                let end = GenerateContentResponse::default();
                return Err(speech::no_audio(&end, &text).into());
            };
            let event = self.event(item)?;
            let pcm = speech::audio_of(&event)?;
            if !pcm.is_empty() {
                return self.encoding.push(&pcm);
            }
            let finished = event.candidates.iter().any(|c| c.finish_reason.is_some());
            if finished || event.prompt_feedback.is_some() {
                return Err(speech::no_audio(&event, &text).into());
            }
            text.push_str(&speech::text_of(&event));
        }
    }

    /// The next encoded bytes; `None` at the end of the upstream stream.
    async fn next_audio(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(item) = self.events.next().await? else {
            return Ok(None);
        };
        let event = self.event(item)?;
        let pcm = speech::audio_of(&event)?;
        self.encoding.push(&pcm).map(Some)
    }

    fn event(&mut self, item: SseItem) -> Result<GenerateContentResponse, ApiError> {
        let event = event_of(item).map_err(|e| self.shared.keys.redact_error(e, &self.key))?;
        if event.usage_metadata.is_some() {
            self.usage = event.usage_metadata;
        }
        Ok(event)
    }
}

/// The uploaded file: its name, declared type and bytes.
struct Upload {
    filename: String,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// Reads the form: text fields into `fields`, the `file` part within [`MAX_FILE_BYTES`].
async fn read_form(
    mut form: Multipart,
    fields: &mut TranscriptionRequest,
) -> Result<Option<Upload>, ApiError> {
    let bad_form = |e: String| ApiError::InvalidRequest {
        message: format!("The multipart/form-data body could not be read: {e}"),
        param: None,
        code: Some("invalid_body".to_owned()),
    };
    let mut upload = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| bad_form(e.to_string()))?;
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(|m| m.essence_str().to_owned());
        let limit = if name == "file" {
            MAX_FILE_BYTES
        } else {
            64 * 1024
        };
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| bad_form(e.to_string()))?;
            if data.len() + chunk.len() > limit {
                return Err(if name == "file" {
                    ApiError::FileTooLarge { limit }
                } else {
                    ApiError::InvalidRequest {
                        message: format!("The form field '{name}' is longer than {limit} bytes."),
                        param: Some(name),
                        code: None,
                    }
                });
            }
            data.extend_from_slice(&chunk);
        }
        if name == "file" {
            upload = Some(Upload {
                filename: filename.unwrap_or_default(),
                content_type,
                data,
            });
        } else {
            let value = String::from_utf8(data).map_err(|_| {
                ApiError::from(TranslateError::invalid(
                    format!("The form field '{name}' is not UTF-8 text."),
                    name.clone(),
                ))
            })?;
            fields.set(&name, &value)?;
        }
    }
    Ok(upload)
}

/// The MIME type Gemini is sent: from the file's extension, else its declared type.
fn upload_mime(upload: &Upload) -> Result<&'static str, ApiError> {
    transcription::file_mime(&upload.filename)
        .or_else(|| {
            let declared = upload.content_type.as_deref()?;
            let ext = declared.rsplit('/').next()?;
            transcription::file_mime(&format!("f.{}", ext.trim_start_matches("x-")))
        })
        .ok_or_else(|| ApiError::InvalidRequest {
            message: format!(
                "Unsupported file format '{}'. Send one of: {} (named by the file's extension).",
                upload.filename,
                transcription::FILE_FORMATS
            ),
            param: Some("file".to_owned()),
            code: Some("unsupported_file_format".to_owned()),
        })
}

async fn speech_to_text(
    task: Task,
    req: HttpRequest,
    form: Multipart,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let deadline = Deadline::start(shared.config.request_timeout());
    let trace = Trace::of(&req);
    // As in `receive` (routes/body.rs): the key before any of the form is read.
    let key = upstream.key_for(req.headers())?;
    let mut request = TranscriptionRequest::default();
    let upload = deadline.within(read_form(form, &mut request)).await?;
    let upload = upload.ok_or_else(|| {
        ApiError::from(TranslateError::invalid(
            "'file' is required: send the audio as a multipart/form-data file part.",
            "file",
        ))
    })?;
    let mime = upload_mime(&upload)?;
    if upload.data.is_empty() {
        return Err(TranslateError::invalid("The uploaded file is empty.", "file").into());
    }
    let model = resolve_audio(
        &shared,
        request.model.as_deref(),
        transcription::default_model,
    )?;
    if speech::is_tts_model(&model.gemini) {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "'{}' is a text-to-speech model and cannot transcribe. Send whisper-1 / \
                 gpt-4o-transcribe or a Gemini model that understands audio (such as \
                 gemini-2.5-flash).",
                model.client
            ),
            param: Some("model".to_owned()),
            code: Some("model_is_tts".to_owned()),
        });
    }
    trace.set_model(&model.gemini);
    let mut files = FileSession::new(upstream.clone(), key.clone());
    let audio = if upload.data.len() > INLINE_LIMIT {
        let file = files
            .upload(
                upload.data.into(),
                mime,
                &upload.filename,
                &trace,
                &deadline,
            )
            .await?;
        Part::file(file)
    } else {
        let data = base64::engine::general_purpose::STANDARD.encode(&upload.data);
        drop(upload);
        Part::inline(Blob {
            mime_type: mime.to_owned(),
            data,
        })
    };
    let gemini: GenerateContentRequest = transcription::to_gemini(task, &request, audio);
    let upstream_body = encode(&gemini)?;
    drop(gemini);
    let permit = shared.limiter.acquire()?;
    // Timed formats need the whole JSON answer; OpenAI ignores `stream` for them too.
    if request.stream && !request.needs_segments() {
        let url = format!(
            "{}?alt=sse",
            upstream.model_url(&model.gemini, "streamGenerateContent")
        );
        let call = Call::post_json(&url, &key, upstream_body).pinned(files.pin());
        let head = upstream.head(call, &trace, &deadline, true).await?;
        let events = UpstreamEvents::new(
            head,
            shared.config.stream_idle_timeout(),
            shared.config.max_upstream_body_bytes,
            &trace,
        );
        let lease = shared.stream_lease(permit, deadline, &trace);
        return transcript_stream(events, lease, shared.clone(), key.clone(), trace, files).await;
    }
    let url = upstream.model_url(&model.gemini, "generateContent");
    let call = Call::post_json(&url, &key, upstream_body).pinned(files.pin());
    let bytes = upstream.whole(call, &trace, &deadline).await?;
    drop(permit);
    let answer = parse_answer(&bytes).map_err(|e| shared.keys.redact_error(e, &key))?;
    let text = transcription::text_of(&answer);
    if text.trim().is_empty() && answer.prompt_feedback.is_some() {
        return Err(speech::no_audio(&answer, "").into());
    }
    if let Some(u) = &answer.usage_metadata {
        trace.set_usage(u.prompt_token_count, u.candidates_token_count);
    }
    let usage = transcription::usage(answer.usage_metadata.as_ref());
    Ok(
        match transcription::render(task, &request, &text, usage)
            .map_err(|e| shared.keys.redact_error(e.into(), &key))?
        {
            Rendered::Json(value) => HttpResponse::Ok().json(value),
            Rendered::Text { body, content_type } => {
                HttpResponse::Ok().content_type(content_type).body(body)
            }
        },
    )
}

/// `transcript.text.delta` per text piece, then `transcript.text.done`; 200 only after the
/// first event parsed.
async fn transcript_stream(
    mut events: UpstreamEvents,
    lease: StreamLease,
    shared: web::Data<AppState>,
    key: Credentials,
    trace: Trace,
    files: FileSession,
) -> Result<HttpResponse, ApiError> {
    let first = match events.next().await? {
        Some(item) => Some(event_of(item).map_err(|e| shared.keys.redact_error(e, &key))?),
        None => None,
    };
    trace.upstream_first_event();
    let body = async_stream::stream! {
        // The uploaded file lives until the stream ends (or the client goes away).
        let _files = files;
        let mut text = String::new();
        let mut usage = None;
        let mut pending = first;
        loop {
            let event = match pending.take() {
                Some(event) => event,
                None => match events.next().await {
                    Ok(Some(item)) => match event_of(item) {
                        Ok(event) => event,
                        Err(e) => {
                            trace.failed_in_band();
                            let e = shared.keys.redact_error(e, &key);
                            yield Ok::<_, actix_web::Error>(sse::raw_event(&e.envelope()));
                            return;
                        }
                    },
                    Ok(None) => break,
                    Err(e) => {
                        trace.failed_in_band();
                        yield Ok(sse::raw_event(&e.envelope()));
                        return;
                    }
                },
            };
            if event.usage_metadata.is_some() {
                usage = event.usage_metadata;
            }
            let delta = transcription::text_of(&event);
            if !delta.is_empty() {
                text.push_str(&delta);
                yield Ok(sse::event(&TranscriptStreamEvent::Delta { delta }));
            }
        }
        if let Some(u) = &usage {
            trace.set_usage(u.prompt_token_count, u.candidates_token_count);
        }
        let usage = transcription::usage(usage.as_ref());
        yield Ok(sse::event(&TranscriptStreamEvent::Done { text: text.trim().to_owned(), usage }));
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(lease.wrap(body)))
}
