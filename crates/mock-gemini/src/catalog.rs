//! The model catalog and the embedding RPCs: `GET .../v1beta/models` (paged with `pageSize` /
//! `pageToken` → `nextPageToken`, <https://ai.google.dev/api/models#method:-models.list>),
//! `GET .../v1beta/models/{model}`, `POST .../models/{model}:embedContent` and
//! `:batchEmbedContents` (<https://ai.google.dev/api/embeddings>).
//!
//! The catalog is a list of Gemini `Model` objects a test may replace
//! ([`crate::MockGemini::set_models`]); the default is a realistic slice of the real list,
//! including a text-to-speech model that serves no `generateContent`. Embeddings are fake but
//! deterministic: the same text and dimensionality always give the same unit-length vector.
//! Embedding requests are checked as Gemini checks them (oracle schema, batch limit of 100,
//! every batch entry naming the URL's model, non-empty text, a model that embeds).

use serde_json::{json, Value};

use crate::checks::{schema_rejection, Rejection};
use crate::oracle::violations;

/// The page size Gemini uses when the request names none.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Gemini refuses larger batches.
pub const MAX_BATCH: usize = 100;

fn model(id: &str, display: &str, methods: &[&str], input: u64, output: u64) -> Value {
    json!({
        "name": format!("models/{id}"),
        "version": "001",
        "displayName": display,
        "description": format!("{display} (mock-gemini)"),
        "inputTokenLimit": input,
        "outputTokenLimit": output,
        "supportedGenerationMethods": methods,
    })
}

/// A realistic default catalog: chat models, embedding models, and one TTS-only model.
pub fn default_models() -> Vec<Value> {
    let chat = [
        "generateContent",
        "countTokens",
        "createCachedContent",
        "batchGenerateContent",
    ];
    let mut out = vec![
        model(
            "gemini-2.5-flash",
            "Gemini 2.5 Flash",
            &chat,
            1_048_576,
            65_536,
        ),
        model("gemini-2.5-pro", "Gemini 2.5 Pro", &chat, 1_048_576, 65_536),
        model(
            "gemini-2.5-flash-lite",
            "Gemini 2.5 Flash-Lite",
            &chat,
            1_048_576,
            65_536,
        ),
        model(
            "gemini-2.5-flash-preview-tts",
            "Gemini 2.5 Flash Preview TTS",
            &["countTokens", "generateSpeech"],
            8_192,
            16_384,
        ),
        model(
            "gemini-3-pro-preview",
            "Gemini 3 Pro Preview",
            &chat,
            1_048_576,
            65_536,
        ),
        model(
            "text-embedding-004",
            "Text Embedding 004",
            &["embedContent"],
            2_048,
            1,
        ),
        model(
            "gemini-embedding-001",
            "Gemini Embedding 001",
            &["embedContent", "countTextTokens", "countTokens"],
            2_048,
            1,
        ),
    ];
    for m in &mut out {
        if m["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("models/gemini-2.5") || n.starts_with("models/gemini-3"))
        {
            m["temperature"] = json!(1.0);
            m["topP"] = json!(0.95);
            m["topK"] = json!(64);
            m["maxTemperature"] = json!(2.0);
            m["thinking"] = json!(true);
        }
    }
    out
}

/// One page of `models` per the request's `pageSize` (capped at `max_page_size`) and
/// `pageToken` (the offset, as the mock writes it).
pub fn list(
    models: &[Value],
    query: &[(String, String)],
    max_page_size: usize,
) -> Result<Value, Rejection> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let size = match get("pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => v.parse::<usize>().map_err(|_| {
            Rejection::invalid(format!(
                "Invalid value at 'page_size' (TYPE_INT32), \"{v}\""
            ))
        })?,
    };
    let size = if size == 0 { DEFAULT_PAGE_SIZE } else { size }.min(max_page_size.max(1));
    let start = match get("pageToken") {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= models.len())
            .ok_or_else(|| Rejection::invalid("Invalid page token."))?,
    };
    let end = (start + size).min(models.len());
    let mut page = json!({ "models": &models[start..end] });
    if end < models.len() {
        page["nextPageToken"] = json!(format!("page-{end}"));
    }
    Ok(page)
}

/// `GET models/{id}`.
pub fn get(models: &[Value], id: &str) -> Result<Value, Rejection> {
    find(models, id)
        .cloned()
        .ok_or_else(|| Rejection::new(404, "NOT_FOUND", format!("models/{id} is not found for API version v1beta, or is not supported for GET. Call ListModels to see the list of available models and their supported methods.")))
}

fn find<'a>(models: &'a [Value], id: &str) -> Option<&'a Value> {
    let name = format!("models/{id}");
    models.iter().find(|m| m["name"] == name.as_str())
}

fn check_embeds(models: &[Value], id: &str, rpc: &str) -> Result<(), Rejection> {
    let embeds = find(models, id).is_some_and(|m| {
        m["supportedGenerationMethods"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "embedContent"))
    });
    if embeds {
        Ok(())
    } else {
        Err(Rejection::new(404, "NOT_FOUND", format!("models/{id} is not found for API version v1beta, or is not supported for {rpc}. Call ListModels to see the list of available models and their supported methods.")))
    }
}

/// Whether `rpc` is one of the embedding RPCs [`embed`] serves.
pub fn is_embed_rpc(rpc: &str) -> bool {
    matches!(rpc, "embedContent" | "batchEmbedContents")
}

