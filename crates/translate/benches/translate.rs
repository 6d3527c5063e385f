//! Micro-benchmarks of the translation hot path, as the server runs it (see
//! `docs/benchmarks.md`):
//!
//! - `request/*`: an OpenAI chat body in bytes → `ChatCompletionRequest` → Gemini request →
//!   JSON bytes, for a 1.5 KB chat, a 200 KB tool-using history and a 10 MB inline image, each
//!   stage alone (`parse`, `translate`, `serialize`) and the whole (`total`);
//! - `request/responses_*`: the same stages for the Responses dialect (`CreateResponse` →
//!   `responses::to_gemini`), with bodies equivalent to the 1.5 KB chat and the 200 KB history
//!   (they translate to the same Gemini request, which the setup asserts);
//! - `stream_event`: one Gemini SSE event's JSON → `StreamTranslator` → one framed OpenAI chunk;
//!   `responses_stream_event`: the same through the Responses state machine, framed as a named
//!   event;
//! - `whole_stream/*`: a whole three-event answer streamed, every event translated and framed
//!   from the first to the last (chat: its chunks; Responses: `response.created` to
//!   `response.completed`), the fixed cost a Responses stream pays for carrying the response
//!   object three times and the text again in its `done` events;
//! - `answer/*`: a complete Gemini answer → the chat completion or the response object → JSON;
//! - `sse_decoder`: the SSE decoder over a 1 MB Gemini stream read in 4 KiB reads.
//!
//! Inputs are built here, deterministically; the 1.5 KB chat is `benches/data/chat_1_5kb.json`
//! and its Responses twin `benches/data/responses_1_5kb.json`, which the end-to-end load
//! benchmark (`crates/bench`) sends too. Run with `cargo bench -p pollux-translate`.

// Benchmarks are test code: a malformed fixture should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pollux_translate::build::names::ToolNames;
use pollux_translate::gemini::GenerateContentResponse;
use pollux_translate::openai::chat::ChatCompletionRequest;
use pollux_translate::openai::responses::CreateResponse;
use pollux_translate::responses;
use pollux_translate::sse::{SseDecoder, SseItem};
use pollux_translate::{
    to_gemini, to_openai, RequestOptions, ResponseContext, SequentialIds, StreamTranslator,
};
use serde_json::{json, Value};

const CHAT_1_5KB: &str = include_str!("data/chat_1_5kb.json");
const RESPONSES_1_5KB: &str = include_str!("data/responses_1_5kb.json");

/// A long agent conversation: a system prompt, 8 tools with JSON Schemas, and rounds of
/// user → assistant tool call → tool result → assistant text until the body reaches `target`
/// bytes.
fn history_with_tools(target: usize) -> Vec<u8> {
    serde_json::to_vec(&history_with_tools_value(target)).unwrap()
}

fn history_with_tools_value(target: usize) -> Value {
    let tools: Vec<Value> = (0..8)
        .map(|i| {
            json!({"type": "function", "function": {
                "name": format!("tool_{i}_lookup"),
                "description": "Looks up records in the inventory system and returns matching rows with their ids, names, quantities and warehouse locations.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "Free-text search."},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                        "warehouse": {"type": "string", "enum": ["north", "south", "east", "west"]},
                        "filters": {"type": "array", "items": {"type": "object", "properties": {
                            "field": {"type": "string"}, "value": {"type": "string"}
                        }, "required": ["field", "value"]}}
                    },
                    "required": ["query"]
                }
            }})
        })
        .collect();
    let mut messages = vec![json!({"role": "system", "content":
        "You are an inventory assistant. Use the tools to answer; never guess stock levels."})];
    let mut round = 0;
    loop {
        let id = format!("call_{round:06}");
        messages.push(json!({"role": "user", "content": format!(
            "Round {round}: how many blue widgets of size {} are left in the north warehouse, and where exactly are they stored?", round % 7)}));
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": id, "type": "function", "function": {
                "name": format!("tool_{}_lookup", round % 8),
                "arguments": format!("{{\"query\":\"blue widget size {}\",\"limit\":20,\"warehouse\":\"north\"}}", round % 7)
            }}]}));
        let rows: Vec<Value> = (0..6)
            .map(|r| json!({"id": 1000 + r, "name": "blue widget", "qty": r * 3, "bin": format!("N-{r:02}-{round}")}))
            .collect();
        messages.push(json!({"role": "tool", "tool_call_id": id,
            "content": serde_json::to_string(&json!({"rows": rows})).unwrap()}));
        messages.push(json!({"role": "assistant", "content": format!(
            "There are {} blue widgets of that size in the north warehouse, in bins N-00 to N-05 (round {round}).", round * 3)}));
        round += 1;
        let body = json!({"model": "gemini-2.5-flash", "messages": messages, "tools": tools,
            "tool_choice": "auto", "temperature": 0.2});
        if serde_json::to_vec(&body).unwrap().len() >= target {
            return body;
        }
    }
}

