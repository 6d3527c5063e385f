//! The response object (`Response` in OpenAI's spec): what `POST /v1/responses` returns and
//! what the stream's `response.*` lifecycle events carry, with its output items.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

pub use crate::openai::logprobs::TokenLogprob;

/// `status` of a response, and of the items that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    InProgress,
    Completed,
    Incomplete,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub status: Status,
    pub completed_at: Option<u64>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub output: Vec<OutputItem>,
    /// Absent until the response ended (OpenAI's spec has no null usage).
    pub usage: Option<Usage>,
    /// Written after the fields above, as members of the same object.
    pub echo: Echo,
}

impl Response {
    /// The fields the run decides (all but the echoed settings), in order.
    fn head<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("object", self.object)?;
        map.serialize_entry("created_at", &self.created_at)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("completed_at", &self.completed_at)?;
        map.serialize_entry("error", &self.error)?;
        map.serialize_entry("incomplete_details", &self.incomplete_details)?;
        map.serialize_entry("output", &self.output)?;
        if let Some(usage) = &self.usage {
            map.serialize_entry("usage", usage)?;
        }
        map.serialize_entry("service_tier", &self.echo.service_tier)?;
        Ok(())
    }

    /// Appends the object's JSON to `out`, the echoed settings copied in as they were encoded
    /// once for the response: the same bytes as `serde_json::to_writer`, which parses them
    /// again to write them member by member.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        struct Head<'a>(&'a Response);
        impl Serialize for Head<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(None)?;
                self.0.head(&mut map)?;
                map.end()
            }
        }
        serde_json::to_writer(&mut *out, &Head(self))?;
        // The head's closing brace comes after the echoed members.
        out.pop();
        let members = self.echo.members();
        if !members.is_empty() {
            out.push(b',');
            out.extend_from_slice(members.as_bytes());
        }
        out.push(b'}');
        Ok(())
    }

    /// The object as JSON ([`Response::write_json`]).
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1024 + self.echo.len());
        self.write_json(&mut out)?;
        Ok(out)
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let members: Members<'_> =
            serde_json::from_str(&self.echo.json).map_err(serde::ser::Error::custom)?;
        let mut map = s.serialize_map(None)?;
        self.head(&mut map)?;
        for (key, value) in members.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The request settings a response echoes, the same on every event of one response: encoded
/// once, when the request is translated, and copied into each response object written
/// ([`Response::write_json`]). A stream carries the object three times (`response.created`,
/// `response.in_progress`, the terminal event), and encoding the settings each time (tools
/// and their schemas, `instructions`, `text.format`) was a third of its framing cost
/// (docs/benchmarks.md, change 16).
#[derive(Debug, Clone)]
pub struct Echo {
    /// A JSON object.
    json: Arc<str>,
    /// The tier asked for until Gemini reports the one it served (`x-gemini-service-tier`),
    /// which may be lower: kept apart from the encoded settings so the server can replace it.
    pub service_tier: String,
}

impl Echo {
    pub fn new(settings: &EchoSettings, service_tier: String) -> serde_json::Result<Echo> {
        serde_json::to_string(settings).map(|json| Echo {
            json: json.into(),
            service_tier,
        })
    }

    /// Bytes the encoded settings take.
    pub fn len(&self) -> usize {
        self.json.len()
    }

    pub fn is_empty(&self) -> bool {
        self.json.len() <= 2
    }

    /// The object's members, without its braces.
    fn members(&self) -> &str {
        self.json
            .strip_prefix('{')
            .and_then(|m| m.strip_suffix('}'))
            .unwrap_or_default()
    }
}

