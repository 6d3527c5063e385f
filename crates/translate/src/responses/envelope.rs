//! Thought signatures carried by stateless clients: the `encrypted_content` of a reasoning
//! item, as Pollux writes it.
//!
//! Gemini 3 wants each `thoughtSignature` back, unchanged, on the part it came with. A
//! Responses client that keeps no server state (Codex sends `store: false` and replays its
//! whole input every turn) returns exactly one opaque field of ours: a reasoning item's
//! `encrypted_content`. So before each signed part of an answer Pollux places a reasoning
//! item whose `encrypted_content` is this envelope: the signature and what it belongs to (a
//! function call by its `call_id`, the item coming right before the call; or the text part at
//! `content_index` of a message, the item coming right after it, since a stream has sent the
//! message before it knows the signature). On input, each signature is put back on its part.
//!
//! The envelope is `pollux.v1.` followed by unpadded base64url of a small JSON object. The
//! version lets a later Pollux change the inside while still reading this one; anything
//! without the prefix, or that does not decode, is not Pollux's (an OpenAI reasoning item
//! replayed into Gemini, say) and is dropped and reported. It is not encrypted: the
//! signature is Google's own opaque token, and Gemini checks it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "pollux.v1.";

/// What a signature belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The function (or custom tool) call with this `call_id`.
    Call(String),
    /// The text part at this `content_index` of the assistant message just before.
    Text(usize),
}

/// One thought signature and its part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub signature: String,
    pub target: Target,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    /// The signature.
    s: String,
    /// The call's id, for a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    /// The text part's index, for text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<usize>,
}

impl Envelope {
    /// The `encrypted_content` string.
    pub fn seal(&self) -> String {
        let wire = match &self.target {
            Target::Call(id) => Wire {
                s: self.signature.clone(),
                c: Some(id.clone()),
                t: None,
            },
            Target::Text(index) => Wire {
                s: self.signature.clone(),
                c: None,
                t: Some(*index),
            },
        };
        // Serializing two strings and a number cannot fail.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Reads an `encrypted_content`; `None` when it is not an envelope of Pollux's.
    pub fn open(content: &str) -> Option<Envelope> {
        let encoded = content.strip_prefix(PREFIX)?;
        let json = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        let wire: Wire = serde_json::from_slice(&json).ok()?;
        if wire.s.is_empty() {
            return None;
        }
        let target = match (wire.c, wire.t) {
            (Some(id), None) => Target::Call(id),
            (None, Some(index)) => Target::Text(index),
            _ => return None,
        };
        Some(Envelope {
            signature: wire.s,
            target,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_foreign_content_is_not_read() {
        for target in [Target::Call("call_7".to_owned()), Target::Text(2)] {
            let envelope = Envelope {
                signature: "c2lnbmF0dXJl+/=".to_owned(),
                target,
            };
            let sealed = envelope.seal();
            assert!(sealed.starts_with("pollux.v1."));
            assert_eq!(Envelope::open(&sealed), Some(envelope));
        }
        // An OpenAI reasoning blob, a truncated envelope, an empty signature.
        assert_eq!(Envelope::open("gAAAAABoX1..."), None);
        assert_eq!(Envelope::open("pollux.v1.eyJz"), None);
        let empty = format!(
            "pollux.v1.{}",
            URL_SAFE_NO_PAD.encode(br#"{"s":"","c":"x"}"#)
        );
        assert_eq!(Envelope::open(&empty), None);
        let both = format!(
            "pollux.v1.{}",
            URL_SAFE_NO_PAD.encode(br#"{"s":"a","c":"x","t":0}"#)
        );
        assert_eq!(Envelope::open(&both), None);
    }
}
