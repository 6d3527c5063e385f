//! A Responses request's `tools` and `tool_choice`, declared to Gemini by the shared rules
//! of [`build::tools`](crate::build::tools).
//!
//! Responses tools are flat (`{"type": "function", "name", "parameters"}`). Besides
//! functions: `custom` tools (freeform text input, such as Codex's `apply_patch`) become a
//! function with one string parameter `input`; a `namespace` groups tools whose members are
//! hoisted into Gemini's one function list under a qualified name; `web_search` becomes
//! Google Search grounding, `code_interpreter` Gemini's code execution, `file_search` Gemini's
//! File Search over the stores named in `vector_store_ids`, and Gemini's own tool types
//! (`google_search`, `url_context`, `code_execution`, `google_maps`, `file_search` with
//! `file_search_store_names`) pass as in chat. Every other hosted tool is a 400 that says why.

use serde_json::{json, Value};

use crate::build::names::ToolNames;
use crate::build::tools::{
    builtin_tool, code_execution, declare, file_search, gemini_tools, push_builtin, tool_config,
    FunctionSpec,
};
use crate::gemini;
use crate::responses::{CallShape, CallShapes};
use crate::TranslateError;

/// The tools as Gemini takes them.
pub(super) struct Tools {
    /// The function declarations (one tool), if any.
    pub tools: Vec<gemini::Tool>,
    pub shapes: CallShapes,
    /// Where the request asked for web search (`tools[i]`), if it did.
    pub search: Option<usize>,
}

/// Hosted tools Gemini cannot serve through this server, with what to do instead.
fn unsupported_tool(kind: &str) -> &'static str {
    match kind {
        "computer_use_preview" | "computer" => "Gemini's computer use is not offered through this server; declare function tools for the actions instead",
        "image_generation" => "images are not generated through the Responses API here; use an image model through /v1beta or declare a function tool",
        "mcp" => "this server does not connect to MCP servers; list the MCP server's tools as function tools instead",
        "local_shell" | "shell" => "declare the shell as a function tool instead",
        "apply_patch" => "declare apply_patch as a custom or function tool instead",
        _ => "the server does not know this tool type",
    }
}

pub(super) fn map_tools(
    tools: &[Value],
    google_tools: &[Value],
    names: &mut ToolNames,
    legacy_schemas: bool,
) -> Result<Tools, TranslateError> {
    let mut declarations = Vec::new();
    let mut builtins = Vec::new();
    let mut shapes = CallShapes::default();
    let mut search = None;
    for (i, tool) in tools.iter().enumerate() {
        let param = format!("tools[{i}]");
        match tool_kind(tool) {
            "function" | "custom" => {
                declarations.push(declare_member(
                    tool,
                    None,
                    names,
                    &mut shapes,
                    legacy_schemas,
                    &param,
                )?);
            }
            "namespace" => {
                let namespace = str_field(tool, "name").ok_or_else(|| {
                    TranslateError::invalid(
                        "A namespace tool needs a 'name'.",
                        format!("{param}.name"),
                    )
                })?;
                let members = tool.get("tools").and_then(Value::as_array).ok_or_else(|| {
                    TranslateError::invalid(
                        "A namespace tool needs a 'tools' array.",
                        format!("{param}.tools"),
                    )
                })?;
                for (k, member) in members.iter().enumerate() {
                    let member_param = format!("{param}.tools[{k}]");
                    match tool_kind(member) {
                        "function" | "custom" => declarations.push(declare_member(
                            member,
                            Some(namespace),
                            names,
                            &mut shapes,
                            legacy_schemas,
                            &member_param,
                        )?),
                        other => {
                            return Err(TranslateError::invalid(
                                format!("A namespace may hold function and custom tools only, not '{other}'."),
                                format!("{member_param}.type"),
                            ))
                        }
                    }
                }
            }
            "web_search"
            | "web_search_preview"
            | "web_search_2025_08_26"
            | "web_search_preview_2025_03_11" => search = Some(i),
            "code_interpreter" => push_builtin(&mut builtins, code_execution()),
            "file_search" => {
                let stores = tool
                    .get("vector_store_ids")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let top_k = tool
                    .get("max_num_results")
                    .and_then(Value::as_u64)
                    .and_then(|k| u32::try_from(k).ok());
                builtins.push(file_search(
                    stores,
                    None,
                    top_k,
                    &format!("{param}.vector_store_ids"),
                )?);
            }
            "" => {
                return Err(TranslateError::invalid(
                    "Each tool needs a 'type'.",
                    format!("{param}.type"),
                ))
            }
            other => {
                let Some(builtin) = builtin_tool(other, tool, &param)? else {
                    return Err(TranslateError::invalid(
                        format!(
                        "Tool type '{other}' is not supported with Gemini: {}. Remove it from 'tools'.",
                        unsupported_tool(other)
                    ),
                        format!("{param}.type"),
                    ));
                };
                push_builtin(&mut builtins, builtin);
            }
        }
    }
    Ok(Tools {
        tools: gemini_tools(declarations, builtins, google_tools)?,
        shapes,
        search,
    })
}

