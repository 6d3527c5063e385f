//! OpenAI chat request → Gemini `GenerateContentRequest`.
//!
//! Implements the request half of the mapping table in `docs/mapping.md`:
//! <https://platform.openai.com/docs/api-reference/chat/create> on one side,
//! <https://ai.google.dev/api/generate-content#request-body> on the other.

use serde_json::value::RawValue;

use crate::capabilities::Family;
use crate::gemini::{self, Content, Part, Role};
use crate::names::ToolNames;
use crate::openai::{self, ContentPart, Message};
use crate::schema;
use crate::TranslateError;

/// Gemini accepts at most this many `stopSequences`.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// Google's documented value for a function call whose real signature is unknown
/// (history written by another model or a client that dropped it).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Where earlier answers' thought signatures can be found when the client dropped them.
pub trait SignatureSource {
    fn signature_for(&self, tool_call_id: &str) -> Option<String>;
}

/// No remembered signatures.
impl SignatureSource for () {
    fn signature_for(&self, _: &str) -> Option<String> {
        None
    }
}

/// Per-request settings that do not come from the client body.
pub struct RequestOptions<'a> {
    /// The upstream model id, without the `models/` prefix.
    pub model: &'a str,
    /// Send tool and response schemas in Google's legacy OpenAPI-subset form.
    pub legacy_schemas: bool,
    pub signatures: &'a dyn SignatureSource,
}

/// The Gemini body plus what the response side needs to undo the mapping.
#[derive(Debug)]
pub struct Translated {
    pub body: gemini::GenerateContentRequest,
    /// Client tool names ↔ names sent to Gemini.
    pub names: ToolNames,
    /// Stop sequences beyond Gemini's limit, enforced by Pollux on the answer.
    pub extra_stops: Vec<String>,
    /// Number of choices the client asked for.
    pub n: u32,
}

/// Strips the `models/` prefix some clients copy from Gemini's model names.
pub fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// Maps a chat request to a Gemini request.
pub fn to_gemini(
    req: &openai::ChatCompletionRequest,
    opts: &RequestOptions<'_>,
) -> Result<Translated, TranslateError> {
    if req.messages.is_empty() {
        return Err(TranslateError::invalid(
            "'messages' must contain at least one message.",
            "messages",
        ));
    }
    let family = Family::of(opts.model);
    let mut names = ToolNames::default();
    let tools = map_tools(req, &mut names, opts.legacy_schemas)?;
    let tool_config = map_tool_choice(req, &names, !tools.is_empty())?;
    let (system_instruction, contents) = map_messages(&req.messages, &mut names, family, opts)?;
    let (generation_config, extra_stops) = map_generation_config(req, opts.legacy_schemas)?;
    let n = req.n.unwrap_or(1);

    let body = gemini::GenerateContentRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        safety_settings: None,
        cached_content: None,
        generation_config,
    };
    Ok(Translated {
        body,
        names,
        extra_stops,
        n,
    })
}

