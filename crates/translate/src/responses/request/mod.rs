//! Responses request → Gemini `GenerateContentRequest`, plus the settings the response
//! echoes.
//!
//! Implements the request half of `docs/responses.md`: `input` and `instructions`
//! (`input`), `tools` and `tool_choice` (`tools`), sampling, `text.format` and `reasoning`
//! (`generation`). Each hands plain values to the shared rules in [`build`](crate::build), as
//! the chat dialect does.

mod generation;
mod input;
#[cfg(test)]
mod tests;
mod tools;

use serde_json::{json, Value};

use crate::build::body::finish_body;
use crate::build::generation::service_tier;
use crate::build::generation::ParamPolicy;
use crate::build::media::is_gemini_uri;
use crate::build::names::ToolNames;
pub use crate::build::options::{RemoteMedia, RequestOptions};
use crate::build::tools::{combine, google_search, push_builtin, search_allowed, SEARCH_DROPPED};
use crate::capabilities::SchemaFlavour;
use crate::gemini;
use crate::openai::responses::{
    CreateResponse, Echo, EchoReasoning, EchoSettings, EchoText, Input, InputItem,
};
use crate::responses::CallShapes;
use crate::TranslateError;

/// The Gemini body plus what the response side needs.
#[derive(Debug)]
pub struct Translated {
    pub body: gemini::GenerateContentRequest,
    /// Client tool names ↔ names sent to Gemini.
    pub names: ToolNames,
    /// Which tools are custom or namespaced, to shape their calls.
    pub shapes: CallShapes,
    /// The request settings every response object echoes.
    pub echo: Echo,
    /// What the output carries beyond the answer.
    pub output: OutputOptions,
    /// Parameters and input items dropped (for `x-pollux-dropped-params`).
    pub dropped: Vec<String>,
}

/// What the client asked to see beyond the answer itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// `reasoning.summary` was set: thought summaries become reasoning summaries.
    pub summaries: bool,
    /// `include` has `reasoning.encrypted_content`: signatures ride in reasoning items.
    pub encrypted_content: bool,
    /// Log probabilities were asked for (`top_logprobs` or `include`) and the model gives
    /// them.
    pub logprobs: bool,
}

/// Lists the `http(s)` media URLs of user input that Gemini cannot fetch itself.
pub fn remote_media(req: &CreateResponse) -> Vec<RemoteMedia<'_>> {
    let mut out = Vec::new();
    let Input::Items(items) = &req.input else {
        return out;
    };
    let remote = |url: &str| {
        (url.starts_with("http://") || url.starts_with("https://")) && !is_gemini_uri(url)
    };
    for (i, item) in items.iter().enumerate() {
        let parts = match (&item.content, &item.output) {
            (Some(crate::openai::responses::MessageContent::Parts(p)), _) => p,
            (_, Some(crate::openai::responses::ToolOutput::Parts(p))) => p,
            _ => continue,
        };
        let field = if item.content.is_some() {
            "content"
        } else {
            "output"
        };
        for (k, part) in parts.iter().enumerate() {
            let (url, name) = match (&part.image_url, &part.file_url) {
                (Some(url), _) if part.kind == "input_image" => (url, "image_url"),
                (_, Some(url))
                    if part.kind == "input_file"
                        && part.file_data.is_none()
                        && part.file_id.is_none() =>
                {
                    (url, "file_url")
                }
                _ => continue,
            };
            if remote(url) {
                out.push(RemoteMedia {
                    url,
                    param: format!("input[{i}].{field}[{k}].{name}"),
                });
            }
        }
    }
    out
}

