//! Golden fixtures, a module of the translate crate's one integration-test binary (`tests/it`).
//!
//! Each folder under `tests/fixtures/<scenario>/` is one scenario, written by hand the way the
//! client and the real Gemini API write their bodies. The runner drives the crate's public API
//! only, with a fixed completion id (`chatcmpl-golden`), `created` 1700000000, the model
//! exactly as the request names it and sequential tool-call ids (`call_1`, ...):
//!
//! | file | role |
//! |---|---|
//! | `request.json` | the OpenAI chat request a client sends (always present) |
//! | `options.json` | optional: `{"legacy_schemas": bool, "signatures": {"<tool call id>": "<sig>"}}`; the map plays the server's signature cache |
//! | `upstream_request.json` | expected Gemini body (pretty JSON) |
//! | `request_error.json` | expected instead when the request is refused (a 400) |
//! | `upstream_response.json` | a Gemini `generateContent` answer, as the API writes it |
//! | `response.json` | expected `chat.completion` |
//! | `response_error.json` | expected instead when the answer maps to an error (a 502) |
//! | `upstream_stream.sse` | raw `streamGenerateContent?alt=sse` bytes (`data: ...\r\n\r\n`) |
//! | `response_stream.jsonl` | expected chunks, one JSON per line, then `[DONE]` or one `{"error": ...}` line |
//!
//! Oracles: every `upstream_request.json` must validate against `$defs/GenerateContentRequest`
//! of the Gemini schema, every upstream answer and SSE event against
//! `$defs/GenerateContentResponse` (after removing the gateway fields of [`GATEWAY_EXTRAS`],
//! which real gateways add and the protos lack), every `response.json` against OpenAI's
//! `CreateChatCompletionResponse` and every chunk against `CreateChatCompletionStreamResponse`.
//! The SSE bytes are decoded whole, split in two at every byte offset and fed one byte at a
//! time; every way must yield the same events.
//!
//! `UPDATE_GOLDEN=1 cargo test -p pollux-translate --test it golden` rewrites the expected files
//! (never those of [`EXPECTED_FAILURES`], which hold the correct output a known bug does not
//! yet produce). Without it, a mismatch fails with a line diff.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use pollux_translate::build::names::ToolNames;
use pollux_translate::gemini::{model_id, GenerateContentResponse};
use pollux_translate::openai::chat::ChatCompletionRequest;
use pollux_translate::sse::{SseDecoder, SseItem};
use pollux_translate::{
    to_gemini, to_openai, RequestOptions, ResponseContext, SequentialIds, SignatureSource,
    StreamTranslator, TranslateError,
};
use serde::Serialize;
use serde_json::{json, Value};

const ID: &str = "chatcmpl-golden";
const CREATED: u64 = 1_700_000_000;

/// Response fields that gateways in front of Gemini add (the seed document's sample answer
/// carries both) and the v1beta protos lack. Pollux must read past them; the oracle, which is
/// strict, is shown the body without them.
const GATEWAY_EXTRAS: &[&[&str]] = &[&["createTime"], &["usageMetadata", "trafficType"]];

/// Scenarios whose fixtures hold the correct output that the crate does not produce yet,
/// with the bug in one line. The runner asserts they still fail, so a fix is noticed and the
/// entry removed.
const EXPECTED_FAILURES: &[(&str, &str)] = &[];

macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() -> Result<(), Failure> {
                scenario(stringify!($name))
            }
        )*
    };
}

golden!(
    simple_text,
    seed_max_tokens,
    system_developer_multiturn,
    sampling_params,
    n_two_choices,
    thinking_reasoning_content,
    blocked_prompt,
    safety_finish,
    stream_safety_finish,
    tools_pydantic_schema,
    tools_pydantic_schema_legacy,
    tool_choice_none,
    tool_choice_required,
    tool_choice_named,
    tool_choice_unknown_name,
    tool_history_parallel,
    tool_results_out_of_order,
    gemini3_signature_first_call,
    gemini3_signature_history,
    invalid_function_names,
    legacy_functions,
    legacy_functions_response,
    media_parts,
    stream_text_usage,
    stream_parallel_tool_calls,
    malformed_function_call,
    stream_without_finish_reason,
    stream_error_after_start,
    reasoning_effort_budget,
    reasoning_effort_level,
    extra_stop_sequences,
    stream_extra_stop_sequences,
    web_search_grounding,
    google_extras,
    generated_image,
    stream_logprobs,
    code_execution,
    stream_code_execution,
    url_context_grounding,
    file_search_grounding,
    builtin_tools_with_functions,
    builtin_tools_cannot_mix,
);

