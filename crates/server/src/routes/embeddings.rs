//! `POST /v1/embeddings` on Gemini's `embedContent` / `batchEmbedContents`; the mapping
//! rules live in [`pollux_translate::embeddings`]. Batches go out one after another, so the
//! answer keeps the input order and one request never holds more than one upstream call;
//! that call holds one slot of the upstream concurrency cap, and all of them run within the
//! overall request deadline ([`crate::resilience`]).
//!
//! A request without `dimensions` made under an alias gets the alias's size
//! ([`super::models::Resolved::dimensions`]): an OpenAI embedding name keeps its OpenAI size.
//!
//! With Vertex AI upstream the texts go to the model's `:predict` instead
//! ([`pollux_translate::embeddings::to_vertex`]), in as many calls as the model needs, and
//! the answer's `usage` counts the tokens Vertex reports.

use actix_web::{web, HttpRequest, HttpResponse};
use pollux_translate::embeddings::{from_vertex, to_gemini, to_openai, to_vertex, EmbedCalls};
use pollux_translate::gemini::{
    BatchEmbedContentsResponse, EmbedContentResponse, PredictEmbeddingsResponse,
};
use pollux_translate::openai::{EmbeddingRequest, EncodingFormat};
use pollux_translate::Dialect;

use super::body::receive;
use super::call::{encode, gemini_json};
use super::models::resolve_traced;
use crate::error::ApiError;
use crate::resilience::Deadline;
use crate::state::AppState;
use crate::upstream::{Call, Upstream};

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<AppState>,
    upstream: web::Data<Upstream>,
) -> Result<HttpResponse, ApiError> {
    let (trace, key, mut request, _) = receive(
        &req,
        payload,
        &shared.config,
        &upstream,
        EmbeddingRequest::from_slice,
    )
    .await?;
    let model = resolve_traced(&shared.settings, request.model.as_deref(), &trace)?;
    // An alias's size (its own, or an OpenAI name's) unless the client asked for one.
    request.dimensions = request.dimensions.or(model.dimensions);
    let format = request.encoding_format.unwrap_or(EncodingFormat::Float);
    let deadline = Deadline::start(shared.config.request_timeout());
    if upstream.endpoint().dialect() == Dialect::Vertex {
        let calls = to_vertex(&request, &model.gemini)?;
        let url = upstream.model_url(&model.gemini, "predict");
        let _permit = shared.limiter.acquire()?;
        let mut vectors = Vec::new();
        let mut tokens = 0;
        for call in &calls {
            let body = Call::post_json(&url, &key, encode(call)?);
            let answer: PredictEmbeddingsResponse =
                gemini_json(&upstream, body, &trace, &deadline).await?;
            let (more, counted) = from_vertex(answer, call.instances.len())?;
            vectors.extend(more);
            tokens += counted;
        }
        log::debug!(
            "embeddings (vertex): model={} inputs={}",
            model.gemini,
            vectors.len()
        );
        return Ok(HttpResponse::Ok().json(to_openai(vectors, format, model.client, tokens)));
    }
    let calls = to_gemini(&request, &model.gemini)?;
    let expected = calls.expected();
    let _permit = shared.limiter.acquire()?;
    let mut vectors = Vec::with_capacity(expected);
    match calls {
        EmbedCalls::Single(call) => {
            let url = upstream.model_url(&model.gemini, "embedContent");
            let call = Call::post_json(&url, &key, encode(&call)?);
            let answer: EmbedContentResponse =
                gemini_json(&upstream, call, &trace, &deadline).await?;
            vectors.push(answer.embedding.values);
        }
        EmbedCalls::Batches(batches) => {
            let url = upstream.model_url(&model.gemini, "batchEmbedContents");
            for batch in &batches {
                let call = Call::post_json(&url, &key, encode(batch)?);
                let answer: BatchEmbedContentsResponse =
                    gemini_json(&upstream, call, &trace, &deadline).await?;
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
    Ok(HttpResponse::Ok().json(to_openai(vectors, format, model.client, 0)))
}
