//! A chat request's tools (`tools`, legacy `functions`, Gemini built-in tools typed in
//! `tools` or listed in `extra_body.google.tools`) and `tool_choice` / `function_call`,
//! declared to Gemini by the shared rules of [`build::tools`](crate::build::tools).

use crate::build::names::ToolNames;
use crate::build::tools::{
    builtin_tool, declare, gemini_tools, push_builtin, tool_config, FunctionSpec,
};
use crate::gemini;
use crate::openai::chat;
use crate::TranslateError;

pub(super) fn map_tools(
    req: &chat::ChatCompletionRequest,
    names: &mut ToolNames,
    legacy_schemas: bool,
) -> Result<Vec<gemini::Tool>, TranslateError> {
    let mut declarations = Vec::new();
    let mut builtins = Vec::new();
    for (i, tool) in req.tools.iter().flatten().enumerate() {
        if tool.kind != "function" {
            let options = serde_json::Value::Object(tool.options.clone());
            let Some(builtin) = builtin_tool(&tool.kind, &options, &format!("tools[{i}]"))? else {
                return Err(TranslateError::invalid(
                    format!(
                        "Tool type '{}' is not supported; send 'function' tools or Gemini's built-in tools (google_search, url_context, code_execution, google_maps, file_search).",
                        tool.kind
                    ),
                    format!("tools[{i}].type"),
                ));
            };
            push_builtin(&mut builtins, builtin);
            continue;
        }
        let Some(function) = &tool.function else {
            return Err(TranslateError::invalid(
                "A function tool needs a 'function' object.",
                format!("tools[{i}].function"),
            ));
        };
        declarations.push(declare(spec(function), names, legacy_schemas, || {
            format!("tools[{i}].function")
        })?);
    }
    for (i, function) in req.functions.iter().flatten().enumerate() {
        declarations.push(declare(spec(function), names, legacy_schemas, || {
            format!("functions[{i}]")
        })?);
    }
    let google_tools = req.google_options().and_then(|g| g.tools.as_deref());
    gemini_tools(declarations, builtins, google_tools.into_iter().flatten())
}

fn spec(function: &chat::FunctionDefinition) -> FunctionSpec<'_> {
    FunctionSpec {
        name: &function.name,
        description: function.description.as_deref(),
        parameters: function.parameters.as_ref(),
    }
}

pub(super) fn map_tool_choice(
    req: &chat::ChatCompletionRequest,
    names: &ToolNames,
    has_tools: bool,
) -> Result<Option<gemini::ToolConfig>, TranslateError> {
    let (mode, named, param) = match (&req.tool_choice, &req.function_call) {
        (Some(chat::ToolChoice::Mode(m)), _) => (m.as_str(), None, "tool_choice"),
        (Some(chat::ToolChoice::Named(n)), _) => ("named", Some(&n.function.name), "tool_choice"),
        (None, Some(chat::FunctionCallChoice::Mode(m))) => (m.as_str(), None, "function_call"),
        (None, Some(chat::FunctionCallChoice::Named(n))) => {
            ("named", Some(&n.name), "function_call")
        }
        (None, None) => return Ok(None),
    };
    tool_config(mode, named.map(String::as_str), param, names, has_tools)
}
