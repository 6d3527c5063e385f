//! The checks the real Gemini API makes before it runs a model, answered exactly as Gemini
//! answers them: the API key, the body against the oracle schema (`GenerateContentRequest`),
//! and the content rules the schema cannot say (roles, empty parts, empty text, the `data`
//! oneof, the order and count of function calls and responses).
//!
//! Messages follow Gemini's wording (see `shared/reference/gemini-wire-notes.md`); a fake
//! that accepted what Gemini refuses would hide bugs.

use serde_json::Value;

use crate::body::{bad_request_detail, error_body};
use crate::oracle::{request_violations, Violation};

/// A request the mock refuses, with the status and body Gemini would send.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
    pub details: Vec<Value>,
}

impl Rejection {
    pub fn new(code: u16, status: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            code,
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", message)
    }

    /// Gemini's `{"error": {...}}` body for this rejection.
    pub fn body(&self) -> Value {
        error_body(self.code, self.status, &self.message, self.details.clone())
    }
}

/// The key check: none at all is 403, the configured invalid key is 400 `API_KEY_INVALID`.
pub fn api_key(key: Option<&str>, invalid_key: &str) -> Result<(), Rejection> {
    match key {
        None | Some("") => Err(Rejection::new(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        )),
        Some(k) if k == invalid_key => {
            let message = "API key not valid. Please pass a valid API key.";
            let mut r = Rejection::invalid(message);
            r.details = vec![
                serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": { "service": "generativelanguage.googleapis.com" }
                }),
                serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message
                }),
            ];
            Err(r)
        }
        Some(_) => Ok(()),
    }
}

/// Parse and check a `GenerateContentRequest` body. Schema validation is skipped when
/// `schema` is false (the load-benchmark mode); the content rules always apply.
pub fn request(body: &[u8], schema: bool) -> Result<Value, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!(
            "Invalid JSON payload received. Unexpected token.\n({e})"
        ))
    })?;
    if schema {
        let violations =
            request_violations(&value).map_err(|e| Rejection::new(500, "INTERNAL", e))?;
        if !violations.is_empty() {
            return Err(schema_rejection(&violations));
        }
    } else if !value.is_object() {
        return Err(Rejection::invalid(
            "Invalid JSON payload received. Expected an object.",
        ));
    }
    contents(&value)?;
    Ok(value)
}

/// `countTokens`: the body checked against `CountTokensRequest` (the contents of a
/// `generateContentRequest` checked like a generation request), answered with the mock's
/// token estimate, the one its answers report as `promptTokenCount`.
pub fn count_tokens(body: &[u8], schema: bool) -> Result<Value, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!(
            "Invalid JSON payload received. Unexpected token.\n({e})"
        ))
    })?;
    if schema {
        let violations = crate::oracle::violations("CountTokensRequest", &value)
            .map_err(|e| Rejection::new(500, "INTERNAL", e))?;
        if !violations.is_empty() {
            return Err(schema_rejection(&violations));
        }
    }
    let request = match value.get("generateContentRequest") {
        Some(inner) => {
            if inner.get("model").and_then(Value::as_str).is_none() {
                return Err(Rejection::invalid(
                    "* GenerateContentRequest.model: unexpected model name format\n",
                ));
            }
            inner.clone()
        }
        None => value,
    };
    contents(&request)?;
    Ok(serde_json::json!({ "totalTokens": prompt_tokens(&request) }))
}