/// A test failure whose message prints as written (a `String` error would print escaped).
pub struct Failure(String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub(crate) fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Runs one scenario, honouring [`EXPECTED_FAILURES`].
fn scenario(name: &str) -> Result<(), Failure> {
    let dir = fixtures().join(name);
    let known_bug = EXPECTED_FAILURES.iter().find(|(n, _)| *n == name);
    // Expected files are held to the oracles too, hand-corrected ones above all.
    validate_expected(&dir)?;
    let result = run(&dir, known_bug.is_none() && updating());
    match (known_bug, result) {
        (None, result) => result,
        (Some((_, bug)), Err(e)) => {
            // Shown with `--nocapture`: check that the diff is the known bug and nothing else.
            eprintln!("expected failure `{name}` ({bug}):\n{e:?}");
            Ok(())
        }
        (Some((_, bug)), Ok(())) => fail(format!(
            "scenario `{name}` is listed in EXPECTED_FAILURES ({bug}) but now passes: remove it from the list"
        )),
    }
}

/// Oracle checks of the expected files themselves.
fn validate_expected(dir: &Path) -> Result<(), Failure> {
    if let Ok(text) = std::fs::read_to_string(dir.join("upstream_request.json")) {
        let value: Value = serde_json::from_str(&text)?;
        oracle_gemini(
            "expected upstream_request.json",
            "GenerateContentRequest",
            &value,
        )?;
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("response.json")) {
        oracle_openai(
            "expected response.json",
            "CreateChatCompletionResponse",
            &text,
        )?;
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("response_stream.jsonl")) {
        for (n, line) in text.lines().enumerate() {
            if line == "[DONE]" || line.starts_with("{\"error\"") {
                continue;
            }
            oracle_openai(
                &format!("expected response_stream.jsonl line {}", n + 1),
                "CreateChatCompletionStreamResponse",
                line,
            )?;
        }
    }
    Ok(())
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    legacy_schemas: bool,
    /// Signatures the server's cache would hold, by tool call id.
    #[serde(default)]
    signatures: HashMap<String, String>,
}

impl SignatureSource for Options {
    fn signature_for(&self, tool_call_id: &str) -> Option<String> {
        self.signatures.get(tool_call_id).cloned()
    }
}

fn run(dir: &Path, update: bool) -> Result<(), Failure> {
    if !dir.is_dir() {
        return fail(format!("no fixture folder {}", dir.display()));
    }
    let mut checks = Checks {
        dir,
        update,
        failures: Vec::new(),
    };
    let request_bytes = std::fs::read(dir.join("request.json"))
        .map_err(|e| Failure(format!("{}: request.json: {e}", dir.display())))?;
    let options: Options = match std::fs::read(dir.join("options.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => Options::default(),
    };
    let request = ChatCompletionRequest::from_slice(&request_bytes)
        .map_err(|e| Failure(format!("request.json does not parse: {e}")))?;
    let client_model = request.model.clone().unwrap_or_default();
    let include_usage = request.include_usage();
    let translated = to_gemini(
        request,
        &RequestOptions {
            legacy_schemas: options.legacy_schemas,
            signatures: &options,
            ..RequestOptions::new(model_id(&client_model))
        },
    );
    let translated = match translated {
        Ok(t) => {
            // The server sizes its encoding buffer from the client's body (sent compact, as
            // the SDKs send it): the encoded body fits without the buffer growing.
            let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&request_bytes)?)?;
            let encoded = serde_json::to_vec(&t.body)?;
            let hint = t.body.encoded_len_hint(compact.len());
            if encoded.len() > hint {
                return fail(format!(
                    "{}: the upstream body is {} bytes, over its encoding hint of {hint}",
                    dir.display(),
                    encoded.len()
                ));
            }
            let body = pretty(&t.body)?;
            oracle_gemini("upstream_request.json", "GenerateContentRequest", &body)?;
            checks.compare("upstream_request.json", "request_error.json", &body)?;
            t
        }
        Err(e) => {
            checks.compare(
                "request_error.json",
                "upstream_request.json",
                &error_json(&e)?,
            )?;
            return checks.done();
        }
    };
    let context = |names: ToolNames| ResponseContext {
        id: ID.to_owned(),
        created: CREATED,
        model: client_model.clone(),
        names,
        n: translated.n,
        extra_stops: translated.extra_stops.clone(),
    };

    if let Ok(upstream) = std::fs::read_to_string(dir.join("upstream_response.json")) {
        let value: Value = serde_json::from_str(&upstream)?;
        oracle_gemini(
            "upstream_response.json",
            "GenerateContentResponse",
            &without_gateway_extras(value),
        )?;
        let parsed: GenerateContentResponse = serde_json::from_str(&upstream)?;
        let ctx = context(translated.names.clone());
        match to_openai(parsed, &ctx, &mut SequentialIds::default()) {
            Ok(completion) => {
                let body = pretty(&completion)?;
                oracle_openai("response.json", "CreateChatCompletionResponse", &body)?;
                checks.compare("response.json", "response_error.json", &body)?;
            }
            Err(e) => checks.compare("response_error.json", "response.json", &error_json(&e)?)?,
        }
    }

    if let Ok(sse) = std::fs::read(dir.join("upstream_stream.sse")) {
        let items = decode_every_way(&sse)?;
        let ctx = context(translated.names.clone());
        let lines = translate_stream(items, ctx, include_usage)?;
        checks.compare("response_stream.jsonl", "", &lines)?;
    }
    checks.done()
}