fn map_generation_config(
    req: &openai::ChatCompletionRequest,
    legacy_schemas: bool,
) -> Result<(gemini::GenerationConfig, Vec<String>), TranslateError> {
    check_range(req.temperature, 0.0, 2.0, "temperature")?;
    check_range(req.top_p, 0.0, 1.0, "top_p")?;
    check_range(req.presence_penalty, -2.0, 2.0, "presence_penalty")?;
    check_range(req.frequency_penalty, -2.0, 2.0, "frequency_penalty")?;
    let n = req.n.unwrap_or(1);
    if n == 0 {
        return Err(TranslateError::invalid("'n' must be at least 1.", "n"));
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if max_tokens == Some(0) {
        let param = if req.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        return Err(TranslateError::invalid(
            format!("'{param}' must be at least 1."),
            param,
        ));
    }

    let mut stops: Vec<String> = match &req.stop {
        None => Vec::new(),
        Some(openai::Stop::One(s)) => vec![s.clone()],
        Some(openai::Stop::Many(v)) => v.clone(),
    };
    // An empty stop sequence would end every answer at once; OpenAI ignores them too.
    stops.retain(|s| !s.is_empty());
    let extra_stops = if stops.len() > MAX_STOP_SEQUENCES {
        stops.split_off(MAX_STOP_SEQUENCES)
    } else {
        Vec::new()
    };

    let mut config = gemini::GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: max_tokens,
        stop_sequences: stops,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        candidate_count: (n > 1).then_some(n),
        ..Default::default()
    };
    if req.logprobs == Some(true) {
        config.response_logprobs = Some(true);
        config.logprobs = req.top_logprobs.filter(|&k| k > 0);
    }
    match &req.response_format {
        None | Some(openai::ResponseFormat::Text) => {}
        Some(openai::ResponseFormat::JsonObject) => {
            config.response_mime_type = Some("application/json".to_owned());
        }
        Some(openai::ResponseFormat::JsonSchema { json_schema }) => {
            config.response_mime_type = Some("application/json".to_owned());
            if let Some(s) = &json_schema.schema {
                if legacy_schemas {
                    let legacy = schema::to_legacy_schema(s).map_err(|e| {
                        TranslateError::invalid(
                            format!("Invalid schema for response_format: {e}"),
                            "response_format.json_schema.schema",
                        )
                    })?;
                    config.response_schema = Some(legacy);
                } else {
                    config.response_json_schema = Some(schema::to_json_schema(s.clone()));
                }
            }
        }
    }
    Ok((config, extra_stops))
}

fn check_range(value: Option<f64>, min: f64, max: f64, param: &str) -> Result<(), TranslateError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(TranslateError::invalid(
            format!("Invalid '{param}': {v} is outside the allowed range [{min}, {max}]."),
            param,
        )),
        _ => Ok(()),
    }
}

fn map_tools(
    req: &openai::ChatCompletionRequest,
    names: &mut ToolNames,
    legacy_schemas: bool,
) -> Result<Vec<gemini::Tool>, TranslateError> {
    let mut declarations = Vec::new();
    for (i, tool) in req.tools.iter().flatten().enumerate() {
        if tool.kind != "function" {
            return Err(TranslateError::invalid(
                format!(
                    "Tool type '{}' is not supported; only 'function' tools can be sent to Gemini.",
                    tool.kind
                ),
                format!("tools[{i}].type"),
            ));
        }
        let Some(function) = &tool.function else {
            return Err(TranslateError::invalid(
                "A function tool needs a 'function' object.",
                format!("tools[{i}].function"),
            ));
        };
        declarations.push(declare(function, names, legacy_schemas, || {
            format!("tools[{i}].function")
        })?);
    }
    for (i, function) in req.functions.iter().flatten().enumerate() {
        declarations.push(declare(function, names, legacy_schemas, || {
            format!("functions[{i}]")
        })?);
    }
    if declarations.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![gemini::Tool {
        function_declarations: declarations,
        ..Default::default()
    }])
}

fn declare(
    function: &openai::FunctionDefinition,
    names: &mut ToolNames,
    legacy_schemas: bool,
    param: impl Fn() -> String,
) -> Result<gemini::FunctionDeclaration, TranslateError> {
    if function.name.is_empty() {
        return Err(TranslateError::invalid(
            "A function name must not be empty.",
            format!("{}.name", param()),
        ));
    }
    let name = names.register(&function.name);
    let (parameters_json_schema, parameters) = match &function.parameters {
        None => (None, None),
        Some(p) if legacy_schemas => {
            let legacy = schema::to_legacy_schema(p).map_err(|e| {
                TranslateError::invalid(
                    format!("Invalid parameters schema: {e}"),
                    format!("{}.parameters", param()),
                )
            })?;
            (None, Some(legacy))
        }
        Some(p) => (Some(schema::to_json_schema(p.clone())), None),
    };
    Ok(gemini::FunctionDeclaration {
        name,
        description: function.description.clone().filter(|d| !d.is_empty()),
        parameters_json_schema,
        parameters,
    })
}

