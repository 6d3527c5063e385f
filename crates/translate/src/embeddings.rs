//! OpenAI embeddings (`POST /v1/embeddings`,
//! <https://platform.openai.com/docs/api-reference/embeddings>) on Gemini's `embedContent` and
//! `batchEmbedContents` (<https://ai.google.dev/api/embeddings>).
//!
//! - A single string becomes one `embedContent` call; an array of strings becomes
//!   `batchEmbedContents` calls of at most [`gemini::MAX_BATCH`] texts each, whose answers
//!   are joined back in input order.
//! - `dimensions` becomes `outputDimensionality`.
//! - `encoding_format: "base64"` is OpenAI's encoding: the vector's little-endian `f32` bytes
//!   in standard base64 (with padding).
//! - Token-array input (ids of OpenAI's tokenizer) means nothing to Gemini: refused with 400.
//! - Gemini reports no token counts for embeddings, and Pollux does not guess: `usage` is 0.

use crate::openai::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
    EmbeddingVector, EncodingFormat,
};
use crate::{gemini, TranslateError};

/// OpenAI's own limit on the number of inputs in one request.
pub const MAX_INPUTS: usize = 2048;

/// The upstream calls one embeddings request needs.
#[derive(Debug, Clone)]
pub enum EmbedCalls {
    /// `models/{model}:embedContent`.
    Single(gemini::EmbedContentRequest),
    /// `models/{model}:batchEmbedContents`, one call per batch, in input order.
    Batches(Vec<gemini::BatchEmbedContentsRequest>),
}

impl EmbedCalls {
    /// How many vectors the calls return in all.
    pub fn expected(&self) -> usize {
        match self {
            EmbedCalls::Single(_) => 1,
            EmbedCalls::Batches(b) => b.iter().map(|b| b.requests.len()).sum(),
        }
    }
}

/// Maps a request for `model` (a Gemini id, without `models/`) to its upstream calls.
pub fn to_gemini(req: &EmbeddingRequest, model: &str) -> Result<EmbedCalls, TranslateError> {
    if req.dimensions == Some(0) {
        return Err(TranslateError::invalid(
            "'dimensions' must be at least 1.",
            "dimensions",
        ));
    }
    let one = |text: &str, param: String, batch: bool| {
        if text.is_empty() {
            return Err(TranslateError::invalid(
                "Embedding input must not be an empty string.",
                param,
            ));
        }
        Ok(gemini::EmbedContentRequest {
            model: batch.then(|| format!("models/{model}")),
            content: gemini::Content {
                role: None,
                parts: vec![gemini::Part {
                    text: Some(text.to_owned()),
                    ..Default::default()
                }],
            },
            output_dimensionality: req.dimensions,
        })
    };
    match &req.input {
        EmbeddingInput::One(text) => Ok(EmbedCalls::Single(one(text, "input".to_owned(), false)?)),
        EmbeddingInput::Many(texts) => {
            if texts.is_empty() || texts.len() > MAX_INPUTS {
                return Err(TranslateError::invalid(
                    format!("'input' must hold between 1 and {MAX_INPUTS} strings."),
                    "input",
                ));
            }
            let requests = texts
                .iter()
                .enumerate()
                .map(|(i, t)| one(t, format!("input[{i}]"), true))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(EmbedCalls::Batches(
                requests
                    .chunks(gemini::MAX_BATCH)
                    .map(|c| gemini::BatchEmbedContentsRequest {
                        requests: c.to_vec(),
                    })
                    .collect(),
            ))
        }
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenArrays(_) => {
            Err(TranslateError::InvalidRequest {
                message: "Token-array input is not supported: Gemini embeds text, not OpenAI \
                          token ids. Send the text as a string or an array of strings."
                    .to_owned(),
                param: Some("input".to_owned()),
                code: Some("unsupported_input"),
            })
        }
    }
}

/// Builds the OpenAI answer from the vectors, in input order; `model` is the name the client
/// used.
pub fn to_openai(
    vectors: Vec<Vec<f32>>,
    format: EncodingFormat,
    model: String,
) -> EmbeddingResponse {
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, values)| Embedding {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => EmbeddingVector::Float(values),
                EncodingFormat::Base64 => EmbeddingVector::Base64(base64_f32_le(&values)),
            },
        })
        .collect();
    EmbeddingResponse {
        object: "list",
        data,
        model,
        usage: EmbeddingUsage {
            prompt_tokens: 0,
            total_tokens: 0,
        },
    }
}

/// Standard base64 (RFC 4648, with padding) of the little-endian bytes of `values`.
pub fn base64_f32_le(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64(&bytes)
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: serde_json::Value) -> EmbeddingRequest {
        EmbeddingRequest::from_slice(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // 1.0f32 is 0x3f800000: bytes 00 00 80 3f little-endian.
        assert_eq!(base64_f32_le(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32_le(&[1.0, -2.0]), "AACAPwAAAMA=");
    }

    #[test]
    fn single_string_is_one_embed_content() {
        let req = request(json!({"model": "text-embedding-004", "input": "hi", "dimensions": 8}));
        let EmbedCalls::Single(call) = to_gemini(&req, "text-embedding-004").unwrap() else {
            panic!("not single");
        };
        assert_eq!(
            serde_json::to_value(&call).unwrap(),
            json!({"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 8})
        );
    }

    #[test]
    fn arrays_split_into_batches_of_100_in_order() {
        let texts: Vec<String> = (0..250).map(|i| format!("t{i}")).collect();
        let req = request(json!({"model": "m", "input": texts}));
        let calls = to_gemini(&req, "gemini-embedding-001").unwrap();
        assert_eq!(calls.expected(), 250);
        let EmbedCalls::Batches(batches) = calls else {
            panic!("not batches");
        };
        let sizes: Vec<usize> = batches.iter().map(|b| b.requests.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let first = serde_json::to_value(&batches[1].requests[0]).unwrap();
        assert_eq!(
            first,
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "t100"}]}})
        );
    }

    #[test]
    fn token_input_empty_input_and_zero_dimensions_are_refused() {
        for body in [
            json!({"input": [1, 2, 3]}),
            json!({"input": [[1, 2], [3]]}),
            json!({"input": ""}),
            json!({"input": []}),
            json!({"input": ["a", ""]}),
            json!({"input": "a", "dimensions": 0}),
        ] {
            let err = to_gemini(&request(body.clone()), "m").unwrap_err();
            assert!(
                matches!(err, TranslateError::InvalidRequest { .. }),
                "{body}: {err:?}"
            );
        }
        let err = to_gemini(&request(json!({"input": [1, 2]})), "m").unwrap_err();
        assert!(err.to_string().contains("Token-array input"), "{err}");
    }

    #[test]
    fn response_shapes() {
        let out = to_openai(
            vec![vec![0.5, 1.0], vec![2.0]],
            EncodingFormat::Float,
            "alias".into(),
        );
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"object": "list", "model": "alias", "usage": {"prompt_tokens": 0, "total_tokens": 0},
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 1.0]},
                         {"object": "embedding", "index": 1, "embedding": [2.0]}]})
        );
        let out = to_openai(vec![vec![1.0]], EncodingFormat::Base64, "m".into());
        assert_eq!(
            serde_json::to_value(&out).unwrap()["data"][0]["embedding"],
            "AACAPw=="
        );
    }
}