/// Expected-vs-actual bookkeeping for one scenario.
pub(crate) struct Checks<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) update: bool,
    pub(crate) failures: Vec<String>,
}

impl Checks<'_> {
    /// Compares `actual` with the file `name`; `other` is the alternative outcome's file
    /// (error instead of success, or the reverse), which must not exist.
    pub(crate) fn compare(&mut self, name: &str, other: &str, actual: &str) -> Result<(), Failure> {
        let path = self.dir.join(name);
        let other_path = (!other.is_empty()).then(|| self.dir.join(other));
        if self.update {
            std::fs::write(&path, actual)?;
            if let Some(other) = other_path.filter(|p| p.exists()) {
                std::fs::remove_file(other)?;
            }
            return Ok(());
        }
        if let Some(other) = other_path.filter(|p| p.exists()) {
            self.failures.push(format!(
                "{}: expected the outcome in {other:?}, but translation produced {name}:\n{actual}",
                self.dir.display(),
                other = other.file_name().unwrap_or_default()
            ));
            return Ok(());
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => self.failures.push(format!(
                "{} differs (- expected, + actual); rerun with UPDATE_GOLDEN=1 if the change is deliberate:\n{}",
                path.display(),
                line_diff(&expected, actual)
            )),
            Err(_) => self.failures.push(format!(
                "{} is missing; rerun with UPDATE_GOLDEN=1 to write it. Actual:\n{actual}",
                path.display()
            )),
        }
        Ok(())
    }

    pub(crate) fn done(self) -> Result<(), Failure> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            fail(self.failures.join("\n\n"))
        }
    }
}

/// Pretty JSON with a final newline, in the serializer's field order (byte-stable).
pub(crate) fn pretty<T: Serialize>(value: &T) -> Result<String, Failure> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// A translate error as the golden files record it: the variant and its fields, in that order.
#[derive(Serialize)]
struct ErrorLine<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    variant: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// What the stray (unframed) text of a stream held.
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<Value>,
}

fn error_line(e: &TranslateError) -> ErrorLine<'_> {
    let mut fields = ErrorFields {
        variant: "",
        message: e.to_string(),
        param: None,
        code: None,
        reason: None,
        upstream: None,
    };
    match e {
        TranslateError::InvalidRequest { param, code, .. } => {
            fields.variant = "InvalidRequest";
            fields.param = Some(param.as_deref());
            fields.code = Some(*code);
        }
        TranslateError::UpstreamFormat(_) => fields.variant = "UpstreamFormat",
        TranslateError::UpstreamFinish { reason, .. } => {
            fields.variant = "UpstreamFinish";
            fields.reason = Some(reason);
        }
        TranslateError::StreamIncomplete => fields.variant = "StreamIncomplete",
    }
    ErrorLine { error: fields }
}

pub(crate) fn error_json(e: &TranslateError) -> Result<String, Failure> {
    pretty(&error_line(e))
}

/// Decodes the SSE bytes whole, in two pieces split at every offset, and one byte at a time,
/// and insists that every way yields the same items.
fn decode_every_way(bytes: &[u8]) -> Result<Vec<SseItem>, Failure> {
    let whole = decode(&[bytes])?;
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        if decode(&[a, b])? != whole {
            return fail(format!(
                "upstream_stream.sse decodes differently when split at byte {at}"
            ));
        }
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    if decode(&singles)? != whole {
        return fail("upstream_stream.sse decodes differently when fed one byte at a time");
    }
    if whole.is_empty() {
        return fail("upstream_stream.sse holds no event");
    }
    Ok(whole)
}