/// The Responses body a client would send for the same conversation as a chat body (the
/// shapes the chat inputs here use): the system message becomes `instructions`, messages
/// become message items, a tool call a `function_call` item, a tool result a
/// `function_call_output` item, and tools lose their `function` wrapper.
fn responses_from_chat(chat: &Value) -> Value {
    let mut input = Vec::new();
    let mut instructions = None;
    for m in chat["messages"].as_array().unwrap() {
        match m["role"].as_str().unwrap() {
            "system" => instructions = Some(m["content"].clone()),
            "tool" => input.push(json!({"type": "function_call_output",
                "call_id": m["tool_call_id"], "output": m["content"]})),
            role => {
                if !m["content"].is_null() {
                    input.push(json!({"role": role, "content": m["content"]}));
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    input.push(json!({"type": "function_call", "call_id": call["id"],
                        "name": call["function"]["name"],
                        "arguments": call["function"]["arguments"]}));
                }
            }
        }
    }
    let mut body = serde_json::Map::new();
    body.insert("model".into(), chat["model"].clone());
    if let Some(instructions) = instructions {
        body.insert("instructions".into(), instructions);
    }
    body.insert("input".into(), Value::Array(input));
    if let Some(tools) = chat["tools"].as_array() {
        let flat = tools
            .iter()
            .map(|t| {
                let mut f = t["function"].as_object().unwrap().clone();
                f.insert("type".into(), json!("function"));
                Value::Object(f)
            })
            .collect();
        body.insert("tools".into(), Value::Array(flat));
    }
    for (from, to) in [
        ("tool_choice", "tool_choice"),
        ("temperature", "temperature"),
        ("max_tokens", "max_output_tokens"),
        ("top_p", "top_p"),
    ] {
        if let Some(v) = chat.get(from) {
            body.insert(to.into(), v.clone());
        }
    }
    Value::Object(body)
}

/// Panics unless the chat body and the Responses body translate to the same Gemini request:
/// the two dialects' figures are only comparable if they are.
fn assert_same_gemini(chat: &[u8], resp: &[u8]) {
    let chat = to_gemini(ChatCompletionRequest::from_slice(chat).unwrap(), &options()).unwrap();
    let resp = responses::to_gemini(
        CreateResponse::from_slice(resp).unwrap(),
        "gemini-2.5-flash",
        &options(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&chat.body).unwrap(),
        serde_json::to_string(&resp.body).unwrap(),
        "the Responses body must translate to the chat body's Gemini request"
    );
}

/// A chat with one `image_url` data URL whose base64 payload is `payload` bytes long.
fn image_request(payload: usize) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data: String = (0..payload)
        .map(|i| B64[(i * 7 + i / 64) % 64] as char)
        .collect();
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{data}")}}
    ]}]});
    serde_json::to_vec(&body).unwrap()
}