fn map_tool_choice(
    req: &openai::ChatCompletionRequest,
    names: &ToolNames,
    has_tools: bool,
) -> Result<Option<gemini::ToolConfig>, TranslateError> {
    use gemini::FunctionCallingMode as Mode;
    let (mode, named, param) = match (&req.tool_choice, &req.function_call) {
        (Some(openai::ToolChoice::Mode(m)), _) => (m.as_str(), None, "tool_choice"),
        (Some(openai::ToolChoice::Named(n)), _) => ("named", Some(&n.function.name), "tool_choice"),
        (None, Some(openai::FunctionCallChoice::Mode(m))) => (m.as_str(), None, "function_call"),
        (None, Some(openai::FunctionCallChoice::Named(n))) => {
            ("named", Some(&n.name), "function_call")
        }
        (None, None) => return Ok(None),
    };
    if !has_tools {
        if mode == "none" || mode == "auto" {
            return Ok(None);
        }
        return Err(TranslateError::invalid(
            format!("'{param}' is only allowed when tools are specified."),
            param,
        ));
    }
    let (mode, allowed) = match (mode, named) {
        ("auto", _) => (Mode::Auto, Vec::new()),
        ("none", _) => (Mode::None, Vec::new()),
        ("required", _) => (Mode::Any, Vec::new()),
        (_, Some(name)) => {
            let Some(gemini_name) = names.to_gemini(name) else {
                return Err(TranslateError::invalid(
                    format!("'{param}' names function '{name}', which is not among the tools."),
                    param,
                ));
            };
            (Mode::Any, vec![gemini_name.to_owned()])
        }
        (other, None) => {
            return Err(TranslateError::invalid(
                format!("Invalid '{param}' value '{other}': expected 'none', 'auto', 'required' or a named function."),
                param,
            ));
        }
    };
    Ok(Some(gemini::ToolConfig {
        function_calling_config: gemini::FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    }))
}

/// Builds the content list, merging consecutive turns of the same role.
struct Conversation {
    contents: Vec<Content>,
}

impl Conversation {
    fn push(&mut self, role: Role, parts: Vec<Part>) {
        if parts.is_empty() {
            return;
        }
        match self.contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => self.contents.push(Content {
                role: Some(role),
                parts,
            }),
        }
    }
}

/// A tool call of the history, remembered so its result can be named.
struct PendingCall {
    id: String,
    gemini_name: String,
    /// Gemini's own call id, echoed on the matching `functionResponse`.
    upstream_id: Option<String>,
}

