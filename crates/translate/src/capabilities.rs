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
    /// Built-in tools (Google Search) may be offered beside function declarations in one
    /// request (<https://ai.google.dev/gemini-api/docs/tool-combination>); older models
    /// refuse the pair with a 400.
    #[serde(default)]
    pub tool_combination: bool,
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
                tool_combination: true,
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
                tool_combination: false,
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
                    tool_combination: false,
                }
            }
        }
    }
}

/// A partial [`Capabilities`] from configuration: only the fields it names change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityPatch {
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default)]
    pub penalties: Option<bool>,
    #[serde(default)]
    pub multiple_candidates: Option<bool>,
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub media_resolution: Option<bool>,
    #[serde(default)]
    pub schema: Option<SchemaFlavour>,
    #[serde(default)]
    pub thought_signatures: Option<bool>,
    #[serde(default)]
    pub tool_combination: Option<bool>,
}

impl CapabilityPatch {
    fn apply(&self, caps: &mut Capabilities) {
        if let Some(t) = &self.thinking {
            caps.thinking = t.clone();
        }
        let flags = [
            (self.penalties, &mut caps.penalties),
            (self.multiple_candidates, &mut caps.multiple_candidates),
            (self.logprobs, &mut caps.logprobs),
            (self.media_resolution, &mut caps.media_resolution),
            (self.thought_signatures, &mut caps.thought_signatures),
            (self.tool_combination, &mut caps.tool_combination),
        ];
        for (value, field) in flags {
            if let Some(v) = value {
                *field = v;
            }
        }
        if let Some(s) = self.schema {
            caps.schema = s;
        }
    }
}

/// The built-in table plus operators' overrides, keyed by model-id prefix:
/// `{"gemini-2.5-flash": {"penalties": true}, "gemini-3": {"thinking": {"kind": "none"}}}`.
/// Every override whose key starts the model id applies, shorter keys first, so a specific
/// model's entry wins over its family's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityTable {
    overrides: Vec<(String, CapabilityPatch)>,
}

impl CapabilityTable {
    /// Parses overrides from JSON (an object of model-id prefix → partial capabilities).
    pub fn from_json(json: &str) -> Result<CapabilityTable, String> {
        let map: std::collections::BTreeMap<String, CapabilityPatch> =
            serde_json::from_str(json).map_err(|e| format!("invalid model capabilities: {e}"))?;
        let mut overrides: Vec<(String, CapabilityPatch)> = map.into_iter().collect();
        overrides.sort_by_key(|(prefix, _)| prefix.len());
        Ok(CapabilityTable { overrides })
    }

    /// What `model` accepts: the built-in entry with every matching override applied.
    pub fn resolve(&self, model: &str) -> Capabilities {
        let id = model.rsplit('/').next().unwrap_or(model);
        let mut caps = Capabilities::builtin(id);
        for (prefix, patch) in &self.overrides {
            if id.starts_with(prefix.as_str()) {
                patch.apply(&mut caps);
            }
        }
        caps
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
    fn overrides_apply_by_prefix_most_specific_last() {
        let table = CapabilityTable::from_json(
            r#"{"gemini-2.5": {"penalties": true, "logprobs": false},
                "gemini-2.5-flash": {"logprobs": true, "schema": "legacy"},
                "gemini-3": {"thinking": {"kind": "none"}}}"#,
        )
        .unwrap();
        let flash = table.resolve("gemini-2.5-flash");
        assert!(flash.penalties && flash.logprobs);
        assert_eq!(flash.schema, SchemaFlavour::Legacy);
        let pro = table.resolve("models/gemini-2.5-pro");
        assert!(pro.penalties && !pro.logprobs);
        assert_eq!(pro.schema, SchemaFlavour::JsonSchema);
        assert_eq!(
            table.resolve("gemini-3-pro-preview").thinking,
            Thinking::None
        );
        assert_eq!(
            table.resolve("gemini-2.0-flash"),
            Capabilities::builtin("gemini-2.0-flash")
        );
        assert!(CapabilityTable::from_json(r#"{"x": {"penalty": true}}"#).is_err());
        assert!(CapabilityTable::from_json("[]").is_err());
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
