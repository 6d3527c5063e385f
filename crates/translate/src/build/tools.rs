//! Gemini's side of tools, the same for every dialect: function declarations (names mapped,
//! parameter schemas converted) and `toolConfig` from a tool-choice mode
//! (<https://ai.google.dev/gemini-api/docs/function-calling>).

use crate::build::names::ToolNames;
use crate::build::schema;
use crate::gemini;
use crate::TranslateError;

/// A function as a dialect declares it.
pub(crate) struct FunctionSpec<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// A JSON Schema object, converted for Gemini here.
    pub parameters: Option<&'a serde_json::Value>,
}

/// One function as a Gemini declaration, its name registered in `names`; `param` is where
/// the dialect's request has it, for the 400.
pub(crate) fn declare(
    function: FunctionSpec<'_>,
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
    let name = names.register(function.name);
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
    let (parameters_json_schema, parameters) = match function.parameters {
        None => (None, None),
        Some(p) if legacy_schemas => (None, Some(schema::to_legacy_schema(p).map_err(refused)?)),
        Some(p) => (
            Some(schema::to_json_schema(p.clone()).map_err(refused)?),
            None,
        ),
    };
    Ok(gemini::FunctionDeclaration {
        name,
        description: function
            .description
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        parameters_json_schema,
        parameters,
    })
}

/// The `tool_choice` mode (`none`, `auto`, `required`, or `named` with the function) as
/// Gemini's `toolConfig`; `param` names the dialect's field in the 400.
pub(crate) fn tool_config(
    mode: &str,
    named: Option<&str>,
    param: &str,
    names: &ToolNames,
    has_tools: bool,
) -> Result<Option<gemini::ToolConfig>, TranslateError> {
    use gemini::FunctionCallingMode as Mode;
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

/// Whether Google Search may be offered beside `has_functions` on a model with `caps`. Where
/// it may not, the dialect drops the search and reports it: the functions are what the
/// client's agent loop depends on.
pub(crate) fn search_allowed(
    has_functions: bool,
    caps: &crate::capabilities::Capabilities,
) -> bool {
    !has_functions || caps.tool_combination
}

/// Why a search was dropped, for strict mode's 400.
pub(crate) const SEARCH_DROPPED: &str =
    "the model cannot combine Google Search with function tools in one request";

/// Gemini's Google Search grounding tool.
pub(crate) fn google_search() -> gemini::Tool {
    gemini::Tool {
        google_search: Some(gemini::Empty {}),
        ..Default::default()
    }
}
