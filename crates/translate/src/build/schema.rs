//! Client JSON Schemas (tool `parameters`, `response_format.json_schema.schema`) turned into
//! what Gemini accepts.
//!
//! Gemini takes a schema in two places and two dialects:
//!
//! * `parametersJsonSchema` / `responseJsonSchema` take JSON Schema. [`to_json_schema`] only
//!   tidies the client's schema (drops `$schema` and OpenAI's `strict`, moves the pre-2019
//!   `definitions` container to `$defs`, inlines local `$ref`s that do not point at a `$defs`
//!   entry). This is the lossless path.
//! * `parameters` / `responseSchema` take Google's OpenAPI-subset
//!   [`Schema`](https://ai.google.dev/api/caching#Schema), which rejects every key it does not
//!   know. [`to_legacy_schema`] rewrites a JSON Schema into that subset; see its docs for what
//!   is kept, rewritten and dropped. Function calling as a whole is described in
//!   <https://ai.google.dev/gemini-api/docs/function-calling>.
//!
//! Schemas are opaque client payloads that only this module interprets, so they are handled as
//! `serde_json::Value` here rather than as typed wire structs.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

/// How many `$ref` expansions [`to_legacy_schema`] nests on one path before it stops.
pub const MAX_REF_DEPTH: usize = 8;

/// How many schema nodes [`to_legacy_schema`] may produce; inlining `$ref`s can blow up a
/// small schema exponentially (a recursive model with several self-referencing fields).
pub const MAX_NODES: usize = 10_000;

/// How deep both converters follow nested subschemas, each `$ref` expansion counting as one
/// more level. Both walk the schema recursively, so this bounds their stack use: a parsed
/// body is at most 128 JSON levels deep (serde_json's limit), which leaves a tool schema
/// fewer than 128 levels of its own, and only `$ref` expansion can go deeper than that.
pub const MAX_DEPTH: usize = 128;

/// How many JSON values [`to_json_schema`] may copy while inlining `$ref`s. Refs to `$defs`
/// entries are kept as refs, so only pointers into other places are copied; without a cap
/// such pointers fanning out can make a 2 KB schema expand to gigabytes. 10,000, like the
/// legacy converter's [`MAX_NODES`]: far above what real schemas inline, and a schema that
/// spends the whole budget costs a worker a few milliseconds (100,000 made the `schema_json`
/// fuzz target spend ~150 ms per such input under ASan).
pub const MAX_INLINED_VALUES: usize = 10_000;

/// Why a client schema cannot be expressed as Gemini's OpenAPI-subset `Schema`.
///
/// Locations (`at`) are JSON pointers into the client's schema, as URI fragments (`#/properties/a`).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// A schema (the root or a subschema) is neither an object nor a boolean.
    #[error("the schema at `{at}` must be a JSON object, found {found}")]
    NotAnObject { at: String, found: &'static str },
    /// A local `$ref` that points at nothing.
    #[error("`$ref` \"{reference}\" at `{at}` points at nothing in this schema; define it under `$defs`")]
    RefNotFound { reference: String, at: String },
    /// A `$ref` to another document (or to an `$anchor`), which cannot be inlined.
    #[error("`$ref` \"{reference}\" at `{at}` is not a local JSON pointer; only `#/$defs/...`, `#/definitions/...` and other `#/...` references can be inlined")]
    UnsupportedRef { reference: String, at: String },
    /// Non-recursive `$ref`s nested deeper than [`MAX_REF_DEPTH`].
    #[error("the schema at `{at}` nests `$ref` more than {limit} levels deep; flatten it")]
    TooDeep { at: String, limit: usize },
    /// The schema grows past [`MAX_NODES`] nodes (legacy) or [`MAX_INLINED_VALUES`] copied
    /// values (JSON mode) once its `$ref`s are inlined.
    #[error("the schema grows past {limit} nodes once its `$ref`s are inlined; simplify it")]
    TooLarge { limit: usize },
    /// Subschemas nested deeper than [`MAX_DEPTH`], `$ref` expansions included.
    #[error("the schema nests subschemas more than {limit} levels deep (following its `$ref`s); flatten it")]
    NestedTooDeep { limit: usize },
    /// A `type` that is not one of the JSON Schema primitive types.
    #[error("unsupported `type` {found} at `{at}`; expected string, number, integer, boolean, array, object or null")]
    UnsupportedType { at: String, found: String },
    /// The `false` schema (matches nothing) where a value must be described.
    #[error("the schema at `{at}` is `false` (it matches nothing), which Gemini cannot express")]
    Unsatisfiable { at: String },
}

// ---------------------------------------------------------------------------------------------
// JSON Schema mode
// ---------------------------------------------------------------------------------------------

/// Prepares a client JSON Schema for `parametersJsonSchema` / `responseJsonSchema`.
///
/// * `$schema` is removed from every (sub)schema, OpenAI's `strict` from the root.
/// * A root `definitions` container becomes `$defs`, and `#/definitions/X...` refs become
///   `#/$defs/X...` (when both containers exist, clashing `definitions` entries stay put and
///   refs to them are inlined like any other pointer).
/// * A local `$ref` that is not exactly `#/$defs/Name` (`#/properties/a`, `#/$defs/A/items`,
///   `#`) is replaced by a copy of its target, merged with the `$ref`'s sibling keywords (or
///   wrapped in `allOf` when a sibling would clash). A target that refers back to itself
///   is hoisted into `$defs` under a generated name instead, since recursion through
///   `#/$defs/Name` is fine in this mode.
/// * `#/$defs/Name` refs (recursive or not), refs to other documents, anchors and refs that
///   resolve to nothing are kept as they are. Everything else is kept as is.
///
/// A non-object schema (`true`, `false`, anything else) is returned unchanged.
///
/// Fails with [`SchemaError::NestedTooDeep`] past [`MAX_DEPTH`] levels (expansions included)
/// and with [`SchemaError::TooLarge`] when inlining would copy more than
/// [`MAX_INLINED_VALUES`] values, so the work done is bounded by the input's size plus that
/// cap, and the stack by [`MAX_DEPTH`].
pub fn to_json_schema(schema: Value) -> Result<Value, SchemaError> {
    let Value::Object(mut root) = schema else {
        return Ok(schema);
    };
    root.remove("strict");
    let moved = move_definitions(&mut root);
    let taken: HashSet<String> = match root.get("$defs") {
        Some(Value::Object(defs)) => defs.keys().cloned().collect(),
        _ => HashSet::new(),
    };
    let doc = Value::Object(root.clone());
    let mut cx = JsonMode {
        doc: &doc,
        moved,
        stack: vec![Vec::new()],
        hoisted: BTreeMap::new(),
        taken,
        new_defs: Vec::new(),
        depth: 0,
        inlined: 0,
    };
    let mut out = Value::Object(root);
    cx.walk(&mut out)?;
    if let Some(name) = cx.hoisted.get(&Vec::new()).cloned() {
        // `#` referred to from inside the document: the root keeps its shape and a copy of it
        // becomes the recursion target.
        let mut copy = out.clone();
        if let Value::Object(map) = &mut copy {
            map.remove("$defs");
        }
        cx.new_defs.push((name, copy));
    }
    let new_defs = std::mem::take(&mut cx.new_defs);
    if let Value::Object(map) = &mut out {
        if !new_defs.is_empty() {
            let defs = map
                .entry("$defs")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(defs) = defs {
                defs.extend(new_defs);
            }
        }
    }
    Ok(out)
}

