//! Gemini embedding bodies: `models/{model}:embedContent` and `:batchEmbedContents`
//! (<https://ai.google.dev/api/embeddings>). Requests are written strictly (unset options are
//! left out, as the API rejects unknown fields); responses are read leniently.
//!
//! Vertex AI embeds text with the text embedding models' `:predict`
//! (<https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api>):
//! [`PredictEmbeddingsRequest`] and [`PredictEmbeddingsResponse`].

use serde::{Deserialize, Serialize};

use super::Content;

/// `POST models/{model}:embedContent` body, and one entry of a batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest {
    /// `models/{id}`. Required on each entry of a batch (and must name the batch's model);
    /// optional on a single call, where the URL names the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub content: Content,
    /// Truncates the vector to this many dimensions (newer models only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

/// `POST models/{model}:batchEmbedContents` body (at most [`MAX_BATCH`] requests).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEmbedContentsRequest {
    pub requests: Vec<EmbedContentRequest>,
}

/// Gemini refuses a `batchEmbedContents` call with more than 100 requests.
pub const MAX_BATCH: usize = 100;

/// `embedContent` answer.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentResponse {
    #[serde(default)]
    pub embedding: ContentEmbedding,
}

/// `batchEmbedContents` answer: one embedding per request, in request order.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEmbedContentsResponse {
    #[serde(default)]
    pub embeddings: Vec<ContentEmbedding>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentEmbedding {
    #[serde(default)]
    pub values: Vec<f32>,
}

/// Vertex AI `POST .../publishers/google/models/{model}:predict` body of a text embedding
/// model: one instance per text.
#[derive(Debug, Clone, Serialize)]
pub struct PredictEmbeddingsRequest {
    pub instances: Vec<EmbedInstance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<EmbedParameters>,
}

/// One text to embed.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedInstance {
    pub content: String,
}

/// The options of a `:predict` call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

/// `:predict` answer: one prediction per instance, in order.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PredictEmbeddingsResponse {
    #[serde(default)]
    pub predictions: Vec<EmbeddingPrediction>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct EmbeddingPrediction {
    #[serde(default)]
    pub embeddings: PredictedEmbedding,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct PredictedEmbedding {
    #[serde(default)]
    pub values: Vec<f32>,
    #[serde(default)]
    pub statistics: Option<EmbeddingStatistics>,
}

/// Written in snake_case by Vertex AI (a `google.protobuf.Value`, so numbers may arrive as
/// doubles).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EmbeddingStatistics {
    #[serde(default)]
    pub token_count: f64,
    #[serde(default)]
    pub truncated: bool,
}
