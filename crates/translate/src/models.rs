//! Gemini's model list (`models.list`, <https://ai.google.dev/api/models#method:-models.list>)
//! as OpenAI's (`GET /v1/models`, <https://platform.openai.com/docs/api-reference/models>).
//!
//! Only models that can serve an OpenAI endpoint Pollux offers are listed: those whose
//! `supportedGenerationMethods` include `generateContent` (chat) or `embedContent`
//! (embeddings). Text-to-speech, image-only and similar models are left out unless the
//! caller asks for everything. Configured aliases are listed beside their targets.
//!
//! Gemini publishes no creation date, so `created` comes in from the caller (Pollux sends 0
//! rather than invent one).
//!
//! Vertex AI's publisher list names no RPCs: [`from_publisher_models`] infers them from the
//! model id (Gemini chat models, embedding models) so the same filter applies, and leaves
//! out deprecated models.

use std::collections::BTreeMap;

use crate::{gemini, openai};

/// How to list.
#[derive(Debug, Clone, Copy)]
pub struct ListOptions<'a> {
    /// Client-facing name → Gemini model id.
    pub aliases: &'a BTreeMap<String, String>,
    /// List every model, whatever it can serve.
    pub include_all: bool,
    /// The `created` of every entry.
    pub created: u64,
}

/// Whether a model can answer chat completions or embeddings.
pub fn servable(model: &gemini::Model) -> bool {
    model.supports("generateContent") || model.supports("embedContent")
}

/// Vertex AI's publisher models as Gemini models: `embedContent` for an embedding model,
/// `generateContent` for a Gemini model that is not speech- or image-only, nothing for the
/// rest (Imagen, Veo, Chirp, ...: listed only when everything is asked for). Deprecated
/// models are left out.
pub fn from_publisher_models(models: &[gemini::PublisherModel]) -> Vec<gemini::Model> {
    models
        .iter()
        .filter(|m| m.launch_stage.as_deref() != Some("DEPRECATED"))
        .map(|m| {
            let id = m.id();
            let method = if id.contains("embedding") {
                Some("embedContent")
            } else if id.starts_with("gemini-") && !id.contains("-tts") && !id.contains("-image") {
                Some("generateContent")
            } else {
                None
            };
            gemini::Model {
                name: format!("models/{id}"),
                supported_generation_methods: method.into_iter().map(str::to_owned).collect(),
                ..Default::default()
            }
        })
        .collect()
}

fn entry(id: &str, created: u64) -> openai::Model {
    openai::Model {
        id: id.to_owned(),
        object: "model",
        created,
        owned_by: "google".to_owned(),
    }
}

/// The OpenAI list: the listed Gemini models in Gemini's order, then the aliases whose target
/// is listed (in name order). An alias that shadows a real model id is listed once.
pub fn to_openai_list(models: &[gemini::Model], opts: &ListOptions<'_>) -> openai::ModelList {
    let listed: Vec<&gemini::Model> = models
        .iter()
        .filter(|m| opts.include_all || servable(m))
        .collect();
    let mut data: Vec<openai::Model> = listed.iter().map(|m| entry(m.id(), opts.created)).collect();
    for (alias, target) in opts.aliases {
        let target_listed = listed.iter().any(|m| m.id() == target);
        let shadowed = data.iter().any(|m| &m.id == alias);
        if target_listed && !shadowed {
            data.push(entry(alias, opts.created));
        }
    }
    openai::ModelList {
        object: "list",
        data,
    }
}

/// One entry of [`to_openai_list`] by id (a Gemini id or an alias), if listed.
pub fn find(models: &[gemini::Model], id: &str, opts: &ListOptions<'_>) -> Option<openai::Model> {
    let id = id.strip_prefix("models/").unwrap_or(id);
    to_openai_list(models, opts)
        .data
        .into_iter()
        .find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, methods: &[&str]) -> gemini::Model {
        gemini::Model {
            name: name.to_owned(),
            supported_generation_methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn sample() -> Vec<gemini::Model> {
        vec![
            model(
                "models/gemini-2.5-flash",
                &["generateContent", "countTokens"],
            ),
            model(
                "models/gemini-2.5-flash-preview-tts",
                &["countTokens", "generateSpeech"],
            ),
            model("models/text-embedding-004", &["embedContent"]),
        ]
    }

    #[test]
    fn lists_servable_models_without_prefix_and_aliases_after() {
        let aliases = BTreeMap::from([
            ("gpt-4o".to_owned(), "gemini-2.5-flash".to_owned()),
            ("gone".to_owned(), "gemini-1.0-pro".to_owned()),
        ]);
        let opts = ListOptions {
            aliases: &aliases,
            include_all: false,
            created: 0,
        };
        let list = to_openai_list(&sample(), &opts);
        let ids: Vec<&str> = list.data.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["gemini-2.5-flash", "text-embedding-004", "gpt-4o"]);
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json["data"][0],
            serde_json::json!({"id": "gemini-2.5-flash", "object": "model", "created": 0, "owned_by": "google"})
        );
        assert_eq!(json["object"], "list");
    }

    #[test]
    fn include_all_keeps_tts() {
        let aliases = BTreeMap::new();
        let opts = ListOptions {
            aliases: &aliases,
            include_all: true,
            created: 5,
        };
        assert_eq!(to_openai_list(&sample(), &opts).data.len(), 3);
        assert!(find(&sample(), "models/gemini-2.5-flash-preview-tts", &opts).is_some());
    }

    #[test]
    fn find_by_alias_echoes_alias() {
        let aliases = BTreeMap::from([("gpt-4o".to_owned(), "gemini-2.5-flash".to_owned())]);
        let opts = ListOptions {
            aliases: &aliases,
            include_all: false,
            created: 0,
        };
        assert_eq!(find(&sample(), "gpt-4o", &opts).unwrap().id, "gpt-4o");
        assert!(find(&sample(), "gemini-2.5-flash-preview-tts", &opts).is_none());
        assert!(find(&sample(), "nope", &opts).is_none());
    }

    #[test]
    fn vertex_publisher_models_are_filtered_like_gemini_models() {
        let list: gemini::ListPublisherModelsResponse = serde_json::from_value(serde_json::json!({
            "publisherModels": [
                {"name": "publishers/google/models/gemini-2.5-flash", "versionId": "001", "launchStage": "GA"},
                {"name": "publishers/google/models/gemini-2.5-flash-preview-tts", "launchStage": "PUBLIC_PREVIEW"},
                {"name": "publishers/google/models/imagen-4.0-generate-001", "launchStage": "GA"},
                {"name": "publishers/google/models/text-embedding-005", "launchStage": "GA"},
                {"name": "publishers/google/models/gemini-1.0-pro", "launchStage": "DEPRECATED"}
            ],
            "nextPageToken": "t"
        }))
        .unwrap();
        let models = from_publisher_models(&list.publisher_models);
        let aliases = BTreeMap::new();
        let opts = ListOptions {
            aliases: &aliases,
            include_all: false,
            created: 0,
        };
        let ids: Vec<String> = to_openai_list(&models, &opts)
            .data
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["gemini-2.5-flash", "text-embedding-005"]);
        let all = ListOptions {
            include_all: true,
            ..opts
        };
        assert_eq!(to_openai_list(&models, &all).data.len(), 4);
    }
}
