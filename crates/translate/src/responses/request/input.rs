//! The conversation: `instructions` and `input` → `systemInstruction` + `contents`, with
//! tool calls, their outputs and the thought signatures that ride in reasoning items.
//!
//! Items map in order. Consecutive `function_call` / `custom_tool_call` items join one model
//! turn; the outputs after them form one user turn of `functionResponse` parts in call
//! order. A `reasoning` item holding a Pollux [`Envelope`] gives its signature to the call it
//! names (the item comes before its call), or to a text part of the assistant message right
//! before it (the item follows its message). Items Gemini cannot use
//! (another vendor's reasoning, compaction, replayed web searches) are dropped; those that
//! carried something (reasoning that is not Pollux's, compaction) are reported.

use std::collections::HashMap;

use crate::build::conversation::Conversation;
use crate::build::media::{audio_mime, files_api_uri, looks_like_base64, media_part, MediaSource};
use crate::build::names::ToolNames;
use crate::build::parts::{
    function_call_part, function_response_part, non_empty_text, HistoryCall, PendingCall,
};
use crate::build::signatures;
use crate::capabilities::Capabilities;
use crate::gemini::{self, Part, Role, Turn, TurnPart};
use crate::openai::responses::{ContentPart, InputItem, MessageContent, ToolOutput};
use crate::responses::envelope::{Envelope, Target};
use crate::responses::CallShapes;
use crate::TranslateError;

use super::RequestOptions;

/// What the input mapping produced.
pub(super) struct Mapped {
    pub system: Option<Turn>,
    pub contents: Vec<Turn>,
    /// Items dropped because Gemini cannot use them (`input[3]`), for the dropped-params header.
    pub dropped: Vec<String>,
}

pub(super) struct Context<'a> {
    pub names: &'a mut ToolNames,
    pub caps: &'a Capabilities,
    pub opts: &'a RequestOptions<'a>,
}

