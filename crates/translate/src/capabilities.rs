//! What each Gemini model family accepts. Decisions that depend on the model (signatures,
//! thinking controls, penalties, candidate counts, schema flavour) ask here instead of
//! matching names in place. The built-in table follows Google's model documentation and
//! errors reported by users (e.g. "Penalty is not enabled for models/gemini-2.5-flash");
//! operators override entries in configuration when a model behaves otherwise.

use serde::{Deserialize, Serialize};

/// The model generations whose request rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Gemini 3.x: thought signatures are validated, `thinkingLevel`, no `candidateCount > 1`.
    Gemini3,
    /// Gemini 2.5: `thinkingBudget`.
    Gemini25,
    /// Everything else (older or unknown models): no thinking controls.
    Other,
}

impl Family {
    /// Classifies a model id (without the `models/` prefix).
    pub fn of(model: &str) -> Family {
        let id = model.rsplit('/').next().unwrap_or(model);
        if id.starts_with("gemini-3") {
            Family::Gemini3
        } else if id.starts_with("gemini-2.5") {
            Family::Gemini25
        } else {
            Family::Other
        }
    }

    /// Gemini 3 answers 400 when the first function call of a step lacks its signature.
    pub fn requires_thought_signatures(self) -> bool {
        self == Family::Gemini3
    }
}

/// How a model's thinking is controlled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Thinking {
    /// The model does not think (or takes no controls).
    None,
    /// `thinkingBudget` in tokens within `[min, max]`; `0` turns thinking off when allowed.
    Budget {
        min: i32,
        max: i32,
        can_disable: bool,
    },
    /// `thinkingLevel`, one of the listed values (lowest first).
    Level { levels: Vec<String> },
}

/// How JSON schemas (tool parameters, response formats) are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaFlavour {
    /// `parametersJsonSchema` / `responseJsonSchema`: full JSON Schema, lossless.
    JsonSchema,
    /// `parameters` / `responseSchema`: Google's OpenAPI subset, converted.
    Legacy,
}

/// What one model accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub thinking: Thinking,
    /// `presencePenalty` / `frequencyPenalty`.
    pub penalties: bool,
    /// `candidateCount > 1`.
    pub multiple_candidates: bool,
    /// `responseLogprobs` / `logprobs`.
    pub logprobs: bool,
    /// `mediaResolution`.
    pub media_resolution: bool,
    pub schema: SchemaFlavour,
    /// The first function call of each step must carry its thought signature.
    pub thought_signatures: bool,
}

impl Capabilities {
    /// The built-in entry for a model id (without `models/`).
    pub fn builtin(model: &str) -> Capabilities {
        let id = model.rsplit('/').next().unwrap_or(model);
        let levels = |l: &[&str]| Thinking::Level {
            levels: l.iter().map(|s| (*s).to_owned()).collect(),
        };
        match Family::of(id) {
            Family::Gemini3 => Capabilities {
                thinking: if id.contains("flash") {
                    levels(&["minimal", "low", "medium", "high"])
                } else {
                    levels(&["low", "high"])
                },
                penalties: false,
                multiple_candidates: false,
                logprobs: false,
                media_resolution: true,
                schema: SchemaFlavour::JsonSchema,
                thought_signatures: true,
            },
            Family::Gemini25 => Capabilities {
                thinking: if id.contains("pro") {
                    Thinking::Budget {
                        min: 128,
                        max: 32768,
                        can_disable: false,
                    }
                } else if id.contains("flash-lite") {
                    Thinking::Budget {
                        min: 512,
                        max: 24576,
                        can_disable: true,
                    }
                } else {
                    Thinking::Budget {
                        min: 1,
                        max: 24576,
                        can_disable: true,
                    }
                },
                penalties: false,
                multiple_candidates: true,
                logprobs: true,
                media_resolution: true,
                schema: SchemaFlavour::JsonSchema,
                thought_signatures: false,
            },
            Family::Other => {
                // 1.x and 2.0 predate `parametersJsonSchema` / `responseJsonSchema`.
                let legacy = id.starts_with("gemini-1") || id.starts_with("gemini-2.0");
                Capabilities {
                    thinking: Thinking::None,
                    penalties: true,
                    multiple_candidates: true,
                    logprobs: true,
                    media_resolution: !id.starts_with("gemini-1"),
                    schema: if legacy {
                        SchemaFlavour::Legacy
                    } else {
                        SchemaFlavour::JsonSchema
                    },
                    thought_signatures: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_name() {
        assert_eq!(Family::of("gemini-3-pro-preview"), Family::Gemini3);
        assert_eq!(Family::of("models/gemini-3-flash"), Family::Gemini3);
        assert_eq!(Family::of("gemini-2.5-flash"), Family::Gemini25);
        assert_eq!(Family::of("gemini-2.0-flash"), Family::Other);
        assert!(Family::Gemini3.requires_thought_signatures());
        assert!(!Family::Gemini25.requires_thought_signatures());
    }

    #[test]
    fn builtin_table() {
        let pro = Capabilities::builtin("gemini-2.5-pro");
        assert_eq!(
            pro.thinking,
            Thinking::Budget {
                min: 128,
                max: 32768,
                can_disable: false
            }
        );
        assert!(!pro.penalties);
        let g3 = Capabilities::builtin("gemini-3-pro-preview");
        assert!(!g3.multiple_candidates && g3.thought_signatures);
        assert_eq!(
            Capabilities::builtin("gemini-2.0-flash").schema,
            SchemaFlavour::Legacy
        );
        assert!(Capabilities::builtin("gemini-2.0-flash").penalties);
        // Entries can be written in configuration.
        let json = serde_json::to_string(&g3).unwrap();
        let back: Capabilities = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g3);
    }
}
