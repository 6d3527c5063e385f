//! Gemini `Part`s that carry text and function calling, built the same way for every
//! dialect: text (never empty), a function call of the history (arguments validated as a
//! JSON object without re-serializing them, names mapped, Gemini's own ids echoed) and a
//! function result (<https://ai.google.dev/api/caching#Part>); and, on the way back, what
//! each part of an answer contributes ([`classify`]).

use serde_json::value::RawValue;

use crate::build::names::ToolNames;
use crate::gemini::{self, Part, SignedCall, TurnPart};
use crate::TranslateError;

/// A tool call of the history, remembered so its result can be named.
pub(crate) struct PendingCall {
    /// The client's id of the call.
    pub id: String,
    pub gemini_name: String,
    /// Gemini's own call id, echoed on the matching `functionResponse`.
    pub upstream_id: Option<String>,
}

/// A function call of the conversation history, as a dialect read it from its request.
pub(crate) struct HistoryCall<'a> {
    /// The call's id: `call_...` / `legacy_...` when Pollux named it, else Gemini's own.
    pub id: &'a str,
    /// The client's function name (mapped to the declared Gemini name here).
    pub name: &'a str,
    /// The arguments as JSON text; empty means `{}`.
    pub arguments: &'a str,
    /// The thought signature to send with it ([`for_history_call`](super::signatures::for_history_call)).
    pub signature: Option<String>,
}

/// The call as a `functionCall` part, remembered in `calls` so its result can be named.
/// `None` when the arguments are not a JSON object (each dialect says where in its 400).
pub(crate) fn function_call_part(
    call: HistoryCall<'_>,
    names: &mut ToolNames,
    calls: &mut Vec<PendingCall>,
) -> Option<TurnPart> {
    let args = parse_arguments(call.arguments)?;
    let gemini_name = names.register(call.name);
    let upstream_id = upstream_call_id(call.id);
    calls.push(PendingCall {
        id: call.id.to_owned(),
        gemini_name: gemini_name.clone(),
        upstream_id: upstream_id.clone(),
    });
    Some(TurnPart::Call(Box::new(SignedCall {
        call: gemini::FunctionCall {
            id: upstream_id,
            name: gemini_name,
            args: Some(args),
        },
        signature: call.signature,
    })))
}

/// Ids Pollux generates start with `call_`; any other id came from Gemini and is echoed.
fn upstream_call_id(id: &str) -> Option<String> {
    (!id.starts_with("call_") && !id.starts_with("legacy_") && !id.is_empty())
        .then(|| id.to_owned())
}

/// Validates tool-call arguments as a JSON object without re-serializing them.
fn parse_arguments(arguments: &str) -> Option<Box<RawValue>> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return RawValue::from_string("{}".to_owned()).ok();
    }
    if !trimmed.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Box<RawValue>>(trimmed).ok()
}

/// A tool result becomes the `response` object: a JSON object as is, anything else wrapped.
pub(crate) fn function_response_part(
    name: String,
    id: Option<String>,
    text: &str,
) -> Result<TurnPart, TranslateError> {
    let trimmed = text.trim();
    let response = if trimmed.starts_with('{') {
        serde_json::from_str::<Box<RawValue>>(trimmed).ok()
    } else {
        None
    };
    let response = match response {
        Some(raw) => raw,
        None => {
            let value = match serde_json::from_str::<serde_json::Value>(trimmed) {
                Ok(v) if !trimmed.is_empty() => v,
                _ => serde_json::Value::String(text.to_owned()),
            };
            let wrapped = serde_json::json!({ "result": value });
            serde_json::value::to_raw_value(&wrapped)
                .map_err(|e| TranslateError::UpstreamFormat(e.to_string()))?
        }
    };
    Ok(TurnPart::Response(Box::new(gemini::FunctionResponse {
        id,
        name,
        response,
    })))
}