fn map_messages(
    messages: &[Message],
    names: &mut ToolNames,
    family: Family,
    opts: &RequestOptions<'_>,
) -> Result<(Option<Content>, Vec<Content>), TranslateError> {
    let mut system_parts = Vec::new();
    let mut conv = Conversation {
        contents: Vec::new(),
    };
    let mut calls: Vec<PendingCall> = Vec::new();
    let mut leading = true;

    for (i, message) in messages.iter().enumerate() {
        match message {
            Message::System(m) | Message::Developer(m) => {
                let parts = text_parts(&m.content, i)?;
                if leading {
                    system_parts.extend(parts);
                } else {
                    // A late instruction stays where it was said, as user text.
                    conv.push(Role::User, parts);
                }
                continue;
            }
            Message::User(m) => {
                let parts = user_parts(&m.content, i)?;
                conv.push(Role::User, parts);
            }
            Message::Assistant(m) => {
                let mut parts = match &m.content {
                    Some(c) => text_parts(c, i)?,
                    None => Vec::new(),
                };
                if let Some(call) = &m.function_call {
                    let id = format!("legacy_{i}");
                    parts.push(function_call_part(
                        &id,
                        &call.name,
                        &call.arguments,
                        None,
                        true,
                        family,
                        opts,
                        names,
                        &mut calls,
                        i,
                    )?);
                }
                for (k, call) in m.tool_calls.iter().flatten().enumerate() {
                    let signature = call
                        .extra_content
                        .as_ref()
                        .and_then(|e| e.thought_signature())
                        .map(str::to_owned);
                    parts.push(function_call_part(
                        &call.id,
                        &call.function.name,
                        &call.function.arguments,
                        signature,
                        k == 0,
                        family,
                        opts,
                        names,
                        &mut calls,
                        i,
                    )?);
                }
                if parts.is_empty() {
                    // An assistant turn with nothing in it carries no meaning for Gemini.
                    leading = false;
                    continue;
                }
                conv.push(Role::Model, parts);
            }
            Message::Tool(m) => {
                let Some(call) = calls.iter().find(|c| c.id == m.tool_call_id) else {
                    return Err(TranslateError::invalid(
                        format!(
                            "messages[{i}]: tool_call_id '{}' does not match any tool call of an earlier assistant message.",
                            m.tool_call_id
                        ),
                        format!("messages[{i}].tool_call_id"),
                    ));
                };
                let text = joined_text(&m.content, i)?;
                conv.push(
                    Role::User,
                    vec![function_response_part(
                        call.gemini_name.clone(),
                        call.upstream_id.clone(),
                        &text,
                    )?],
                );
            }
            Message::Function(m) => {
                let text = match &m.content {
                    Some(c) => joined_text(c, i)?,
                    None => String::new(),
                };
                let name = names.register(&m.name);
                conv.push(Role::User, vec![function_response_part(name, None, &text)?]);
            }
        }
        leading = false;
    }

    // Gemini expects the conversation to open with a user turn; a history that starts with
    // the model (e.g. a replayed tool call) gets a minimal user turn in front.
    if conv.contents.first().map(|c| c.role) == Some(Some(Role::Model)) {
        conv.contents.insert(
            0,
            Content {
                role: Some(Role::User),
                parts: vec![Part::text("Continue.")],
            },
        );
    }
    if conv.contents.is_empty() {
        return Err(TranslateError::invalid(
            "The conversation has no user or assistant content to send: add a non-empty user message.",
            "messages",
        ));
    }
    let system = (!system_parts.is_empty()).then_some(Content {
        role: None,
        parts: system_parts,
    });
    Ok((system, conv.contents))
}

#[allow(clippy::too_many_arguments)]
fn function_call_part(
    id: &str,
    client_name: &str,
    arguments: &str,
    signature: Option<String>,
    first_of_step: bool,
    family: Family,
    opts: &RequestOptions<'_>,
    names: &mut ToolNames,
    calls: &mut Vec<PendingCall>,
    index: usize,
) -> Result<Part, TranslateError> {
    let args = parse_arguments(arguments).ok_or_else(|| {
        TranslateError::invalid(
            format!("messages[{index}]: the arguments of tool call '{id}' are not a JSON object."),
            format!("messages[{index}].tool_calls"),
        )
    })?;
    let gemini_name = names.register(client_name);
    let upstream_id = upstream_call_id(id);
    let signature = signature
        .or_else(|| opts.signatures.signature_for(id))
        .or_else(|| {
            (first_of_step && family.requires_thought_signatures())
                .then(|| SKIP_SIGNATURE.to_owned())
        });
    calls.push(PendingCall {
        id: id.to_owned(),
        gemini_name: gemini_name.clone(),
        upstream_id: upstream_id.clone(),
    });
    Ok(Part {
        function_call: Some(gemini::FunctionCall {
            id: upstream_id,
            name: gemini_name,
            args: Some(args),
        }),
        thought_signature: signature,
        ..Part::default()
    })
}

