//! OpenAI chat request → Gemini `GenerateContentRequest`.
//!
//! Implements the request half of the mapping table in `docs/mapping.md`:
//! <https://platform.openai.com/docs/api-reference/chat/create> on one side,
//! <https://ai.google.dev/api/generate-content#request-body> on the other.
//! The work is split by what it maps: `messages` (the conversation, media parts included),
//! `tools` (declarations and `tool_choice`) and `generation` (sampling, output format and
//! thinking controls). Each reads the chat request and hands plain values to the shared
//! rules in [`build`](crate::build).

mod generation;
mod messages;
#[cfg(test)]
mod tests;
mod tools;

use crate::build::body::finish_body;
use crate::build::generation::service_tier;
use crate::build::media::is_gemini_uri;
use crate::build::names::ToolNames;
pub use crate::build::options::{RemoteMedia, RequestOptions};
use crate::build::tools::{combine, google_search, push_builtin, search_allowed, SEARCH_DROPPED};
use crate::capabilities::SchemaFlavour;
use crate::gemini;
use crate::openai::chat;
use crate::TranslateError;

use crate::build::generation::ParamPolicy;
use generation::map_generation_config;
use messages::map_messages;
use tools::{map_tool_choice, map_tools};

/// The Gemini body plus what the response side needs to undo the mapping.
#[derive(Debug)]
pub struct Translated {
    pub body: gemini::GenerateContentRequest,
    /// Client tool names ↔ names sent to Gemini.
    pub names: ToolNames,
    /// Stop sequences beyond Gemini's limit, enforced by Pollux on the answer.
    pub extra_stops: Vec<String>,
    /// Number of choices the answer will have.
    pub n: u32,
    /// Parameters dropped because the model cannot take them (for `x-pollux-dropped-params`).
    pub dropped: Vec<String>,
}

/// Lists the `http(s)` image URLs of user messages that Gemini cannot fetch itself.
pub fn remote_media(req: &chat::ChatCompletionRequest) -> Vec<RemoteMedia<'_>> {
    use chat::{Content, ContentPart, Message};
    let mut out = Vec::new();
    for (i, message) in req.messages.iter().enumerate() {
        let Message::User(m) = message else { continue };
        let Content::Parts(parts) = &m.content else {
            continue;
        };
        for (k, part) in parts.iter().enumerate() {
            if let ContentPart::ImageUrl { image_url } = part {
                let url = image_url.url.as_str();
                if (url.starts_with("http://") || url.starts_with("https://"))
                    && !is_gemini_uri(url)
                {
                    out.push(RemoteMedia {
                        url,
                        param: format!("messages[{i}].content[{k}]"),
                    });
                }
            }
        }
    }
    out
}

/// Maps a chat request to a Gemini request.
///
/// The request is taken by value so that its strings (media payloads can be tens of MB) move
/// into the Gemini body instead of being copied, and each message is freed once mapped.
pub fn to_gemini(
    mut req: chat::ChatCompletionRequest,
    opts: &RequestOptions<'_>,
) -> Result<Translated, TranslateError> {
    if req.messages.is_empty() {
        return Err(TranslateError::invalid(
            "'messages' must contain at least one message.",
            "messages",
        ));
    }
    let caps = opts.resolved_capabilities();
    let caps = caps.as_ref();
    let mut policy = ParamPolicy::new(opts);
    let mut names = ToolNames::default();
    let mut tools = map_tools(&req, &mut names, caps.schema == SchemaFlavour::Legacy)?;
    if req.tools.as_ref().is_none_or(Vec::is_empty)
        && req.functions.as_ref().is_some_and(|f| !f.is_empty())
    {
        names.set_legacy_functions();
    }
    let has_functions = tools.iter().any(|t| !t.function_declarations.is_empty());
    let mut tool_config = map_tool_choice(&req, &names, has_functions)?;
    if req.web_search_options.is_some() {
        if search_allowed(has_functions, caps) {
            push_builtin(&mut tools, google_search());
        } else {
            policy.drop_param("web_search_options", SEARCH_DROPPED)?;
        }
    }
    combine(&tools, &mut tool_config, caps, opts.model)?;
    // The generation settings read the messages too (image `detail`), so they come first:
    // the mapping consumes the messages, freeing each as it goes.
    let generation = map_generation_config(&req, caps, &mut policy)?;
    let messages = std::mem::take(&mut req.messages);
    let (system_instruction, contents) = map_messages(messages, &mut names, caps, opts)?;
    let mut body = gemini::GenerateContentRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        generation_config: generation.config,
        service_tier: service_tier(req.service_tier.as_deref(), "service_tier")?,
        // `finish_body` sets these.
        safety_settings: None,
        cached_content: None,
        labels: None,
    };
    finish_body(&mut body, req.google_options(), req.metadata.as_ref(), opts)?;
    Ok(Translated {
        body,
        names,
        extra_stops: generation.extra_stops,
        n: generation.n,
        dropped: policy.dropped,
    })
}