/// Maps a Responses request to a Gemini request. Taken by value so media payloads move into
/// the Gemini body instead of being copied.
///
/// The conversation is `input` alone: a server that stores responses resolves
/// `previous_response_id` and `item_reference` items into `input` first (this crate does no
/// IO); `previous_response_id` is only echoed here.
pub fn to_gemini(
    mut req: CreateResponse,
    client_model: &str,
    opts: &RequestOptions<'_>,
) -> Result<Translated, TranslateError> {
    refuse_unsupported(&req)?;
    let caps = opts.resolved_capabilities();
    let caps = caps.as_ref();
    let mut policy = ParamPolicy::new(opts);
    let mut names = ToolNames::default();
    let no_tools = Vec::new();
    let client_tools = req.tools.as_ref().unwrap_or(&no_tools);
    let tools::Tools {
        tools: mut gemini_tools,
        shapes,
        search,
    } = tools::map_tools(
        client_tools,
        req.google_options()
            .and_then(|g| g.tools.as_deref())
            .unwrap_or_default(),
        &mut names,
        caps.schema == SchemaFlavour::Legacy,
    )?;
    if let Some(i) = search {
        let has_functions = gemini_tools
            .iter()
            .any(|t| !t.function_declarations.is_empty());
        if search_allowed(has_functions, caps) {
            push_builtin(&mut gemini_tools, google_search());
        } else {
            policy.drop_param(&format!("tools[{i}]"), SEARCH_DROPPED)?;
        }
    }
    let mut tool_config =
        tools::map_tool_choice(req.tool_choice.as_ref(), &names, &mut gemini_tools)?;
    combine(&gemini_tools, &mut tool_config, caps, opts.model)?;
    let tier = service_tier(req.service_tier.as_deref(), "service_tier")?;
    let generation_config = generation::map_generation_config(&req, caps, &mut policy)?;

    let mut items = match std::mem::take(&mut req.input) {
        Input::Text(text) => vec![InputItem {
            role: Some("user".to_owned()),
            content: Some(crate::openai::responses::MessageContent::Text(text)),
            ..InputItem::default()
        }],
        Input::Items(items) => items,
    };
    let mapped = input::map_input(
        req.instructions.as_deref(),
        &mut items,
        input::Context {
            names: &mut names,
            caps,
            opts,
        },
    )?;
    drop(items);
    let mut body = gemini::GenerateContentRequest {
        contents: mapped.contents,
        system_instruction: mapped.system,
        tools: gemini_tools,
        tool_config,
        generation_config,
        service_tier: tier,
        // `finish_body` sets these.
        safety_settings: None,
        cached_content: None,
        labels: None,
    };
    finish_body(&mut body, req.google_options(), req.metadata.as_ref(), opts)?;
    let output = OutputOptions {
        summaries: req
            .reasoning
            .as_ref()
            .is_some_and(|r| r.summary.is_some() || r.generate_summary.is_some()),
        encrypted_content: req.includes("reasoning.encrypted_content"),
        logprobs: body.generation_config.response_logprobs == Some(true),
    };
    let mut dropped = policy.dropped;
    dropped.extend(mapped.dropped);
    // What was asked; the server replaces it with the tier Gemini reports it used.
    let asked_tier = match req.service_tier.as_deref() {
        Some(tier @ ("flex" | "priority")) => tier.to_owned(),
        _ => "default".to_owned(),
    };
    Ok(Translated {
        body,
        names,
        shapes,
        echo: Echo::new(&echo(req, client_model), asked_tier).map_err(|e| {
            TranslateError::InvalidRequest {
                message: format!("The request's settings could not be echoed: {e}"),
                param: None,
                code: None,
            }
        })?,
        output,
        dropped,
    })
}

/// Parameters that need what this server does not have: a 400 that says what to change.
fn refuse_unsupported(req: &CreateResponse) -> Result<(), TranslateError> {
    let refuse = |param: &str, message: &str| Err(TranslateError::invalid(message, param));
    if req.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return refuse(
            "conversation",
            "The Conversations API is not supported by this server: send the whole conversation in 'input'.",
        );
    }
    if req.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        return refuse(
            "prompt",
            "Stored prompt templates are OpenAI's and cannot be used with Gemini: send 'instructions' and 'input' instead.",
        );
    }
    Ok(())
}

/// The settings the response object echoes, normalized the way OpenAI writes them.
fn echo(req: CreateResponse, client_model: &str) -> EchoSettings {
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(echo_tool)
        .collect();
    let format = req
        .text
        .as_ref()
        .and_then(|t| t.format.as_ref())
        .map(|f| {
            let mut v = json!({ "type": f.kind });
            if f.kind == "json_schema" {
                v["name"] = json!(f.name.clone().unwrap_or_default());
                v["schema"] = f.schema.clone().unwrap_or(Value::Null);
                v["strict"] = json!(f.strict.unwrap_or(false));
                if let Some(d) = &f.description {
                    v["description"] = json!(d);
                }
            }
            v
        })
        .unwrap_or_else(|| json!({ "type": "text" }));
    let verbosity = req
        .text
        .as_ref()
        .and_then(|t| t.verbosity.clone())
        .unwrap_or_else(|| "medium".to_owned());
    let reasoning = req
        .reasoning
        .as_ref()
        .map(|r| EchoReasoning {
            effort: r.effort.as_ref().map(|e| e.as_str().to_owned()),
            summary: r.summary.clone().or_else(|| r.generate_summary.clone()),
        })
        .unwrap_or_default();
    EchoSettings {
        model: client_model.to_owned(),
        instructions: req.instructions,
        max_output_tokens: req.max_output_tokens,
        max_tool_calls: req.max_tool_calls,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        previous_response_id: req.previous_response_id,
        reasoning,
        store: req.store.unwrap_or(true),
        background: req.background.unwrap_or(false),
        temperature: req.temperature.or(Some(1.0)),
        top_p: req.top_p.or(Some(1.0)),
        top_logprobs: req.top_logprobs,
        text: EchoText { format, verbosity },
        tool_choice: req.tool_choice.unwrap_or_else(|| json!("auto")),
        tools,
        truncation: req.truncation.unwrap_or_else(|| "disabled".to_owned()),
        metadata: req.metadata.unwrap_or_default(),
        user: req.user,
        safety_identifier: req.safety_identifier,
        prompt_cache_key: req.prompt_cache_key,
    }
}

/// A tool as the response echoes it: function tools always show `strict` and `parameters`.
fn echo_tool(mut tool: Value) -> Value {
    if tool.get("type").and_then(Value::as_str) == Some("function") {
        if let Some(object) = tool.as_object_mut() {
            object.entry("strict").or_insert(json!(true));
            object.entry("parameters").or_insert(Value::Null);
            object.entry("description").or_insert(Value::Null);
        }
    }
    tool
}