/// Moves root `definitions` entries to `$defs`; returns the moved names.
fn move_definitions(root: &mut Map<String, Value>) -> HashSet<String> {
    let mut moved = HashSet::new();
    let Some(Value::Object(mut old)) = root.remove("definitions") else {
        return moved;
    };
    let defs = root
        .entry("$defs")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(defs) = defs {
        let names: Vec<String> = old.keys().cloned().collect();
        for name in names {
            if !defs.contains_key(&name) {
                if let Some(def) = old.remove(&name) {
                    defs.insert(name.clone(), def);
                    moved.insert(name);
                }
            }
        }
    }
    if !old.is_empty() {
        root.insert("definitions".to_owned(), Value::Object(old));
    }
    moved
}

struct JsonMode<'a> {
    /// The document refs resolve against (after the `definitions` move, before any rewrite).
    doc: &'a Value,
    moved: HashSet<String>,
    /// Pointers being expanded; the root (`[]`) is always at the bottom.
    stack: Vec<Vec<String>>,
    /// Pointer → `$defs` name for targets found to be recursive.
    hoisted: BTreeMap<Vec<String>, String>,
    /// `$defs` names in use.
    taken: HashSet<String>,
    new_defs: Vec<(String, Value)>,
    /// Subschema levels (and expansions) on the current path.
    depth: usize,
    /// Values copied by inlining so far.
    inlined: usize,
}