pub(crate) fn schema_rejection(violations: &[Violation]) -> Rejection {
    let lines: Vec<(String, String)> = violations
        .iter()
        .map(|v| {
            let field = proto_path(&v.path);
            let description = match (&v.unknown, field.is_empty()) {
                (Some(name), true) => {
                    format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")
                }
                (Some(name), false) => format!(
                    "Invalid JSON payload received. Unknown name \"{name}\" at '{field}': Cannot find field."
                ),
                (None, true) => format!("Invalid JSON payload received. {}", v.detail),
                (None, false) => format!(
                    "Invalid JSON payload received. Invalid value at '{field}': {}",
                    v.detail
                ),
            };
            (field, description)
        })
        .collect();
    let message = lines
        .iter()
        .map(|(_, d)| d.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let mut r = Rejection::invalid(message);
    r.details = vec![bad_request_detail(&lines)];
    r
}

/// A JSON path as Gemini names fields in messages: proto (snake_case) names, `[i]` indices,
/// e.g. `contents[0].parts[1].function_call`.
fn proto_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            for c in seg.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                    out.push(c.to_ascii_lowercase());
                } else {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The fields of a `Part` of which exactly one must be set (`x-oneof.data` in the schema).
const DATA_FIELDS: [&str; 7] = [
    "text",
    "inlineData",
    "functionCall",
    "functionResponse",
    "fileData",
    "executableCode",
    "codeExecutionResult",
];

fn contents(request: &Value) -> Result<(), Rejection> {
    let contents = request
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Rejection::invalid("* GenerateContentRequest.contents: contents is not specified\n")
        })?;
    for (i, content) in contents.iter().enumerate() {
        if let Some(role) = content.get("role").and_then(Value::as_str) {
            if role != "user" && role != "model" {
                return Err(Rejection::invalid("Please use a valid role: user, model."));
            }
        }
        let parts = parts(content);
        if parts.is_empty() {
            return Err(Rejection::invalid(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            )));
        }
        for (j, part) in parts.iter().enumerate() {
            check_part(i, j, part)?;
        }
    }
    function_turns(contents)
}

fn check_part(i: usize, j: usize, part: &Value) -> Result<(), Rejection> {
    let set: Vec<&str> = DATA_FIELDS
        .iter()
        .copied()
        .filter(|f| part.get(*f).is_some())
        .collect();
    match set.as_slice() {
        [] => {
            return Err(Rejection::invalid(format!(
                "* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field \
                 'data' must have one initialized field\n"
            )))
        }
        [_] => {}
        [_, second, ..] => {
            return Err(Rejection::invalid(format!(
                "Invalid JSON payload received. Oneof field 'data' is already set. Cannot set \
                 '{second}'"
            )))
        }
    }
    // Gemini 3 ends streams with an empty text part that only carries a signature, and the
    // SDKs send it back in the history: that one is accepted.
    if part.get("text").and_then(Value::as_str) == Some("")
        && part.get("thoughtSignature").is_none()
    {
        return Err(Rejection::invalid(
            "Unable to submit request because it has an empty text parameter. Add a value to \
             the parameter and try again. Learn more: \
             https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/send-chat-prompts-gemini",
        ));
    }
    for (field, proto) in [
        ("functionCall", "function_call"),
        ("functionResponse", "function_response"),
    ] {
        if let Some(f) = part.get(field) {
            if f.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                return Err(Rejection::invalid(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}].{proto}.name: Name cannot \
                     be empty.\n"
                )));
            }
        }
    }
    Ok(())
}

fn function_turns(contents: &[Value]) -> Result<(), Rejection> {
    for (i, content) in contents.iter().enumerate() {
        let calls = count(content, "functionCall");
        let responses = count(content, "functionResponse");
        let prev = i.checked_sub(1).and_then(|p| contents.get(p));
        if calls > 0 && role(content) == "model" && prev.is_none_or(|p| role(p) != "user") {
            return Err(Rejection::invalid(
                "Please ensure that function call turn comes immediately after a user turn or \
                 after a function response turn.",
            ));
        }
        if responses > 0 {
            let prev_calls = prev
                .filter(|p| role(p) == "model")
                .map_or(0, |p| count(p, "functionCall"));
            if prev_calls == 0 {
                return Err(Rejection::invalid(
                    "Please ensure that function response turn comes immediately after a \
                     function call turn.",
                ));
            }
            if prev_calls != responses {
                return Err(Rejection::invalid(
                    "Please ensure that the number of function response parts is equal to the \
                     number of function call parts of the function call turn.",
                ));
            }
        }
    }
    Ok(())
}

/// A content's role; Gemini treats a missing role as `user`.
pub(crate) fn role(content: &Value) -> &str {
    content
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user")
}