/// An encoded object's members in order, each value as written.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// The settings a response echoes, as they are encoded into its [`Echo`].
#[derive(Debug, Clone, Serialize)]
pub struct EchoSettings {
    /// The model name exactly as the client sent it.
    pub model: String,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub max_tool_calls: Option<u32>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: EchoReasoning,
    pub store: bool,
    pub background: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_logprobs: Option<u32>,
    pub text: EchoText,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub truncation: String,
    pub metadata: serde_json::Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
    pub prompt_cache_key: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EchoReasoning {
    pub effort: Option<String>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EchoText {
    pub format: Value,
    pub verbosity: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseError {
    /// One of `ResponseErrorCode` in OpenAI's spec (`server_error`, `rate_limit_exceeded`,
    /// `invalid_prompt`, ...).
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IncompleteDetails {
    pub reason: IncompleteReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    MaxOutputTokens,
    ContentFilter,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
    /// Gemini reports no cache writes; OpenAI's spec requires the field.
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Reasoning(ReasoningItem),
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    CustomToolCall(CustomToolCallItem),
    WebSearchCall(WebSearchCallItem),
    CodeInterpreterCall(CodeInterpreterCallItem),
    FileSearchCall(FileSearchCallItem),
}

impl OutputItem {
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Reasoning(r) => &r.id,
            OutputItem::Message(m) => &m.id,
            OutputItem::FunctionCall(f) => &f.id,
            OutputItem::CustomToolCall(c) => &c.id,
            OutputItem::WebSearchCall(w) => &w.id,
            OutputItem::CodeInterpreterCall(c) => &c.id,
            OutputItem::FileSearchCall(f) => &f.id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasoningItem {
    pub id: String,
    pub summary: Vec<SummaryText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: String) -> Self {
        SummaryText {
            kind: "summary_text",
            text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageItem {
    pub id: String,
    pub role: &'static str,
    pub status: Status,
    pub content: Vec<MessagePart>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessagePart {
    OutputText {
        text: SharedText,
        annotations: Vec<Annotation>,
        logprobs: Vec<TokenLogprob>,
    },
    Refusal {
        refusal: String,
    },
}

impl MessagePart {
    pub fn text(text: String) -> Self {
        MessagePart::OutputText {
            text: text.into(),
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// A message's whole text, which a stream writes four times (`output_text.done`,
/// `content_part.done`, `output_item.done` and the terminal response) and a stored stream
/// once more: the clones share it, and it is JSON-escaped once, the first time it is written,
/// each later write copying the escaped bytes (docs/benchmarks.md, change 20).
#[derive(Clone, Default)]
pub struct SharedText(Arc<Escaped>);

#[derive(Default)]
struct Escaped {
    text: String,
    json: OnceLock<Box<RawValue>>,
}

impl SharedText {
    pub fn as_str(&self) -> &str {
        &self.0.text
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> Self {
        SharedText(Arc::new(Escaped {
            text,
            json: OnceLock::new(),
        }))
    }
}

impl Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.text
    }
}

impl PartialEq for SharedText {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0.text, f)
    }
}

impl Serialize for SharedText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(json) = self.0.json.get() {
            return json.serialize(s);
        }
        // A string always encodes; the fallback keeps the signature honest.
        match serde_json::value::to_raw_value(&self.0.text) {
            Ok(json) => self.0.json.get_or_init(|| json).serialize(s),
            Err(_) => s.serialize_str(&self.0.text),
        }
    }
}

/// An annotation on output text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Annotation {
    /// A web page: character offsets into the part's text.
    UrlCitation {
        start_index: usize,
        end_index: usize,
        url: String,
        title: String,
    },
    /// A document of a File Search store; `index` is the character offset the citation
    /// applies at (the end of the passage it supports).
    FileCitation {
        file_id: String,
        index: usize,
        filename: String,
    },
}

/// Code Gemini's code-execution tool ran, and what it printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeInterpreterCallItem {
    pub id: String,
    /// `in_progress`, `interpreting`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// Gemini runs code in no container a client can address; a fixed name stands in.
    pub container_id: String,
    pub code: Option<String>,
    pub outputs: Option<Vec<CodeInterpreterOutput>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CodeInterpreterOutput {
    Logs { logs: String },
}

/// The documents Gemini's File Search retrieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSearchCallItem {
    pub id: String,
    pub status: &'static str,
    /// Gemini does not report the queries it ran: always empty.
    pub queries: Vec<String>,
    pub results: Option<Vec<FileSearchResult>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSearchResult {
    /// The document's name or URI in its File Search store.
    pub file_id: String,
    pub filename: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCallItem {
    pub id: String,
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub arguments: String,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomToolCallItem {
    pub id: String,
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub input: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSearchCallItem {
    pub id: String,
    pub status: &'static str,
    pub action: WebSearchAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSearchAction {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub query: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::openai::responses::{EventBody, StreamEvent};

    fn settings() -> EchoSettings {
        EchoSettings {
            model: "gemini-2.5-flash".to_owned(),
            instructions: Some("Say \"hi\"\n\u{e9}".to_owned()),
            max_output_tokens: Some(512),
            max_tool_calls: None,
            parallel_tool_calls: true,
            previous_response_id: None,
            reasoning: EchoReasoning::default(),
            store: false,
            background: false,
            temperature: Some(0.7),
            top_p: Some(1.0),
            top_logprobs: None,
            text: EchoText {
                format: json!({"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": true}),
                verbosity: "medium".to_owned(),
            },
            tool_choice: json!("auto"),
            tools: vec![
                json!({"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true, "description": null}),
            ],
            truncation: "disabled".to_owned(),
            metadata: json!({"run": "1"}).as_object().cloned().unwrap_or_default(),
            user: None,
            safety_identifier: None,
            prompt_cache_key: Some("k".to_owned()),
        }
    }

    fn response(status: Status) -> Response {
        Response {
            id: "resp_1".to_owned(),
            object: "response",
            created_at: 1,
            status,
            completed_at: Some(2),
            error: None,
            incomplete_details: None,
            output: vec![OutputItem::Message(MessageItem {
                id: "msg_1".to_owned(),
                role: "assistant",
                status: Status::Completed,
                content: vec![MessagePart::text("Hi".to_owned())],
            })],
            usage: Some(Usage::default()),
            echo: Echo::new(&settings(), "default".to_owned()).unwrap(),
        }
    }

    #[test]
    fn the_fast_encoding_is_the_serde_encoding() {
        let response = response(Status::Completed);
        let fast = response.to_json().unwrap();
        assert_eq!(
            String::from_utf8(fast.clone()).unwrap(),
            serde_json::to_string(&response).unwrap()
        );
        // The echoed settings are members of the object, in the order they were declared.
        let mut expected = serde_json::to_value(settings()).unwrap();
        let value: Value = serde_json::from_slice(&fast).unwrap();
        for (key, v) in expected.as_object_mut().unwrap() {
            assert_eq!(&value[key], v, "{key}");
        }
        assert_eq!(value["output"][0]["content"][0]["text"], "Hi");
        assert_eq!(value["usage"]["total_tokens"], 0);
    }

    #[test]
    fn events_carrying_the_response_encode_as_serde_does() {
        let lifecycle = |status| Box::new(response(status));
        let bodies = [
            EventBody::Created {
                response: lifecycle(Status::InProgress),
            },
            EventBody::InProgress {
                response: lifecycle(Status::InProgress),
            },
            EventBody::Completed {
                response: lifecycle(Status::Completed),
            },
            EventBody::Incomplete {
                response: lifecycle(Status::Incomplete),
            },
            EventBody::Failed {
                response: lifecycle(Status::Failed),
            },
            EventBody::OutputTextDelta {
                item_id: "msg_1".to_owned(),
                output_index: 0,
                content_index: 0,
                delta: "Hi \"there\"\n".to_owned(),
                logprobs: Vec::new(),
            },
            EventBody::OutputItemAdded {
                output_index: 1,
                item: OutputItem::Message(MessageItem {
                    id: "msg_1".to_owned(),
                    role: "assistant",
                    status: Status::InProgress,
                    content: vec![MessagePart::text("Hi".to_owned())],
                }),
            },
            EventBody::ContentPartDone {
                item_id: "msg_1".to_owned(),
                output_index: 0,
                content_index: 2,
                part: MessagePart::text("Hi \u{e9}".to_owned()),
            },
            EventBody::OutputTextDone {
                item_id: "msg_1".to_owned(),
                output_index: 0,
                content_index: 0,
                text: SharedText::from("Hi".to_owned()),
                logprobs: Vec::new(),
            },
            EventBody::ArgumentsDone {
                item_id: "fc_1".to_owned(),
                output_index: 3,
                name: "get_weather".to_owned(),
                arguments: "{\"city\":\"Paris\"}".to_owned(),
            },
            EventBody::WebSearchCompleted {
                item_id: "ws_1".to_owned(),
                output_index: 0,
            },
        ];
        for (n, body) in bodies.into_iter().enumerate() {
            let event = StreamEvent {
                body,
                sequence_number: 40 + n as u64,
            };
            let mut fast = Vec::new();
            event.write_json(&mut fast).unwrap();
            let serde = serde_json::to_vec(&event).unwrap();
            assert_eq!(
                String::from_utf8(fast.clone()).unwrap(),
                String::from_utf8(serde).unwrap()
            );
            let framed = event.to_sse().unwrap();
            let mut expected = format!("event: {}\ndata: ", event.kind()).into_bytes();
            expected.extend_from_slice(&fast);
            expected.extend_from_slice(b"\n\n");
            assert_eq!(framed, expected);
            // Where the response object was framed, after what came before in the buffer.
            let mut located = b"before".to_vec();
            let range = event.write_sse_locating(&mut located).unwrap();
            assert_eq!(&located[6..], &framed[..]);
            match (&event.body, range) {
                (
                    EventBody::Created { response }
                    | EventBody::InProgress { response }
                    | EventBody::Completed { response }
                    | EventBody::Incomplete { response }
                    | EventBody::Failed { response },
                    Some(range),
                ) => assert_eq!(located[range].to_vec(), response.to_json().unwrap()),
                (_, None) if !event.carries_response() => {}
                (body, range) => panic!("{} located at {range:?}", body.kind()),
            }
        }
    }

    #[test]
    fn the_response_is_located_whatever_the_sequence_number() {
        for sequence_number in [0, 9, 10, 99, 100, 12_345] {
            let event = StreamEvent {
                body: EventBody::Completed {
                    response: Box::new(response(Status::Completed)),
                },
                sequence_number,
            };
            let mut out = Vec::new();
            let range = event.write_sse_locating(&mut out).unwrap().unwrap();
            assert_eq!(
                out[range].to_vec(),
                event_response_json(&event),
                "{sequence_number}"
            );
        }
    }

    fn event_response_json(event: &StreamEvent) -> Vec<u8> {
        match &event.body {
            EventBody::Completed { response } => response.to_json().unwrap(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn shared_text_is_escaped_once_and_encodes_as_a_string() {
        let text = SharedText::from("a \"quoted\"\n\u{e9} line".to_owned());
        let copy = text.clone();
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            serde_json::to_string(&*text).unwrap()
        );
        // The clone writes the escaped bytes its original kept, and the value form parses them.
        assert_eq!(
            serde_json::to_string(&copy).unwrap(),
            "\"a \\\"quoted\\\"\\n\u{e9} line\""
        );
        assert_eq!(
            serde_json::to_value(&copy).unwrap(),
            json!("a \"quoted\"\n\u{e9} line")
        );
        assert_eq!(
            text,
            SharedText::from("a \"quoted\"\n\u{e9} line".to_owned())
        );
    }

    #[test]
    fn an_echo_with_no_members_leaves_a_valid_object() {
        let mut response = response(Status::InProgress);
        response.echo = Echo {
            json: Arc::from("{}"),
            service_tier: "default".to_owned(),
        };
        let value: Value = serde_json::from_slice(&response.to_json().unwrap()).unwrap();
        assert_eq!(value["id"], "resp_1");
        assert_eq!(serde_json::to_value(&response).unwrap(), value);
    }
}