/// One streamed Gemini event as Gemini writes it: a text delta with cumulative usage.
fn gemini_event(i: usize, finish: bool) -> String {
    let mut candidate = json!({"content": {"role": "model", "parts": [{"text": format!(
        "Sintra is a 40-minute train ride from Rossio and rewards a full day: palaces, gardens \
         and forest walks ({i}). ")}]}, "index": 0});
    if finish {
        candidate["finishReason"] = json!("STOP");
    }
    serde_json::to_string(&json!({
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 312, "candidatesTokenCount": 24 * (i + 1),
            "totalTokenCount": 312 + 24 * (i + 1)},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mAbCdEfGhIjKlMnOpQrStUv"
    }))
    .unwrap()
}

/// A Gemini `streamGenerateContent?alt=sse` body of at least `target` bytes, framed as
/// Gemini frames it (`data: <json>\r\n\r\n`), the last event finishing.
fn gemini_stream(target: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(target + 1024);
    let mut events = 0;
    while out.len() < target {
        let event = gemini_event(events, false);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(event.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        events += 1;
    }
    out.extend_from_slice(format!("data: {}\r\n\r\n", gemini_event(events, true)).as_bytes());
    (out, events + 1)
}

fn context() -> ResponseContext {
    ResponseContext {
        id: "chatcmpl-0123456789abcdef0123456789abcdef".to_owned(),
        created: 1_700_000_000,
        model: "gemini-2.5-flash".to_owned(),
        names: ToolNames::default(),
        n: 1,
        extra_stops: Vec::new(),
    }
}

fn options() -> RequestOptions<'static> {
    RequestOptions::new("gemini-2.5-flash")
}

