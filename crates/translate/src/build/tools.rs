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
        function_calling_config: Some(gemini::FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        }),
        include_server_side_tool_invocations: None,
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

/// The Gemini built-in tool a tool entry names, or `None` when `kind` is not one of them.
/// `kind` is the entry's `type` (`google_search`, `url_context`, `code_execution`,
/// `google_maps`, `file_search`; Gemini's camelCase spellings too) and `options` the rest of
/// the entry; `param` says where the entry is, for the 400.
/// <https://ai.google.dev/gemini-api/docs/tools>.
pub(crate) fn builtin_tool(
    kind: &str,
    options: &serde_json::Value,
    param: &str,
) -> Result<Option<gemini::Tool>, TranslateError> {
    let field = |snake: &str, camel: &str| options.get(snake).or_else(|| options.get(camel));
    let tool = match kind {
        "google_search" | "googleSearch" => google_search(),
        "url_context" | "urlContext" => gemini::Tool {
            url_context: Some(gemini::Empty {}),
            ..Default::default()
        },
        "code_execution" | "codeExecution" => code_execution(),
        "google_maps" | "googleMaps" => {
            let enable_widget = match field("enable_widget", "enableWidget") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Bool(b)) => Some(*b),
                Some(_) => {
                    return Err(TranslateError::invalid(
                        "'enable_widget' must be a boolean.",
                        format!("{param}.enable_widget"),
                    ))
                }
            };
            gemini::Tool {
                google_maps: Some(gemini::GoogleMaps { enable_widget }),
                ..Default::default()
            }
        }
        "file_search" | "fileSearch" => {
            let names = field("file_search_store_names", "fileSearchStoreNames")
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(serde_json::Value::as_str)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let metadata_filter = field("metadata_filter", "metadataFilter")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let top_k = field("top_k", "topK")
                .and_then(serde_json::Value::as_u64)
                .and_then(|k| u32::try_from(k).ok());
            file_search(
                names,
                metadata_filter,
                top_k,
                &format!("{param}.file_search_store_names"),
            )?
        }
        _ => return Ok(None),
    };
    Ok(Some(tool))
}

/// Gemini's code-execution tool.
pub(crate) fn code_execution() -> gemini::Tool {
    gemini::Tool {
        code_execution: Some(gemini::Empty {}),
        ..Default::default()
    }
}

/// Gemini's File Search over `stores` (`fileSearchStores/...`; a bare id gets the prefix).
pub(crate) fn file_search(
    stores: Vec<String>,
    metadata_filter: Option<String>,
    top_k: Option<u32>,
    param: &str,
) -> Result<gemini::Tool, TranslateError> {
    if stores.is_empty() {
        return Err(TranslateError::invalid(
            "File search needs at least one store: the names of Gemini File Search stores (fileSearchStores/...).",
            param,
        ));
    }
    let file_search_store_names = stores
        .into_iter()
        .map(|s| {
            if s.starts_with("fileSearchStores/") {
                s
            } else {
                format!("fileSearchStores/{s}")
            }
        })
        .collect();
    Ok(gemini::Tool {
        file_search: Some(gemini::FileSearch {
            file_search_store_names,
            metadata_filter,
            top_k,
        }),
        ..Default::default()
    })
}

/// Adds `tool` unless a tool of the same built-in kind is already there (a client may ask for
/// search both through `web_search_options` and a tool entry).
pub(crate) fn push_builtin(tools: &mut Vec<gemini::Tool>, tool: gemini::Tool) {
    let same = |t: &gemini::Tool| {
        (t.google_search.is_some() && tool.google_search.is_some())
            || (t.url_context.is_some() && tool.url_context.is_some())
            || (t.code_execution.is_some() && tool.code_execution.is_some())
            || (t.google_maps.is_some() && tool.google_maps.is_some())
    };
    if !tools.iter().any(same) {
        tools.push(tool);
    }
}

/// The request's tools as Gemini takes them: the entries of `extra_body.google.tools` join
/// the built-ins, and the function declarations, if any, come first as one tool.
pub(crate) fn gemini_tools<'v>(
    declarations: Vec<gemini::FunctionDeclaration>,
    mut builtins: Vec<gemini::Tool>,
    google_tools: impl IntoIterator<Item = &'v serde_json::Value>,
) -> Result<Vec<gemini::Tool>, TranslateError> {
    for (i, entry) in google_tools.into_iter().enumerate() {
        let tool = gemini_tool_entry(entry, &format!("extra_body.google.tools[{i}]"))?;
        push_builtin(&mut builtins, tool);
    }
    let mut out = Vec::new();
    if !declarations.is_empty() {
        out.push(gemini::Tool {
            function_declarations: declarations,
            ..Default::default()
        });
    }
    out.extend(builtins);
    Ok(out)
}

/// Built-in tools beside function declarations: on a model that can combine them, the
/// `toolConfig` flag Gemini 3 needs for that; on one that cannot, a 400 that says so.
/// Nothing changes when the request has only one kind.
pub(crate) fn combine(
    tools: &[gemini::Tool],
    tool_config: &mut Option<gemini::ToolConfig>,
    caps: &crate::capabilities::Capabilities,
    model: &str,
) -> Result<(), TranslateError> {
    let builtin = tools.iter().any(gemini::Tool::is_builtin);
    let functions = tools.iter().any(|t| !t.function_declarations.is_empty());
    if !(builtin && functions) {
        return Ok(());
    }
    if !caps.tool_combination {
        return Err(TranslateError::invalid(
            format!("Model '{model}' cannot combine Gemini's built-in tools (search, URL context, code execution, Maps, file search) with function tools in one request; send them in separate requests or use a Gemini 3 model."),
            "tools",
        ));
    }
    tool_config
        .get_or_insert_with(gemini::ToolConfig::default)
        .include_server_side_tool_invocations = Some(true);
    Ok(())
}

/// One entry of `extra_body.google.tools`: typed as in `tools` (`{"type": "code_execution"}`)
/// or in Gemini's own shape (`{"code_execution": {}}`, `{"googleMaps": {"enableWidget": true}}`).
pub(crate) fn gemini_tool_entry(
    entry: &serde_json::Value,
    param: &str,
) -> Result<gemini::Tool, TranslateError> {
    let (kind, options) = match entry.get("type").and_then(serde_json::Value::as_str) {
        Some(kind) => (kind, entry),
        None => match entry.as_object() {
            Some(map) if map.len() == 1 => {
                let (kind, options) = map
                    .iter()
                    .next()
                    .map_or(("", entry), |(k, v)| (k.as_str(), v));
                (kind, options)
            }
            _ => ("", entry),
        },
    };
    builtin_tool(kind, options, param)?.ok_or_else(|| {
        TranslateError::invalid(
            format!("'{kind}' is not a Gemini built-in tool: expected google_search, url_context, code_execution, google_maps or file_search (declare functions in 'tools')."),
            param,
        )
    })
}
