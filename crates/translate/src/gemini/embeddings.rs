//! Gemini embedding bodies: `models/{model}:embedContent` and `:batchEmbedContents`
//! (<https://ai.google.dev/api/embeddings>). Requests are written strictly (unset options are
//! left out, as the API rejects unknown fields); responses are read leniently.

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
