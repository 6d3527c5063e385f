//! Input items in their stored form: what `GET /v1/responses/{id}/input_items` lists and
//! what a later `previous_response_id` or `item_reference` replays. Each item gets its
//! canonical shape (a message's text content becomes a list of `input_text` / `output_text`
//! parts) and an id when the client gave none.
//!
//! The stored form is written straight from the parsed items as JSON bytes, through structs
//! that borrow from them: built as `serde_json::Value` trees first, it cost a stored request
//! about 60,000 instructions to build, encode and free (docs/benchmarks.md, change 16).

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::build::options::IdSource;
use crate::openai::responses::{ContentPart, InputAudio, InputItem, MessageContent, ToolOutput};

/// The stored form of `items` as a JSON array, each with the client's id or a new one from
/// `ids` (asked for in order, one per item without an id, with the prefix of its kind). Call
/// before translation, which moves media out of the items.
pub fn stored_json(
    items: &[InputItem],
    ids: &mut dyn IdSource,
) -> Result<Vec<u8>, serde_json::Error> {
    let ids: Vec<String> = items
        .iter()
        .map(|item| match item.given_id() {
            Some(id) => id.to_owned(),
            None => ids.item_id(id_prefix(item.kind())),
        })
        .collect();
    serde_json::to_vec(&StoredList { items, ids: &ids })
}

fn id_prefix(kind: &str) -> &'static str {
    match kind {
        "message" => "msg",
        "function_call" => "fc",
        "function_call_output" | "custom_tool_call_output" => "fco",
        "custom_tool_call" => "ctc",
        "reasoning" => "rs",
        _ => "item",
    }
}

struct StoredList<'a> {
    items: &'a [InputItem],
    ids: &'a [String],
}

impl Serialize for StoredList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.items
                .iter()
                .zip(self.ids)
                .map(|(item, id)| stored_item(item, id)),
        )
    }
}

/// One stored item: the fields of its kind, the others absent.
#[derive(Default, Serialize)]
struct StoredItem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
}

