//! Vertex AI's side of the mock: its URL shapes, its bearer tokens and the request details in
//! which it differs from the Gemini API.
//!
//! - Paths: `.../v1/projects/{p}/locations/{l}/publishers/google/models/{m}:{rpc}` (OAuth)
//!   and `.../v1/publishers/google/models/{m}:{rpc}` (express mode, an API key).
//! - A project path needs `Authorization: Bearer <token>` with a token the test accepted
//!   ([`crate::MockGemini::accept_token`]) and that has not expired; otherwise 401
//!   `UNAUTHENTICATED`, as Vertex answers.
//! - Bodies: `id` on `functionCall` / `functionResponse` is refused with Vertex's own message,
//!   every content needs a `role`, a Gemini Files API URI is not found, and `labels` (a map
//!   of strings) is taken off before the rest is checked against the Gemini oracle.
//! - Embeddings: `:predict` with `instances: [{"content", "task_type"?, "title"?}]` and
//!   `parameters: {"outputDimensionality"?, "autoTruncate"?}`, answered with
//!   `predictions[].embeddings.{values, statistics.{token_count, truncated}}`
//!   ([reference](https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api)).
//!   Unknown fields are refused, as Vertex does; `gemini-*` models take one instance per
//!   request, the others up to 250.
//! - The publisher model list, `GET .../v1beta1/publishers/google/models` (paged like
//!   `models.list`), answers `publisherModels` made from the mock's catalog.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{json, Value};

use crate::catalog;
use crate::checks::Rejection;
use crate::server::model_and_rpc;

/// The path's model and rpc, and whether it names a project, for a Vertex AI model path.
pub struct VertexPath {
    pub model: String,
    pub rpc: String,
    pub project: bool,
}

/// Parses a Vertex AI model path (any prefix before `/v1/` is allowed, as gateways add one).
pub fn parse_path(path: &str) -> Option<VertexPath> {
    const MARK: &str = "/publishers/google/models/";
    let at = path.rfind(MARK)?;
    let head = &path[..at];
    let project = if head.ends_with("/v1") {
        false
    } else {
        // `.../v1/projects/{p}/locations/{l}`
        let parts: Vec<&str> = head.rsplitn(5, '/').collect();
        match parts.as_slice() {
            [_, "locations", _, "projects", rest] if rest.ends_with("v1") => true,
            _ => return None,
        }
    };
    let (model, rpc) = model_and_rpc(&path[at + MARK.len()..])?;
    Some(VertexPath {
        model,
        rpc,
        project,
    })
}

/// The bearer check of a project path.
pub fn bearer(
    authorization: Option<&str>,
    tokens: &HashMap<String, Instant>,
) -> Result<(), Rejection> {
    let token = authorization.and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| tokens.get(t)) {
        Some(expires) if *expires > Instant::now() => Ok(()),
        _ => Err(Rejection::new(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )),
    }
}

/// Vertex AI's own checks of a generation body; returns it without `labels`, for the
/// Gemini oracle.
pub fn request(body: &[u8]) -> Result<Vec<u8>, Rejection> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!(
            "Invalid JSON payload received. Unexpected token.\n({e})"
        ))
    })?;
    let mut unknown = Vec::new();
    let contents = value
        .get("contents")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, content) in contents.iter().enumerate() {
        if content.get("role").and_then(Value::as_str).is_none() {
            return Err(Rejection::invalid(format!(
                "Please use a valid role: user, model. (contents[{i}] has no role)"
            )));
        }
        let parts = content
            .get("parts")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (j, part) in parts.iter().enumerate() {
            for (field, name) in [
                ("functionCall", "function_call"),
                ("functionResponse", "function_response"),
            ] {
                if part.get(field).and_then(|f| f.get("id")).is_some() {
                    unknown.push(format!(
                        "Invalid JSON payload received. Unknown name \"id\" at 'contents[{i}].parts[{j}].{name}': Cannot find field."
                    ));
                }
            }
            let uri = part
                .get("fileData")
                .and_then(|f| f.get("fileUri"))
                .and_then(Value::as_str);
            if uri.is_some_and(|u| u.starts_with("https://generativelanguage.googleapis.com/")) {
                return Err(Rejection::new(
                    404,
                    "NOT_FOUND",
                    "The file is not found: Vertex AI cannot read Gemini API files.",
                ));
            }
        }
    }
    if !unknown.is_empty() {
        return Err(Rejection::invalid(unknown.join("\n")));
    }
    if let Some(labels) = value.as_object_mut().and_then(|o| o.remove("labels")) {
        let ok = labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err(Rejection::invalid(
                "Invalid JSON payload received. 'labels' must map strings to strings.",
            ));
        }
    }
    serde_json::to_vec(&value).map_err(|e| Rejection::new(500, "INTERNAL", e.to_string()))
}

/// The most instances one `:predict` call of `model` takes.
fn max_instances(model: &str) -> usize {
    if model.starts_with("gemini-") {
        1
    } else {
        250
    }
}

/// Whether `model` is one of the catalog's embedding models (it embeds on Vertex AI too).
fn embeds(models: &[Value], model: &str) -> bool {
    let name = format!("models/{model}");
    models.iter().any(|m| {
        m["name"] == name.as_str()
            && m["supportedGenerationMethods"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "embedContent"))
    })
}