/// Gemini rejects empty text parts, so they are never sent.
pub(crate) fn non_empty_text(text: &str) -> Option<Part> {
    (!text.is_empty()).then(|| Part::text(text))
}

/// [`non_empty_text`] for a string the caller owns: moved into the part, not copied.
pub(crate) fn text_part(text: String) -> Option<TurnPart> {
    (!text.is_empty()).then_some(TurnPart::Text(text))
}

/// What one Gemini part contributes to the answer.
pub(crate) enum PartOut {
    Text(String),
    Thought(String),
    Call(gemini::FunctionCall, Option<String>),
    /// Generated media (`inlineData` in an answer).
    Media(gemini::Blob),
    /// Code the code-execution tool ran.
    Code(gemini::ExecutableCode),
    /// What running it gave.
    CodeResult(gemini::CodeExecutionResult),
    Nothing,
}

pub(crate) fn classify(part: gemini::Part) -> PartOut {
    let thought = part.is_thought();
    if let Some(call) = part.function_call {
        return PartOut::Call(*call, part.thought_signature);
    }
    if let Some(blob) = part.inline_data {
        return PartOut::Media(*blob);
    }
    if let Some(code) = part.executable_code {
        return PartOut::Code(*code);
    }
    if let Some(result) = part.code_execution_result {
        return PartOut::CodeResult(*result);
    }
    match part.text {
        Some(t) if thought => PartOut::Thought(t),
        Some(t) => PartOut::Text(t),
        None => PartOut::Nothing,
    }
}

/// Removes insignificant whitespace from valid JSON text without parsing it into a tree.
/// Gemini's REST front end pretty-prints plain responses while its stream events are compact;
/// clients should see the same compact `arguments` either way.
pub(crate) fn compact_json(json: &str) -> String {
    if !json
        .bytes()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pretty_arguments_are_compacted_but_strings_kept() {
        assert_eq!(
            compact_json("{\n  \"a b\": \"x \\\" y\",\n  \"n\": [1, 2]\n}"),
            "{\"a b\":\"x \\\" y\",\"n\":[1,2]}"
        );
        assert_eq!(compact_json("{\"a\":1}"), "{\"a\":1}");
    }

    fn call<'a>(id: &'a str, arguments: &'a str) -> HistoryCall<'a> {
        HistoryCall {
            id,
            name: "a/b",
            arguments,
            signature: Some("c2ln".to_owned()),
        }
    }

    /// A call becomes one part with the mapped name, Gemini's id echoed (Pollux's own ids
    /// are not), the signature kept and empty arguments sent as `{}`; arguments that are
    /// not an object leave nothing behind.
    #[test]
    fn history_calls_become_function_call_parts() {
        let mut names = ToolNames::default();
        let mut calls = Vec::new();
        let part = function_call_part(call("g-1", " {\"x\": 1} "), &mut names, &mut calls).unwrap();
        let TurnPart::Call(signed) = part else {
            panic!("not a call: {part:?}")
        };
        let fc = &signed.call;
        assert_eq!(fc.id.as_deref(), Some("g-1"));
        assert_eq!(fc.name, names.to_gemini("a/b").unwrap());
        assert_eq!(fc.args.as_deref().unwrap().get(), "{\"x\": 1}");
        assert_eq!(signed.signature.as_deref(), Some("c2ln"));
        let part = function_call_part(call("call_7", ""), &mut names, &mut calls).unwrap();
        let TurnPart::Call(signed) = part else {
            panic!("not a call: {part:?}")
        };
        let fc = &signed.call;
        assert_eq!(
            (fc.id.as_deref(), fc.args.as_deref().unwrap().get()),
            (None, "{}")
        );
        assert_eq!(calls.len(), 2);
        assert!(function_call_part(call("call_8", "[1]"), &mut names, &mut calls).is_none());
        assert_eq!(calls.len(), 2, "a refused call is not remembered");
    }
}
