//! OpenAI `GET /v1/models` and `GET /v1/models/{id}` bodies
//! (<https://platform.openai.com/docs/api-reference/models>).

use serde::Serialize;

/// `{"object": "list", "data": [...]}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<Model>,
}

/// `{"id", "object": "model", "created", "owned_by"}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Model {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: String,
}
