//! `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart/form-data) on
//! Gemini image models and Imagen; the mapping rules live in [`pollux_translate::images`],
//! the user's view in `docs/images.md`.
//!
//! A Gemini image model makes one image per call, so `n` images are `n` calls sent at once,
//! each holding its own slot of the upstream concurrency cap (a request that cannot get them
//! all is refused before anything is sent); Imagen's `:predict` calls (four images each) go
//! the same way. All of them run within the request's deadline. Images Gemini sends in
//! another type than `output_format` are re-encoded on the blocking pool
//! ([`crate::media::transcode`]).
//!
//! An edit's form is read field by field within `--max-body-bytes` (413 past it): `image`
//! (or `image[]`, repeated for several), `mask`, `prompt` and the same options as a
//! generation. Uploaded images must be PNG, JPEG or WebP, recognised by their bytes. When
//! the images together are above Gemini's inline limit, each goes through the Files API
//! ([`crate::media::files`]) and the generation runs on the key that uploaded them.

use actix_multipart::{Field, Multipart};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::future::try_join_all;
use futures_util::StreamExt;
use pollux_translate::gemini::{Blob, ImageContentResponse, Part, PredictResponse};
use pollux_translate::images::{
    add_usage, images_from_gemini, images_from_imagen, stream_dropped, stream_events, to_gemini,
    to_openai, EditImages, ImageCalls, ImagePlan, ImageRoute,
};
use pollux_translate::openai::ImageRequest;

use super::body::{check_declared, receive};
use super::call::{encode, gemini_json};
use super::generate::{unix_now, with_dropped};
use super::models::resolve_traced;
use crate::error::ApiError;
use crate::guard::takes_files;
use crate::keys::Credentials;
use crate::media::files::{FileSession, INLINE_LIMIT};
use crate::media::transcode;
use crate::observe::Trace;
use crate::resilience::Deadline;
use crate::sse;
use crate::state::AppState;
use crate::upstream::{Call, KeyPin, Upstream};

/// OpenAI's limit on the images of one edit.
const MAX_EDIT_IMAGES: usize = 16;
/// A text field of the form (the prompt is the longest: 32,000 characters at OpenAI).
const MAX_TEXT_FIELD: usize = 256 * 1024;

/// Adds both routes, with and without `/v1`.
pub fn register(cfg: &mut web::ServiceConfig) {
    for prefix in ["/v1", ""] {
        cfg.route(
            &format!("{prefix}/images/generations"),
            web::post().to(generations),
        );
        cfg.service(
            web::resource(format!("{prefix}/images/edits"))
                .name(&takes_files(&format!("{prefix}/images/edits")))
                .route(web::post().to(edits)),
        );
    }
}

pub async fn generations(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let (trace, key, request, _) = receive(
        &req,
        payload,
        &shared.config,
        &upstream,
        ImageRequest::from_slice,
    )
    .await?;
    let deadline = Deadline::start(shared.config.request_timeout());
    create(
        ImageRoute::Generation,
        &request,
        None,
        &trace,
        &key,
        &shared,
        &upstream,
        &deadline,
        None,
    )
    .await
}

pub async fn edits(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let trace = Trace::of(&req);
    // As in `receive` (routes/body.rs): the key before any of the body is read.
    let key = upstream.key_for(req.headers())?;
    let limit = shared.config.max_body_bytes;
    check_declared(req.headers(), limit)?;
    let form = Multipart::new(req.headers(), payload);
    let read = read_form(form, limit);
    let (request, inputs) = match shared.config.body_read_timeout() {
        Some(allowance) => tokio::time::timeout(allowance, read).await.map_err(|_| {
            ApiError::RequestTimeout("The request body arrived too slowly.".to_owned())
        })??,
        None => read.await?,
    };
    let deadline = Deadline::start(shared.config.request_timeout());
    let mut files = FileSession::new(upstream.clone(), key.clone());
    let edit = edit_parts(inputs, &mut files, &trace, &deadline).await?;
    create(
        ImageRoute::Edit,
        &request,
        Some(&edit),
        &trace,
        &key,
        &shared,
        &upstream,
        &deadline,
        files.pin(),
    )
    .await
}

