//! Gemini image bodies. Gemini image models (`gemini-2.5-flash-image`,
//! `gemini-3-pro-image-preview`) answer `generateContent` with image parts when asked for the
//! `IMAGE` modality, sized by `generationConfig.imageConfig`
//! (<https://ai.google.dev/gemini-api/docs/image-generation>); Imagen models answer
//! `models/{model}:predict` (<https://ai.google.dev/gemini-api/docs/imagen>). Requests are
//! written strictly, responses read leniently.

use serde::{Deserialize, Serialize};

use super::{Candidate, Content, PromptFeedback};

/// `generateContent` body for an image model: the prompt turn and the image options.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageContentRequest {
    pub contents: Vec<Content>,
    pub generation_config: ImageGenerationConfig,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageGenerationConfig {
    pub response_modalities: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_config: Option<ImageConfig>,
}

/// `generationConfig.imageConfig`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageConfig {
    /// `1:1`, `2:3`, `3:2`, `3:4`, `4:3`, `4:5`, `5:4`, `9:16`, `16:9`, `21:9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<&'static str>,
    /// `1K` (default), `2K`, `4K`; Gemini 3 image models only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<&'static str>,
}

/// `generateContent` answer of an image model: [`super::GenerateContentResponse`] with the
/// per-modality prompt counts that `usage` needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<ImageUsageMetadata>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageUsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub total_token_count: u64,
    #[serde(default)]
    pub prompt_tokens_details: Vec<ModalityTokenCount>,
}

/// One modality's share of a token count (`TEXT`, `IMAGE`, `AUDIO`, ...).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModalityTokenCount {
    #[serde(default)]
    pub modality: String,
    #[serde(default)]
    pub token_count: u64,
}

/// `POST models/{imagen}:predict` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictRequest {
    pub instances: Vec<PredictInstance>,
    pub parameters: PredictParameters,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictInstance {
    pub prompt: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictParameters {
    /// 1 to [`MAX_SAMPLES`].
    pub sample_count: u32,
    /// `1:1`, `3:4`, `4:3`, `9:16`, `16:9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<&'static str>,
    /// `1K` or `2K` (Standard and Ultra only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<&'static str>,
}

/// Imagen makes at most this many images per `:predict` call.
pub const MAX_SAMPLES: u32 = 4;

/// `:predict` answer: one prediction per image; an image the safety filter removed is
/// missing, or (with `includeRaiReason`) a prediction holding only `raiFilteredReason`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictResponse {
    #[serde(default)]
    pub predictions: Vec<Prediction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    #[serde(default)]
    pub bytes_base64_encoded: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub rai_filtered_reason: Option<String>,
}
