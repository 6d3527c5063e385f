//! `POST /v1/embeddings` on Gemini's `embedContent` / `batchEmbedContents`; the mapping
//! rules live in [`pollux_translate::embeddings`]. Batches go out one after another, so the
//! answer keeps the input order and one request never holds more than one upstream call;
//! that call holds one slot of the upstream concurrency cap, and all of them run within the
//! overall request deadline ([`crate::resilience`]).

use actix_web::{web, HttpRequest, HttpResponse};
use pollux_translate::embeddings::{to_gemini, to_openai, EmbedCalls};
use pollux_translate::gemini::{BatchEmbedContentsResponse, EmbedContentResponse};
use pollux_translate::openai::{EmbeddingRequest, EncodingFormat};

use super::body::read_limited;
use super::call::{encode, gemini_json};
use super::models::resolve;
use crate::error::ApiError;
use crate::resilience::Deadline;
use crate::state::AppState;
use crate::upstream::Upstream;

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    // The key first, from the headers: an unauthorized client never gets its body read.
    let key = upstream.key_for(req.headers())?;
    let body = read_limited(payload, req.headers(), &shared.config).await?;
    let request = EmbeddingRequest::from_slice(&body)?;
    let model = resolve(&shared.settings, request.model.as_deref())?;
    let calls = to_gemini(&request, &model.gemini)?;
    let expected = calls.expected();
    let deadline = Deadline::start(shared.config.request_timeout());
    let _permit = shared.limiter.acquire()?;
    let mut vectors = Vec::with_capacity(expected);
    match calls {
        EmbedCalls::Single(call) => {
            let url = upstream.model_url(&model.gemini, "embedContent");
            let answer: EmbedContentResponse = deadline
                .within(gemini_json(&upstream, &url, &key, Some(encode(&call)?)))
                .await?;
            vectors.push(answer.embedding.values);
        }
        EmbedCalls::Batches(batches) => {
            let url = upstream.model_url(&model.gemini, "batchEmbedContents");
            for batch in &batches {
                let answer: BatchEmbedContentsResponse = deadline
                    .within(gemini_json(&upstream, &url, &key, Some(encode(batch)?)))
                    .await?;
                if answer.embeddings.len() != batch.requests.len() {
                    return Err(ApiError::BadGateway {
                        message: format!(
                            "The upstream returned {} embeddings for {} inputs.",
                            answer.embeddings.len(),
                            batch.requests.len()
                        ),
                        code: Some("upstream_error".to_owned()),
                    });
                }
                vectors.extend(answer.embeddings.into_iter().map(|e| e.values));
            }
        }
    }
    log::debug!("embeddings: model={} inputs={expected}", model.gemini);
    let format = request.encoding_format.unwrap_or(EncodingFormat::Float);
    Ok(HttpResponse::Ok().json(to_openai(vectors, format, model.client)))
}
