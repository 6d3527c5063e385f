//! The checks behind the cargo-fuzz targets (`fuzz_targets/*.rs`, one line each), kept in one
//! library so the SSE-reading and request-parsing helpers are written once. See
//! `docs/fuzzing.md` for how to run them.
//!
//! Every check takes the raw input bytes. Besides "no panic, no stack overflow, no timeout,
//! no runaway memory" (libFuzzer's `-timeout` and `-rss_limit_mb` turn those into findings),
//! each asserts the rules its code documents, so a wrong answer is a finding too.

use std::collections::HashSet;

use pollux_translate::build::names::ToolNames;
use pollux_translate::build::schema::{to_json_schema, to_legacy_schema};
use pollux_translate::gemini::{model_id, GenerateContentResponse, MAX_STOP_SEQUENCES};
use pollux_translate::openai::chat::{
    ChatCompletionChunk, ChatCompletionRequest, Role, UsageField,
};
use pollux_translate::sse::{SseDecoder, SseError, SseItem};
use pollux_translate::{
    to_gemini, to_openai, RequestOptions, ResponseContext, SequentialIds, StreamTranslator,
};
use serde_json::Value;

/// The model used when a request names none (the server's default applies there).
const DEFAULT_MODEL: &str = "gemini-2.5-flash";

// ---------------------------------------------------------------------------------------------
// OpenAI request parsing and translation
// ---------------------------------------------------------------------------------------------

/// `ChatCompletionRequest::from_slice`, checked against the two parses it is built from: the
/// fast `serde_json::from_slice` and the path-tracking reparse (what the slow path runs) must
/// accept the same bodies and read them the same way.
pub fn chat_request(data: &[u8]) {
    let parsed = ChatCompletionRequest::from_slice(data);
    let fast = serde_json::from_slice::<ChatCompletionRequest>(data);
    let de = &mut serde_json::Deserializer::from_slice(data);
    let tracked = serde_path_to_error::deserialize::<_, ChatCompletionRequest>(&mut *de)
        .map_err(|e| e.to_string())
        .and_then(|req| de.end().map(|()| req).map_err(|e| e.to_string()));
    match (&fast, &tracked) {
        (Ok(a), Ok(b)) => assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "the fast and the path-tracking parse read the body differently"
        ),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "the fast parse says {:?} but the path-tracking parse says {:?}",
            a.as_ref().map(|_| "ok").map_err(ToString::to_string),
            b.as_ref().map(|_| "ok")
        ),
    }
    match parsed {
        Ok(_) => assert!(
            fast.is_ok(),
            "from_slice accepted a body both parses refuse"
        ),
        Err(e) => {
            assert!(
                fast.is_err(),
                "from_slice refused a body the fast parse accepts"
            );
            // The 400's message is built from the error; it must render.
            let _ = e.to_string();
        }
    }
}

/// Parse, then `to_gemini` twice: with every default (as `routes/chat.rs` calls it without
/// configuration) and with legacy schemas and strict parameters (the two server flags that
/// change the mapping). A translated body must encode and keep Gemini's limits.
pub fn chat_translate(data: &[u8]) {
    for (legacy_schemas, strict_params) in [(false, false), (true, true)] {
        let Ok(req) = ChatCompletionRequest::from_slice(data) else {
            return;
        };
        let model = model_id(req.model.as_deref().unwrap_or(DEFAULT_MODEL)).to_owned();
        let opts = RequestOptions {
            legacy_schemas,
            strict_params,
            ..RequestOptions::new(&model)
        };
        match to_gemini(req, &opts) {
            Ok(translated) => {
                let body = serde_json::to_vec(&translated.body);
                assert!(body.is_ok(), "the Gemini body does not encode: {body:?}");
                let stops = &translated.body.generation_config.stop_sequences;
                assert!(
                    stops.len() <= MAX_STOP_SEQUENCES,
                    "{} stopSequences sent; Gemini takes at most {MAX_STOP_SEQUENCES}",
                    stops.len()
                );
                assert!(translated.n >= 1, "a translation that asks for no choices");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SSE decoding
// ---------------------------------------------------------------------------------------------

/// What a decoder yielded for a whole input: its items and the error that ended it, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub items: Vec<SseItem>,
    pub error: Option<SseError>,
}

/// Feeds `chunks` in order, draining items after each push, then drains `finish()`.
pub fn decode<'a>(mut decoder: SseDecoder, chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(error) => return ended(decoder, items, error),
            }
        }
    }
    loop {
        match decoder.finish() {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Decoded { items, error: None },
            Err(error) => return ended(decoder, items, error),
        }
    }
}

