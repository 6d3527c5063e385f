//! Inbound `POST /v1/chat/completions` body.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::openai::body::{body_error, parse_body_tracked};
use crate::openai::limits::{self, Limits};
use crate::openai::tagged::{self, Tagged};
use crate::openai::{ExtraBody, ExtraContent, GoogleOptions, ReasoningEffort};
use crate::TranslateError;

#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    /// Optional here so a configured default model can apply; mapping refuses a missing one.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(deserialize_with = "limits::messages")]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, deserialize_with = "limits::tools")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Legacy (pre-tools) function calling.
    #[serde(default, deserialize_with = "limits::functions")]
    pub functions: Option<Vec<FunctionDefinition>>,
    #[serde(default)]
    pub function_call: Option<FunctionCallChoice>,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    /// Any value turns on Gemini's Google Search grounding.
    #[serde(default)]
    pub web_search_options: Option<serde_json::Value>,
    /// `auto`, `default`, `flex` or `priority`.
    #[serde(default)]
    pub service_tier: Option<String>,
    /// Ties the requests of one conversation to one upstream key (the server's key affinity).
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    /// Gemini-only knobs, as the OpenAI SDKs' `extra_body={"google": {...}}` sends them.
    #[serde(default)]
    pub google: Option<GoogleOptions>,
    /// The same knobs nested the way Google's own OpenAI endpoint documents them:
    /// `{"extra_body": {"google": {...}}}`.
    #[serde(default)]
    pub extra_body: Option<ExtraBody>,
    /// OpenAI's request metadata; Vertex AI gets the valid label pairs as `labels`.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ChatCompletionRequest {
    /// The Gemini-only options from either spelling (`google` wins over `extra_body.google`).
    pub fn google_options(&self) -> Option<&GoogleOptions> {
        self.google
            .as_ref()
            .or_else(|| self.extra_body.as_ref()?.google.as_ref())
    }
}

impl ChatCompletionRequest {
    /// Parses a request body within the default [`Limits`], naming the offending field in
    /// the error (`param`).
    pub fn from_slice(body: &[u8]) -> Result<Self, TranslateError> {
        Self::from_slice_within(body, &Limits::default())
    }

    /// Parses a request body and refuses one holding more than `limits` allows (400
    /// `too_many_items`, naming the field, the limit and the server setting that raises it).
    ///
    /// `messages`, `tools`, `functions` and the parts of all message contents are counted
    /// while they are read, so an oversized array is refused at its first item past the
    /// limit instead of after all of it was allocated; tool calls, which count as parts too,
    /// are added up after the parse.
    pub fn from_slice_within(body: &[u8], limits: &Limits) -> Result<Self, TranslateError> {
        // As in `parse_body`, a failed parse is repeated with path tracking; each is counted
        // from zero.
        let fast = limits::counting(limits, || {
            serde_json::from_slice::<Self>(body).map_err(|e| body_error(e, None))
        });
        let request = match fast {
            Ok(request) => request,
            Err(
                over @ TranslateError::InvalidRequest {
                    code: Some("too_many_items"),
                    ..
                },
            ) => return Err(over),
            Err(_) => limits::counting(limits, || parse_body_tracked(body))?,
        };
        request.check_parts(limits)?;
        Ok(request)
    }