fn bench_requests(c: &mut Criterion) {
    let cases = [
        ("chat_1_5kb", CHAT_1_5KB.as_bytes().to_vec()),
        ("history_200kb_tools", history_with_tools(200 * 1024)),
        ("image_10mb", image_request(10 * 1024 * 1024)),
    ];
    for (name, body) in &cases {
        let mut group = c.benchmark_group(format!("request/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        if body.len() > 1024 * 1024 {
            group.sample_size(20);
        }
        group.bench_function("parse", |b| {
            b.iter(|| ChatCompletionRequest::from_slice(black_box(body)).unwrap())
        });
        let parsed = ChatCompletionRequest::from_slice(body).unwrap();
        // Translation consumes the request (media moves instead of being copied): each
        // iteration gets a fresh clone, made outside the timed part.
        group.bench_function("translate", |b| {
            b.iter_batched(
                || parsed.clone(),
                |p| to_gemini(black_box(p), &options()).unwrap(),
                BatchSize::LargeInput,
            )
        });
        let translated = to_gemini(parsed, &options()).unwrap();
        group.bench_function("serialize", |b| {
            b.iter(|| serde_json::to_vec(black_box(&translated.body)).unwrap())
        });
        group.bench_function("total", |b| {
            b.iter(|| {
                let parsed = ChatCompletionRequest::from_slice(black_box(body)).unwrap();
                let translated = to_gemini(parsed, &options()).unwrap();
                serde_json::to_vec(&translated.body).unwrap()
            })
        });
        group.finish();
    }
}

fn bench_responses_requests(c: &mut Criterion) {
    let chat_history = history_with_tools_value(200 * 1024);
    let history = serde_json::to_vec(&responses_from_chat(&chat_history)).unwrap();
    let from_chat: Value = responses_from_chat(&serde_json::from_str::<Value>(CHAT_1_5KB).unwrap());
    assert_eq!(
        from_chat,
        serde_json::from_str::<Value>(RESPONSES_1_5KB).unwrap(),
        "data/responses_1_5kb.json is data/chat_1_5kb.json in the Responses dialect"
    );
    assert_same_gemini(CHAT_1_5KB.as_bytes(), RESPONSES_1_5KB.as_bytes());
    assert_same_gemini(&serde_json::to_vec(&chat_history).unwrap(), &history);
    let cases = [
        ("responses_1_5kb", RESPONSES_1_5KB.as_bytes().to_vec()),
        ("responses_history_200kb_tools", history),
    ];
    for (name, body) in &cases {
        let mut group = c.benchmark_group(format!("request/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("parse", |b| {
            b.iter(|| CreateResponse::from_slice(black_box(body)).unwrap())
        });
        let parsed = CreateResponse::from_slice(body).unwrap();
        group.bench_function("translate", |b| {
            b.iter_batched(
                || parsed.clone(),
                |p| responses::to_gemini(black_box(p), "gemini-2.5-flash", &options()).unwrap(),
                BatchSize::LargeInput,
            )
        });
        let translated = responses::to_gemini(parsed, "gemini-2.5-flash", &options()).unwrap();
        group.bench_function("serialize", |b| {
            b.iter(|| serde_json::to_vec(black_box(&translated.body)).unwrap())
        });
        group.bench_function("total", |b| {
            b.iter(|| {
                let parsed = CreateResponse::from_slice(black_box(body)).unwrap();
                let translated =
                    responses::to_gemini(parsed, "gemini-2.5-flash", &options()).unwrap();
                serde_json::to_vec(&translated.body).unwrap()
            })
        });
        group.finish();
    }
}

/// The response side's context for the 1.5 KB Responses request, as the server builds it.
fn responses_context() -> responses::ResponseContext {
    let translated = responses::to_gemini(
        CreateResponse::from_slice(RESPONSES_1_5KB.as_bytes()).unwrap(),
        "gemini-2.5-flash",
        &options(),
    )
    .unwrap();
    responses::ResponseContext {
        id: "resp_0123456789abcdef0123456789abcdef".to_owned(),
        created_at: 1_700_000_000,
        completed_at: 1_700_000_001,
        names: translated.names,
        shapes: translated.shapes,
        echo: translated.echo,
        output: translated.output,
    }
}

fn bench_responses_stream_event(c: &mut Criterion) {
    let event = gemini_event(3, false);
    let mut group = c.benchmark_group("responses_stream_event");
    group.throughput(Throughput::Elements(1));
    // Steady state: the message item is open (created, in_progress and its first delta
    // are behind), so each event is one `response.output_text.delta`.
    let mut machine = responses::StreamTranslator::new(responses_context());
    let mut ids = SequentialIds::default();
    machine.start();
    machine.on_event(
        serde_json::from_str(&gemini_event(0, false)).unwrap(),
        &mut ids,
    );
    let probe = machine.on_event(serde_json::from_str(&event).unwrap(), &mut ids);
    let kinds: Vec<&str> = probe.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        ["response.output_text.delta"],
        "one delta per event mid-stream"
    );
    group.bench_function("total", |b| {
        b.iter(|| {
            let parsed: GenerateContentResponse = serde_json::from_str(black_box(&event)).unwrap();
            let events = machine.on_event(parsed, &mut ids);
            events
                .iter()
                .map(|e| e.to_sse().unwrap().len())
                .sum::<usize>()
        })
    });
    group.finish();
}

/// A complete Gemini answer to the 1.5 KB chat, as mock-gemini writes it (an echo of the last
/// user message).
fn gemini_answer() -> String {
    serde_json::to_string(&json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "mock-gemini says: Mid-range. Also, which day trip is easiest by train, Sintra or Cascais? Give me a short comparison so I can decide tonight. I will be travelling with my sister, who loves beaches but also old palaces and gardens."}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 312, "candidatesTokenCount": 48, "totalTokenCount": 360},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mAbCdEfGhIjKlMnOpQrStUv"
    }))
    .unwrap()
}