/// After an error every later call must return the same error (errors are terminal).
fn ended(mut decoder: SseDecoder, items: Vec<SseItem>, error: SseError) -> Decoded {
    decoder.push(b"data: more\n\n");
    assert_eq!(
        decoder.next_item(),
        Err(error.clone()),
        "next_item after an error"
    );
    assert_eq!(
        decoder.finish(),
        Err(error.clone()),
        "finish after an error"
    );
    Decoded {
        items,
        error: Some(error),
    }
}

/// Chunk sizes from a small PRNG seeded by the input, so every input is also read in an
/// irregular split that the fuzzer explores along with the bytes.
fn irregular_chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Mostly short reads, sometimes an empty one, now and then a long one.
        let size = match state % 8 {
            0 => 0,
            1 => 1 + (state >> 8) as usize % 256,
            _ => 1 + (state >> 8) as usize % 7,
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// The decoder's rules: the same items and error however the bytes are split (whole, one
/// byte at a time, irregular reads); no line end inside an event name, id or data line; an
/// error offset inside the input. With a size limit: a prefix of the unlimited items, no
/// event larger than the limit, and either the same result or `EventTooLarge`.
pub fn sse_decoder(data: &[u8]) {
    let whole = decode(SseDecoder::new(), [data]);
    let bytes = decode(SseDecoder::new(), data.chunks(1));
    assert_eq!(whole, bytes, "whole input vs one byte at a time");
    let irregular = decode(SseDecoder::new(), irregular_chunks(data));
    assert_eq!(whole, irregular, "whole input vs irregular reads");

    for item in &whole.items {
        match item {
            SseItem::Event(event) => {
                assert!(!event.data.contains('\r'), "CR inside event data");
                if let Some(name) = &event.event {
                    assert!(!name.is_empty(), "an empty event name is reported as None");
                    assert!(
                        !name.contains(['\r', '\n']),
                        "line end inside an event name"
                    );
                }
                if let Some(id) = &event.id {
                    assert!(!id.is_empty(), "an empty id is reported as None");
                    assert!(
                        !id.contains(['\r', '\n', '\0']),
                        "line end or NUL inside an id"
                    );
                }
            }
            SseItem::Stray(text) => {
                assert!(!text.is_empty(), "an empty stray item");
                assert!(!text.contains('\r'), "CR inside stray text");
            }
        }
    }
    if let Some(SseError::InvalidUtf8 { offset }) = &whole.error {
        assert!(
            *offset < data.len() as u64,
            "invalid UTF-8 reported at {offset}, past the input's {} bytes",
            data.len()
        );
        assert!(
            std::str::from_utf8(data).is_err(),
            "invalid UTF-8 reported in valid UTF-8"
        );
    }

    let limit = 8 + data.first().map_or(0, |&b| usize::from(b));
    for limited in [
        decode(SseDecoder::new_with_limit(limit), [data]),
        decode(SseDecoder::new_with_limit(limit), data.chunks(1)),
    ] {
        assert!(
            whole.items.starts_with(&limited.items),
            "a size limit changed the items before it failed"
        );
        for item in &limited.items {
            // The limit counts the block's lines without their line ends, so the `\n`s that
            // join an item's lines are not counted.
            let text = match item {
                SseItem::Event(event) => &event.data,
                SseItem::Stray(text) => text,
            };
            let size = text.bytes().filter(|&b| b != b'\n').count();
            assert!(
                size <= limit,
                "an item of {size} bytes passed a limit of {limit}"
            );
        }
        match &limited.error {
            None => assert_eq!(limited, whole, "no limit hit, yet a different result"),
            Some(SseError::EventTooLarge { limit: l }) => assert_eq!(*l, limit),
            Some(other) => assert_eq!(Some(other), whole.error.as_ref()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stream translation
// ---------------------------------------------------------------------------------------------

/// One way to set up a stream translator, as a request would have.
struct Setup {
    n: u32,
    include_usage: bool,
    legacy_functions: bool,
    extra_stops: &'static [&'static str],
}

const SETUPS: &[Setup] = &[
    Setup {
        n: 1,
        include_usage: false,
        legacy_functions: false,
        extra_stops: &[],
    },
    Setup {
        n: 2,
        include_usage: true,
        legacy_functions: false,
        // Multi-byte and line-end stops test the held-back tail at character boundaries.
        extra_stops: &["END", "\n\n", "é!", "🙂"],
    },
    Setup {
        n: 1,
        include_usage: true,
        legacy_functions: true,
        extra_stops: &["STOP"],
    },
];

/// Per-choice progress seen from the outside.
#[derive(Default, Clone)]
struct Seen {
    chunks: usize,
    finished: bool,
    tool_calls: u32,
    function_calls: u32,
    content: String,
}

/// The input is read as Gemini's `streamGenerateContent?alt=sse` bytes and driven through
/// [`StreamTranslator`] the way `routes/chat.rs` does (a bad event, a stray error object or a
/// translator error ends the stream), once per [`SETUPS`] entry. Each event also goes through
/// the non-streamed [`to_openai`]. Checked: the streaming rules of `docs/streaming.md`.
pub fn stream_translate(data: &[u8]) {
    let decoded = decode(SseDecoder::new(), [data]);
    for setup in SETUPS {
        run_stream(&decoded.items, setup);
    }
}

fn context(setup: &Setup) -> ResponseContext {
    let mut names = ToolNames::default();
    for name in ["get_weather", "lookup data.v2", "a-b"] {
        names.register(name);
    }
    if setup.legacy_functions {
        names.set_legacy_functions();
    }
    ResponseContext {
        id: "chatcmpl-fuzz".to_owned(),
        created: 1_700_000_000,
        model: DEFAULT_MODEL.to_owned(),
        names,
        n: setup.n,
        extra_stops: setup.extra_stops.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn run_stream(items: &[SseItem], setup: &Setup) {
    let mut translator = StreamTranslator::new(context(setup), setup.include_usage);
    let mut ids = SequentialIds::default();
    let mut seen = vec![Seen::default(); setup.n as usize];
    for item in items {
        let SseItem::Event(event) = item else {
            break;
        };
        let Ok(parsed) = serde_json::from_str::<GenerateContentResponse>(&event.data) else {
            break;
        };
        if let Ok(again) = serde_json::from_str::<GenerateContentResponse>(&event.data) {
            if let Ok(completion) = to_openai(again, &context(setup), &mut ids) {
                assert!(
                    serde_json::to_vec(&completion).is_ok(),
                    "completion encodes"
                );
            }
        }
        match translator.on_event(parsed, &mut ids) {
            Ok(chunks) => {
                for chunk in &chunks {
                    check_chunk(chunk, setup, &mut seen);
                }
            }
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
        assert_eq!(
            translator.is_done(),
            seen.iter().all(|s| s.finished),
            "is_done() disagrees with the finish reasons sent"
        );
    }
    let all_finished = seen.iter().all(|s| s.finished);
    match translator.finish() {
        Ok(usage) => {
            assert!(
                all_finished,
                "the stream ended cleanly with a choice unfinished"
            );
            assert_eq!(
                usage.is_some(),
                setup.include_usage,
                "usage chunk iff asked for"
            );
            if let Some(chunk) = usage {
                assert!(chunk.choices.is_empty(), "the usage chunk has no choices");
                assert!(matches!(chunk.usage, UsageField::Some(_)));
            }
        }
        Err(_) => assert!(
            !all_finished,
            "finish() failed though every choice finished"
        ),
    }
}

fn check_chunk(chunk: &ChatCompletionChunk, setup: &Setup, seen: &mut [Seen]) {
    assert!(serde_json::to_vec(chunk).is_ok(), "chunk encodes");
    let usage_ok = if setup.include_usage {
        matches!(chunk.usage, UsageField::Null)
    } else {
        matches!(chunk.usage, UsageField::Absent)
    };
    assert!(
        usage_ok,
        "usage is null on every chunk but the last, or absent"
    );
    for choice in &chunk.choices {
        let Some(state) = seen.get_mut(choice.index as usize) else {
            panic!("choice index {} of {} choices", choice.index, setup.n);
        };
        assert!(
            !state.finished,
            "choice {} got a chunk after its finish_reason",
            choice.index
        );
        let first = state.chunks == 0;
        state.chunks += 1;
        assert_eq!(
            choice.delta.role.is_some(),
            first,
            "choice {}: the role is in the first chunk and only there",
            choice.index
        );
        if let Some(role) = &choice.delta.role {
            assert!(matches!(role, Role::Assistant));
        }
        for call in &choice.delta.tool_calls {
            assert_eq!(
                call.index, state.tool_calls,
                "tool-call indices count 0, 1, 2, ... across the stream"
            );
            state.tool_calls += 1;
        }
        if choice.delta.function_call.is_some() {
            state.function_calls += 1;
            assert!(
                state.function_calls <= 1,
                "one legacy function_call per answer"
            );
        }
        if let Some(text) = &choice.delta.content {
            state.content.push_str(text);
            for stop in setup.extra_stops {
                assert!(
                    !state.content.contains(stop),
                    "the answer contains the stop sequence {stop:?}"
                );
            }
        }
        if choice.finish_reason.is_some() {
            state.finished = true;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schema conversion
// ---------------------------------------------------------------------------------------------

/// `to_json_schema` on any JSON value: it must end (in time and memory) with a value that
/// encodes, leave a non-object unchanged and drop the root's `strict`.
pub fn schema_json(data: &[u8]) {
    let Ok(schema) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let object = schema.is_object();
    // A schema past the converter's limits is refused: a fine ending too.
    let Ok(out) = to_json_schema(schema.clone()) else {
        return;
    };
    assert!(serde_json::to_vec(&out).is_ok(), "the schema encodes");
    if object {
        assert!(
            out.get("strict").is_none(),
            "OpenAI's `strict` left at the root"
        );
    } else {
        assert_eq!(out, schema, "a non-object schema is returned unchanged");
    }
}

/// The keys Google's OpenAPI-subset `Schema` takes, as `to_legacy_schema` documents them.
const LEGACY_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "default",
    "example",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "properties",
    "required",
    "propertyOrdering",
    "anyOf",
    "items",
];

const LEGACY_TYPES: &[&str] = &[
    "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
];

/// `to_legacy_schema` on any JSON value: an answer (or a `SchemaError`) in bounded time and
/// memory, and an answer that holds only what Gemini's `Schema` accepts.
pub fn schema_legacy(data: &[u8]) {
    let Ok(schema) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match to_legacy_schema(&schema) {
        Ok(out) => check_legacy(&out, "#"),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn check_legacy(node: &Value, at: &str) {
    let Value::Object(map) = node else {
        panic!("{at}: a legacy schema node must be an object, got {node}");
    };
    for key in map.keys() {
        assert!(
            LEGACY_KEYS.contains(&key.as_str()),
            "{at}: `{key}` is not a key of Gemini's Schema"
        );
    }
    if let Some(kind) = map.get("type") {
        assert!(
            kind.as_str().is_some_and(|t| LEGACY_TYPES.contains(&t)),
            "{at}: type {kind} is not a Gemini Type"
        );
    }
    if let Some(values) = map.get("enum") {
        let strings = values
            .as_array()
            .is_some_and(|v| v.iter().all(Value::is_string));
        assert!(
            strings,
            "{at}: Gemini's enum holds strings only, got {values}"
        );
    }
    let names: HashSet<&str> = match map.get("properties") {
        Some(Value::Object(props)) => {
            for (name, prop) in props {
                check_legacy(prop, &format!("{at}/properties/{name}"));
            }
            props.keys().map(String::as_str).collect()
        }
        Some(other) => panic!("{at}: properties must be an object, got {other}"),
        None => HashSet::new(),
    };
    for list in ["required", "propertyOrdering"] {
        if let Some(required) = map.get(list) {
            let known = required.as_array().is_some_and(|r| {
                r.iter()
                    .all(|n| n.as_str().is_some_and(|n| names.contains(n)))
            });
            assert!(known, "{at}: {list} names a property that is not there");
        }
    }
    if let Some(items) = map.get("items") {
        check_legacy(items, &format!("{at}/items"));
    }
    if let Some(members) = map.get("anyOf") {
        let Value::Array(members) = members else {
            panic!("{at}: anyOf must be an array");
        };
        for (i, member) in members.iter().enumerate() {
            check_legacy(member, &format!("{at}/anyOf/{i}"));
        }
    }
}
