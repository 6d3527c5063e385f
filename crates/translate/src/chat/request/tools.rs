//! Tool declarations (`tools`, legacy `functions`) and `tool_choice` / `function_call`.

use crate::build::names::ToolNames;
use crate::build::schema;
use crate::gemini;
use crate::openai::chat;
use crate::TranslateError;

pub(super) fn map_tools(
    req: &chat::ChatCompletionRequest,
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
    function: &chat::FunctionDefinition,
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
    // The message names the tool: the limits in `schema` are per schema, and a request can
    // carry many.
    let refused = |e: schema::SchemaError| {
        TranslateError::invalid(
            format!(
                "Invalid parameters schema of function '{}': {e}",
                function.name
            ),
            format!("{}.parameters", param()),
        )
    };
    let (parameters_json_schema, parameters) = match &function.parameters {
        None => (None, None),
        Some(p) if legacy_schemas => (None, Some(schema::to_legacy_schema(p).map_err(refused)?)),
        Some(p) => (
            Some(schema::to_json_schema(p.clone()).map_err(refused)?),
            None,
        ),
    };
    Ok(gemini::FunctionDeclaration {
        name,
        description: function.description.clone().filter(|d| !d.is_empty()),
        parameters_json_schema,
        parameters,
    })
}

pub(super) fn map_tool_choice(
    req: &chat::ChatCompletionRequest,
    names: &ToolNames,
    has_tools: bool,
) -> Result<Option<gemini::ToolConfig>, TranslateError> {
    use gemini::FunctionCallingMode as Mode;
    let (mode, named, param) = match (&req.tool_choice, &req.function_call) {
        (Some(chat::ToolChoice::Mode(m)), _) => (m.as_str(), None, "tool_choice"),
        (Some(chat::ToolChoice::Named(n)), _) => ("named", Some(&n.function.name), "tool_choice"),
        (None, Some(chat::FunctionCallChoice::Mode(m))) => (m.as_str(), None, "function_call"),
        (None, Some(chat::FunctionCallChoice::Named(n))) => {
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
