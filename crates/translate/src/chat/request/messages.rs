//! The conversation: `messages` → `systemInstruction` + `contents`, including tool-call
//! history, tool results and thought signatures.
//!
//! The messages are consumed: their strings move into the Gemini parts instead of being
//! copied, and each message's own memory is freed once it is mapped, so the parsed and the
//! Gemini form of a long conversation are not held in full at the same time (issue #13,
//! finding 6).

use crate::build::names::ToolNames;
use crate::capabilities::Capabilities;
use crate::gemini::{self, Part, Role, Turn, TurnPart};
use crate::openai::chat::{self, ContentPart, Message};
use crate::TranslateError;

use super::RequestOptions;
use crate::build::conversation::Conversation;
use crate::build::media::MediaSource;
use crate::build::media::{audio_mime, files_api_uri, looks_like_base64, media_part};
use crate::build::parts::{
    function_call_part, function_response_part, text_part, HistoryCall, PendingCall,
};
use crate::build::signatures;

pub(super) fn map_messages(
    messages: Vec<Message>,
    names: &mut ToolNames,
    caps: &Capabilities,
    opts: &RequestOptions<'_>,
) -> Result<(Option<Turn>, Vec<Turn>), TranslateError> {
    let mut system_parts = Vec::new();
    // At most one turn per message plus a leading user turn: sized once, not by doubling.
    let mut conv = Conversation::with_capacity(messages.len() + 1);
    let mut calls: Vec<PendingCall> = Vec::new();
    let mut leading = true;

    for (i, message) in messages.into_iter().enumerate() {
        if !matches!(message, Message::Tool(_)) {
            conv.end_step();
        }
        match message {
            Message::System(m) | Message::Developer(m) => {
                let parts = text_parts(m.content, i)?;
                if leading {
                    system_parts.extend(parts);
                } else {
                    // A late instruction stays where it was said, as user text.
                    conv.push(Role::User, parts);
                }
                continue;
            }
            Message::User(m) => {
                let parts = user_parts(m.content, i, opts.media)?;
                conv.push(Role::User, parts);
            }
            Message::Assistant(m) => {
                let m = *m;
                let mut parts = match m.content {
                    Some(c) => text_parts(c, i)?,
                    None => Vec::new(),
                };
                if let Some(call) = &m.function_call {
                    let id = format!("legacy_{i}");
                    let signature = signatures::for_history_call(
                        None,
                        &id,
                        opts.signatures,
                        caps.thought_signatures,
                    );
                    let call = HistoryCall {
                        id: &id,
                        name: &call.name,
                        arguments: &call.arguments,
                        signature,
                    };
                    parts.push(history_call(call, names, &mut calls, i)?);
                }
                for (k, call) in m.tool_calls.iter().flatten().enumerate() {
                    let sent = call
                        .extra_content
                        .as_ref()
                        .and_then(|e| e.thought_signature())
                        .map(str::to_owned);
                    // Google wants a signature on a step's first call; without one of ours,
                    // that call gets the documented skip value.
                    let signature = signatures::for_history_call(
                        sent,
                        &call.id,
                        opts.signatures,
                        k == 0 && caps.thought_signatures,
                    );
                    let call = HistoryCall {
                        id: &call.id,
                        name: &call.function.name,
                        arguments: &call.function.arguments,
                        signature,
                    };
                    parts.push(history_call(call, names, &mut calls, i)?);
                }
                if parts.is_empty() {
                    // An assistant turn with nothing in it carries no meaning for Gemini.
                    leading = false;
                    continue;
                }
                conv.push(Role::Model, parts);
            }
            Message::Tool(m) => {
                let Some((order, call)) = calls
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.id == m.tool_call_id)
                else {
                    return Err(TranslateError::invalid(
                        format!(
                            "messages[{i}]: tool_call_id '{}' does not match any tool call of an earlier assistant message.",
                            m.tool_call_id
                        ),
                        format!("messages[{i}].tool_call_id"),
                    ));
                };
                let text = joined_text(m.content, i)?;
                let part = function_response_part(
                    call.gemini_name.clone(),
                    call.upstream_id.clone(),
                    &text,
                )?;
                conv.push_result(order, part);
            }
            Message::Function(m) => {
                let text = match m.content {
                    Some(c) => joined_text(c, i)?,
                    None => String::new(),
                };
                let name = names.register(&m.name);
                let part = function_response_part(name, None, &text)?;
                conv.push(Role::User, vec![part]);
            }
        }
        leading = false;
    }
    let contents = conv.finish(
        "The conversation has no user or assistant content to send: add a non-empty user message.",
        "messages",
    )?;
    let system = (!system_parts.is_empty()).then_some(Turn {
        role: None,
        parts: system_parts,
    });
    Ok((system, contents))
}

