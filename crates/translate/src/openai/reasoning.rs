//! How hard a reasoning model should think: Chat Completions' `reasoning_effort`
//! (<https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort>),
//! the same values as the Responses API's `reasoning.effort`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A `reasoning_effort` value. A string OpenAI may add later is read, not refused, as
/// [`ReasoningEffort::Unknown`]: the mapping refuses it with a 400 that names it (and only
/// when it would use it: Gemini's own `thinking_config` wins over any effort).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasoningEffort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    /// The Responses API's highest effort; Gemini's highest setting.
    XHigh,
    Unknown(String),
}

impl ReasoningEffort {
    /// The value as OpenAI spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::XHigh => "xhigh",
            ReasoningEffort::Unknown(value) => value,
        }
    }
}

impl<'de> Deserialize<'de> for ReasoningEffort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EffortVisitor;

        impl Visitor<'_> for EffortVisitor {
            type Value = ReasoningEffort;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ReasoningEffort, E> {
                Ok(match v {
                    "none" => ReasoningEffort::None,
                    "minimal" => ReasoningEffort::Minimal,
                    "low" => ReasoningEffort::Low,
                    "medium" => ReasoningEffort::Medium,
                    "high" => ReasoningEffort::High,
                    "xhigh" => ReasoningEffort::XHigh,
                    other => ReasoningEffort::Unknown(other.to_owned()),
                })
            }
        }

        d.deserialize_str(EffortVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_unknown_strings_are_read_others_refused() {
        let read = |json: &str| serde_json::from_str::<ReasoningEffort>(json);
        assert_eq!(read("\"none\"").unwrap(), ReasoningEffort::None);
        assert_eq!(read("\"minimal\"").unwrap(), ReasoningEffort::Minimal);
        assert_eq!(read("\"low\"").unwrap(), ReasoningEffort::Low);
        assert_eq!(read("\"medium\"").unwrap(), ReasoningEffort::Medium);
        assert_eq!(read("\"high\"").unwrap(), ReasoningEffort::High);
        assert_eq!(read("\"xhigh\"").unwrap(), ReasoningEffort::XHigh);
        assert_eq!(
            read("\"maximal\"").unwrap(),
            ReasoningEffort::Unknown("maximal".to_owned())
        );
        // Escaped strings are not borrowed from the input; they must be read the same.
        assert_eq!(read("\"hi\\u0067h\"").unwrap(), ReasoningEffort::High);
        assert!(read("3").is_err());
    }
}
