//! Gemini 3 thought signatures: the mock issues an opaque signature on the first
//! `functionCall` part of every reply of a `gemini-3*` model, remembers it, and checks that a
//! later request hands it back unchanged.
//!
//! Rules from <https://ai.google.dev/gemini-api/docs/thought-signatures>: within the current
//! turn (every content after the last `user` content holding something other than
//! `functionResponse` parts) the first `functionCall` part of each `model` content must carry
//! the signature it was issued with, or the documented escape value
//! `skip_thought_signature_validator`; otherwise the request fails with 400.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::body::base64;
use crate::checks::{parts, role};

/// The value Google documents for histories that never had a signature.
pub const SKIP_VALIDATOR: &str = "skip_thought_signature_validator";

/// Whether `model` is one whose function calls carry and require signatures.
pub fn is_gemini3(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// The signatures the mock has issued (or seen in scripted replies) since the last reset.
#[derive(Debug, Default)]
pub(crate) struct Signatures {
    issued: Mutex<HashSet<String>>,
}

impl Signatures {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.issued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh opaque signature, remembered as issued.
    pub fn issue(&self) -> String {
        let mut raw = Vec::with_capacity(54);
        raw.extend_from_slice(b"mock-gemini:");
        for _ in 0..3 {
            raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        let sig = base64(&raw);
        self.set().insert(sig.clone());
        sig
    }

    pub fn clear(&self) {
        self.set().clear();
    }

    fn known(&self, sig: &str) -> bool {
        sig == SKIP_VALIDATOR || self.set().contains(sig)
    }

    /// Give the first `functionCall` part of a reply (all of its bodies, in wire order) a
    /// signature if it has none, and remember every signature the reply carries.
    pub fn sign_reply<'a>(&self, bodies: impl IntoIterator<Item = &'a mut Value>) {
        let mut signed = false;
        for body in bodies {
            let Some(candidates) = body.get_mut("candidates").and_then(Value::as_array_mut) else {
                continue;
            };
            for candidate in candidates {
                let Some(parts) = candidate
                    .pointer_mut("/content/parts")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for part in parts {
                    let Some(obj) = part.as_object_mut() else {
                        continue;
                    };
                    if let Some(sig) = obj.get("thoughtSignature").and_then(Value::as_str) {
                        self.set().insert(sig.to_owned());
                    }
                    if obj.contains_key("functionCall") && !signed {
                        signed = true;
                        if !obj.contains_key("thoughtSignature") {
                            obj.insert("thoughtSignature".into(), self.issue().into());
                        }
                    }
                }
            }
        }
    }

    /// Check the signatures of the current turn of a request's `contents`. `Err` holds
    /// Gemini's message.
    pub fn check(&self, contents: &[Value]) -> Result<(), String> {
        let start = contents
            .iter()
            .rposition(|c| {
                role(c) == "user" && parts(c).iter().any(|p| p.get("functionResponse").is_none())
            })
            .map_or(0, |i| i + 1);
        for (i, content) in contents.iter().enumerate().skip(start) {
            if role(content) != "model" {
                continue;
            }
            let Some(part) = parts(content)
                .iter()
                .find(|p| p.get("functionCall").is_some())
            else {
                continue;
            };
            let name = part
                .pointer("/functionCall/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match part.get("thoughtSignature").and_then(Value::as_str) {
                None => {
                    return Err(format!(
                        "Function call is missing a thought_signature in functionCall parts. \
                         This is required for tools to work correctly, and missing \
                         thought_signature may lead to degraded model performance. Additional \
                         data, function call `default_api:{name}` , position {}. Please refer \
                         to https://ai.google.dev/gemini-api/docs/thought-signatures for more \
                         details.",
                        i + 1
                    ))
                }
                Some(sig) if !self.known(sig) => {
                    return Err(format!(
                        "Corrupted thought signature. The thought_signature of function call \
                         `default_api:{name}` , position {} does not match the one the model \
                         returned. Please refer to \
                         https://ai.google.dev/gemini-api/docs/thought-signatures for more \
                         details.",
                        i + 1
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(sig: Option<&str>) -> Value {
        let mut part = json!({"functionCall": {"name": "get_weather", "args": {}}});
        if let Some(s) = sig {
            part["thoughtSignature"] = json!(s);
        }
        part
    }

    fn history(first_call: Value) -> Vec<Value> {
        vec![
            json!({"role": "user", "parts": [{"text": "weather?"}]}),
            json!({"role": "model", "parts": [first_call, call(None)]}),
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {}}},
                {"functionResponse": {"name": "get_weather", "response": {}}}]}),
        ]
    }

    #[test]
    fn only_first_call_of_a_reply_is_signed() {
        let s = Signatures::default();
        let mut a = json!({"candidates": [{"content": {"parts": [call(None)]}}]});
        let mut b = json!({"candidates": [{"content": {"parts": [call(None)]}}]});
        s.sign_reply([&mut a, &mut b]);
        let sig = a.pointer("/candidates/0/content/parts/0/thoughtSignature");
        assert!(sig.and_then(Value::as_str).is_some_and(|s| s.len() > 40));
        assert!(b
            .pointer("/candidates/0/content/parts/0/thoughtSignature")
            .is_none());
    }

    #[test]
    fn current_turn_needs_issued_signature() {
        let s = Signatures::default();
        let sig = s.issue();
        assert_eq!(s.check(&history(call(Some(&sig)))), Ok(()));
        assert_eq!(s.check(&history(call(Some(SKIP_VALIDATOR)))), Ok(()));
        let missing = s.check(&history(call(None))).unwrap_err();
        assert!(missing.starts_with("Function call is missing a thought_signature"));
        let altered = format!("{sig}x");
        assert!(s.check(&history(call(Some(&altered)))).is_err());
    }

    #[test]
    fn earlier_turns_are_not_checked() {
        let s = Signatures::default();
        let mut contents = history(call(None));
        contents.push(json!({"role": "model", "parts": [{"text": "sunny"}]}));
        contents.push(json!({"role": "user", "parts": [{"text": "thanks"}]}));
        assert_eq!(s.check(&contents), Ok(()));
    }
}