/// A tool call of assistant message `index` as a Gemini part, the 400 naming where it is.
fn history_call(
    call: HistoryCall<'_>,
    names: &mut ToolNames,
    calls: &mut Vec<PendingCall>,
    index: usize,
) -> Result<TurnPart, TranslateError> {
    let id = call.id;
    function_call_part(call, names, calls).ok_or_else(|| {
        TranslateError::invalid(
            format!("messages[{index}]: the arguments of tool call '{id}' are not a JSON object."),
            format!("messages[{index}].tool_calls"),
        )
    })
}

/// Text of a message whose content may only be text (system, assistant, tool).
fn text_parts(content: chat::Content, index: usize) -> Result<Vec<TurnPart>, TranslateError> {
    match content {
        chat::Content::Text(t) => Ok(text_part(t).into_iter().collect()),
        chat::Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (k, part) in parts.into_iter().enumerate() {
                match part {
                    ContentPart::Text { text } => out.extend(text_part(text)),
                    ContentPart::Refusal { refusal } => out.extend(text_part(refusal)),
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

fn joined_text(content: chat::Content, index: usize) -> Result<String, TranslateError> {
    match content {
        chat::Content::Text(t) => Ok(t),
        chat::Content::Parts(_) => Ok(text_parts(content, index)?
            .into_iter()
            .filter_map(|p| match p {
                TurnPart::Text(t) => Some(t),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")),
    }
}

fn user_parts(
    content: chat::Content,
    index: usize,
    media: &dyn MediaSource,
) -> Result<Vec<TurnPart>, TranslateError> {
    let parts = match content {
        chat::Content::Text(t) => return Ok(text_part(t).into_iter().collect()),
        chat::Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (k, part) in parts.into_iter().enumerate() {
        let param = || format!("messages[{index}].content[{k}]");
        match part {
            ContentPart::Text { text } => out.extend(text_part(text)),
            ContentPart::Refusal { refusal } => out.extend(text_part(refusal)),
            ContentPart::ImageUrl { mut image_url } => {
                out.push(media_part(&mut image_url.url, None, media, param)?.into())
            }
            ContentPart::InputAudio { input_audio } => {
                let mime = audio_mime(&input_audio.format).ok_or_else(|| {
                    TranslateError::invalid(
                        format!("Unsupported audio format '{}'.", input_audio.format),
                        format!("{}.input_audio.format", param()),
                    )
                })?;
                // The same check as a data URL's payload: Gemini would refuse the whole
                // request with a less helpful message.
                if !looks_like_base64(&input_audio.data) {
                    return Err(TranslateError::invalid(
                        format!(
                            "{}.input_audio.data: the audio data is not valid base64.",
                            param()
                        ),
                        format!("{}.input_audio.data", param()),
                    ));
                }
                out.push(TurnPart::Other(Box::new(Part {
                    inline_data: Some(Box::new(gemini::Blob {
                        mime_type: mime.to_owned(),
                        // Moved, not copied: audio can be megabytes.
                        data: input_audio.data,
                    })),
                    ..Part::default()
                })));
            }
            ContentPart::File { mut file } => {
                if let Some(data) = &mut file.file_data {
                    out.push(media_part(data, file.filename.as_deref(), media, param)?.into());
                } else if let Some(id) = &file.file_id {
                    out.push(TurnPart::Other(Box::new(Part {
                        file_data: Some(Box::new(gemini::FileData {
                            mime_type: None,
                            file_uri: files_api_uri(id),
                        })),
                        ..Part::default()
                    })));
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
