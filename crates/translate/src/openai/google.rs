//! Google's extension slots on OpenAI bodies, shared by every OpenAI wire Pollux speaks:
//! `extra_body.google` (Gemini settings OpenAI has no field for, in the spelling Google's own
//! OpenAI endpoint documents, <https://ai.google.dev/gemini-api/docs/openai#extra-body>) and
//! `extra_content.google` (the thought signature riding on a tool call).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExtraBody {
    #[serde(default)]
    pub google: Option<GoogleOptions>,
}

/// `extra_body.google`: Gemini settings OpenAI has no field for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GoogleOptions {
    /// Gemini `safetySettings`, passed through as written.
    #[serde(default)]
    pub safety_settings: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub thinking_config: Option<GoogleThinkingConfig>,
    #[serde(default)]
    pub cached_content: Option<String>,
    /// Gemini built-in tools, each typed (`{"type": "url_context"}`) or in Gemini's shape
    /// (`{"url_context": {}}`).
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub response_modalities: Option<Vec<String>>,
    /// Vertex AI billing labels (string to string).
    #[serde(default)]
    pub labels: Option<serde_json::Map<String, serde_json::Value>>,
    /// Further `generationConfig` fields (snake_case or camelCase), passed through.
    #[serde(default)]
    pub generation_config: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GoogleThinkingConfig {
    #[serde(default, alias = "thinkingBudget")]
    pub thinking_budget: Option<i32>,
    #[serde(default, alias = "includeThoughts")]
    pub include_thoughts: Option<bool>,
    #[serde(default, alias = "thinkingLevel")]
    pub thinking_level: Option<String>,
}

/// Google's extension slot on OpenAI objects (the shape Google's own OpenAI endpoint uses).
#[derive(Debug, Default, Deserialize, Serialize, Clone, PartialEq)]
pub struct ExtraContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<GoogleExtra>,
}

#[derive(Debug, Default, Deserialize, Serialize, Clone, PartialEq)]
pub struct GoogleExtra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// What Gemini's code-execution tool ran and printed, in order (on a message or delta).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_execution: Vec<CodeExecutionStep>,
}

/// One step of a code-execution run: the code, or what running it gave.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CodeExecutionStep {
    ExecutableCode {
        /// `PYTHON`.
        language: String,
        code: String,
    },
    CodeExecutionResult {
        /// `OUTCOME_OK`, `OUTCOME_FAILED` or `OUTCOME_DEADLINE_EXCEEDED`.
        outcome: String,
        output: String,
    },
}

impl ExtraContent {
    pub fn signature(sig: String) -> Self {
        ExtraContent {
            google: Some(GoogleExtra {
                thought_signature: Some(sig),
                code_execution: Vec::new(),
            }),
        }
    }

    /// The steps of a code-execution run, or `None` when there were none.
    pub fn code_execution(steps: Vec<CodeExecutionStep>) -> Option<Self> {
        if steps.is_empty() {
            return None;
        }
        Some(ExtraContent {
            google: Some(GoogleExtra {
                thought_signature: None,
                code_execution: steps,
            }),
        })
    }

    pub fn thought_signature(&self) -> Option<&str> {
        self.google.as_ref()?.thought_signature.as_deref()
    }
}