/// Ids Pollux generates start with `call_`; any other id came from Gemini and is echoed.
fn upstream_call_id(id: &str) -> Option<String> {
    (!id.starts_with("call_") && !id.starts_with("legacy_") && !id.is_empty())
        .then(|| id.to_owned())
}

/// Validates tool-call arguments as a JSON object without re-serializing them.
fn parse_arguments(arguments: &str) -> Option<Box<RawValue>> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return RawValue::from_string("{}".to_owned()).ok();
    }
    if !trimmed.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Box<RawValue>>(trimmed).ok()
}

/// A tool result becomes the `response` object: a JSON object as is, anything else wrapped.
fn function_response_part(
    name: String,
    id: Option<String>,
    text: &str,
) -> Result<Part, TranslateError> {
    let trimmed = text.trim();
    let response = if trimmed.starts_with('{') {
        serde_json::from_str::<Box<RawValue>>(trimmed).ok()
    } else {
        None
    };
    let response = match response {
        Some(raw) => raw,
        None => {
            let value = match serde_json::from_str::<serde_json::Value>(trimmed) {
                Ok(v) if !trimmed.is_empty() => v,
                _ => serde_json::Value::String(text.to_owned()),
            };
            let wrapped = serde_json::json!({ "result": value });
            serde_json::value::to_raw_value(&wrapped)
                .map_err(|e| TranslateError::UpstreamFormat(e.to_string()))?
        }
    };
    Ok(Part {
        function_response: Some(gemini::FunctionResponse { id, name, response }),
        ..Part::default()
    })
}

