//! OpenAI `POST /v1/embeddings` bodies
//! (<https://platform.openai.com/docs/api-reference/embeddings>). The request is read
//! leniently (`user` and unknown fields are ignored); the response is written exactly.

use serde::{Deserialize, Serialize};

use crate::TranslateError;

#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    pub input: EmbeddingInput,
    /// Optional here so a configured default model can apply.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

impl EmbeddingRequest {
    /// Parses a request body, naming the offending field in the error (`param`).
    pub fn from_slice(body: &[u8]) -> Result<Self, TranslateError> {
        super::body::parse_body(body)
    }
}

/// `input`: a string, an array of strings, or (OpenAI's tokenizer only) token arrays.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    /// Token ids of OpenAI's tokenizer; meaningless to Gemini, refused with a clear 400.
    Tokens(Vec<i64>),
    TokenArrays(Vec<Vec<i64>>),
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// `{"object": "list", "data", "model", "usage"}`.
#[derive(Debug, Serialize)]
pub struct EmbeddingResponse {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Serialize)]
pub struct Embedding {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingVector,
}

/// A float array, or with `encoding_format: "base64"` the little-endian `f32` bytes in base64.
#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}
