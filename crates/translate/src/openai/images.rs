//! OpenAI image bodies: the `POST /v1/images/generations` request, the form fields of
//! `POST /v1/images/edits`, and the `ImagesResponse` both answer with
//! (<https://platform.openai.com/docs/api-reference/images>). The request is read leniently
//! (enumerated options arrive as strings so an unsupported value gets a 400 that names the
//! values that work, and unknown fields are ignored); the response is written exactly.

use serde::{Deserialize, Serialize};

use crate::TranslateError;

/// `POST /v1/images/generations` body; an edit's form fields fill the same struct.
#[derive(Debug, Default, Deserialize)]
pub struct ImageRequest {
    #[serde(default)]
    pub prompt: String,
    /// Optional here so a configured default model can apply.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub n: Option<u32>,
    /// `auto`, `WIDTHxHEIGHT`.
    #[serde(default)]
    pub size: Option<String>,
    /// `standard`/`hd` (DALL-E 3), `low`/`medium`/`high` (GPT image), `auto`.
    #[serde(default)]
    pub quality: Option<String>,
    /// `b64_json` (the only one Pollux serves) or `url`.
    #[serde(default)]
    pub response_format: Option<String>,
    /// `png` (default), `jpeg`, `webp`.
    #[serde(default)]
    pub output_format: Option<String>,
    /// 0-100, for `jpeg`.
    #[serde(default)]
    pub output_compression: Option<u8>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// 0-3 partial images before each final one, when streamed.
    #[serde(default)]
    pub partial_images: Option<u32>,
}

impl ImageRequest {
    /// Parses a request body, naming the offending field in the error (`param`).
    pub fn from_slice(body: &[u8]) -> Result<Self, TranslateError> {
        super::body::parse_body(body)
    }
}

/// `ImagesResponse`: `{"created", "data": [{"b64_json"}], "output_format", "usage"}`.
#[derive(Debug, Serialize)]
pub struct ImagesResponse {
    pub created: u64,
    pub data: Vec<ImageData>,
    pub output_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ImageUsage>,
}

#[derive(Debug, Serialize)]
pub struct ImageData {
    pub b64_json: String,
}

/// A streamed image: `ImageGenCompletedEvent` (`image_generation.completed`) or
/// `ImageEditCompletedEvent` (`image_edit.completed`), one per final image. `size`,
/// `quality` and `background` echo the request within OpenAI's enums (`auto` otherwise).
#[derive(Debug, Serialize)]
pub struct ImageCompletedEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub b64_json: String,
    pub created_at: u64,
    pub size: &'static str,
    pub quality: &'static str,
    pub background: &'static str,
    pub output_format: &'static str,
    pub usage: ImageUsage,
}

/// `ImageGenUsage`, from Gemini's token counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImageUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub input_tokens_details: ImageInputTokens,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImageInputTokens {
    pub text_tokens: u64,
    pub image_tokens: u64,
}
