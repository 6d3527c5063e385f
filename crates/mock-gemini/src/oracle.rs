//! The JSON Schema oracles: validation of JSON values against the Gemini `v1beta` schema
//! (`tests/reference/gemini-v1beta.schema.json`, definitions under `$defs`) and the OpenAI
//! OpenAPI documents (`tests/reference/openai-chat.openapi.json` and
//! `tests/reference/openai-responses.openapi.json`, `tests/reference/openai-audio-images.openapi.json`,
//! definitions under `components/schemas`).
//!
//! The documents are embedded at build time. A validator is compiled once per definition name
//! and kept for the life of the process, so tests and the mock's hot path pay for compilation
//! only the first time they ask for a definition.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use jsonschema::{ValidationError, Validator};
use serde_json::{json, Value};

const GEMINI_SCHEMA: &str = include_str!("../../../tests/reference/gemini-v1beta.schema.json");
const OPENAI_SPEC: &str = include_str!("../../../tests/reference/openai-chat.openapi.json");
const RESPONSES_SPEC: &str = include_str!("../../../tests/reference/openai-responses.openapi.json");
const AUDIO_IMAGES_SPEC: &str =
    include_str!("../../../tests/reference/openai-audio-images.openapi.json");

/// Which embedded document a definition name belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Doc {
    Gemini,
    OpenAi,
    Responses,
    AudioImages,
}

type Cache = Mutex<HashMap<(Doc, String), Arc<Validator>>>;

static CACHE: LazyLock<Cache> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Violations of `value` against `$defs/<def_name>` of the Gemini schema, one readable line
/// each (`<json pointer>: <problem>`); empty when the value is valid.
///
/// An unknown `def_name` is reported as a violation rather than a panic, so a typo in a test
/// fails that test with a clear message.
pub fn gemini_errors(def_name: &str, value: &Value) -> Vec<String> {
    errors(Doc::Gemini, def_name, value)
}

/// Violations of `value` against `components/schemas/<schema_name>` of the OpenAI chat spec,
/// one readable line each; empty when the value is valid.
pub fn openai_errors(schema_name: &str, value: &Value) -> Vec<String> {
    errors(Doc::OpenAi, schema_name, value)
}

/// Violations of `value` against `components/schemas/<schema_name>` of the OpenAI Responses
/// spec (`Response`, `ResponseStreamEvent`, `CreateResponse`, `ErrorResponse`, ...).
pub fn responses_errors(schema_name: &str, value: &Value) -> Vec<String> {
    errors(Doc::Responses, schema_name, value)
}

/// Violations of `value` against `components/schemas/<schema_name>` of the OpenAI audio and
/// images spec (`CreateSpeechRequest`, `SpeechAudioDeltaEvent`, `CreateTranscriptionResponseJson`, ...).
pub fn audio_images_errors(schema_name: &str, value: &Value) -> Vec<String> {
    errors(Doc::AudioImages, schema_name, value)
}

fn errors(doc: Doc, name: &str, value: &Value) -> Vec<String> {
    match validator(doc, name) {
        Ok(v) => v.iter_errors(value).map(|e| describe(&e)).collect(),
        Err(e) => vec![e],
    }
}

fn describe(e: &ValidationError<'_>) -> String {
    let path = e.instance_path.as_str();
    let path = if path.is_empty() { "/" } else { path };
    format!("{path}: {e}")
}

/// The compiled validator for one definition, compiled on first use.
fn validator(doc: Doc, name: &str) -> Result<Arc<Validator>, String> {
    let key = (doc, name.to_owned());
    if let Some(v) = CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(v.clone());
    }
    // Compile outside the lock: the OpenAI document is large and tests run in parallel.
    let compiled = Arc::new(compile(doc, name)?);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(cache.entry(key).or_insert(compiled).clone())
}

fn compile(doc: Doc, name: &str) -> Result<Validator, String> {
    let root = match doc {
        Doc::Gemini => {
            let defs = gemini_doc()?
                .get("$defs")
                .cloned()
                .ok_or("the Gemini schema has no $defs")?;
            if defs.get(name).is_none() {
                return Err(format!("the Gemini schema has no $defs/{name}"));
            }
            json!({ "$ref": format!("#/$defs/{}", escape(name)), "$defs": defs })
        }
        Doc::OpenAi | Doc::Responses | Doc::AudioImages => {
            let doc = match doc {
                Doc::OpenAi => openai_doc()?,
                Doc::Responses => responses_doc()?,
                _ => audio_images_doc()?,
            };
            let schemas = doc
                .pointer("/components/schemas")
                .cloned()
                .ok_or("the OpenAI spec has no components/schemas")?;
            if schemas.get(name).is_none() {
                return Err(format!("the OpenAI spec has no components/schemas/{name}"));
            }
            json!({
                "$ref": format!("#/components/schemas/{}", escape(name)),
                "components": { "schemas": schemas },
            })
        }
    };
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .map_err(|e| format!("cannot compile the schema for {name}: {e}"))
}

