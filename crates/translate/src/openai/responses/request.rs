//! Inbound `POST /v1/responses` body (`CreateResponse` in OpenAI's spec).
//!
//! Input items and content parts are read into flat structs of optional fields, one per
//! kind of object, and interpreted by their `type` afterwards: a message item may come
//! without a `type` at all (`{"role": "user", "content": "Hi"}`), and an item type from
//! another vendor or a newer API must be read (and then dropped and reported), never refused
//! by the parser. A flat struct is read in one pass with no intermediate tree.

use std::fmt;

use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::openai::body::{body_error, parse_body_tracked};
use crate::openai::limits::{self, Limits};
use crate::openai::{ExtraBody, GoogleOptions, ReasoningEffort};
use crate::TranslateError;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateResponse {
    /// Optional here so a configured default model can apply.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub instructions: Option<String>,
    /// Kept as written: they are echoed on the response, and each is read by its `type`.
    #[serde(default, deserialize_with = "limits::tools")]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    #[serde(default)]
    pub truncation: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub safety_identifier: Option<String>,
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    #[serde(default)]
    pub prompt_cache_retention: Option<String>,
    #[serde(default)]
    pub service_tier: Option<String>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub include: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<Value>,
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub conversation: Option<Value>,
    #[serde(default)]
    pub prompt: Option<Value>,
    #[serde(default)]
    pub context_management: Option<Value>,
    /// Gemini-only knobs, as in chat (`google` wins over `extra_body.google`).
    #[serde(default)]
    pub google: Option<GoogleOptions>,
    #[serde(default)]
    pub extra_body: Option<ExtraBody>,
}

/// `input`: one user message as a string, or a list of items.
#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    Items(Vec<InputItem>),
}

impl Default for Input {
    fn default() -> Self {
        Input::Items(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InputVisitor;

        impl<'de> Visitor<'de> for InputVisitor {
            type Value = Input;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of input items")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Input, E> {
                Ok(Input::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Input, E> {
                Ok(Input::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Input, A::Error> {
                // Counted as chat counts `messages`: refused at the first item past the limit.
                limits::messages(SeqAccessDeserializer::new(seq)).map(Input::Items)
            }
        }

        d.deserialize_any(InputVisitor)
    }
}

/// One input item, any kind: the fields of every kind Pollux reads, by name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InputItem {
    /// Absent on the short message form.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    /// Messages.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Function and custom tool calls and their outputs.
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
    /// A custom tool call's freeform input.
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub output: Option<ToolOutput>,
    /// Reasoning items.
    #[serde(default)]
    pub encrypted_content: Option<String>,
    /// A reasoning item's summary, kept as written (Gemini takes no thoughts back; a stored
    /// response lists it).
    #[serde(default)]
    pub summary: Option<Value>,
    /// Any other field of an item Pollux does not read, kept for an item it stores as is.
    #[serde(default)]
    pub status: Option<String>,
}

impl InputItem {
    /// The id the client gave the item, if any (an empty one counts as none).
    pub fn given_id(&self) -> Option<&str> {
        self.id.as_deref().filter(|id| !id.is_empty())
    }

    /// The item's type; a message may leave it out.
    pub fn kind(&self) -> &str {
        match &self.kind {
            Some(kind) => kind,
            None if self.role.is_some() => "message",
            None => "",
        }
    }
}

/// A message's `content`: text, or a list of parts.
#[derive(Debug, Clone)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_parts(d).map(|c| match c {
            TextOrParts::Text(t) => MessageContent::Text(t),
            TextOrParts::Parts(p) => MessageContent::Parts(p),
        })
    }
}

/// A tool call's `output`: text, or a list of parts.
#[derive(Debug, Clone)]
pub enum ToolOutput {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for ToolOutput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_parts(d).map(|c| match c {
            TextOrParts::Text(t) => ToolOutput::Text(t),
            TextOrParts::Parts(p) => ToolOutput::Parts(p),
        })
    }
}

enum TextOrParts {
    Text(String),
    Parts(Vec<ContentPart>),
}

fn text_or_parts<'de, D: Deserializer<'de>>(d: D) -> Result<TextOrParts, D::Error> {
    struct PartsVisitor;

    impl<'de> Visitor<'de> for PartsVisitor {
        type Value = TextOrParts;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of content parts")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<TextOrParts, E> {
            Ok(TextOrParts::Text(v.to_owned()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<TextOrParts, E> {
            Ok(TextOrParts::Text(v))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextOrParts, A::Error> {
            let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            // Each part counts against `--max-parts`, as a chat content part does.
            while let Some(part) = seq.next_element::<CountedPart>()? {
                parts.push(part.0);
            }
            Ok(TextOrParts::Parts(parts))
        }
    }

    d.deserialize_any(PartsVisitor)
}

struct CountedPart(ContentPart);

impl<'de> Deserialize<'de> for CountedPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        limits::count_part()?;
        ContentPart::deserialize(d).map(CountedPart)
    }
}

/// One content part, any kind (`input_text`, `output_text`, `refusal`, `input_image`,
/// `input_file`, `input_audio`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContentPart {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
    /// `input_image`: a data URL or an http(s) URL.
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    /// `input_file`: a data URL (or bare base64 with `filename`).
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_url: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub input_audio: Option<InputAudio>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct InputAudio {
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub format: String,
}

/// `reasoning`: how hard to think and whether to summarize the thinking.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reasoning {
    #[serde(default)]
    pub effort: Option<ReasoningEffort>,
    #[serde(default)]
    pub summary: Option<String>,
    /// Deprecated spelling of `summary`.
    #[serde(default)]
    pub generate_summary: Option<String>,
}

/// `text`: the output format and verbosity.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<TextFormat>,
    #[serde(default)]
    pub verbosity: Option<String>,
}

/// `text.format`, flat (unlike chat's `response_format.json_schema`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TextFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
}

impl CreateResponse {
    /// Parses a request body within `limits` (`input` counted as chat's `messages`,
    /// content parts and `tools` as chat's), naming the offending field in the error.
    pub fn from_slice_within(body: &[u8], limits: &Limits) -> Result<Self, TranslateError> {
        let fast = limits::counting_in(limits, "input", || {
            serde_json::from_slice::<Self>(body).map_err(|e| body_error(e, None))
        });
        match fast {
            Ok(request) => Ok(request),
            Err(
                over @ TranslateError::InvalidRequest {
                    code: Some("too_many_items"),
                    ..
                },
            ) => Err(over),
            Err(_) => limits::counting_in(limits, "input", || parse_body_tracked(body)),
        }
    }

    /// Parses a request body within the default limits.
    pub fn from_slice(body: &[u8]) -> Result<Self, TranslateError> {
        Self::from_slice_within(body, &Limits::default())
    }

    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// The Gemini-only options from either spelling.
    pub fn google_options(&self) -> Option<&GoogleOptions> {
        self.google
            .as_ref()
            .or_else(|| self.extra_body.as_ref()?.google.as_ref())
    }

    /// Whether `include` asks for `value` (e.g. `reasoning.encrypted_content`).
    pub fn includes(&self, value: &str) -> bool {
        self.include.iter().flatten().any(|i| i == value)
    }
}
