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
//! - The Gemini API reports no token counts for embeddings, and Pollux does not guess: `usage`
//!   is 0. Vertex AI counts them (`statistics.token_count`): `usage` is their sum.
//! - On Vertex AI ([`to_vertex`]) the texts go to the model's `:predict` as `instances`, as
//!   many per call as the model takes ([`vertex_batch_size`]).

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

/// The texts of a request, checked: `(texts, single)`, where `single` says the input was
/// one string rather than an array.
fn texts(req: &EmbeddingRequest) -> Result<(Vec<&str>, bool), TranslateError> {
    if req.dimensions == Some(0) {
        return Err(TranslateError::invalid(
            "'dimensions' must be at least 1.",
            "dimensions",
        ));
    }
    let empty = |param: String| {
        TranslateError::invalid("Embedding input must not be an empty string.", param)
    };
    match &req.input {
        EmbeddingInput::One(text) if text.is_empty() => Err(empty("input".to_owned())),
        EmbeddingInput::One(text) => Ok((vec![text.as_str()], true)),
        EmbeddingInput::Many(texts) => {
            if texts.is_empty() || texts.len() > MAX_INPUTS {
                return Err(TranslateError::invalid(
                    format!("'input' must hold between 1 and {MAX_INPUTS} strings."),
                    "input",
                ));
            }
            if let Some(i) = texts.iter().position(String::is_empty) {
                return Err(empty(format!("input[{i}]")));
            }
            Ok((texts.iter().map(String::as_str).collect(), false))
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

/// Maps a request for `model` (a Gemini id, without `models/`) to its upstream calls.
pub fn to_gemini(req: &EmbeddingRequest, model: &str) -> Result<EmbedCalls, TranslateError> {
    let (texts, single) = texts(req)?;
    let one = |text: &str, batch: bool| gemini::EmbedContentRequest {
        model: batch.then(|| format!("models/{model}")),
        content: gemini::Content {
            role: None,
            parts: vec![gemini::Part {
                text: Some(text.to_owned()),
                ..Default::default()
            }],
        },
        output_dimensionality: req.dimensions,
    };
    if single {
        return Ok(EmbedCalls::Single(one(texts[0], false)));
    }
    Ok(EmbedCalls::Batches(
        texts
            .chunks(gemini::MAX_BATCH)
            .map(|c| gemini::BatchEmbedContentsRequest {
                requests: c.iter().map(|t| one(t, true)).collect(),
            })
            .collect(),
    ))
}

/// The most texts one Vertex AI `:predict` call of `model` takes: Gemini embedding models
/// embed one instance per request, the `text-embedding-*` models up to 250
/// (<https://cloud.google.com/vertex-ai/generative-ai/docs/embeddings/get-text-embeddings>).
pub fn vertex_batch_size(model: &str) -> usize {
    if model.starts_with("gemini-") {
        1
    } else {
        250
    }
}

/// Maps a request for `model` to Vertex AI `:predict` calls, in input order, each of at most
/// [`vertex_batch_size`] texts; `dimensions` becomes `parameters.outputDimensionality`.
pub fn to_vertex(
    req: &EmbeddingRequest,
    model: &str,
) -> Result<Vec<gemini::PredictEmbeddingsRequest>, TranslateError> {
    let (texts, _) = texts(req)?;
    let parameters = req.dimensions.map(|d| gemini::EmbedParameters {
        output_dimensionality: Some(d),
    });
    Ok(texts
        .chunks(vertex_batch_size(model))
        .map(|c| gemini::PredictEmbeddingsRequest {
            instances: c
                .iter()
                .map(|t| gemini::EmbedInstance {
                    content: (*t).to_owned(),
                })
                .collect(),
            parameters: parameters.clone(),
        })
        .collect())
}

/// The vectors and the token count of one `:predict` answer, which must hold `expected`
/// predictions.
pub fn from_vertex(
    answer: gemini::PredictEmbeddingsResponse,
    expected: usize,
) -> Result<(Vec<Vec<f32>>, u64), TranslateError> {
    if answer.predictions.len() != expected {
        return Err(TranslateError::UpstreamFormat(format!(
            "The upstream returned {} embeddings for {expected} inputs.",
            answer.predictions.len()
        )));
    }
    let mut tokens = 0u64;
    let vectors = answer
        .predictions
        .into_iter()
        .map(|p| {
            if let Some(s) = &p.embeddings.statistics {
                // A count is a whole number; a double only by the wire's encoding.
                tokens += s.token_count.max(0.0) as u64;
            }
            p.embeddings.values
        })
        .collect();
    Ok((vectors, tokens))
}

/// Builds the OpenAI answer from the vectors, in input order; `model` is the name the client
/// used, `tokens` the input tokens the upstream counted (Vertex AI counts them, the Gemini
/// API does not: 0).
pub fn to_openai(
    vectors: Vec<Vec<f32>>,
    format: EncodingFormat,
    model: String,
    tokens: u64,
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
            prompt_tokens: tokens,
            total_tokens: tokens,
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
            0,
        );
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"object": "list", "model": "alias", "usage": {"prompt_tokens": 0, "total_tokens": 0},
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 1.0]},
                         {"object": "embedding", "index": 1, "embedding": [2.0]}]})
        );
        let out = to_openai(vec![vec![1.0]], EncodingFormat::Base64, "m".into(), 7);
        assert_eq!(
            serde_json::to_value(&out).unwrap()["usage"],
            json!({"prompt_tokens": 7, "total_tokens": 7})
        );
        assert_eq!(
            serde_json::to_value(&out).unwrap()["data"][0]["embedding"],
            "AACAPw=="
        );
    }

    #[test]
    fn vertex_predict_batches_by_model_and_reads_token_counts() {
        let texts: Vec<String> = (0..260).map(|i| format!("t{i}")).collect();
        let req = request(json!({"input": texts, "dimensions": 64}));
        let calls = to_vertex(&req, "text-embedding-005").unwrap();
        let sizes: Vec<usize> = calls.iter().map(|c| c.instances.len()).collect();
        assert_eq!(sizes, [250, 10]);
        assert_eq!(
            serde_json::to_value(&calls[1]).unwrap()["instances"][0],
            json!({"content": "t250"})
        );
        assert_eq!(
            serde_json::to_value(&calls[0]).unwrap()["parameters"],
            json!({"outputDimensionality": 64})
        );
        let one = to_vertex(
            &request(json!({"input": ["a", "b"]})),
            "gemini-embedding-001",
        )
        .unwrap();
        assert_eq!(one.len(), 2);
        assert_eq!(
            serde_json::to_value(&one[0]).unwrap(),
            json!({"instances": [{"content": "a"}]})
        );
        assert!(to_vertex(&request(json!({"input": ["a", ""]})), "m").is_err());
        let answer: gemini::PredictEmbeddingsResponse = serde_json::from_value(json!({
            "predictions": [
                {"embeddings": {"values": [0.5], "statistics": {"token_count": 3.0, "truncated": false}}},
                {"embeddings": {"values": [1.5], "statistics": {"token_count": 2}}}
            ],
            "metadata": {"billableCharacterCount": 4}
        }))
        .unwrap();
        let (vectors, tokens) = from_vertex(answer.clone(), 2).unwrap();
        assert_eq!((vectors, tokens), (vec![vec![0.5], vec![1.5]], 5));
        assert!(from_vertex(answer, 3).is_err());
    }
}