/// Text of a message whose content may only be text (system, assistant, tool).
fn text_parts(content: &openai::Content, index: usize) -> Result<Vec<Part>, TranslateError> {
    match content {
        openai::Content::Text(t) => Ok(non_empty_text(t).into_iter().collect()),
        openai::Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (k, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => out.extend(non_empty_text(text)),
                    ContentPart::Refusal { refusal } => out.extend(non_empty_text(refusal)),
                    _ => {
                        return Err(TranslateError::invalid(
                            format!("messages[{index}].content[{k}]: only text parts are allowed in this message."),
                            format!("messages[{index}].content[{k}].type"),
                        ))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn joined_text(content: &openai::Content, index: usize) -> Result<String, TranslateError> {
    match content {
        openai::Content::Text(t) => Ok(t.clone()),
        openai::Content::Parts(_) => Ok(text_parts(content, index)?
            .into_iter()
            .filter_map(|p| p.text)
            .collect::<Vec<_>>()
            .join("")),
    }
}

/// Gemini rejects empty text parts, so they are never sent.
fn non_empty_text(text: &str) -> Option<Part> {
    (!text.is_empty()).then(|| Part::text(text))
}

fn user_parts(content: &openai::Content, index: usize) -> Result<Vec<Part>, TranslateError> {
    let parts = match content {
        openai::Content::Text(t) => return Ok(non_empty_text(t).into_iter().collect()),
        openai::Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (k, part) in parts.iter().enumerate() {
        let param = || format!("messages[{index}].content[{k}]");
        match part {
            ContentPart::Text { text } => out.extend(non_empty_text(text)),
            ContentPart::Refusal { refusal } => out.extend(non_empty_text(refusal)),
            ContentPart::ImageUrl { image_url } => {
                out.push(media_part(&image_url.url, None, param)?)
            }
            ContentPart::InputAudio { input_audio } => {
                let mime = audio_mime(&input_audio.format).ok_or_else(|| {
                    TranslateError::invalid(
                        format!("Unsupported audio format '{}'.", input_audio.format),
                        format!("{}.input_audio.format", param()),
                    )
                })?;
                out.push(Part {
                    inline_data: Some(gemini::Blob {
                        mime_type: mime.to_owned(),
                        data: input_audio.data.clone(),
                    }),
                    ..Part::default()
                });
            }
            ContentPart::File { file } => {
                if let Some(data) = &file.file_data {
                    out.push(media_part(data, file.filename.as_deref(), param)?);
                } else if let Some(id) = &file.file_id {
                    out.push(Part {
                        file_data: Some(gemini::FileData {
                            mime_type: None,
                            file_uri: files_api_uri(id),
                        }),
                        ..Part::default()
                    });
                } else {
                    return Err(TranslateError::invalid(
                        "A file part needs 'file_data' or 'file_id'.",
                        format!("{}.file", param()),
                    ));
                }
            }
            ContentPart::Unknown => {
                return Err(TranslateError::invalid(
                    format!("{}: unsupported content part type.", param()),
                    format!("{}.type", param()),
                ))
            }
        }
    }
    Ok(out)
}

/// Files API ids (`files/abc`) become full URIs; full URIs pass as they are.
fn files_api_uri(id: &str) -> String {
    if id.contains("://") {
        id.to_owned()
    } else {
        let id = id.strip_prefix("files/").unwrap_or(id);
        format!("https://generativelanguage.googleapis.com/v1beta/files/{id}")
    }
}

fn audio_mime(format: &str) -> Option<&'static str> {
    Some(match format {
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "aiff" => "audio/aiff",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "pcm16" | "pcm" => "audio/pcm",
        _ => return None,
    })
}

/// A media reference: `data:` URLs are inlined (the base64 payload passes through
/// untouched), Gemini-reachable URIs become `fileData`, other URLs must be fetched by the
/// server before translation.
fn media_part(
    url: &str,
    filename: Option<&str>,
    param: impl Fn() -> String,
) -> Result<Part, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or_else(|| {
            TranslateError::invalid(
                format!("{}: malformed data URL (no comma).", param()),
                param(),
            )
        })?;
        let mime = meta.strip_suffix(";base64").ok_or_else(|| {
            TranslateError::invalid(
                format!("{}: only base64 data URLs are supported.", param()),
                param(),
            )
        })?;
        let mime = if mime.is_empty() {
            filename
                .and_then(mime_from_filename)
                .unwrap_or("application/octet-stream")
        } else {
            mime
        };
        if !looks_like_base64(data) {
            return Err(TranslateError::invalid(
                format!("{}: the data URL payload is not valid base64.", param()),
                param(),
            ));
        }
        return Ok(Part {
            inline_data: Some(gemini::Blob {
                mime_type: mime.to_owned(),
                data: data.to_owned(),
            }),
            ..Part::default()
        });
    }
    if is_gemini_uri(url) {
        return Ok(Part {
            file_data: Some(gemini::FileData {
                mime_type: guess_uri_mime(url),
                file_uri: url.to_owned(),
            }),
            ..Part::default()
        });
    }
    Err(TranslateError::InvalidRequest {
        message: format!(
            "{}: media URLs must be data: URLs, Gemini Files API URIs, gs:// or YouTube URLs.",
            param()
        ),
        param: Some(param()),
        code: Some("unsupported_media_url"),
    })
}

/// URIs Gemini fetches itself.
pub fn is_gemini_uri(url: &str) -> bool {
    url.starts_with("gs://")
        || url.starts_with("https://generativelanguage.googleapis.com/")
        || url.starts_with("https://www.youtube.com/")
        || url.starts_with("https://youtube.com/")
        || url.starts_with("https://youtu.be/")
}

fn guess_uri_mime(url: &str) -> Option<String> {
    if url.contains("youtube.com/") || url.contains("youtu.be/") {
        return Some("video/*".to_owned());
    }
    mime_from_filename(url).map(str::to_owned)
}

fn mime_from_filename(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" => "text/html",
        "json" => "application/json",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// A cheap check (one pass, no decode) that a payload is standard base64.
fn looks_like_base64(data: &str) -> bool {
    let bytes = data.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return false;
    }
    let body = bytes.len()
        - bytes
            .iter()
            .rev()
            .take(2)
            .take_while(|&&b| b == b'=')
            .count();
    bytes[..body]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn translate(body: Value) -> Result<Value, TranslateError> {
        translate_for("gemini-2.5-flash", body)
    }

    fn translate_for(model: &str, body: Value) -> Result<Value, TranslateError> {
        let req = openai::ChatCompletionRequest::from_slice(body.to_string().as_bytes())?;
        let opts = RequestOptions {
            model,
            legacy_schemas: false,
            signatures: &(),
        };
        let out = to_gemini(&req, &opts)?;
        Ok(serde_json::to_value(&out.body).unwrap())
    }

    fn param_of(err: TranslateError) -> Option<String> {
        match err {
            TranslateError::InvalidRequest { param, .. } => param,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn system_user_assistant_and_merging() {
        let out = translate(json!({
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use English."}]},
                {"role": "user", "content": "Hi"},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hello!"},
                {"role": "system", "content": "Late rule"},
                {"role": "user", "content": "Bye"}
            ]
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use English."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                    {"role": "model", "parts": [{"text": "Hello!"}]},
                    {"role": "user", "parts": [{"text": "Late rule"}, {"text": "Bye"}]}
                ]
            })
        );
    }

    #[test]
    fn parameters_map_to_generation_config() {
        let out = translate(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.5, "top_p": 0.9, "max_tokens": 10, "max_completion_tokens": 20,
            "stop": ["a", "b", "c", "d", "e", "f"], "seed": 7, "presence_penalty": 0.1,
            "frequency_penalty": -0.1, "n": 2, "user": "u1", "store": true, "metadata": {"k": "v"}
        }))
        .unwrap();
        assert_eq!(
            out["generationConfig"],
            json!({
                "temperature": 0.5, "topP": 0.9, "maxOutputTokens": 20,
                "stopSequences": ["a", "b", "c", "d", "e"], "seed": 7,
                "presencePenalty": 0.1, "frequencyPenalty": -0.1, "candidateCount": 2
            })
        );
    }

    #[test]
    fn stop_as_string_and_n_one_is_not_sent() {
        let out = translate(
            json!({"messages": [{"role": "user", "content": "x"}], "stop": "END", "n": 1}),
        )
        .unwrap();
        assert_eq!(out["generationConfig"], json!({"stopSequences": ["END"]}));
    }

    #[test]
    fn out_of_range_values_name_their_param() {
        let e =
            translate(json!({"messages": [{"role": "user", "content": "x"}], "temperature": 3}))
                .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("temperature"));
        let e = translate(json!({"messages": [], "model": "m"})).unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages"));
        let e =
            translate(json!({"messages": [{"role": "user", "content": "x"}], "n": 0})).unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("n"));
    }

    #[test]
    fn ill_typed_fields_name_their_path() {
        let e = openai::ChatCompletionRequest::from_slice(
            br#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
        )
        .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("temperature"));
        let e = openai::ChatCompletionRequest::from_slice(
            br#"{"messages":[{"role":"wizard","content":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages[0].role"));
        let e = openai::ChatCompletionRequest::from_slice(b"{not json").unwrap_err();
        assert!(matches!(
            e,
            TranslateError::InvalidRequest {
                code: Some("invalid_json"),
                ..
            }
        ));
    }

    #[test]
    fn only_empty_content_is_refused() {
        let e = translate(json!({"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": ""}]})).unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages"));
    }

    #[test]
    fn tool_history_round_trip() {
        let out = translate(json!({
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "sunny"}]},
                {"role": "user", "content": "Thanks"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "tool_choice": "required"
        }))
        .unwrap();
        assert_eq!(
            out["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {}}}
            ]})
        );
        assert_eq!(
            out["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                {"text": "Thanks"}
            ]})
        );
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        assert_eq!(
            out["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["type"],
            "object"
        );
    }

    #[test]
    fn tool_errors_name_their_param() {
        let base = |extra: Value| {
            let mut body = json!({"messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            translate(body)
        };
        let e = base(json!({"tool_choice": {"type": "function", "function": {"name": "g"}}}))
            .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("tool_choice"));
        let e =
            base(json!({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}))
                .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages[0].tool_call_id"));
        let e = base(json!({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}]})).unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages[1].tool_calls"));
        let named =
            base(json!({"tool_choice": {"type": "function", "function": {"name": "f"}}})).unwrap();
        assert_eq!(
            named["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
    }

    #[test]
    fn gemini3_signatures_come_from_extra_content_then_cache_then_skip() {
        struct Cache;
        impl SignatureSource for Cache {
            fn signature_for(&self, id: &str) -> Option<String> {
                (id == "call_cached").then(|| "c2ln".to_owned())
            }
        }
        let body = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"},
                 "extra_content": {"google": {"thought_signature": "c2lnQQ=="}}},
                {"id": "call_b", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_a", "content": "1"},
            {"role": "tool", "tool_call_id": "call_b", "content": "2"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_cached", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_cached", "content": "3"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_unknown", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_unknown", "content": "4"}
        ]});
        let req = openai::ChatCompletionRequest::from_slice(body.to_string().as_bytes()).unwrap();
        let opts = RequestOptions {
            model: "gemini-3-pro-preview",
            legacy_schemas: false,
            signatures: &Cache,
        };
        let out = serde_json::to_value(to_gemini(&req, &opts).unwrap().body).unwrap();
        let sig = |c: usize, p: usize| {
            out["contents"][c]["parts"][p]
                .get("thoughtSignature")
                .cloned()
        };
        assert_eq!(sig(1, 0), Some(json!("c2lnQQ==")));
        assert_eq!(
            sig(1, 1),
            None,
            "later calls of a parallel step get no signature"
        );
        assert_eq!(sig(3, 0), Some(json!("c2ln")));
        assert_eq!(sig(5, 0), Some(json!(SKIP_SIGNATURE)));
        // Gemini 2.5 never gets the skip value.
        let out = translate(body).unwrap();
        assert_eq!(out["contents"][5]["parts"][0].get("thoughtSignature"), None);
    }

    #[test]
    fn upstream_ids_are_echoed_on_call_and_response() {
        let out = translate(json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "abc123", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "abc123", "content": "[1,2]"}
        ]}))
        .unwrap();
        assert_eq!(
            out["contents"][1]["parts"][0]["functionCall"]["id"],
            "abc123"
        );
        assert_eq!(
            out["contents"][2]["parts"][0]["functionResponse"],
            json!({"id": "abc123", "name": "f", "response": {"result": [1, 2]}})
        );
    }

    #[test]
    fn conversation_starting_with_model_gets_a_user_turn() {
        let out = translate(json!({"messages": [
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
        ]}))
        .unwrap();
        assert_eq!(out["contents"][0]["role"], "user");
        assert_eq!(out["contents"][1]["role"], "model");
    }

    #[test]
    fn media_parts() {
        let out = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "file", "file": {"file_id": "files/abc"}},
            {"type": "image_url", "image_url": {"url": "gs://bucket/cat.jpg"}}
        ]}]}))
        .unwrap();
        assert_eq!(
            out["contents"][0]["parts"],
            json!([
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.jpg"}}
            ])
        );
        let e = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,***"}}]}]}))
        .unwrap_err();
        assert_eq!(param_of(e).as_deref(), Some("messages[0].content[0]"));
    }

    #[test]
    fn response_formats() {
        let out = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "strict": true,
                "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"a": {"type": "string"}}}}}}))
        .unwrap();
        assert_eq!(
            out["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            out["generationConfig"]["responseJsonSchema"],
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
    }
}