    /// The part count with tool calls included, which the parse does not count.
    fn check_parts(&self, limits: &Limits) -> Result<(), TranslateError> {
        let mut parts = 0usize;
        for (i, message) in self.messages.iter().enumerate() {
            parts += message.part_count();
            if parts > limits.max_parts {
                return Err(limits::Over::Parts { message: i }.error(limits));
            }
        }
        Ok(())
    }

    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// A conversation message, tagged by `role` (read by `tagged`, which does not copy the
/// message first when `role` is its first field).
///
/// Every variant is boxed, so the `messages` array holds 16 bytes per message; it is held
/// twice for a moment at the end of the parse (`limits::joined`). With the messages inline
/// (64 bytes) that array alone was up to 5x the body of a request of one-letter messages
/// (issue #13, finding 6). The boxes are freed one by one as the messages are mapped.
#[derive(Debug, Clone)]
pub enum Message {
    System(Box<InstructionMessage>),
    Developer(Box<InstructionMessage>),
    User(Box<UserMessage>),
    Assistant(Box<AssistantMessage>),
    Tool(Box<ToolMessage>),
    /// Legacy result of a `function_call`.
    Function(Box<FunctionMessage>),
}

/// The `role` values.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

impl Message {
    /// Content parts plus tool calls: what becomes Gemini parts, for [`Limits::max_parts`].
    pub(crate) fn part_count(&self) -> usize {
        let parts = |c: &Content| match c {
            Content::Text(_) => 1,
            Content::Parts(p) => p.len(),
        };
        match self {
            Message::System(m) | Message::Developer(m) => parts(&m.content),
            Message::User(m) => parts(&m.content),
            Message::Tool(m) => parts(&m.content),
            Message::Function(m) => m.content.as_ref().map_or(1, parts),
            Message::Assistant(m) => {
                m.content.as_ref().map_or(0, parts)
                    + m.tool_calls.as_ref().map_or(0, Vec::len)
                    + usize::from(m.function_call.is_some())
            }
        }
    }
}

impl Tagged for Message {
    const TAG: &'static str = "role";
    type Tag = MessageRole;

    fn variant<'de, D: Deserializer<'de>>(role: MessageRole, rest: D) -> Result<Self, D::Error> {
        Ok(match role {
            MessageRole::System => {
                Message::System(Box::new(InstructionMessage::deserialize(rest)?))
            }
            MessageRole::Developer => {
                Message::Developer(Box::new(InstructionMessage::deserialize(rest)?))
            }
            MessageRole::User => Message::User(Box::new(UserMessage::deserialize(rest)?)),
            MessageRole::Assistant => {
                Message::Assistant(Box::new(AssistantMessage::deserialize(rest)?))
            }
            MessageRole::Tool => Message::Tool(Box::new(ToolMessage::deserialize(rest)?)),
            MessageRole::Function => {
                Message::Function(Box::new(FunctionMessage::deserialize(rest)?))
            }
        })
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tagged::deserialize(d)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstructionMessage {
    pub content: Content,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserMessage {
    pub content: Content,
}

/// An assistant message of the history. Its `refusal` field is not read: Gemini has no place
/// for it (a `refusal` content part goes as text).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AssistantMessage {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, deserialize_with = "short_list")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Legacy (pre-tools) call; boxed, as it is rare and two strings wide.
    #[serde(default)]
    pub function_call: Option<Box<FunctionCall>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ToolMessage {
    pub content: Content,
    pub tool_call_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionMessage {
    pub name: String,
    #[serde(default)]
    pub content: Option<Content>,
}

/// Message content: a plain string or an array of typed parts.
#[derive(Debug, Clone)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// Read by the JSON type it meets (serde's `untagged` would copy the value first and then
/// try each variant on the copy, and report only that none matched).
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    limits::count_part()?;
                    push_short(&mut parts, part);
                }
                Ok(Content::Parts(parts))
            }
        }

        d.deserialize_any(ContentVisitor)
    }
}

/// Pushes onto a list that is usually one item long (content parts, tool calls): the first
/// item gets a buffer of its own size, where a vector's first push reserves room for four
/// (issue #13, finding 6: a one-part content was four 72-byte parts).
fn push_short<T>(list: &mut Vec<T>, item: T) {
    if list.capacity() == 0 {
        list.reserve_exact(1);
    }
    list.push(item);
}

/// An optional array read with [`push_short`].
fn short_list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Short<T>(Vec<T>);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Short<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct ShortVisitor<T>(std::marker::PhantomData<T>);

            impl<'de, T: Deserialize<'de>> Visitor<'de> for ShortVisitor<T> {
                type Value = Short<T>;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an array")
                }

                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Short<T>, A::Error> {
                    let mut list = Vec::new();
                    while let Some(item) = seq.next_element()? {
                        push_short(&mut list, item);
                    }
                    Ok(Short(list))
                }
            }

            d.deserialize_seq(ShortVisitor(std::marker::PhantomData))
        }
    }

    Ok(Option::<Short<T>>::deserialize(d)?.map(|s| s.0))
}