impl JsonMode<'_> {
    fn walk(&mut self, node: &mut Value) -> Result<(), SchemaError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SchemaError::NestedTooDeep { limit: MAX_DEPTH });
        }
        let walked = self.walk_node(node);
        self.depth -= 1;
        walked
    }

    fn walk_node(&mut self, node: &mut Value) -> Result<(), SchemaError> {
        let Value::Object(map) = node else {
            return Ok(());
        };
        map.remove("$schema");
        for sub in subschemas_mut(map) {
            self.walk(sub)?;
        }
        let Some(Value::String(reference)) = map.get("$ref") else {
            return Ok(());
        };
        let reference = self.rewrite_definitions(reference);
        let Some(tokens) = local_pointer(&reference) else {
            map.insert("$ref".to_owned(), Value::String(reference));
            return Ok(());
        };
        let points_at_def = tokens.len() == 2 && tokens.first().is_some_and(|t| t == "$defs");
        if points_at_def || pointer_get(self.doc, &tokens).is_none() {
            map.insert("$ref".to_owned(), Value::String(reference));
            return Ok(());
        }
        let replacement = self.expand(tokens)?;
        map.remove("$ref");
        merge_ref_target(node, replacement);
        Ok(())
    }

    fn rewrite_definitions(&self, reference: &str) -> String {
        if let Some(rest) = reference.strip_prefix("#/definitions/") {
            let first = rest.split('/').next().unwrap_or_default();
            if self.moved.contains(&unescape_token(&percent_decode(first))) {
                return format!("#/$defs/{rest}");
            }
        }
        reference.to_owned()
    }

    /// The value standing in for a `$ref` to `tokens`: the walked target, or a `$ref` to the
    /// `$defs` entry it was hoisted to.
    fn expand(&mut self, tokens: Vec<String>) -> Result<Value, SchemaError> {
        if let Some(name) = self.hoisted.get(&tokens) {
            return Ok(def_ref(name));
        }
        if self.stack.contains(&tokens) {
            let name = self.hoist_name(&tokens);
            self.hoisted.insert(tokens, name.clone());
            return Ok(def_ref(&name));
        }
        let target = pointer_get(self.doc, &tokens);
        // Counted before copying, and the count stops at the cap: every expansion costs at
        // least one value of the budget, so the total work stays linear.
        let budget = MAX_INLINED_VALUES.saturating_sub(self.inlined);
        let size = target.map_or(1, |t| count_values(t, budget + 1));
        if size > budget {
            return Err(SchemaError::TooLarge {
                limit: MAX_INLINED_VALUES,
            });
        }
        self.inlined += size;
        let mut target = target.cloned().unwrap_or(Value::Bool(true));
        self.stack.push(tokens);
        // The target stands where the `$ref` was, one level further down the expansion.
        self.depth += 1;
        let walked = self.walk(&mut target);
        self.depth -= 1;
        let tokens = self.stack.pop().unwrap_or_default();
        walked?;
        Ok(match self.hoisted.get(&tokens) {
            Some(name) => {
                let name = name.clone();
                self.new_defs.push((name.clone(), target));
                def_ref(&name)
            }
            None => target,
        })
    }

    fn hoist_name(&mut self, tokens: &[String]) -> String {
        let joined: String = tokens
            .iter()
            .filter(|t| t.as_str() != "$defs" && t.as_str() != "definitions")
            .map(|t| sanitize_def_name(t))
            .collect::<Vec<_>>()
            .join("_");
        let base = if joined.is_empty() {
            "root".to_owned()
        } else {
            joined
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// The number of JSON values in `value`, counted up to `cap` (without recursion, so a value
/// of any depth is safe to count).
fn count_values(value: &Value, cap: usize) -> usize {
    let mut count = 0;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        count += 1;
        if count >= cap {
            break;
        }
        match v {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    count
}

fn def_ref(name: &str) -> Value {
    let mut map = Map::new();
    map.insert("$ref".to_owned(), Value::String(format!("#/$defs/{name}")));
    Value::Object(map)
}

fn sanitize_def_name(token: &str) -> String {
    token
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Keywords whose value only annotates; on a clash the `$ref`'s sibling wins.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// Merges the stand-in for a `$ref` into the node that held it (the `$ref` already removed).
fn merge_ref_target(node: &mut Value, replacement: Value) {
    let Value::Object(siblings) = node else {
        return;
    };
    if siblings.is_empty() {
        *node = replacement;
        return;
    }
    match replacement {
        Value::Object(target) => {
            let clash = target.iter().any(|(k, v)| {
                !ANNOTATIONS.contains(&k.as_str()) && siblings.get(k).is_some_and(|s| s != v)
            });
            if clash {
                append_all_of(siblings, Value::Object(target));
            } else {
                for (k, v) in target {
                    siblings.entry(k).or_insert(v);
                }
            }
        }
        Value::Bool(true) => {}
        other => append_all_of(siblings, other),
    }
}

fn append_all_of(map: &mut Map<String, Value>, schema: Value) {
    match map.get_mut("allOf") {
        Some(Value::Array(all)) => all.push(schema),
        _ => {
            map.insert("allOf".to_owned(), Value::Array(vec![schema]));
        }
    }
}

/// The subschemas of a JSON Schema object (2020-12 plus draft-4..7 spellings).
fn subschemas_mut(map: &mut Map<String, Value>) -> Vec<&mut Value> {
    let mut out = Vec::new();
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas"
            | "dependencies" => {
                if let Value::Object(m) = value {
                    out.extend(m.values_mut());
                }
            }
            "items" | "prefixItems" | "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(a) => out.extend(a.iter_mut()),
                other => out.push(other),
            },
            "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames"
            | "unevaluatedItems"
            | "unevaluatedProperties"
            | "additionalItems"
            | "contentSchema" => out.push(value),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// The JSON pointer tokens of a same-document reference (`#`, `#/a/b`), decoded; `None` for
/// other documents and anchors.
fn local_pointer(reference: &str) -> Option<Vec<String>> {
    let fragment = percent_decode(reference.strip_prefix('#')?);
    if fragment.is_empty() {
        return Some(Vec::new());
    }
    let rest = fragment.strip_prefix('/')?;
    Some(rest.split('/').map(unescape_token).collect())
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes.get(i).copied().unwrap_or_default();
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pointer_get<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy (OpenAPI-subset) mode
// ---------------------------------------------------------------------------------------------

/// Rewrites a client JSON Schema into Google's OpenAPI-subset
/// [`Schema`](https://ai.google.dev/api/caching#Schema) for `parameters` / `responseSchema`.
///
/// Kept (recursively through `properties`, `items` and `anyOf`): `type` (as Google's upper-case
/// `Type`), `format`, `title`, `description`, `nullable`, `enum`, `default`, `example`,
/// `minItems`/`maxItems`, `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`,
/// `minProperties`/`maxProperties`, `properties`, `required`, `propertyOrdering`, `anyOf`.
/// Everything else is dropped (`additionalProperties`, `$schema`, `$id`, `$defs`, `strict`,
/// `examples`, `exclusiveMinimum`, `discriminator`, `not`, `patternProperties`, ...).
///
/// Rewrites:
/// * `type: ["T", "null"]` → `type: T` + `nullable: true`; several non-null types → `anyOf`
///   with one member per type, each carrying the keywords that apply to it.
/// * `anyOf`/`oneOf` (`oneOf` is read as `anyOf`; with both present `anyOf` wins): `{"type":
///   "null"}` members become `nullable: true`; a single remaining member is merged into the
///   node (the node's own `description`, `title`, `default` win).
/// * `allOf`: members are merged shallowly into the node (properties and `required` united,
///   otherwise the node, then later members, win).
/// * `$ref` to `#/$defs/X`, `#/definitions/X` or any other local JSON pointer is inlined, merged
///   with the `$ref`'s siblings. Recursion is unrolled until [`MAX_REF_DEPTH`] expansions are
///   nested; the recursive ref found at that depth becomes a placeholder of the target's type
///   (OBJECT if it has none) whose description says it was truncated. Non-recursive refs nested
///   that deep fail with [`SchemaError::TooDeep`]; more than [`MAX_NODES`] output nodes fail
///   with [`SchemaError::TooLarge`].
/// * `const: v` → `enum: [v]`. Gemini's `enum` holds strings only, so an enum is kept only on a
///   STRING schema whose values are all strings (a typeless all-string enum gets `type:
///   STRING`). Any other enum is dropped and its values are appended to the description
///   (`Allowed values: 1, 2, 3.`), so the model keeps the declared type instead of sending
///   `"1"` for `1`. `null` in an enum becomes `nullable: true`.
/// * `format` is kept only where Gemini accepts it (STRING: `enum`, `date-time`; NUMBER:
///   `float`, `double`; INTEGER: `int32`, `int64`); others are moved into the description
///   (`Format: email.`).
/// * A missing `type` is inferred from `properties` (OBJECT), `items` (ARRAY) or the enum values.
/// * Object keywords leave non-OBJECT schemas, and so on for every type. Empty `properties` are
///   dropped (Gemini refuses `properties: {}`); `required` and `propertyOrdering` keep only
///   names found in `properties`. An ARRAY without usable `items` gets `items: {type: STRING}`
///   (Gemini refuses an ARRAY without `items`); tuple `items`/`prefixItems` become `items.anyOf`.
pub fn to_legacy_schema(schema: &Value) -> Result<Value, SchemaError> {
    if !schema.is_object() {
        return Err(SchemaError::NotAnObject {
            at: "#".to_owned(),
            found: kind(schema),
        });
    }
    let mut cx = Legacy {
        root: schema,
        stack: Vec::new(),
        nodes: 0,
        depth: 0,
    };
    cx.convert(schema, "#").map(Value::Object)
}

struct Legacy<'a> {
    root: &'a Value,
    /// Pointers of the `$ref`s being expanded on the current path.
    stack: Vec<Vec<String>>,
    nodes: usize,
    /// Nested [`Legacy::convert`] calls on the current path.
    depth: usize,
}

type Schema = Map<String, Value>;

const STRING_KEYS: &[&str] = &["format", "minLength", "maxLength", "pattern"];
const NUMBER_KEYS: &[&str] = &["format", "minimum", "maximum"];
const ARRAY_KEYS: &[&str] = &["items", "prefixItems", "minItems", "maxItems"];
const OBJECT_KEYS: &[&str] = &[
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "propertyOrdering",
];

impl Legacy<'_> {
    fn convert(&mut self, node: &Value, at: &str) -> Result<Schema, SchemaError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SchemaError::NestedTooDeep { limit: MAX_DEPTH });
        }
        let out = self.convert_node(node, at);
        self.depth -= 1;
        out
    }

    fn convert_node(&mut self, node: &Value, at: &str) -> Result<Schema, SchemaError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(SchemaError::TooLarge { limit: MAX_NODES });
        }
        let map = match node {
            Value::Object(map) => map,
            Value::Bool(true) => return Ok(Schema::new()),
            Value::Bool(false) => return Err(SchemaError::Unsatisfiable { at: at.to_owned() }),
            other => {
                return Err(SchemaError::NotAnObject {
                    at: at.to_owned(),
                    found: kind(other),
                })
            }
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            return self.convert_ref(map, reference, at);
        }

        let mut out = self.convert_own(map, at)?;

        if let Some(Value::Array(members)) = map.get("allOf") {
            let mut merged = Schema::new();
            for (i, member) in members.iter().enumerate() {
                let member = self.convert(member, &format!("{at}/allOf/{i}"))?;
                merge_into(&mut merged, member);
            }
            merge_into(&mut merged, out);
            out = merged;
        }

        let alternatives = match (map.get("anyOf"), map.get("oneOf")) {
            (Some(Value::Array(a)), _) => Some(("anyOf", a)),
            (_, Some(Value::Array(a))) => Some(("oneOf", a)),
            _ => None,
        };
        if let Some((key, alternatives)) = alternatives {
            let mut members = Vec::new();
            let mut nullable = false;
            for (i, member) in alternatives.iter().enumerate() {
                if member == &Value::Bool(false) {
                    continue;
                }
                let member = self.convert(member, &format!("{at}/{key}/{i}"))?;
                if is_null_schema(&member) {
                    nullable = true;
                } else {
                    members.push(member);
                }
            }
            match members.len() {
                0 => {
                    if nullable {
                        out.entry("type")
                            .or_insert_with(|| Value::String("NULL".to_owned()));
                    }
                }
                1 => {
                    let mut only = members.pop().unwrap_or_default();
                    // The node's own annotations (description, default) describe the field;
                    // the member's describe the referenced type.
                    merge_into(&mut only, out);
                    out = only;
                    if nullable {
                        out.insert("nullable".to_owned(), Value::Bool(true));
                    }
                }
                _ => {
                    out.insert(
                        "anyOf".to_owned(),
                        Value::Array(members.into_iter().map(Value::Object).collect()),
                    );
                    if nullable {
                        out.insert("nullable".to_owned(), Value::Bool(true));
                    }
                }
            }
        }
        tidy(&mut out);
        Ok(out)
    }

    fn convert_ref(
        &mut self,
        map: &Map<String, Value>,
        reference: &str,
        at: &str,
    ) -> Result<Schema, SchemaError> {
        let Some(tokens) = local_pointer(reference) else {
            return Err(SchemaError::UnsupportedRef {
                reference: reference.to_owned(),
                at: at.to_owned(),
            });
        };
        let Some(target) = pointer_get(self.root, &tokens) else {
            return Err(SchemaError::RefNotFound {
                reference: reference.to_owned(),
                at: at.to_owned(),
            });
        };
        if self.stack.len() >= MAX_REF_DEPTH {
            if self.stack.contains(&tokens) {
                return Ok(placeholder(map, target, &tokens));
            }
            return Err(SchemaError::TooDeep {
                at: at.to_owned(),
                limit: MAX_REF_DEPTH,
            });
        }
        let siblings = map.iter().filter(|(k, _)| k.as_str() != "$ref");
        let merged = match target {
            Value::Object(target) => {
                let mut merged = target.clone();
                for (k, v) in siblings {
                    merged.insert(k.clone(), v.clone());
                }
                merged
            }
            Value::Bool(true) => siblings.map(|(k, v)| (k.clone(), v.clone())).collect(),
            Value::Bool(false) => return Err(SchemaError::Unsatisfiable { at: at.to_owned() }),
            other => {
                return Err(SchemaError::NotAnObject {
                    at: reference.to_owned(),
                    found: kind(other),
                })
            }
        };
        self.stack.push(tokens);
        let out = self.convert(&Value::Object(merged), at);
        self.stack.pop();
        out
    }

    /// Converts the node's own keywords (everything but `$ref`, `allOf`, `anyOf`, `oneOf`).
    fn convert_own(&mut self, map: &Map<String, Value>, at: &str) -> Result<Schema, SchemaError> {
        let mut out = Schema::new();
        let mut notes: Vec<String> = Vec::new();
        let mut nullable = map.get("nullable") == Some(&Value::Bool(true));

        let mut types = declared_types(map.get("type"), at)?;
        let mut values: Option<Vec<Value>> = match (map.get("const"), map.get("enum")) {
            (Some(c), _) => Some(vec![c.clone()]),
            (None, Some(Value::Array(values))) => Some(values.clone()),
            _ => None,
        };
        if let Some(vals) = &mut values {
            if vals.contains(&Value::Null) {
                vals.retain(|v| !v.is_null());
                if vals.is_empty() && types.is_empty() {
                    types.push("null");
                } else {
                    nullable = true;
                }
            }
        }
        if types.len() > 1 && types.contains(&"null") {
            types.retain(|t| *t != "null");
            nullable = true;
        }
        if types.is_empty() {
            if let Some(t) = infer_type(map, values.as_deref()) {
                types.push(t);
            }
        }

        for key in ["title", "description"] {
            if let Some(Value::String(s)) = map.get(key) {
                out.insert(key.to_owned(), Value::String(s.clone()));
            }
        }
        for key in ["default", "example"] {
            if let Some(v) = map.get(key) {
                out.insert(key.to_owned(), v.clone());
            }
        }

        if types.len() > 1 {
            // One anyOf member per type, each with the keywords that apply to it.
            let mut members = Vec::with_capacity(types.len());
            for t in types {
                let mut member = Map::new();
                member.insert("type".to_owned(), Value::String(t.to_owned()));
                for key in type_keys(t) {
                    if let Some(v) = map.get(*key) {
                        member.insert((*key).to_owned(), v.clone());
                    }
                }
                if let Some(vals) = &values {
                    let vals: Vec<Value> = vals
                        .iter()
                        .filter(|v| value_has_type(v, t))
                        .cloned()
                        .collect();
                    if !vals.is_empty() {
                        member.insert("enum".to_owned(), Value::Array(vals));
                    }
                }
                members.push(Value::Object(self.convert_own(&member, at)?));
            }
            out.insert("anyOf".to_owned(), Value::Array(members));
            if nullable {
                out.insert("nullable".to_owned(), Value::Bool(true));
            }
            return Ok(out);
        }

        let ty = types.first().copied();
        if let Some(t) = ty {
            out.insert("type".to_owned(), Value::String(t.to_ascii_uppercase()));
        }

        if let Some(vals) = values.filter(|v| !v.is_empty()) {
            if ty == Some("string") && vals.iter().all(Value::is_string) {
                out.insert("enum".to_owned(), Value::Array(vals));
            } else {
                let listed: Vec<String> = vals.iter().map(Value::to_string).collect();
                notes.push(format!("Allowed values: {}.", listed.join(", ")));
            }
        }

        if let Some(Value::String(format)) = map.get("format") {
            let accepted = match ty {
                Some("string") => matches!(format.as_str(), "enum" | "date-time"),
                Some("number") => matches!(format.as_str(), "float" | "double"),
                Some("integer") => matches!(format.as_str(), "int32" | "int64"),
                _ => false,
            };
            if accepted {
                out.insert("format".to_owned(), Value::String(format.clone()));
            } else {
                notes.push(format!("Format: {format}."));
            }
        }

        match ty {
            Some("string") => {
                copy_counts(map, &mut out, &["minLength", "maxLength"]);
                if let Some(Value::String(p)) = map.get("pattern") {
                    out.insert("pattern".to_owned(), Value::String(p.clone()));
                }
            }
            Some("number" | "integer") => {
                for key in ["minimum", "maximum"] {
                    if let Some(v @ Value::Number(_)) = map.get(key) {
                        out.insert(key.to_owned(), v.clone());
                    }
                }
            }
            Some("array") => {
                copy_counts(map, &mut out, &["minItems", "maxItems"]);
                if let Some(items) = self.convert_items(map, at)? {
                    out.insert("items".to_owned(), Value::Object(items));
                }
            }
            Some("object") => {
                copy_counts(map, &mut out, &["minProperties", "maxProperties"]);
                if let Some(Value::Object(props)) = map.get("properties") {
                    let mut converted = Map::new();
                    for (name, sub) in props {
                        if sub == &Value::Bool(false) {
                            continue;
                        }
                        let path = format!("{at}/properties/{}", escape_token(name));
                        converted.insert(name.clone(), Value::Object(self.convert(sub, &path)?));
                    }
                    out.insert("properties".to_owned(), Value::Object(converted));
                }
                for key in ["required", "propertyOrdering"] {
                    if let Some(Value::Array(names)) = map.get(key) {
                        let names = names.iter().filter(|n| n.is_string()).cloned().collect();
                        out.insert(key.to_owned(), Value::Array(names));
                    }
                }
            }
            _ => {}
        }

        if !notes.is_empty() {
            let notes = notes.join(" ");
            let description = match out.get("description").and_then(Value::as_str) {
                Some(d) if !d.trim().is_empty() => format!("{} {notes}", d.trim_end()),
                _ => notes,
            };
            out.insert("description".to_owned(), Value::String(description));
        }
        if nullable {
            out.insert("nullable".to_owned(), Value::Bool(true));
        }
        tidy(&mut out);
        Ok(out)
    }

    fn convert_items(
        &mut self,
        map: &Map<String, Value>,
        at: &str,
    ) -> Result<Option<Schema>, SchemaError> {
        let (key, tuple) = match (map.get("items"), map.get("prefixItems")) {
            (Some(items @ Value::Object(_)), _) => {
                return self.convert(items, &format!("{at}/items")).map(Some)
            }
            (Some(Value::Array(tuple)), _) => ("items", tuple),
            (_, Some(Value::Array(tuple))) => ("prefixItems", tuple),
            _ => return Ok(None),
        };
        let mut members = Vec::new();
        for (i, member) in tuple.iter().enumerate() {
            if member == &Value::Bool(false) {
                continue;
            }
            members.push(self.convert(member, &format!("{at}/{key}/{i}"))?);
        }
        Ok(match members.len() {
            0 => None,
            1 => members.pop(),
            _ => {
                let mut any = Schema::new();
                any.insert(
                    "anyOf".to_owned(),
                    Value::Array(members.into_iter().map(Value::Object).collect()),
                );
                Some(any)
            }
        })
    }
}

