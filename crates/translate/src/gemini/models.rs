//! Gemini `models.list` / `models.get` bodies (<https://ai.google.dev/api/models>). Read
//! leniently: gateways and new API versions add fields, and `supportedGenerationMethods`
//! grows as Google adds RPCs.
//!
//! Vertex AI lists its models in the Model Garden's publisher list
//! (`GET v1beta1/publishers/google/models`,
//! <https://cloud.google.com/vertex-ai/docs/reference/rest/v1beta1/publishers.models/list>):
//! [`ListPublisherModelsResponse`].

use serde::{Deserialize, Serialize};

/// `GET v1beta/models` answer: one page of models and the token of the next page.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListModelsResponse {
    #[serde(default)]
    pub models: Vec<Model>,
    /// Absent (or empty) on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One model resource, e.g. `{"name": "models/gemini-2.5-flash", ...}`. Serialized (as the
/// same JSON) for the model-list cache replicas share.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// The resource name, `models/{id}`.
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_token_limit: Option<u64>,
    #[serde(default)]
    pub output_token_limit: Option<u64>,
    /// RPCs the model serves: `generateContent`, `embedContent`, `countTokens`, ...
    #[serde(default)]
    pub supported_generation_methods: Vec<String>,
}

impl Model {
    /// The id without the `models/` prefix.
    pub fn id(&self) -> &str {
        self.name.strip_prefix("models/").unwrap_or(&self.name)
    }

    /// Whether `method` is among the model's supported generation methods.
    pub fn supports(&self, method: &str) -> bool {
        self.supported_generation_methods
            .iter()
            .any(|m| m == method)
    }
}

/// `GET v1beta1/publishers/google/models` answer (Vertex AI).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPublisherModelsResponse {
    #[serde(default)]
    pub publisher_models: Vec<PublisherModel>,
    /// Absent (or empty) on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One publisher model, e.g. `{"name": "publishers/google/models/gemini-2.5-flash",
/// "versionId": "001", "launchStage": "GA", ...}`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublisherModel {
    /// The resource name, `publishers/google/models/{id}`.
    pub name: String,
    #[serde(default)]
    pub launch_stage: Option<String>,
}

impl PublisherModel {
    /// The id without the `publishers/{publisher}/models/` prefix.
    pub fn id(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}