/// One part of an array content, tagged by `type` (read by `tagged`); a type Pollux does
/// not know is kept as [`ContentPart::Unknown`] and its fields skipped.
#[derive(Debug, Clone)]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    InputAudio { input_audio: InputAudio },
    File { file: FileRef },
    Refusal { refusal: String },
    Unknown,
}

/// The content part `type` values; others are read as [`ContentPart::Unknown`].
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PartType {
    Text,
    ImageUrl,
    InputAudio,
    File,
    Refusal,
    #[serde(other)]
    Unknown,
}

impl Tagged for ContentPart {
    const TAG: &'static str = "type";
    type Tag = PartType;

    fn variant<'de, D: Deserializer<'de>>(kind: PartType, rest: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct TextPart {
            text: String,
        }
        #[derive(Deserialize)]
        struct ImagePart {
            image_url: ImageUrl,
        }
        #[derive(Deserialize)]
        struct AudioPart {
            input_audio: InputAudio,
        }
        #[derive(Deserialize)]
        struct FilePart {
            file: FileRef,
        }
        #[derive(Deserialize)]
        struct RefusalPart {
            refusal: String,
        }
        Ok(match kind {
            PartType::Text => ContentPart::Text {
                text: TextPart::deserialize(rest)?.text,
            },
            PartType::ImageUrl => ContentPart::ImageUrl {
                image_url: ImagePart::deserialize(rest)?.image_url,
            },
            PartType::InputAudio => ContentPart::InputAudio {
                input_audio: AudioPart::deserialize(rest)?.input_audio,
            },
            PartType::File => ContentPart::File {
                file: FilePart::deserialize(rest)?.file,
            },
            PartType::Refusal => ContentPart::Refusal {
                refusal: RefusalPart::deserialize(rest)?.refusal,
            },
            PartType::Unknown => {
                tagged::ignore_rest(rest)?;
                ContentPart::Unknown
            }
        })
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tagged::deserialize(d)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputAudio {
    pub data: String,
    pub format: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileRef {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// A tool call in an assistant message of the history.
#[derive(Debug, Clone, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(default)]
    pub function: FunctionCall,
    #[serde(default)]
    pub extra_content: Option<ExtraContent>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FunctionCall {
    #[serde(default)]
    pub name: String,
    /// JSON text as the model produced it; may be `""`.
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    #[serde(default)]
    pub function: Option<FunctionDefinition>,
    /// The rest of the entry: the options of a Gemini built-in tool
    /// (`{"type": "file_search", "file_search_store_names": [...]}`).
    #[serde(flatten)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON Schema object; kept as a tree because it is cleaned before sending.
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `"none" | "auto" | "required" | {"type":"function","function":{"name":..}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named(NamedToolChoice),
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedToolChoice {
    pub function: FunctionName,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionName {
    pub name: String,
}

/// Legacy `function_call`: `"none" | "auto" | {"name": ..}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FunctionCallChoice {
    Mode(String),
    Named(FunctionName),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Clone, Deserialize)]
pub struct JsonSchemaFormat {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn body(messages: &[String], tools: usize, functions: usize) -> Vec<u8> {
        let tool = r#"{"type":"function","function":{"name":"f"}}"#;
        let function = r#"{"name":"f"}"#;
        format!(
            r#"{{"model":"m","messages":[{}],"tools":[{}],"functions":[{}]}}"#,
            messages.join(","),
            vec![tool; tools].join(","),
            vec![function; functions].join(",")
        )
        .into_bytes()
    }

    fn texts(n: usize) -> Vec<String> {
        vec![r#"{"role":"user","content":"a"}"#.to_owned(); n]
    }

    fn refused(body: &[u8], limits: &Limits) -> (String, String) {
        match ChatCompletionRequest::from_slice_within(body, limits) {
            Err(TranslateError::InvalidRequest {
                message,
                param: Some(param),
                code: Some("too_many_items"),
            }) => (message, param),
            other => panic!("expected a too_many_items 400, got {other:?}"),
        }
    }

    #[test]
    fn message_limit_edge_at_the_default() {
        let limits = Limits::default();
        let at = body(&texts(Limits::DEFAULT_MAX_MESSAGES), 0, 0);
        let req = ChatCompletionRequest::from_slice(&at).unwrap();
        assert_eq!(req.messages.len(), Limits::DEFAULT_MAX_MESSAGES);
        let over = body(&texts(Limits::DEFAULT_MAX_MESSAGES + 1), 0, 0);
        let (message, param) = refused(&over, &limits);
        assert_eq!(param, "messages");
        assert_eq!(
            message,
            "This request holds more than 10000 messages; this server accepts at most 10000 (its --max-messages setting)."
        );
    }

    #[test]
    fn part_limit_edge_counts_parts_and_tool_calls() {
        let limits = Limits {
            max_parts: 5,
            ..Limits::default()
        };
        let mut messages = vec![
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#
                .to_owned(),
            r#"{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}"#
                .to_owned(),
            r#"{"role":"tool","tool_call_id":"c","content":"r"}"#.to_owned(),
            r#"{"role":"user","content":"x"}"#.to_owned(),
        ];
        assert!(ChatCompletionRequest::from_slice_within(&body(&messages, 0, 0), &limits).is_ok());
        messages.push(r#"{"role":"user","content":"y"}"#.to_owned());
        let (message, param) = refused(&body(&messages, 0, 0), &limits);
        assert_eq!(param, "messages[4]");
        assert!(message.contains("more than 5 content parts"), "{message}");
        assert!(message.contains("--max-parts"), "{message}");
    }

    #[test]
    fn tool_limit_edge_counts_tools_and_functions() {
        let limits = Limits {
            max_tools: 4,
            ..Limits::default()
        };
        let one = texts(1);
        assert!(ChatCompletionRequest::from_slice_within(&body(&one, 4, 0), &limits).is_ok());
        assert!(ChatCompletionRequest::from_slice_within(&body(&one, 2, 2), &limits).is_ok());
        let (message, param) = refused(&body(&one, 5, 0), &limits);
        assert_eq!(param, "tools");
        assert!(message.contains("more than 4 tools"), "{message}");
        assert!(message.contains("--max-tools"), "{message}");
        assert_eq!(refused(&body(&one, 2, 3), &limits).1, "functions");
        let at_default = body(&one, Limits::DEFAULT_MAX_TOOLS, 0);
        assert!(ChatCompletionRequest::from_slice(&at_default).is_ok());
        let over_default = body(&one, Limits::DEFAULT_MAX_TOOLS + 1, 0);
        assert_eq!(refused(&over_default, &Limits::default()).1, "tools");
    }

    /// Array parts are counted while read: the part past the limit stops the parse.
    #[test]
    fn parts_past_the_limit_stop_the_parse_at_their_message() {
        let limits = Limits {
            max_parts: 5,
            ..Limits::default()
        };
        let parts = |n: usize| {
            let part = r#"{"type":"text","text":"a"}"#;
            format!(
                r#"{{"role":"user","content":[{}]}}"#,
                vec![part; n].join(",")
            )
        };
        let at = vec![parts(2), parts(3)];
        assert!(ChatCompletionRequest::from_slice_within(&body(&at, 0, 0), &limits).is_ok());
        let over = vec![parts(2), parts(4)];
        let (message, param) = refused(&body(&over, 0, 0), &limits);
        assert_eq!(param, "messages[1]");
        assert!(message.contains("--max-parts"), "{message}");
    }

    /// The fast parse and the path-tracking one each count from zero: a body that fails
    /// for another reason is not reported as too large.
    #[test]
    fn other_errors_are_not_mistaken_for_limits() {
        let limits = Limits {
            max_parts: 3,
            max_messages: 3,
            ..Limits::default()
        };
        let body = br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"},{"type":"text","text":"c"}]},{"role":"user","content":"d"}],"temperature":"hot"}"#;
        match ChatCompletionRequest::from_slice_within(body, &limits) {
            Err(TranslateError::InvalidRequest { param, code, .. }) => {
                assert_eq!(param.as_deref(), Some("temperature"));
                assert_eq!(code, Some("invalid_value"));
            }
            other => panic!("expected invalid_value, got {other:?}"),
        }
    }
}