fn decode(pieces: &[&[u8]]) -> Result<Vec<SseItem>, Failure> {
    let mut decoder = SseDecoder::new();
    let mut items = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(item) = decoder.next_item()? {
            items.push(item);
        }
    }
    while let Some(item) = decoder.finish()? {
        items.push(item);
    }
    Ok(items)
}

/// Runs the stream state machine over the decoded items the way the server does: every
/// chunk on a line, then `[DONE]`, or one error line where the stream would end in-band.
fn translate_stream(
    items: Vec<SseItem>,
    ctx: ResponseContext,
    include_usage: bool,
) -> Result<String, Failure> {
    let mut translator = StreamTranslator::new(ctx, include_usage);
    let mut ids = SequentialIds::default();
    let mut out = String::new();
    let mut push = |value: &dyn erased::Line| -> Result<(), Failure> {
        out.push_str(&value.line()?);
        out.push('\n');
        Ok(())
    };
    for (n, item) in items.into_iter().enumerate() {
        let data = match item {
            SseItem::Event(event) => event.data,
            SseItem::Stray(text) => {
                // The server reads this as Gemini's bare error object; the crate only
                // surfaces it, so the golden file records what was surfaced.
                let value: Value = serde_json::from_str(text.trim())
                    .map_err(|e| Failure(format!("stray text is not JSON: {e}")))?;
                push(&ErrorLine {
                    error: ErrorFields {
                        variant: "Stray",
                        message: "unframed text in the event stream".to_owned(),
                        param: None,
                        code: None,
                        reason: None,
                        upstream: Some(value),
                    },
                })?;
                return Ok(out);
            }
        };
        let value: Value = serde_json::from_str(&data)
            .map_err(|e| Failure(format!("SSE event {n} is not JSON: {e}")))?;
        oracle_gemini(
            &format!("upstream_stream.sse event {n}"),
            "GenerateContentResponse",
            &without_gateway_extras(value),
        )?;
        let event: GenerateContentResponse = serde_json::from_str(&data)?;
        match translator.on_event(event, &mut ids) {
            Ok(chunks) => {
                for chunk in chunks {
                    let value = serde_json::to_value(&chunk)?;
                    oracle_openai_value(
                        "response_stream.jsonl chunk",
                        "CreateChatCompletionStreamResponse",
                        &value,
                    )?;
                    push(&chunk)?;
                }
            }
            Err(e) => {
                push(&error_line(&e))?;
                return Ok(out);
            }
        }
    }
    match translator.finish() {
        Ok(usage) => {
            if let Some(chunk) = usage {
                let value = serde_json::to_value(&chunk)?;
                oracle_openai_value(
                    "response_stream.jsonl usage chunk",
                    "CreateChatCompletionStreamResponse",
                    &value,
                )?;
                push(&chunk)?;
            }
            out.push_str("[DONE]\n");
        }
        Err(e) => push(&error_line(&e))?,
    }
    Ok(out)
}

/// One compact JSON line from any serializable value.
mod erased {
    use super::Failure;

    pub trait Line {
        fn line(&self) -> Result<String, Failure>;
    }

    impl<T: serde::Serialize> Line for T {
        fn line(&self) -> Result<String, Failure> {
            Ok(serde_json::to_string(self)?)
        }
    }
}

fn without_gateway_extras(mut value: Value) -> Value {
    for path in GATEWAY_EXTRAS {
        if let Some((last, parents)) = path.split_last() {
            let mut node = Some(&mut value);
            for key in parents {
                node = node.and_then(|n| n.get_mut(*key));
            }
            if let Some(Value::Object(map)) = node {
                map.remove(*last);
            }
        }
    }
    value
}

// ---------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------

static GEMINI: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/gemini-v1beta.schema.json"
    )))
    .unwrap_or(Value::Null)
});

static AUDIO_IMAGES: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/openai-audio-images.openapi.json"
    )))
    .unwrap_or(Value::Null)
});

static OPENAI: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/openai-chat.openapi.json"
    )))
    .unwrap_or(Value::Null)
});

type Validators = std::sync::Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>;
static VALIDATORS: LazyLock<Validators> = LazyLock::new(Default::default);

fn validator(key: &str, root: Value) -> Result<std::sync::Arc<jsonschema::Validator>, Failure> {
    if let Some(v) = VALIDATORS
        .lock()
        .map_err(|_| Failure("poisoned".into()))?
        .get(key)
    {
        return Ok(v.clone());
    }
    let compiled = std::sync::Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .map_err(|e| Failure(format!("cannot compile the oracle for {key}: {e}")))?,
    );
    VALIDATORS
        .lock()
        .map_err(|_| Failure("poisoned".into()))?
        .insert(key.to_owned(), compiled.clone());
    Ok(compiled)
}