/// A text embedding model's `:predict`, checked as Vertex AI checks it.
pub fn predict_embeddings(models: &[Value], model: &str, body: &[u8]) -> Result<Value, Rejection> {
    if !embeds(models, model) {
        return Err(Rejection::new(
            404,
            "NOT_FOUND",
            format!("Publisher Model `publishers/google/models/{model}` was not found or your project does not have access to it."),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!(
            "Invalid JSON payload received. Unexpected token.\n({e})"
        ))
    })?;
    let unknown = |what: &str, object: &Value, known: &[&str]| -> Result<(), Rejection> {
        let Some(map) = object.as_object() else {
            return Err(Rejection::invalid(format!("{what} must be an object.")));
        };
        match map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(Rejection::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at '{what}': Cannot find field."
            ))),
            None => Ok(()),
        }
    };
    unknown("", &value, &["instances", "parameters"])?;
    let dims = match value.get("parameters") {
        None => None,
        Some(p) => {
            unknown("parameters", p, &["outputDimensionality", "autoTruncate"])?;
            match p.get("outputDimensionality") {
                None => None,
                Some(d) => Some(d.as_u64().filter(|d| *d > 0).ok_or_else(|| {
                    Rejection::invalid(
                        "parameters.outputDimensionality must be a positive integer.",
                    )
                })?),
            }
        }
    };
    let instances = value["instances"].as_array().map_or(&[][..], Vec::as_slice);
    if instances.is_empty() {
        return Err(Rejection::invalid(
            "instances must hold at least one instance.",
        ));
    }
    let most = max_instances(model);
    if instances.len() > most {
        return Err(Rejection::invalid(format!(
            "Unable to submit request because {model} supports at most {most} instance(s) per request; {} were sent.",
            instances.len()
        )));
    }
    let default_dims = if model.starts_with("gemini-embedding") {
        3072
    } else {
        768
    };
    let dims = dims.map_or(default_dims, |d| usize::try_from(d).unwrap_or(default_dims));
    let mut predictions = Vec::with_capacity(instances.len());
    for (i, instance) in instances.iter().enumerate() {
        unknown(
            &format!("instances[{i}]"),
            instance,
            &["content", "task_type", "title"],
        )?;
        let text = instance["content"].as_str().unwrap_or_default();
        if text.is_empty() {
            return Err(Rejection::invalid(format!(
                "instances[{i}].content must be a non-empty string."
            )));
        }
        predictions.push(json!({"embeddings": {
            "values": catalog::fake_vector(text, dims),
            "statistics": {"truncated": false, "token_count": text.split_whitespace().count()}
        }}));
    }
    Ok(json!({"predictions": predictions, "metadata": {"billableCharacterCount": 0}}))
}

/// Whether `path` is the publisher model list (any prefix, as gateways add one).
pub fn is_publisher_list(path: &str) -> bool {
    path.ends_with("/v1beta1/publishers/google/models")
}

/// One page of the publisher model list, from the catalog: `publishers/google/models/{id}`
/// names, with a version and launch stage.
pub fn publisher_models(
    models: &[Value],
    query: &[(String, String)],
    max_page_size: usize,
) -> Result<Value, Rejection> {
    let page = catalog::list(models, query, max_page_size)?;
    let entries: Vec<Value> = page["models"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|m| {
            let id = m["name"].as_str()?.strip_prefix("models/")?;
            Some(json!({
                "name": format!("publishers/google/models/{id}"),
                "versionId": m["version"].as_str().unwrap_or("001"),
                "openSourceCategory": "PROPRIETARY",
                "launchStage": if id.contains("preview") { "PUBLIC_PREVIEW" } else { "GA" },
            }))
        })
        .collect();
    let mut out = json!({ "publisherModels": entries });
    if let Some(token) = page.get("nextPageToken") {
        out["nextPageToken"] = token.clone();
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vertex_paths() {
        let p = parse_path(
            "/v1/projects/p-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
        )
        .unwrap();
        assert_eq!(
            (p.model.as_str(), p.rpc.as_str(), p.project),
            ("gemini-2.5-flash", "generateContent", true)
        );
        let p = parse_path("/gw/v1/publishers/google/models/m:countTokens").unwrap();
        assert!(!p.project);
        assert!(parse_path("/v1beta/models/m:generateContent").is_none());
        assert!(parse_path("/v1/projects/p/publishers/google/models/m:x").is_none());
    }

    #[test]
    fn ids_roles_and_labels() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"model","parts":[{"functionCall":{"id":"c1","name":"f","args":{}}}]}]}"#;
        let e = request(body).unwrap_err();
        assert!(e
            .message
            .contains("Unknown name \"id\" at 'contents[1].parts[0].function_call'"));
        let e = request(br#"{"contents":[{"parts":[{"text":"a"}]}]}"#).unwrap_err();
        assert!(e.message.contains("valid role"));
        let clean =
            request(br#"{"contents":[{"role":"user","parts":[{"text":"a"}]}],"labels":{"a":"b"}}"#)
                .unwrap();
        assert!(!String::from_utf8(clean).unwrap().contains("labels"));
    }
}