fn stored_item<'a>(item: &'a InputItem, id: &'a str) -> StoredItem<'a> {
    let kind = item.kind();
    let mut out = StoredItem {
        kind,
        id,
        ..StoredItem::default()
    };
    match kind {
        "message" => {
            let role = item.role.as_deref().unwrap_or("user");
            let text_kind = if role == "assistant" {
                "output_text"
            } else {
                "input_text"
            };
            out.role = Some(role);
            out.status = Some("completed");
            out.content = Some(match &item.content {
                None => Content::Parts(&[]),
                Some(MessageContent::Text(t)) => Content::OneText(text_kind, t),
                Some(MessageContent::Parts(parts)) => Content::Parts(parts),
            });
        }
        "function_call" | "custom_tool_call" => {
            out.call_id = item.call_id.as_deref();
            out.namespace = item.namespace.as_deref();
            out.name = item.name.as_deref();
            if kind == "function_call" {
                out.arguments = Some(item.arguments.as_deref().unwrap_or(""));
                out.status = Some("completed");
            } else {
                out.input = Some(item.input.as_deref().unwrap_or(""));
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            out.call_id = item.call_id.as_deref();
            out.output = Some(match &item.output {
                None => Content::Text(""),
                Some(ToolOutput::Text(t)) => Content::Text(t),
                Some(ToolOutput::Parts(parts)) => Content::Parts(parts),
            });
            if kind == "function_call_output" {
                out.status = Some("completed");
            }
        }
        "reasoning" => {
            out.summary = Some(match &item.summary {
                Some(summary) => Summary::Given(summary),
                None => Summary::Empty([]),
            });
            out.encrypted_content = item.encrypted_content.as_deref();
        }
        _ => out.status = item.status.as_deref(),
    }
    out
}

/// A message's `content` or a tool output's `output`.
enum Content<'a> {
    /// A tool output as text.
    Text(&'a str),
    /// A message's text as its one part (`input_text` or `output_text`).
    OneText(&'static str, &'a str),
    Parts(&'a [ContentPart]),
}

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(text) => s.serialize_str(text),
            Content::OneText(kind, text) => s.collect_seq([text_part(kind, text)]),
            Content::Parts(parts) => s.collect_seq(parts.iter().map(stored_part)),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Summary<'a> {
    Given(&'a Value),
    Empty([(); 0]),
}

/// One stored content part: an `output_text` always with its (empty) annotations and
/// logprobs, an `input_image` always with its `detail`.
#[derive(Default, Serialize)]
struct StoredPart<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_audio: Option<&'a InputAudio>,
}

fn text_part<'a>(kind: &'a str, text: &'a str) -> StoredPart<'a> {
    let output = kind == "output_text";
    StoredPart {
        kind,
        text: Some(text),
        annotations: output.then_some([]),
        logprobs: output.then_some([]),
        ..StoredPart::default()
    }
}

fn stored_part(part: &ContentPart) -> StoredPart<'_> {
    if part.kind == "output_text" {
        return text_part("output_text", part.text.as_deref().unwrap_or(""));
    }
    StoredPart {
        kind: &part.kind,
        text: part.text.as_deref(),
        refusal: part.refusal.as_deref(),
        image_url: part.image_url.as_deref(),
        file_id: part.file_id.as_deref(),
        file_data: part.file_data.as_deref(),
        file_url: part.file_url.as_deref(),
        filename: part.filename.as_deref(),
        detail: (part.kind == "input_image").then(|| part.detail.as_deref().unwrap_or("auto")),
        input_audio: part.input_audio.as_ref(),
        ..StoredPart::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::build::options::SequentialIds;

    fn stored(input: Value) -> (Value, Vec<String>) {
        let items: Vec<InputItem> = serde_json::from_value(input).unwrap();
        let json = stored_json(&items, &mut SequentialIds::default()).unwrap();
        let stored: Value = serde_json::from_slice(&json).unwrap();
        let ids = stored
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
        (stored, ids)
    }

    #[test]
    fn each_kind_in_its_canonical_shape() {
        let (items, ids) = stored(json!([
            {"role": "user", "content": "Hi"},
            {"type": "message", "id": "msg_given", "role": "assistant", "content": "Hello"},
            {"role": "user", "content": [
                {"type": "input_text", "text": "Look"},
                {"type": "input_image", "image_url": "https://example.com/a.png"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                {"type": "output_text", "text": "said"},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                {"type": "input_file", "file_data": "data:application/pdf;base64,AAAA", "filename": "a.pdf"}
            ]},
            {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_9", "output": "sunny"},
            {"type": "custom_tool_call", "call_id": "call_8", "namespace": "ns", "name": "patch", "input": "diff"},
            {"type": "custom_tool_call_output", "call_id": "call_8", "output": [{"type": "input_text", "text": "ok"}]},
            {"type": "reasoning", "encrypted_content": "sealed"},
            {"type": "reasoning", "id": "rs_given", "summary": [{"type": "summary_text", "text": "hm"}]},
            {"type": "web_search_call", "status": "completed"}
        ]));
        assert_eq!(ids.len(), 10);
        assert_eq!(ids[1], "msg_given");
        assert_eq!(
            items,
            json!([
                {"type": "message", "id": ids[0], "role": "user", "status": "completed",
                 "content": [{"type": "input_text", "text": "Hi"}]},
                {"type": "message", "id": "msg_given", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]},
                {"type": "message", "id": ids[2], "role": "user", "status": "completed", "content": [
                    {"type": "input_text", "text": "Look"},
                    {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                    {"type": "output_text", "text": "said", "annotations": [], "logprobs": []},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "input_file", "file_data": "data:application/pdf;base64,AAAA", "filename": "a.pdf"}
                ]},
                {"type": "function_call", "id": ids[3], "call_id": "call_9", "name": "get_weather",
                 "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call_output", "id": ids[4], "call_id": "call_9", "output": "sunny",
                 "status": "completed"},
                {"type": "custom_tool_call", "id": ids[5], "call_id": "call_8", "namespace": "ns",
                 "name": "patch", "input": "diff"},
                {"type": "custom_tool_call_output", "id": ids[6], "call_id": "call_8",
                 "output": [{"type": "input_text", "text": "ok"}]},
                {"type": "reasoning", "id": ids[7], "summary": [], "encrypted_content": "sealed"},
                {"type": "reasoning", "id": "rs_given", "summary": [{"type": "summary_text", "text": "hm"}]},
                {"type": "web_search_call", "id": ids[9], "status": "completed"}
            ])
        );
        for (id, prefix) in ids.iter().zip([
            "msg", "", "msg", "fc", "fco", "ctc", "fco", "rs", "", "item",
        ]) {
            assert!(id.starts_with(prefix), "{id} should start with {prefix}");
        }
    }

    #[test]
    fn no_items_is_an_empty_array() {
        assert_eq!(
            stored_json(&[], &mut SequentialIds::default()).unwrap(),
            b"[]"
        );
    }
}