/// An edit's uploaded files: each image (and the mask) with its type, in form order.
#[derive(Default)]
struct EditInputs {
    images: Vec<(&'static str, Bytes)>,
    mask: Option<(&'static str, Bytes)>,
}

/// The edit's images as Gemini parts: inline, or uploaded to the Files API when together
/// they are above Gemini's inline limit.
async fn edit_parts(
    inputs: EditInputs,
    files: &mut FileSession,
    trace: &Trace,
    deadline: &Deadline,
) -> Result<EditImages, ApiError> {
    let total: usize = inputs
        .images
        .iter()
        .chain(&inputs.mask)
        .map(|(_, bytes)| bytes.len())
        .sum();
    let upload = total > INLINE_LIMIT;
    let mut edit = EditImages::default();
    for (index, (mime_type, bytes)) in inputs.images.into_iter().enumerate() {
        let name = format!("image-{index}");
        edit.images
            .push(image_part(mime_type, bytes, upload, &name, files, trace, deadline).await?);
    }
    if let Some((mime_type, bytes)) = inputs.mask {
        edit.mask =
            Some(image_part(mime_type, bytes, upload, "mask", files, trace, deadline).await?);
    }
    Ok(edit)
}

async fn image_part(
    mime_type: &str,
    bytes: Bytes,
    upload: bool,
    name: &str,
    files: &mut FileSession,
    trace: &Trace,
    deadline: &Deadline,
) -> Result<Part, ApiError> {
    if upload {
        let file = files
            .upload(bytes, mime_type, name, trace, deadline)
            .await?;
        return Ok(Part::file(file));
    }
    Ok(Part::inline(Blob {
        mime_type: mime_type.to_owned(),
        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
    }))
}

/// The form of an edit: its options as an [`ImageRequest`], its images as they came.
async fn read_form(
    mut form: Multipart,
    limit: usize,
) -> Result<(ImageRequest, EditInputs), ApiError> {
    let mut request = ImageRequest::default();
    let mut edit = EditInputs::default();
    let mut total = 0usize;
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| form_error(format!("The form could not be read: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        let own_cap = match name.as_str() {
            "image" | "image[]" | "mask" => None,
            _ => Some(MAX_TEXT_FIELD),
        };
        let bytes = read_field(field, limit.saturating_sub(total), limit, own_cap).await?;
        total += bytes.len();
        match name.as_str() {
            "image" | "image[]" | "mask" => {
                let Some(mime_type) = transcode::sniff(&bytes) else {
                    return Err(ApiError::InvalidRequest {
                        message: format!(
                            "The '{name}' file is not a PNG, JPEG or WebP image: send one of \
                             those."
                        ),
                        param: Some(name),
                        code: Some("invalid_image_format".to_owned()),
                    });
                };
                let blob = (mime_type, bytes);
                if name == "mask" {
                    edit.mask = Some(blob);
                } else if edit.images.len() == MAX_EDIT_IMAGES {
                    return Err(form_param(
                        format!("At most {MAX_EDIT_IMAGES} images can be edited at once."),
                        "image",
                    ));
                } else {
                    edit.images.push(blob);
                }
            }
            _ => text_field(&mut request, &name, &bytes)?,
        }
    }
    if edit.images.is_empty() {
        return Err(form_param(
            "'image' is required: send the image to edit as a file field named 'image' (or \
             'image[]' for several).",
            "image",
        ));
    }
    Ok((request, edit))
}

/// One field's bytes: a 413 past what is left of the body limit (`remaining` of `limit`),
/// a 400 past `own_cap`, a text field's own bound.
async fn read_field(
    mut field: Field,
    remaining: usize,
    limit: usize,
    own_cap: Option<usize>,
) -> Result<Bytes, ApiError> {
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| form_error(format!("The form could not be read: {e}")))?;
        let len = out.len() + chunk.len();
        if len > remaining {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if let Some(cap) = own_cap.filter(|&cap| len > cap) {
            return Err(form_param(
                format!("The field is longer than {cap} bytes."),
                field.name().unwrap_or_default(),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Sets one text field of the form on `request`; unknown fields are ignored, as in JSON.
fn text_field(request: &mut ImageRequest, name: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| form_param(format!("'{name}' must be UTF-8 text."), name))?
        .to_owned();
    let number = |text: &str| {
        text.trim().parse::<u32>().map_err(|_| {
            form_param(
                format!("'{name}' must be a whole number (got '{text}')."),
                name,
            )
        })
    };
    match name {
        "prompt" => request.prompt = text,
        "model" => request.model = Some(text),
        "n" => request.n = Some(number(&text)?),
        "size" => request.size = Some(text),
        "quality" => request.quality = Some(text),
        "response_format" => request.response_format = Some(text),
        "output_format" => request.output_format = Some(text),
        "output_compression" => {
            request.output_compression = Some(u8::try_from(number(&text)?).unwrap_or(u8::MAX))
        }
        "stream" => request.stream = Some(text.trim() == "true"),
        "partial_images" => request.partial_images = Some(number(&text)?),
        _ => {}
    }
    Ok(())
}

fn form_error(message: String) -> ApiError {
    ApiError::InvalidRequest {
        message,
        param: None,
        code: Some("invalid_body".to_owned()),
    }
}

fn form_param(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param.to_owned()),
        code: None,
    }
}

/// Maps, calls Gemini, and answers: the part both routes share. `pin` keeps the calls on the
/// key that uploaded an edit's files. With `stream`, the answer is SSE: one `completed` event
/// per image, sent once all calls are back (a failure is still a plain error response).
#[allow(clippy::too_many_arguments)]
async fn create(
    route: ImageRoute,
    request: &ImageRequest,
    edit: Option<&EditImages>,
    trace: &Trace,
    key: &Credentials,
    shared: &AppState,
    upstream: &Upstream,
    deadline: &Deadline,
    pin: Option<&KeyPin>,
) -> Result<HttpResponse, ApiError> {
    let model = resolve_traced(&shared.settings, request.model.as_deref(), trace)?;
    let plan = to_gemini(request, &model.gemini, edit)?;
    let ImagePlan {
        calls,
        output,
        jpeg_quality,
    } = plan;
    let images = match calls {
        ImageCalls::Gemini { request, calls } => {
            let permits = (0..calls)
                .map(|_| shared.limiter.acquire())
                .collect::<Result<Vec<_>, _>>()?;
            let url = upstream.model_url(&model.gemini, "generateContent");
            let body = Bytes::from(encode(&request)?);
            let answers = try_join_all((0..calls).map(|_| {
                let mut call = Call::post_json(&url, key, body.clone());
                call.pin = pin;
                gemini_json::<ImageContentResponse>(upstream, call, trace, deadline)
            }))
            .await?;
            drop(permits);
            let mut images = Vec::new();
            for answer in answers {
                // Each call's usage goes with its first image, so the events add up to it.
                let (more, mut one) = images_from_gemini(answer)?;
                images.extend(more.into_iter().map(|blob| (blob, one.take())));
            }
            images
        }
        ImageCalls::Imagen(calls) => {
            let permits = calls
                .iter()
                .map(|_| shared.limiter.acquire())
                .collect::<Result<Vec<_>, _>>()?;
            let url = upstream.model_url(&model.gemini, "predict");
            let bodies = calls
                .iter()
                .map(|c| encode(c).map(Bytes::from))
                .collect::<Result<Vec<_>, _>>()?;
            let answers = try_join_all(bodies.into_iter().map(|body| {
                let call = Call::post_json(&url, key, body);
                gemini_json::<PredictResponse>(upstream, call, trace, deadline)
            }))
            .await?;
            drop(permits);
            let mut images = Vec::new();
            for answer in answers {
                images.extend(images_from_imagen(answer)?.into_iter().map(|b| (b, None)));
            }
            images
        }
    };
    log::debug!(
        "images: model={} images={} edit={}",
        model.gemini,
        images.len(),
        edit.is_some()
    );
    let encoded = web::block(move || {
        images
            .into_iter()
            .map(|(blob, usage)| Ok((transcode::to_format(&blob, output, jpeg_quality)?, usage)))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await
    .map_err(|e| ApiError::BadGateway {
        message: format!("Converting the images failed: {e}"),
        code: None,
    })??;
    if request.stream == Some(true) {
        let events = stream_events(route, request, encoded, output, unix_now());
        let body: Vec<Bytes> = events.iter().map(sse::event).collect();
        let response = HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(futures_util::stream::iter(
                body.into_iter().map(Ok::<_, actix_web::Error>),
            ));
        return Ok(with_dropped(response, stream_dropped(request)));
    }
    let mut usage = None;
    let mut images = Vec::with_capacity(encoded.len());
    for (image, one) in encoded {
        images.push(image);
        usage = add_usage(usage, one);
    }
    Ok(HttpResponse::Ok().json(to_openai(images, output, usage, unix_now())))
}