pub(super) fn map_input(
    instructions: Option<&str>,
    items: &mut [InputItem],
    cx: Context<'_>,
) -> Result<Mapped, TranslateError> {
    let mut system_parts: Vec<Part> = instructions.and_then(non_empty_text).into_iter().collect();
    let mut conv = Conversation::with_capacity(items.len() + 1);
    let mut dropped = Vec::new();
    let mut calls: Vec<PendingCall> = Vec::new();
    // Signatures from envelopes: by call id, and for the next assistant message's text.
    let mut call_signatures: HashMap<String, String> = HashMap::new();
    // Where the last assistant message's text parts went: (content, first part, count).
    let mut last_text: Option<(usize, usize, usize)> = None;
    // Whether the previous item was a call (of the same step).
    let mut in_step = false;
    let mut leading = true;

    for (i, item) in items.iter_mut().enumerate() {
        // Read as `InputItem::kind` reads it, but taken out of the item (which is not read
        // again) instead of copied, so the arms below can borrow the item mutably.
        let kind_field = item.kind.take();
        let kind = match kind_field.as_deref() {
            Some(kind) => kind,
            None if item.role.is_some() => "message",
            None => "",
        };
        let is_output = matches!(kind, "function_call_output" | "custom_tool_call_output");
        if !is_output && kind != "reasoning" {
            conv.end_step();
        }
        let is_call = matches!(kind, "function_call" | "custom_tool_call");
        match kind {
            "message" => {
                let role = item.role.as_deref().unwrap_or("");
                match role {
                    "system" | "developer" => {
                        let parts = text_parts(item.content.as_ref(), i)?;
                        if leading {
                            system_parts.extend(parts);
                        } else {
                            // A late instruction stays where it was said, as user text.
                            conv.push(Role::User, TurnPart::compact(parts));
                        }
                        last_text = None;
                        in_step = false;
                        continue;
                    }
                    "user" => {
                        let parts = user_parts(item.content.as_mut(), i, cx.opts.media)?;
                        conv.push(Role::User, TurnPart::compact(parts));
                        last_text = None;
                    }
                    "assistant" => {
                        let parts = text_parts(item.content.as_ref(), i)?;
                        let count = parts.len();
                        conv.push(Role::Model, TurnPart::compact(parts));
                        let turns = conv.turns_mut();
                        last_text = turns.len().checked_sub(1).and_then(|t| {
                            let start = turns[t].parts.len().checked_sub(count)?;
                            Some((t, start, count))
                        });
                    }
                    other => {
                        return Err(TranslateError::invalid(
                            format!("input[{i}]: unknown message role '{other}': expected user, assistant, system or developer."),
                            format!("input[{i}].role"),
                        ))
                    }
                }
            }
            "function_call" | "custom_tool_call" => {
                let call_id = item.call_id.clone().unwrap_or_default();
                if call_id.is_empty() {
                    return Err(TranslateError::invalid(
                        format!("input[{i}]: a {kind} item needs a 'call_id'."),
                        format!("input[{i}].call_id"),
                    ));
                }
                let name = item.name.as_deref().unwrap_or("");
                let qualified = CallShapes::qualified(item.namespace.as_deref(), name);
                let custom_arguments;
                let arguments = if kind == "custom_tool_call" {
                    custom_arguments = serde_json::json!({ "input": item.input.as_deref().unwrap_or("") })
                        .to_string();
                    custom_arguments.as_str()
                } else {
                    item.arguments.as_deref().unwrap_or("")
                };
                // Google wants a signature on a step's first call; without one of ours, that
                // call gets the documented skip value.
                let signature = signatures::for_history_call(
                    call_signatures.remove(&call_id),
                    &call_id,
                    cx.opts.signatures,
                    !in_step && cx.caps.thought_signatures,
                );
                let call = HistoryCall {
                    id: &call_id,
                    name: &qualified,
                    arguments,
                    signature,
                };
                let part = function_call_part(call, cx.names, &mut calls).ok_or_else(|| {
                    TranslateError::invalid(
                        format!("input[{i}]: the arguments of call '{call_id}' are not a JSON object."),
                        format!("input[{i}].arguments"),
                    )
                })?;
                conv.push(Role::Model, vec![part]);
            }
            "function_call_output" | "custom_tool_call_output" => {
                let call_id = item.call_id.as_deref().unwrap_or("");
                let Some((order, call)) =
                    calls.iter().enumerate().find(|(_, c)| c.id == call_id)
                else {
                    return Err(TranslateError::invalid(
                        format!("input[{i}]: call_id '{call_id}' does not match any function_call or custom_tool_call item before it."),
                        format!("input[{i}].call_id"),
                    ));
                };
                let (text, media) = output_parts(item.output.as_mut(), i, cx.opts.media)?;
                conv.push_result(
                    order,
                    function_response_part(call.gemini_name.clone(), call.upstream_id.clone(), &text)?,
                );
                // Images a tool returned follow the results, in the same user turn.
                for part in media {
                    conv.push_result(usize::MAX, part.into());
                }
            }
            "reasoning" => {
                match item.encrypted_content.as_deref().map(Envelope::open) {
                    Some(Some(envelope)) => match envelope.target {
                        Target::Call(id) => {
                            call_signatures.insert(id, envelope.signature);
                        }
                        // A text part's envelope follows its message.
                        Target::Text(index) => {
                            if let Some((content, start, count)) = last_text {
                                if index < count {
                                    if let Some(part) = conv.turns_mut()[content].parts.get_mut(start + index) {
                                        part.set_thought_signature(envelope.signature);
                                    }
                                }
                            }
                        }
                    },
                    // Another vendor's (or a newer, unknown) reasoning blob.
                    Some(None) => dropped.push(format!("input[{i}].encrypted_content")),
                    // A summary alone carries nothing Gemini takes back.
                    None => {}
                }
                // A reasoning item between calls does not end their step.
                continue;
            }
            // A search Gemini ran is not history it takes back; the answer that cited it is.
            "web_search_call" => {}
            "item_reference" => {
                return Err(TranslateError::invalid(
                    format!("input[{i}]: item references need stored responses, which this server does not keep; send the item itself."),
                    format!("input[{i}]"),
                ))
            }
            "" => {
                return Err(TranslateError::invalid(
                    format!("input[{i}]: an input item needs a 'type' (or a 'role', for a message)."),
                    format!("input[{i}].type"),
                ))
            }
            // Compaction, another vendor's tool calls, ...: clients replay what they got.
            _ => dropped.push(format!("input[{i}]")),
        }
        in_step = is_call;
        leading = false;
    }
    let contents = conv.finish(
        "The input has no user or assistant content to send: add a non-empty user message.",
        "input",
    )?;
    let system = (!system_parts.is_empty()).then(|| Turn {
        role: None,
        parts: TurnPart::compact(system_parts),
    });
    Ok(Mapped {
        system,
        contents,
        dropped,
    })
}