fn tool_kind(tool: &Value) -> &str {
    str_field(tool, "type").unwrap_or("")
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// A function or custom tool (inside `namespace` when given) as a Gemini declaration.
fn declare_member(
    tool: &Value,
    namespace: Option<&str>,
    names: &mut ToolNames,
    shapes: &mut CallShapes,
    legacy_schemas: bool,
    param: &str,
) -> Result<gemini::FunctionDeclaration, TranslateError> {
    let custom = tool_kind(tool) == "custom";
    let name = str_field(tool, "name").ok_or_else(|| {
        TranslateError::invalid(
            "A function or custom tool needs a 'name'.",
            format!("{param}.name"),
        )
    })?;
    let description = str_field(tool, "description");
    let qualified = CallShapes::qualified(namespace, name);
    let custom_parameters;
    let custom_description;
    let (parameters, description) = if custom {
        custom_description = custom_tool_description(description, tool.get("format"));
        custom_parameters = json!({
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The tool's input, as freeform text."}},
            "required": ["input"],
        });
        (Some(&custom_parameters), Some(custom_description.as_str()))
    } else {
        (tool.get("parameters").filter(|p| !p.is_null()), description)
    };
    let declaration = declare(
        FunctionSpec {
            name: &qualified,
            description,
            parameters,
        },
        names,
        legacy_schemas,
        || param.to_owned(),
    )?;
    shapes.insert(
        qualified,
        CallShape {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            custom,
        },
    );
    Ok(declaration)
}

/// A custom tool's description for Gemini, which sees a function with one string: what the
/// client said, plus the grammar the input must follow when the tool has one.
fn custom_tool_description(description: Option<&str>, format: Option<&Value>) -> String {
    let mut out = description.unwrap_or("").to_owned();
    let grammar = format.filter(|f| str_field(f, "type") == Some("grammar"));
    if let Some(format) = grammar {
        let syntax = str_field(format, "syntax").unwrap_or("lark");
        if let Some(definition) = str_field(format, "definition") {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&format!(
                "The `input` string must follow this {syntax} grammar:\n{definition}"
            ));
        }
    }
    out
}

/// `tool_choice` → `toolConfig`. `allowed_tools` narrows the declarations to the tools it
/// lists (Gemini takes a list of allowed names only in its `ANY` mode).
pub(super) fn map_tool_choice(
    choice: Option<&Value>,
    names: &ToolNames,
    tools: &mut Vec<gemini::Tool>,
) -> Result<Option<gemini::ToolConfig>, TranslateError> {
    let has_functions = tools.iter().any(|t| !t.function_declarations.is_empty());
    let Some(choice) = choice else {
        return Ok(None);
    };
    if let Some(mode) = choice.as_str() {
        return tool_config(mode, None, "tool_choice", names, has_functions);
    }
    match tool_kind(choice) {
        "function" | "custom" => {
            let name = str_field(choice, "name").ok_or_else(|| {
                TranslateError::invalid("A named 'tool_choice' needs a 'name'.", "tool_choice.name")
            })?;
            let qualified =
                CallShapes::qualified(str_field(choice, "namespace"), name);
            tool_config("named", Some(&qualified), "tool_choice", names, has_functions)
        }
        "allowed_tools" => {
            let mode = str_field(choice, "mode").unwrap_or("auto");
            let listed = choice.get("tools").and_then(Value::as_array);
            let mut allowed = Vec::new();
            for tool in listed.into_iter().flatten() {
                if let Some(name) = str_field(tool, "name") {
                    let qualified = CallShapes::qualified(str_field(tool, "namespace"), name);
                    if let Some(gemini_name) = names.to_gemini(&qualified) {
                        allowed.push(gemini_name.to_owned());
                    }
                }
            }
            for tool in tools.iter_mut() {
                tool.function_declarations
                    .retain(|d| allowed.contains(&d.name));
            }
            tools.retain(|t| !t.function_declarations.is_empty() || t.is_builtin());
            let has_allowed = tools.iter().any(|t| !t.function_declarations.is_empty());
            tool_config(mode, None, "tool_choice.mode", names, has_allowed)
        }
        // A hosted tool named as the choice: Gemini decides when to use it.
        kind if kind.starts_with("web_search")
            || kind == "code_interpreter"
            || kind == "file_search" =>
        {
            Ok(None)
        }
        other => Err(TranslateError::invalid(
            format!("Invalid 'tool_choice' type '{other}': expected a mode string, 'function', 'custom' or 'allowed_tools'."),
            "tool_choice",
        )),
    }
}