/// JSON pointer escaping of one reference token (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn gemini_doc() -> Result<&'static Value, String> {
    static DOC: LazyLock<Result<Value, String>> = LazyLock::new(|| {
        serde_json::from_str(GEMINI_SCHEMA).map_err(|e| format!("bad Gemini schema: {e}"))
    });
    DOC.as_ref().map_err(Clone::clone)
}

fn responses_doc() -> Result<&'static Value, String> {
    static DOC: LazyLock<Result<Value, String>> = LazyLock::new(|| {
        serde_json::from_str(RESPONSES_SPEC).map_err(|e| format!("bad Responses spec: {e}"))
    });
    DOC.as_ref().map_err(Clone::clone)
}

fn audio_images_doc() -> Result<&'static Value, String> {
    static DOC: LazyLock<Result<Value, String>> = LazyLock::new(|| {
        serde_json::from_str(AUDIO_IMAGES_SPEC).map_err(|e| format!("bad audio/images spec: {e}"))
    });
    DOC.as_ref().map_err(Clone::clone)
}

fn openai_doc() -> Result<&'static Value, String> {
    static DOC: LazyLock<Result<Value, String>> = LazyLock::new(|| {
        serde_json::from_str(OPENAI_SPEC).map_err(|e| format!("bad OpenAI spec: {e}"))
    });
    DOC.as_ref().map_err(Clone::clone)
}

/// One schema violation of an incoming request, in the terms the mock needs to write Gemini's
/// `Invalid JSON payload received.` message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    /// Path segments from the root: object keys and array indices (as decimal strings).
    pub path: Vec<String>,
    /// For an unknown field: its name. `None` for every other kind of violation.
    pub unknown: Option<String>,
    /// The validator's own description, used for the non-unknown-field kinds.
    pub detail: String,
}

/// Violations of a `GenerateContentRequest` body, for the mock's request check. Unknown fields
/// are reported one per name, as Gemini does.
pub(crate) fn request_violations(value: &Value) -> Result<Vec<Violation>, String> {
    violations("GenerateContentRequest", value)
}

/// Violations of `value` against `$defs/<def_name>`, unknown fields one per name.
pub(crate) fn violations(def_name: &str, value: &Value) -> Result<Vec<Violation>, String> {
    let v = validator(Doc::Gemini, def_name)?;
    let mut out = Vec::new();
    for e in v.iter_errors(value) {
        let path = split_pointer(e.instance_path.as_str());
        match &e.kind {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    out.push(Violation {
                        path: path.clone(),
                        unknown: Some(name.clone()),
                        detail: e.to_string(),
                    });
                }
            }
            _ => out.push(Violation {
                path,
                unknown: None,
                detail: e.to_string(),
            }),
        }
    }
    Ok(out)
}

fn split_pointer(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_request_has_no_errors() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        assert_eq!(
            gemini_errors("GenerateContentRequest", &req),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unknown_field_is_reported_with_its_path() {
        let req = json!({"contents": [], "generationConfig": {"bogus": 1}});
        let errs = gemini_errors("GenerateContentRequest", &req);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("/generationConfig"), "{errs:?}");
        let v = request_violations(&req).unwrap();
        assert_eq!(v[0].path, vec!["generationConfig".to_owned()]);
        assert_eq!(v[0].unknown.as_deref(), Some("bogus"));
    }

    #[test]
    fn function_response_must_be_an_object() {
        let req = json!({"contents": [{"role": "user", "parts": [
            {"functionResponse": {"name": "f", "response": "plain"}}]}]});
        assert!(!gemini_errors("GenerateContentRequest", &req).is_empty());
    }

    #[test]
    fn unknown_definition_is_an_error_not_a_panic() {
        let errs = gemini_errors("NoSuchThing", &json!({}));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("NoSuchThing"));
        assert_eq!(openai_errors("NoSuchThing", &json!({})).len(), 1);
    }

    #[test]
    fn openai_response_validates() {
        let ok = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                "message": {"role": "assistant", "content": "hi", "refusal": null}}]
        });
        assert_eq!(
            openai_errors("CreateChatCompletionResponse", &ok),
            Vec::<String>::new()
        );
        let bad = json!({"id": 1});
        assert!(!openai_errors("CreateChatCompletionResponse", &bad).is_empty());
    }
}