fn bench_answers(c: &mut Criterion) {
    let answer = gemini_answer();
    let mut group = c.benchmark_group("answer");
    group.throughput(Throughput::Bytes(answer.len() as u64));
    let chat = context();
    group.bench_function("chat/total", |b| {
        b.iter(|| {
            let parsed: GenerateContentResponse = serde_json::from_str(black_box(&answer)).unwrap();
            let completion = to_openai(parsed, &chat, &mut SequentialIds::default()).unwrap();
            serde_json::to_vec(&completion).unwrap()
        })
    });
    // The context is moved into the response: a fresh clone per iteration, outside the
    // timed part, as the server builds one per request.
    let resp = responses_context();
    group.bench_function("responses/total", |b| {
        b.iter_batched(
            || resp.clone(),
            |ctx| {
                let parsed: GenerateContentResponse =
                    serde_json::from_str(black_box(&answer)).unwrap();
                let (response, _signatures) =
                    responses::to_response(parsed, ctx, &mut SequentialIds::default());
                response.to_json().unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Frames a chunk the way the server's `sse::event` does.
fn frame<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut out, value).unwrap();
    out.extend_from_slice(b"\n\n");
    out
}

fn bench_stream_event(c: &mut Criterion) {
    let event = gemini_event(3, false);
    let mut group = c.benchmark_group("stream_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| serde_json::from_str::<GenerateContentResponse>(black_box(&event)).unwrap())
    });
    // Steady state: one translator past its first chunk, as mid-stream.
    let mut translator = StreamTranslator::new(context(), true);
    let mut ids = SequentialIds::default();
    translator
        .on_event(
            serde_json::from_str(&gemini_event(0, false)).unwrap(),
            &mut ids,
        )
        .unwrap();
    group.bench_function("total", |b| {
        b.iter(|| {
            let parsed: GenerateContentResponse = serde_json::from_str(black_box(&event)).unwrap();
            let chunks = translator.on_event(parsed, &mut ids).unwrap();
            chunks.iter().map(|c| frame(c).len()).sum::<usize>()
        })
    });
    group.finish();
}

/// A whole streamed answer in three Gemini events, as mock-gemini streams its echo.
fn bench_whole_streams(c: &mut Criterion) {
    let events: Vec<String> = (0..3).map(|i| gemini_event(i, i == 2)).collect();
    let mut group = c.benchmark_group("whole_stream");
    group.throughput(Throughput::Elements(1));
    group.bench_function("chat", |b| {
        b.iter(|| {
            let mut translator = StreamTranslator::new(context(), true);
            let mut ids = SequentialIds::default();
            let mut bytes = 0;
            for event in black_box(&events) {
                let parsed: GenerateContentResponse = serde_json::from_str(event).unwrap();
                let chunks = translator.on_event(parsed, &mut ids).unwrap();
                bytes += chunks.iter().map(|c| frame(c).len()).sum::<usize>();
            }
            if let Some(last) = translator.finish().unwrap() {
                bytes += frame(&last).len();
            }
            bytes
        })
    });
    let resp = responses_context();
    group.bench_function("responses", |b| {
        b.iter_batched(
            || resp.clone(),
            |ctx| {
                let mut machine = responses::StreamTranslator::new(ctx);
                let mut ids = SequentialIds::default();
                let mut out = Vec::new();
                for e in machine.start() {
                    e.write_sse(&mut out).unwrap();
                }
                for event in black_box(&events) {
                    let parsed: GenerateContentResponse = serde_json::from_str(event).unwrap();
                    for e in machine.on_event(parsed, &mut ids) {
                        e.write_sse(&mut out).unwrap();
                    }
                }
                for e in machine.finish(&mut ids) {
                    e.write_sse(&mut out).unwrap();
                }
                out.len()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_sse_decoder(c: &mut Criterion) {
    let (stream, events) = gemini_stream(1024 * 1024);
    let mut group = c.benchmark_group("sse_decoder");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function(format!("1mb_{events}_events_4k_reads"), |b| {
        b.iter(|| {
            let mut decoder = SseDecoder::new();
            let mut seen = 0usize;
            for read in black_box(&stream).chunks(4096) {
                decoder.push(read);
                while let Some(item) = decoder.next_item().unwrap() {
                    if let SseItem::Event(e) = item {
                        seen += e.data.len();
                    }
                }
            }
            while decoder.finish().unwrap().is_some() {}
            seen
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_requests,
    bench_responses_requests,
    bench_stream_event,
    bench_responses_stream_event,
    bench_whole_streams,
    bench_answers,
    bench_sse_decoder
);
criterion_main!(benches);
