//! Input items in their stored form: what `GET /v1/responses/{id}/input_items` lists and
//! what a later `previous_response_id` or `item_reference` replays. Each item gets its
//! canonical shape (a message's text content becomes a list of `input_text` / `output_text`
//! parts) and an id when the client gave none.

use serde_json::{json, Map, Value};

use crate::build::options::IdSource;
use crate::openai::responses::{ContentPart, InputItem, MessageContent, ToolOutput};

/// The stored form of each item, in order. Call before translation, which moves media out of
/// the items.
pub fn stored_items(items: &[InputItem], ids: &mut dyn IdSource) -> Vec<Value> {
    items.iter().map(|item| stored_item(item, ids)).collect()
}

fn stored_item(item: &InputItem, ids: &mut dyn IdSource) -> Value {
    let kind = item.kind();
    let prefix = match kind {
        "message" => "msg",
        "function_call" => "fc",
        "function_call_output" | "custom_tool_call_output" => "fco",
        "custom_tool_call" => "ctc",
        "reasoning" => "rs",
        _ => "item",
    };
    let id = match &item.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => ids.item_id(prefix),
    };
    let mut out = Map::new();
    out.insert("type".to_owned(), json!(kind));
    out.insert("id".to_owned(), json!(id));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            out.insert(key.to_owned(), v);
        }
    };
    let text = |s: &Option<String>| s.as_ref().map(|s| json!(s));
    match kind {
        "message" => {
            let role = item.role.as_deref().unwrap_or("user");
            put("role", Some(json!(role)));
            put("status", Some(json!("completed")));
            let text_kind = if role == "assistant" {
                "output_text"
            } else {
                "input_text"
            };
            let content = match &item.content {
                None => Vec::new(),
                Some(MessageContent::Text(t)) => vec![text_part(text_kind, t)],
                Some(MessageContent::Parts(parts)) => parts.iter().map(stored_part).collect(),
            };
            put("content", Some(Value::Array(content)));
        }
        "function_call" | "custom_tool_call" => {
            put("call_id", text(&item.call_id));
            put("namespace", text(&item.namespace));
            put("name", text(&item.name));
            if kind == "function_call" {
                put(
                    "arguments",
                    Some(json!(item.arguments.as_deref().unwrap_or(""))),
                );
                put("status", Some(json!("completed")));
            } else {
                put("input", Some(json!(item.input.as_deref().unwrap_or(""))));
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            put("call_id", text(&item.call_id));
            put(
                "output",
                Some(match &item.output {
                    None => json!(""),
                    Some(ToolOutput::Text(t)) => json!(t),
                    Some(ToolOutput::Parts(parts)) => {
                        Value::Array(parts.iter().map(stored_part).collect())
                    }
                }),
            );
            if kind == "function_call_output" {
                put("status", Some(json!("completed")));
            }
        }
        "reasoning" => {
            put(
                "summary",
                Some(item.summary.clone().unwrap_or_else(|| json!([]))),
            );
            put("encrypted_content", text(&item.encrypted_content));
        }
        _ => put("status", text(&item.status)),
    }
    Value::Object(out)
}

fn text_part(kind: &str, text: &str) -> Value {
    if kind == "output_text" {
        json!({"type": kind, "text": text, "annotations": [], "logprobs": []})
    } else {
        json!({"type": kind, "text": text})
    }
}

fn stored_part(part: &ContentPart) -> Value {
    if part.kind == "output_text" {
        return text_part("output_text", part.text.as_deref().unwrap_or(""));
    }
    let mut out = Map::new();
    out.insert("type".to_owned(), json!(part.kind));
    let fields = [
        ("text", &part.text),
        ("refusal", &part.refusal),
        ("image_url", &part.image_url),
        ("file_id", &part.file_id),
        ("file_data", &part.file_data),
        ("file_url", &part.file_url),
        ("filename", &part.filename),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            out.insert(key.to_owned(), json!(v));
        }
    }
    if part.kind == "input_image" {
        out.insert(
            "detail".to_owned(),
            json!(part.detail.as_deref().unwrap_or("auto")),
        );
    }
    if let Some(audio) = &part.input_audio {
        out.insert(
            "input_audio".to_owned(),
            json!({"data": audio.data, "format": audio.format}),
        );
    }
    Value::Object(out)
}