pub(crate) fn parts(content: &Value) -> &[Value] {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn count(content: &Value, field: &str) -> usize {
    parts(content)
        .iter()
        .filter(|p| p.get(field).is_some())
        .count()
}

/// The text of the last user turn, for the default echo answer; for a turn of function
/// results, a sentence naming them.
pub fn last_user_text(request: &Value) -> String {
    let contents = request
        .get("contents")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let Some(last) = contents.iter().rev().find(|c| role(c) == "user") else {
        return String::new();
    };
    let texts: Vec<&str> = parts(last)
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    if !texts.is_empty() {
        return format!("mock-gemini says: {}", texts.join(" "));
    }
    let names: Vec<&str> = parts(last)
        .iter()
        .filter_map(|p| p.pointer("/functionResponse/name").and_then(Value::as_str))
        .collect();
    format!("mock-gemini got results of: {}", names.join(", "))
}

/// Gemini's rough prompt token count: every text of the request, about four characters a
/// token, at least one.
pub fn prompt_tokens(request: &Value) -> u64 {
    fn chars(v: &Value) -> usize {
        match v {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("text", Value::String(s)) => s.chars().count(),
                    _ => chars(v),
                })
                .sum(),
            Value::Array(a) => a.iter().map(chars).sum(),
            _ => 0,
        }
    }
    let n = ["contents", "systemInstruction"]
        .iter()
        .filter_map(|k| request.get(*k))
        .map(chars)
        .sum();
    crate::body::tokens_for_chars(n).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<Value, Rejection> {
        request(v.to_string().as_bytes(), true)
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    #[test]
    fn key_rules() {
        assert_eq!(api_key(None, "invalid-key").unwrap_err().code, 403);
        let bad = api_key(Some("invalid-key"), "invalid-key").unwrap_err();
        assert_eq!((bad.code, bad.status), (400, "INVALID_ARGUMENT"));
        assert_eq!(
            bad.body()["error"]["details"][0]["reason"],
            "API_KEY_INVALID"
        );
        assert!(api_key(Some("k"), "invalid-key").is_ok());
    }

    #[test]
    fn unknown_field_message_is_geminis() {
        let r =
            check(json!({"contents": [user("hi")], "generationConfig": {"foo": 1}})).unwrap_err();
        assert_eq!(
            r.message,
            "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': Cannot find field."
        );
        assert_eq!(
            r.body()["error"]["details"][0]["fieldViolations"][0]["field"],
            "generation_config"
        );
        let top = check(json!({"contents": [user("hi")], "x": 1})).unwrap_err();
        assert_eq!(
            top.message,
            "Invalid JSON payload received. Unknown name \"x\": Cannot find field."
        );
    }

    #[test]
    fn content_rules() {
        let msg = |v: Value| check(v).unwrap_err().message;
        assert_eq!(
            msg(json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})),
            "Please use a valid role: user, model."
        );
        assert!(msg(json!({"contents": [user("")]})).starts_with("Unable to submit request"));
        assert!(
            msg(json!({"contents": [{"role": "user", "parts": []}]})).contains("contents[0].parts")
        );
        assert!(msg(json!({"contents": []})).contains("contents is not specified"));
        assert!(
            msg(json!({"contents": [{"role": "user", "parts": [{"thought": true}]}]}))
                .contains("oneof")
        );
        assert!(msg(
            json!({"contents": [{"parts": [{"text": "a", "functionCall": {"name": "f"}}]}]})
        )
        .contains("Oneof field 'data' is already set"));
        assert!(
            msg(json!({"contents": [user("x"), {"role": "user", "parts": [
            {"functionResponse": {"name": "f", "response": {}}}]}]}))
            .contains("function response turn comes immediately after a function call turn")
        );
        assert!(msg(json!({"contents": [user("x"),
            {"role": "model", "parts": [{"functionCall": {"name": "f"}}, {"functionCall": {"name": "g"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}))
        .contains("number of function response parts"));
        assert!(check(json!({"contents": [user("x"),
            {"role": "model", "parts": [{"text": "", "thoughtSignature": "c2ln"}]}, user("y")]}))
        .is_ok());
    }

    #[test]
    fn non_json_body_is_invalid_argument() {
        let r = request(b"{not json", true).unwrap_err();
        assert_eq!(r.code, 400);
        assert!(r.message.starts_with("Invalid JSON payload received."));
    }

    #[test]
    fn echo_and_tokens() {
        let req = json!({"contents": [user("hello there")]});
        assert_eq!(last_user_text(&req), "mock-gemini says: hello there");
        assert_eq!(prompt_tokens(&req), 3);
        assert_eq!(
            proto_path(&["contents".into(), "0".into(), "functionCall".into()]),
            "contents[0].function_call"
        );
    }
}