/// The `type` keyword as lowercase JSON Schema names (legacy upper-case input is accepted too).
fn declared_types(ty: Option<&Value>, at: &str) -> Result<Vec<&'static str>, SchemaError> {
    let unsupported = |found: &Value| SchemaError::UnsupportedType {
        at: at.to_owned(),
        found: found.to_string(),
    };
    let one = |v: &Value| -> Result<Option<&'static str>, SchemaError> {
        let name = v.as_str().ok_or_else(|| unsupported(v))?;
        const NAMES: [&str; 7] = [
            "string", "number", "integer", "boolean", "array", "object", "null",
        ];
        if name.eq_ignore_ascii_case("TYPE_UNSPECIFIED") {
            return Ok(None);
        }
        NAMES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .map(|n| Some(*n))
            .ok_or_else(|| unsupported(v))
    };
    let mut types = Vec::new();
    match ty {
        None => {}
        Some(Value::Array(list)) => {
            for v in list {
                if let Some(t) = one(v)? {
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
            }
        }
        Some(v) => types.extend(one(v)?),
    }
    Ok(types)
}

fn infer_type(map: &Map<String, Value>, values: Option<&[Value]>) -> Option<&'static str> {
    if map.contains_key("properties") {
        return Some("object");
    }
    if map.contains_key("items") || map.contains_key("prefixItems") {
        return Some("array");
    }
    let values = values.filter(|v| !v.is_empty())?;
    ["string", "boolean", "integer", "number"]
        .into_iter()
        .find(|t| values.iter().all(|v| value_has_type(v, t)))
}