/// Text of a message whose content may only be text (system, developer, assistant).
fn text_parts(content: Option<&MessageContent>, index: usize) -> Result<Vec<Part>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(non_empty_text(t).into_iter().collect()),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (k, part) in parts.iter().enumerate() {
                match (part.kind.as_str(), &part.text, &part.refusal) {
                    ("input_text" | "output_text" | "text", Some(text), _) => {
                        out.extend(non_empty_text(text))
                    }
                    ("refusal", _, Some(refusal)) => out.extend(non_empty_text(refusal)),
                    _ => {
                        return Err(TranslateError::invalid(
                            format!("input[{index}].content[{k}]: only text parts are allowed in this message."),
                            format!("input[{index}].content[{k}].type"),
                        ))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn user_parts(
    content: Option<&mut MessageContent>,
    index: usize,
    media: &dyn MediaSource,
) -> Result<Vec<Part>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(non_empty_text(t).into_iter().collect()),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (k, part) in parts.iter_mut().enumerate() {
                let param = || format!("input[{index}].content[{k}]");
                out.extend(content_part(part, media, param)?);
            }
            Ok(out)
        }
    }
}

/// A tool output: its text (joined) and the media parts it holds.
fn output_parts(
    output: Option<&mut ToolOutput>,
    index: usize,
    media: &dyn MediaSource,
) -> Result<(String, Vec<Part>), TranslateError> {
    match output {
        None => Ok((String::new(), Vec::new())),
        Some(ToolOutput::Text(t)) => Ok((std::mem::take(t), Vec::new())),
        Some(ToolOutput::Parts(parts)) => {
            let mut text = String::new();
            let mut other = Vec::new();
            for (k, part) in parts.iter_mut().enumerate() {
                let param = || format!("input[{index}].output[{k}]");
                if let Some(p) = content_part(part, media, param)? {
                    match p.text {
                        Some(t) if p.inline_data.is_none() && p.file_data.is_none() => {
                            text.push_str(&t)
                        }
                        _ => other.push(p),
                    }
                }
            }
            Ok((text, other))
        }
    }
}

/// One input content part as a Gemini part (none for empty text); `param` says where.
fn content_part(
    part: &mut ContentPart,
    media: &dyn MediaSource,
    param: impl Fn() -> String,
) -> Result<Option<Part>, TranslateError> {
    let missing = |field: &str, what: &str| {
        TranslateError::invalid(
            format!("{}: {what}", param()),
            format!("{}.{field}", param()),
        )
    };
    match part.kind.as_str() {
        "input_text" | "output_text" | "text" => Ok(part.text.as_deref().and_then(non_empty_text)),
        "refusal" => Ok(part.refusal.as_deref().and_then(non_empty_text)),
        "input_image" => {
            if let Some(url) = &mut part.image_url {
                let image_param = || format!("{}.image_url", param());
                Ok(Some(media_part(url, None, media, image_param)?))
            } else if let Some(id) = &part.file_id {
                Ok(Some(file_part(id)))
            } else {
                Err(missing(
                    "image_url",
                    "an input_image needs 'image_url' or 'file_id'.",
                ))
            }
        }
        "input_file" => {
            if let Some(data) = &mut part.file_data {
                let data_param = || format!("{}.file_data", param());
                Ok(Some(media_part(
                    data,
                    part.filename.as_deref(),
                    media,
                    data_param,
                )?))
            } else if let Some(id) = &part.file_id {
                Ok(Some(file_part(id)))
            } else if let Some(url) = &mut part.file_url {
                let url_param = || format!("{}.file_url", param());
                Ok(Some(media_part(
                    url,
                    part.filename.as_deref(),
                    media,
                    url_param,
                )?))
            } else {
                Err(missing(
                    "file_data",
                    "an input_file needs 'file_data', 'file_id' or 'file_url'.",
                ))
            }
        }
        "input_audio" => {
            let Some(audio) = &mut part.input_audio else {
                return Err(missing(
                    "input_audio",
                    "an input_audio part needs 'input_audio'.",
                ));
            };
            let mime = audio_mime(&audio.format).ok_or_else(|| {
                missing(
                    "input_audio.format",
                    &format!("unsupported audio format '{}'.", audio.format),
                )
            })?;
            if !looks_like_base64(&audio.data) {
                return Err(missing(
                    "input_audio.data",
                    "the audio data is not valid base64.",
                ));
            }
            Ok(Some(Part {
                inline_data: Some(Box::new(gemini::Blob {
                    mime_type: mime.to_owned(),
                    data: std::mem::take(&mut audio.data),
                })),
                ..Part::default()
            }))
        }
        other => Err(missing(
            "type",
            &format!("unsupported content part type '{other}'."),
        )),
    }
}

fn file_part(id: &str) -> Part {
    Part {
        file_data: Some(Box::new(gemini::FileData {
            mime_type: None,
            file_uri: files_api_uri(id),
        })),
        ..Part::default()
    }
}