fn check(what: &str, v: &jsonschema::Validator, value: &Value) -> Result<(), Failure> {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("  {}: {e}", e.instance_path.as_str()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        fail(format!(
            "{what} violates the oracle:\n{}",
            errors.join("\n")
        ))
    }
}

pub(crate) fn oracle_gemini(what: &str, def: &str, value: &impl Serialize) -> Result<(), Failure> {
    let value = as_value(value)?;
    let defs = GEMINI.get("$defs").cloned().unwrap_or(Value::Null);
    if defs.get(def).is_none() {
        return fail(format!("the Gemini oracle has no $defs/{def}"));
    }
    let v = validator(
        &format!("gemini:{def}"),
        json!({"$ref": format!("#/$defs/{def}"), "$defs": defs}),
    )?;
    check(what, &v, &value)
}

fn oracle_openai(what: &str, schema: &str, text: &str) -> Result<(), Failure> {
    oracle_openai_value(what, schema, &serde_json::from_str(text)?)
}

fn oracle_openai_value(what: &str, schema: &str, value: &Value) -> Result<(), Failure> {
    oracle_openapi(&OPENAI, "openai", what, schema, value)
}

/// `value` against `components/schemas/<schema>` of OpenAI's audio and images document.
pub(crate) fn oracle_audio_images(what: &str, schema: &str, value: &Value) -> Result<(), Failure> {
    oracle_openapi(&AUDIO_IMAGES, "audio-images", what, schema, value)
}

fn oracle_openapi(
    doc: &Value,
    doc_name: &str,
    what: &str,
    schema: &str,
    value: &Value,
) -> Result<(), Failure> {
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or(Value::Null);
    if schemas.get(schema).is_none() {
        return fail(format!(
            "the OpenAI oracle ({doc_name}) has no components/schemas/{schema}"
        ));
    }
    let v = validator(
        &format!("{doc_name}:{schema}"),
        json!({"$ref": format!("#/components/schemas/{schema}"), "components": {"schemas": schemas}}),
    )?;
    check(what, &v, value)
}

/// Bodies given as text are parsed; anything else is serialized.
fn as_value(value: &impl Serialize) -> Result<Value, Failure> {
    let v = serde_json::to_value(value)?;
    Ok(match v {
        Value::String(text) => serde_json::from_str(&text)?,
        other => other,
    })
}

// ---------------------------------------------------------------------------------------------
// Diff
// ---------------------------------------------------------------------------------------------

/// A line diff (longest common subsequence), unchanged lines shown around each change.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        let lo = k.saturating_sub(2);
        let hi = (k + 3).min(ops.len());
        ops[lo..hi].iter().any(|(op, _)| *op != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            out.push_str(&format!("{op} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  ...\n");
            skipped = true;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Meta checks
// ---------------------------------------------------------------------------------------------

#[test]
fn every_fixture_folder_is_a_scenario() -> Result<(), Failure> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(fixtures())? {
        let entry = entry?;
        let name = entry.file_name();
        // The audio and images endpoints' folders hold cases of their own (media_golden.rs).
        if crate::media_golden::DIALECTS.contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            folders.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    folders.sort();
    let mut listed: Vec<String> = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    if folders != listed {
        return fail(format!(
            "fixture folders and golden! scenarios differ:\n  folders: {folders:?}\n  listed:  {listed:?}"
        ));
    }
    for (name, _) in EXPECTED_FAILURES {
        if !SCENARIOS.contains(name) {
            return fail(format!("EXPECTED_FAILURES names unknown scenario `{name}`"));
        }
    }
    Ok(())
}

#[test]
fn sse_fixtures_use_gemini_framing() -> Result<(), Failure> {
    for name in SCENARIOS {
        let Ok(bytes) = std::fs::read(fixtures().join(name).join("upstream_stream.sse")) else {
            continue;
        };
        let text = String::from_utf8(bytes)?;
        for block in text.split_terminator("\r\n\r\n") {
            let framed = block.starts_with("data: ") && !block.contains('\n');
            // A bare error object after the last event is the one unframed thing Gemini writes.
            let bare_error = block.trim_start().starts_with('{');
            if !framed && !bare_error {
                return fail(format!(
                    "{name}/upstream_stream.sse: block is not `data: <json>\\r\\n\\r\\n`: {block:?}"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn diff_shows_changed_lines() {
    let d = line_diff("a\nb\nc\n", "a\nB\nc\n");
    assert_eq!(d, "  a\n- b\n+ B\n  c\n");
}