fn value_has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn type_keys(ty: &str) -> &'static [&'static str] {
    match ty {
        "string" => STRING_KEYS,
        "number" | "integer" => NUMBER_KEYS,
        "array" => ARRAY_KEYS,
        "object" => OBJECT_KEYS,
        _ => &[],
    }
}

/// Copies count keywords the oracle types as `string | integer` (int64 travels as a string).
fn copy_counts(map: &Map<String, Value>, out: &mut Schema, keys: &[&str]) {
    for key in keys {
        match map.get(*key) {
            Some(v) if v.is_u64() || v.is_string() => {
                out.insert((*key).to_owned(), v.clone());
            }
            Some(Value::Number(n)) => {
                // `5.0` is a valid JSON Schema count; Gemini wants an integer.
                if let Some(f) = n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0) {
                    out.insert((*key).to_owned(), Value::from(f as u64));
                }
            }
            _ => {}
        }
    }
}

fn is_null_schema(schema: &Schema) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("NULL")
        && schema
            .keys()
            .all(|k| matches!(k.as_str(), "type" | "title" | "description" | "nullable"))
}

/// Merges `over` into `base`: `properties` and `required` are united, other keys from `over` win.
fn merge_into(base: &mut Schema, over: Schema) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(props)), Value::Object(more)) if key == "properties" => {
                props.extend(more);
            }
            (Some(Value::Array(required)), Value::Array(more)) if key == "required" => {
                for name in more {
                    if !required.contains(&name) {
                        required.push(name);
                    }
                }
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Stands in for a recursive `$ref` found at [`MAX_REF_DEPTH`].
fn placeholder(map: &Map<String, Value>, target: &Value, tokens: &[String]) -> Schema {
    let ty = target
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .filter(|t| {
            matches!(
                t.as_str(),
                "STRING" | "NUMBER" | "INTEGER" | "BOOLEAN" | "ARRAY"
            )
        })
        .unwrap_or_else(|| "OBJECT".to_owned());
    let name = tokens.last().map_or("the root schema", String::as_str);
    let note = format!("(Recursive `{name}` truncated after {MAX_REF_DEPTH} levels.)");
    let description = map
        .get("description")
        .or_else(|| target.get("description"))
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map_or_else(|| note.clone(), |d| format!("{} {note}", d.trim_end()));
    let mut out = Schema::new();
    out.insert("type".to_owned(), Value::String(ty));
    out.insert("description".to_owned(), Value::String(description));
    tidy(&mut out);
    out
}

/// Removes keywords Gemini refuses for the schema's type and fixes up empty/unknown names.
fn tidy(out: &mut Schema) {
    let ty = out.get("type").and_then(Value::as_str).map(str::to_owned);
    if let Some(ty) = ty.as_deref() {
        let lower = ty.to_ascii_lowercase();
        let allowed = type_keys(&lower);
        for key in STRING_KEYS
            .iter()
            .chain(NUMBER_KEYS)
            .chain(ARRAY_KEYS)
            .chain(OBJECT_KEYS)
        {
            if !allowed.contains(key) {
                out.remove(*key);
            }
        }
        if ty != "STRING" {
            out.remove("enum");
        }
    }
    let names: Option<HashSet<String>> = match out.get("properties") {
        Some(Value::Object(props)) if !props.is_empty() => Some(props.keys().cloned().collect()),
        _ => None,
    };
    match names {
        Some(names) => {
            for key in ["required", "propertyOrdering"] {
                if let Some(Value::Array(list)) = out.get_mut(key) {
                    list.retain(|n| n.as_str().is_some_and(|n| names.contains(n)));
                    if list.is_empty() {
                        out.remove(key);
                    }
                }
            }
        }
        None => {
            out.remove("properties");
            out.remove("required");
            out.remove("propertyOrdering");
        }
    }
    if ty.as_deref() == Some("ARRAY") && !out.contains_key("items") {
        let mut items = Schema::new();
        items.insert("type".to_owned(), Value::String("STRING".to_owned()));
        out.insert("items".to_owned(), Value::Object(items));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::OnceLock;

    fn oracle() -> &'static jsonschema::Validator {
        static ORACLE: OnceLock<jsonschema::Validator> = OnceLock::new();
        ORACLE.get_or_init(|| {
            let doc: Value = serde_json::from_str(include_str!(
                "../../../../tests/reference/gemini-v1beta.schema.json"
            ))
            .expect("oracle parses");
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": "#/$defs/Schema",
                "$defs": doc["$defs"],
            });
            jsonschema::validator_for(&root).expect("oracle compiles")
        })
    }

    fn json_mode(input: Value) -> Value {
        to_json_schema(input).expect("converts")
    }

    /// Converts, checks the result against the oracle's `$defs/Schema`, returns it.
    fn legacy(input: Value) -> Value {
        let out = to_legacy_schema(&input).expect("converts");
        let errors: Vec<String> = oracle()
            .iter_errors(&out)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "not a valid Gemini Schema: {errors:?}\n{out:#}"
        );
        out
    }

    #[test]
    fn oracle_rejects_json_schema_keywords() {
        assert!(
            oracle().is_valid(&json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}))
        );
        assert!(!oracle().is_valid(&json!({"type": "object"})));
        assert!(!oracle().is_valid(&json!({"type": "OBJECT", "additionalProperties": false})));
        assert!(!oracle().is_valid(&json!({"type": "INTEGER", "enum": [1, 2]})));
    }

    fn pydantic_order() -> Value {
        // pydantic v2 `Order.model_json_schema()` with a nested model, an Optional field, an
        // enum def, a Literal and a list.
        json!({
            "$defs": {
                "Address": {
                    "properties": {
                        "street": {"title": "Street", "type": "string"},
                        "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Zip"}
                    },
                    "required": ["street"],
                    "title": "Address",
                    "type": "object"
                },
                "Status": {"enum": ["new", "paid", "shipped"], "title": "Status", "type": "string"}
            },
            "properties": {
                "id": {"title": "Id", "type": "integer"},
                "kind": {"const": "order", "default": "order", "title": "Kind", "type": "string"},
                "status": {"$ref": "#/$defs/Status"},
                "ship_to": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": null, "description": "Where to ship"},
                "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array"}
            },
            "required": ["id", "status", "missing"],
            "additionalProperties": false,
            "title": "Order",
            "type": "object"
        })
    }

    #[test]
    fn legacy_pydantic_model() {
        let out = legacy(pydantic_order());
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "title": "Order",
                "properties": {
                    "id": {"type": "INTEGER", "title": "Id"},
                    "kind": {"type": "STRING", "title": "Kind", "default": "order", "enum": ["order"]},
                    "status": {"type": "STRING", "title": "Status", "enum": ["new", "paid", "shipped"]},
                    "ship_to": {
                        "type": "OBJECT",
                        "title": "Address",
                        "description": "Where to ship",
                        "default": null,
                        "nullable": true,
                        "properties": {
                            "street": {"type": "STRING", "title": "Street"},
                            "zip": {"type": "STRING", "title": "Zip", "default": null, "nullable": true}
                        },
                        "required": ["street"]
                    },
                    "tags": {"type": "ARRAY", "title": "Tags", "items": {"type": "STRING"}}
                },
                "required": ["id", "status"]
            })
        );
    }

    #[test]
    fn legacy_type_arrays() {
        let out = legacy(json!({
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"], "maxLength": 3},
                "b": {"type": ["integer", "string"], "minimum": 1, "pattern": "^x", "description": "id"},
                "c": {"type": "null"}
            }
        }));
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "a": {"type": "STRING", "nullable": true, "maxLength": 3},
                    "b": {
                        "description": "id",
                        "anyOf": [
                            {"type": "INTEGER", "minimum": 1},
                            {"type": "STRING", "pattern": "^x"}
                        ]
                    },
                    "c": {"type": "NULL"}
                }
            })
        );
    }

    #[test]
    fn legacy_enums_and_formats() {
        let out = legacy(json!({
            "type": "object",
            "properties": {
                "level": {"type": "integer", "enum": [1, 2, 3], "description": "Level"},
                "flag": {"const": true},
                "mode": {"enum": ["a", "b", null]},
                "mixed": {"enum": ["a", 1]},
                "email": {"type": "string", "format": "email"},
                "when": {"type": "string", "format": "date-time"},
                "ratio": {"type": "number", "format": "double", "exclusiveMinimum": 0}
            }
        }));
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "level": {"type": "INTEGER", "description": "Level Allowed values: 1, 2, 3."},
                    "flag": {"type": "BOOLEAN", "description": "Allowed values: true."},
                    "mode": {"type": "STRING", "enum": ["a", "b"], "nullable": true},
                    "mixed": {"description": "Allowed values: \"a\", 1."},
                    "email": {"type": "STRING", "description": "Format: email."},
                    "when": {"type": "STRING", "format": "date-time"},
                    "ratio": {"type": "NUMBER", "format": "double"}
                }
            })
        );
    }

    #[test]
    fn legacy_openai_strict_schema() {
        let out = legacy(json!({
            "type": "object",
            "strict": true,
            "$schema": "http://json-schema.org/draft-07/schema#",
            "properties": {
                "location": {"type": "string", "description": "City"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f", null]},
                "options": {"type": "object", "properties": {}, "additionalProperties": false, "required": []},
                "list": {"type": "array"}
            },
            "required": ["location", "unit", "options", "list"],
            "additionalProperties": false
        }));
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "location": {"type": "STRING", "description": "City"},
                    "unit": {"type": "STRING", "enum": ["c", "f"], "nullable": true},
                    "options": {"type": "OBJECT"},
                    "list": {"type": "ARRAY", "items": {"type": "STRING"}}
                },
                "required": ["location", "unit", "options", "list"]
            })
        );
    }

    #[test]
    fn legacy_definitions_all_of_one_of_and_pointer_refs() {
        let out = legacy(json!({
            "definitions": {
                "Cat": {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}}, "required": ["kind"]},
                "Dog": {"type": "object", "properties": {"kind": {"const": "dog"}}, "required": ["kind"]}
            },
            "type": "object",
            "properties": {
                "pet": {"oneOf": [{"$ref": "#/definitions/Cat"}, {"$ref": "#/definitions/Dog"}], "discriminator": {"propertyName": "kind"}},
                "best": {"allOf": [{"$ref": "#/definitions/Dog"}], "description": "The best pet"},
                "same": {"$ref": "#/properties/best"},
                "tuple": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]}
            }
        }));
        let dog = json!({"type": "OBJECT", "properties": {"kind": {"type": "STRING", "enum": ["dog"]}}, "required": ["kind"]});
        let mut best = dog.clone();
        best["description"] = json!("The best pet");
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "pet": {"anyOf": [
                        {"type": "OBJECT", "properties": {"kind": {"type": "STRING", "enum": ["cat"]}, "lives": {"type": "INTEGER"}}, "required": ["kind"]},
                        dog
                    ]},
                    "best": best,
                    "same": best,
                    "tuple": {"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}}
                }
            })
        );
    }

    #[test]
    fn legacy_recursive_model_is_truncated_at_the_depth_cap() {
        let out = legacy(json!({
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                    }
                }
            },
            "$ref": "#/$defs/Node"
        }));
        let mut depth = 0;
        let mut node = &out;
        while let Some(next) = node.pointer("/properties/children/items") {
            depth += 1;
            node = next;
        }
        // The root Node and 7 nested ones are expanded; the 8th `items` is the placeholder.
        assert_eq!(depth, MAX_REF_DEPTH, "items levels below the root");
        assert_eq!(
            node,
            &json!({"type": "OBJECT", "description": "(Recursive `Node` truncated after 8 levels.)"})
        );
    }

    #[test]
    fn legacy_errors_say_where() {
        let err = to_legacy_schema(
            &json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}),
        );
        assert_eq!(
            err,
            Err(SchemaError::RefNotFound {
                reference: "#/$defs/Nope".into(),
                at: "#/properties/a".into()
            })
        );
        let err = to_legacy_schema(&json!({"$ref": "https://example.com/s.json"})).unwrap_err();
        assert!(matches!(err, SchemaError::UnsupportedRef { .. }), "{err}");
        let err = to_legacy_schema(&json!({"type": "date"})).unwrap_err();
        assert_eq!(err.to_string(), "unsupported `type` \"date\" at `#`; expected string, number, integer, boolean, array, object or null");
        assert_eq!(
            to_legacy_schema(&json!(true)),
            Err(SchemaError::NotAnObject {
                at: "#".into(),
                found: "a boolean"
            })
        );
        // nine distinct defs chained, no recursion
        let mut defs = Map::new();
        for i in 0..10 {
            defs.insert(format!("D{i}"), json!({"type": "object", "properties": {"next": {"$ref": format!("#/$defs/D{}", i + 1)}}}));
        }
        defs.insert("D10".into(), json!({"type": "string"}));
        let err = to_legacy_schema(&json!({"$defs": defs, "$ref": "#/$defs/D0"})).unwrap_err();
        assert!(
            matches!(err, SchemaError::TooDeep { limit: 8, .. }),
            "{err}"
        );
    }

    #[test]
    fn legacy_blowup_is_refused() {
        let err = to_legacy_schema(&json!({
            "$defs": {"T": {"type": "object", "properties": {
                "a": {"$ref": "#/$defs/T"}, "b": {"$ref": "#/$defs/T"}, "c": {"$ref": "#/$defs/T"}, "d": {"$ref": "#/$defs/T"}
            }}},
            "$ref": "#/$defs/T"
        }))
        .unwrap_err();
        assert_eq!(err, SchemaError::TooLarge { limit: MAX_NODES });
    }

    #[test]
    fn json_mode_strips_and_renames() {
        let out = json_mode(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "strict": true,
            "definitions": {
                "Pet": {"$schema": "x", "type": "object", "properties": {"name": {"type": "string"}}}
            },
            "type": "object",
            "properties": {
                "pet": {"$ref": "#/definitions/Pet"},
                "strict": {"type": "boolean"},
                "$schema": {"type": "string"}
            },
            "additionalProperties": false
        }));
        assert_eq!(
            out,
            json!({
                "$defs": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "type": "object",
                "properties": {
                    "pet": {"$ref": "#/$defs/Pet"},
                    "strict": {"type": "boolean"},
                    "$schema": {"type": "string"}
                },
                "additionalProperties": false
            })
        );
    }

    #[test]
    fn json_mode_keeps_pydantic_output_and_recursion() {
        let mut input = pydantic_order();
        input["$defs"]["Node"] = json!({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}});
        assert_eq!(json_mode(input.clone()), input);
        assert_eq!(json_mode(json!(true)), json!(true));
        assert_eq!(json_mode(json!("nope")), json!("nope"));
    }

    #[test]
    fn json_mode_inlines_pointer_refs() {
        let out = json_mode(json!({
            "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "type": "object",
            "properties": {
                "a": {"$ref": "#/$defs/A"},
                "x": {"$ref": "#/$defs/A/properties/x", "description": "copied"},
                "b": {"type": "string", "minLength": 1},
                "c": {"$ref": "#/properties/b", "minLength": 2}
            }
        }));
        assert_eq!(
            out,
            json!({
                "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}}},
                "type": "object",
                "properties": {
                    "a": {"$ref": "#/$defs/A"},
                    "x": {"type": "integer", "description": "copied"},
                    "b": {"type": "string", "minLength": 1},
                    "c": {"minLength": 2, "allOf": [{"type": "string", "minLength": 1}]}
                }
            })
        );
    }

    #[test]
    fn json_mode_hoists_recursive_pointer_refs() {
        let out = json_mode(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#"}}
            }
        }));
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/root"}}
                },
                "$defs": {"root": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/root"}}
                    }
                }}
            })
        );

        let out = json_mode(json!({
            "type": "object",
            "properties": {
                "tree": {"type": "object", "properties": {"sub": {"$ref": "#/properties/tree"}}}
            }
        }));
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "tree": {"type": "object", "properties": {"sub": {"$ref": "#/$defs/properties_tree"}}}
                },
                "$defs": {"properties_tree": {"type": "object", "properties": {"sub": {"$ref": "#/$defs/properties_tree"}}}}
            })
        );
    }

    #[test]
    fn json_mode_definitions_next_to_defs() {
        let out = json_mode(json!({
            "$defs": {"A": {"type": "string"}},
            "definitions": {"A": {"type": "integer"}, "B": {"type": "boolean"}},
            "properties": {
                "a": {"$ref": "#/definitions/A"},
                "b": {"$ref": "#/definitions/B"}
            }
        }));
        assert_eq!(
            out,
            json!({
                "$defs": {"A": {"type": "string"}, "B": {"type": "boolean"}},
                "definitions": {"A": {"type": "integer"}},
                "properties": {
                    "a": {"type": "integer"},
                    "b": {"$ref": "#/$defs/B"}
                }
            })
        );
    }

    /// `{"items": {"items": ... {"type": "string"}}}`, `levels` schemas deep counting the root.
    fn nested_items(levels: usize) -> Value {
        let mut schema = json!({"type": "string"});
        for _ in 1..levels {
            schema = json!({"type": "array", "items": schema});
        }
        schema
    }

    /// A chain `a0 -> a1 -> ... -> a{len}` through `#/$defs/aN` refs (kept as refs) or through
    /// pointers below them (`#/$defs/aN/properties/next`, inlined).
    fn ref_chain(len: usize, pointer: bool) -> Value {
        let mut defs = Map::new();
        for i in 0..len {
            let next = if pointer {
                format!("#/$defs/a{}/properties/next", i + 1)
            } else {
                format!("#/$defs/a{}", i + 1)
            };
            defs.insert(
                format!("a{i}"),
                json!({"type": "object", "properties": {"next": {"$ref": next}}}),
            );
        }
        defs.insert(
            format!("a{len}"),
            json!({"type": "object", "properties": {"next": {"type": "string"}}}),
        );
        json!({"$defs": defs, "$ref": "#/$defs/a0"})
    }

    /// Each level refers to the next one twice, so inlining doubles the size per level.
    fn double_fan_out(levels: usize, pointer: bool) -> Value {
        let mut defs = Map::new();
        for i in 0..levels {
            let next = if pointer {
                format!("#/$defs/a{}/allOf/0", i + 1)
            } else {
                format!("#/$defs/a{}", i + 1)
            };
            defs.insert(
                format!("a{i}"),
                json!({"allOf": [{"type": "object", "properties": {
                    "l": {"$ref": next}, "r": {"$ref": next}
                }}]}),
            );
        }
        defs.insert(format!("a{levels}"), json!({"allOf": [{"type": "string"}]}));
        json!({"$defs": defs, "$ref": "#/$defs/a0/allOf/0"})
    }

    #[test]
    fn json_mode_depth_limit_edge() {
        let out = to_json_schema(nested_items(MAX_DEPTH)).expect("at the limit");
        assert_eq!(out, nested_items(MAX_DEPTH));
        assert_eq!(
            to_json_schema(nested_items(MAX_DEPTH + 1)),
            Err(SchemaError::NestedTooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn legacy_depth_limit_edge() {
        let out = to_legacy_schema(&nested_items(MAX_DEPTH)).expect("at the limit");
        assert_eq!(
            out.pointer(&"/items".repeat(MAX_DEPTH - 1)),
            Some(&json!({"type": "STRING"}))
        );
        assert_eq!(
            to_legacy_schema(&nested_items(MAX_DEPTH + 1)),
            Err(SchemaError::NestedTooDeep { limit: MAX_DEPTH })
        );
    }

    /// Issue #13, finding 1: a 5,000-long chain used to overflow the stack.
    #[test]
    fn json_mode_long_ref_chains_never_overflow() {
        // Through `$defs` entries: kept as refs, so the schema goes out as it came.
        let chain = ref_chain(5_000, false);
        assert_eq!(json_mode(chain.clone()), chain);
        // Through pointers below the entries: inlined until the depth limit refuses it.
        assert_eq!(
            to_json_schema(ref_chain(5_000, true)),
            Err(SchemaError::NestedTooDeep { limit: MAX_DEPTH })
        );
        // Each pointer expansion takes two levels (the ref and the `properties` below it).
        let fits = (MAX_DEPTH - 2) / 2 - 1;
        assert!(
            to_json_schema(ref_chain(fits, true)).is_ok(),
            "{fits} links"
        );
        assert_eq!(
            to_legacy_schema(&ref_chain(5_000, false)),
            Err(SchemaError::TooDeep {
                at: format!("#{}", "/properties/next".repeat(MAX_REF_DEPTH)),
                limit: MAX_REF_DEPTH
            })
        );
    }

    /// Issue #13, finding 2: 20 levels of double fan-out took a gigabyte and seconds.
    #[test]
    fn json_mode_fan_out_is_linear_or_refused() {
        let start = std::time::Instant::now();
        let kept = double_fan_out(20, false);
        let out = json_mode(kept.clone());
        assert_eq!(
            out["$defs"], kept["$defs"],
            "refs to $defs entries are kept"
        );
        assert_eq!(
            to_json_schema(double_fan_out(20, true)),
            Err(SchemaError::TooLarge {
                limit: MAX_INLINED_VALUES
            })
        );
        let legacy = to_legacy_schema(&double_fan_out(20, false));
        assert!(
            matches!(
                legacy,
                Err(SchemaError::TooLarge { .. } | SchemaError::TooDeep { .. })
            ),
            "{legacy:?}"
        );
        // Small fan-outs are still inlined.
        let small = json_mode(double_fan_out(3, true));
        assert_eq!(
            small.pointer("/properties/l/properties/r/properties/l"),
            Some(&json!({"type": "string"}))
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn json_mode_inlining_budget_edge() {
        // The target `{"enum": [...]}` is the object, the array and its items.
        let schema = |items: usize| {
            json!({
                "$defs": {"big": {"allOf": [{"enum": vec![0; items]}]}},
                "properties": {"a": {"$ref": "#/$defs/big/allOf/0"}}
            })
        };
        let out = to_json_schema(schema(MAX_INLINED_VALUES - 2)).expect("at the budget");
        assert_eq!(
            out.pointer("/properties/a/enum")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(MAX_INLINED_VALUES - 2)
        );
        assert_eq!(
            to_json_schema(schema(MAX_INLINED_VALUES - 1)),
            Err(SchemaError::TooLarge {
                limit: MAX_INLINED_VALUES
            })
        );
    }
}
