//! Vertex AI's differences from the Gemini API in a `GenerateContentRequest`, applied to a
//! body built for the Gemini API when the upstream is Vertex AI
//! ([reference](https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/Content)):
//!
//! - `functionCall` and `functionResponse` have no `id`: Vertex answers 400 `Unknown name
//!   "id" at 'contents[1].parts[0].function_call'`. The ids go; calls and results still pair
//!   by name and order.
//! - Every content carries a `role` (the system instruction too, where Vertex ignores it).
//! - There is no Files API: a part naming a Gemini file (`file_id` `files/...`) is refused
//!   with a 400 that says so; `gs://` and other URIs pass.
//! - `labels` (billing labels) exist: from `extra_body.google.labels`, and from the request's
//!   `metadata` entries that are valid label pairs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::build::media::files_api_uri;
use crate::gemini::{GenerateContentRequest, Role, TurnPart};
use crate::TranslateError;

/// Vertex AI takes at most this many labels on a request.
const MAX_LABELS: usize = 64;

/// Adapts `body` (built for the Gemini API) to Vertex AI. `labels` is
/// `extra_body.google.labels`, `metadata` the request's OpenAI `metadata`.
pub fn adapt(
    body: &mut GenerateContentRequest,
    labels: Option<&Map<String, Value>>,
    metadata: Option<&Map<String, Value>>,
) -> Result<(), TranslateError> {
    let files_api = files_api_uri("");
    for turn in body.system_instruction.iter_mut().chain(&mut body.contents) {
        turn.role.get_or_insert(Role::User);
        for part in &mut turn.parts {
            match part {
                TurnPart::Text(_) => {}
                TurnPart::Call(signed) => signed.call.id = None,
                TurnPart::Response(response) => response.id = None,
                TurnPart::Other(part) => {
                    if let Some(call) = &mut part.function_call {
                        call.id = None;
                    }
                    if let Some(response) = &mut part.function_response {
                        response.id = None;
                    }
                    if let Some(file) = &part.file_data {
                        if file.file_uri.starts_with(&files_api) {
                            return Err(TranslateError::invalid(
                                "Vertex AI has no Files API: a 'file_id' naming a Gemini file cannot be used with this upstream. Send the file inline ('file_data') or as a gs:// URI.",
                                "file_id",
                            ));
                        }
                    }
                }
            }
        }
    }
    body.labels = vertex_labels(labels, metadata)?;
    Ok(())
}

/// The request's labels: `metadata` entries that are valid Vertex labels (others are left
/// out: OpenAI's metadata allows keys and values Vertex refuses), then
/// `extra_body.google.labels` over them, passed as written (the client asked for them).
fn vertex_labels(
    labels: Option<&Map<String, Value>>,
    metadata: Option<&Map<String, Value>>,
) -> Result<Option<BTreeMap<String, String>>, TranslateError> {
    let mut out = BTreeMap::new();
    for (key, value) in metadata.into_iter().flatten() {
        if let Value::String(value) = value {
            if valid_label(key, true) && valid_label(value, false) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    for (key, value) in labels.into_iter().flatten() {
        let Value::String(value) = value else {
            return Err(TranslateError::invalid(
                format!("extra_body.google.labels.{key} must be a string."),
                "extra_body.google.labels",
            ));
        };
        out.insert(key.clone(), value.clone());
    }
    if out.len() > MAX_LABELS {
        return Err(TranslateError::invalid(
            format!("Vertex AI takes at most {MAX_LABELS} labels on a request."),
            "extra_body.google.labels",
        ));
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Google Cloud's label rule: up to 63 lowercase letters, digits, `_` and `-`; a key starts
/// with a letter, a value may be empty.
fn valid_label(text: &str, key: bool) -> bool {
    text.len() <= 63
        && (!key || text.starts_with(|c: char| c.is_ascii_lowercase()))
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_metadata_and_google_labels() {
        let meta: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "team": "search", "User Id": "x", "run": "Not-Lower", "n": 3
        }))
        .unwrap();
        let google: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"team": "ads", "cost-center": "cc-1"}))
                .unwrap();
        let got = vertex_labels(Some(&google), Some(&meta)).unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::json!({"team": "ads", "cost-center": "cc-1"})
        );
        assert_eq!(vertex_labels(None, None).unwrap(), None);
        let bad: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"team": 1})).unwrap();
        assert!(vertex_labels(Some(&bad), None).is_err());
    }
}