/// `:embedContent` (anything else is treated as `:batchEmbedContents`).
pub fn embed(
    models: &[Value],
    id: &str,
    rpc: &str,
    body: &[u8],
    validate: bool,
) -> Result<Value, Rejection> {
    let def = if rpc == "embedContent" {
        "EmbedContentRequest"
    } else {
        "BatchEmbedContentsRequest"
    };
    check_embeds(models, id, rpc)?;
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!(
            "Invalid JSON payload received. Unexpected token.\n({e})"
        ))
    })?;
    if validate {
        let found = violations(def, &value).map_err(|e| Rejection::new(500, "INTERNAL", e))?;
        if !found.is_empty() {
            return Err(schema_rejection(&found));
        }
    }
    if rpc == "embedContent" {
        return Ok(json!({ "embedding": embedding(&value, id)? }));
    }
    let requests = value["requests"].as_array().map_or(&[][..], Vec::as_slice);
    if requests.is_empty() {
        return Err(Rejection::invalid(
            "* BatchEmbedContentsRequest.requests: at least one request is required",
        ));
    }
    if requests.len() > MAX_BATCH {
        return Err(Rejection::invalid(format!(
            "* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests can be in one batch"
        )));
    }
    let expected = format!("models/{id}");
    let mut out = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if r["model"] != expected.as_str() {
            return Err(Rejection::invalid(format!(
                "Model names in the requests must match the batch model: requests[{i}].model is {}, expected {expected}.",
                r["model"]
            )));
        }
        out.push(embedding(r, id)?);
    }
    Ok(json!({ "embeddings": out }))
}

fn embedding(request: &Value, id: &str) -> Result<Value, Rejection> {
    let text: String = request
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default();
    if text.is_empty() {
        return Err(Rejection::invalid(
            "* EmbedContentRequest.content: contents must not be empty\n",
        ));
    }
    let default_dims = if id.starts_with("gemini-embedding") {
        3072
    } else {
        768
    };
    let dims = request["outputDimensionality"]
        .as_u64()
        .map_or(default_dims, |d| usize::try_from(d).unwrap_or(default_dims));
    Ok(json!({ "values": fake_vector(&text, dims) }))
}

/// A deterministic unit vector for `text`: FNV-1a of the text seeds an xorshift generator.
pub fn fake_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut seed = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut raw: Vec<f64> = (0..dims)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        raw.iter_mut().for_each(|v| *v /= norm);
    }
    raw.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::gemini_errors;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn default_catalog_is_valid_and_pages() {
        let models = default_models();
        let all = list(&models, &[], 1000).unwrap();
        assert_eq!(
            gemini_errors("ListModelsResponse", &all),
            Vec::<String>::new()
        );
        assert!(all.get("nextPageToken").is_none());
        let first = list(&models, &q(&[("pageSize", "3")]), 1000).unwrap();
        assert_eq!(first["models"].as_array().unwrap().len(), 3);
        assert_eq!(first["nextPageToken"], "page-3");
        let last = list(
            &models,
            &q(&[("pageSize", "1000"), ("pageToken", "page-6")]),
            2,
        )
        .unwrap();
        assert_eq!(last["models"].as_array().unwrap().len(), 1);
        assert!(last.get("nextPageToken").is_none());
        assert!(list(&models, &q(&[("pageToken", "zzz")]), 10).is_err());
        assert_eq!(
            get(&models, "gemini-2.5-pro").unwrap()["name"],
            "models/gemini-2.5-pro"
        );
        assert_eq!(get(&models, "nope").unwrap_err().code, 404);
    }

    #[test]
    fn embeddings_are_deterministic_and_checked() {
        let models = default_models();
        let emb = |id: &str, rpc: &str, body: &[u8]| embed(&models, id, rpc, body, true);
        let one = br#"{"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 4}"#;
        let a = emb("text-embedding-004", "embedContent", one).unwrap();
        let b = emb("text-embedding-004", "embedContent", one).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            gemini_errors("EmbedContentResponse", &a),
            Vec::<String>::new()
        );
        assert_eq!(a["embedding"]["values"].as_array().unwrap().len(), 4);
        let entry = |text: &str| json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": text}]}});
        let batch = json!({"requests": [entry("x"), entry("y")]});
        let out = emb(
            "text-embedding-004",
            "batchEmbedContents",
            batch.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(
            gemini_errors("BatchEmbedContentsResponse", &out),
            Vec::<String>::new()
        );
        assert_eq!(out["embeddings"].as_array().unwrap().len(), 2);
        assert_eq!(
            out["embeddings"][0]["values"].as_array().unwrap().len(),
            768
        );
        // Wrong model, unknown field, chat-only model, too many.
        let wrong =
            json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]});
        let r = emb(
            "text-embedding-004",
            "batchEmbedContents",
            wrong.to_string().as_bytes(),
        );
        assert!(r.is_err());
        let unknown = br#"{"content": {"parts": [{"text": "x"}]}, "dimensions": 3}"#;
        assert!(emb("text-embedding-004", "embedContent", unknown).is_err());
        assert_eq!(
            emb("gemini-2.5-flash", "embedContent", one)
                .unwrap_err()
                .code,
            404
        );
        let many = json!({ "requests": vec![entry("x"); 101] });
        let r = emb(
            "text-embedding-004",
            "batchEmbedContents",
            many.to_string().as_bytes(),
        );
        assert!(r.is_err());
        assert!(!is_embed_rpc("generateContent"));
    }
}
