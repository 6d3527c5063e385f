//! Peak heap of parsing and translating a chat request, against the size of its body
//! (issue #13, finding 6: 64 MiB of one-letter messages used to peak at 1.1 GB).
//!
//! This binary installs a counting global allocator, so it holds one test that measures the
//! cases one after another: tests running in parallel would count each other's memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use peak_alloc::PeakAlloc;
use pollux_translate::openai::chat::ChatCompletionRequest;
use pollux_translate::openai::Limits;
use pollux_translate::{to_gemini, RequestOptions};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// The most a request may hold at its peak, body included, as a multiple of the body.
const MAX_RATIO: f64 = 4.0;

/// The bound for one-letter messages at the message limit (32 bytes of JSON each), the most
/// per byte a text conversation costs. Measured 3.51x; the peak is the end of the parse: the
/// body (1x), the `messages` array twice while its chunks are joined (16 bytes a message,
/// 2 x 0.49x), each message's box (32 bytes for a user message, 64 for an assistant one:
/// 1.48x) and the one-byte strings. Mapping frees each message as it goes, so the Gemini form
/// (a 32-byte turn and a 24-byte text part per message, 1.75x) is never held in full beside
/// the parsed one; encoding adds a buffer of 1.43x (3.2x).
const TINY_RATIO: f64 = 3.6;

/// Peak bytes held by a request, from its body through parsing, translating and encoding
/// (the body and the parsed request are dropped when the server drops them), over the size
/// of its body.
fn peak_ratio(mut body: Vec<u8>) -> f64 {
    body.shrink_to_fit();
    let len = body.len();
    // The body counts: it is the request's first allocation.
    let before = ALLOC.current_usage() - body.capacity();
    ALLOC.reset_peak_usage();
    let request = ChatCompletionRequest::from_slice(&body).expect("parses");
    drop(body);
    let translated = to_gemini(request, &RequestOptions::new("gemini-2.5-flash")).expect("maps");
    // Sized as the server sizes it (`encode_sized`).
    let mut encoded = Vec::with_capacity(translated.body.encoded_len_hint(len));
    serde_json::to_writer(&mut encoded, &translated.body).expect("encodes");
    drop(translated);
    drop(encoded);
    (ALLOC.peak_usage() - before) as f64 / len as f64
}

fn tiny_messages(count: usize) -> Vec<u8> {
    let mut body = br#"{"model":"gemini-2.5-flash","messages":["#.to_vec();
    for i in 0..count {
        if i > 0 {
            body.push(b',');
        }
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        body.extend_from_slice(format!(r#"{{"role":"{role}","content":"a"}}"#).as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

/// `{"role":"user","content":[{"type":"text","text":"a"}]}`, `count` times.
fn array_messages(count: usize) -> Vec<u8> {
    let mut body = br#"{"model":"gemini-2.5-flash","messages":["#.to_vec();
    for i in 0..count {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(br#"{"role":"user","content":[{"type":"text","text":"a"}]}"#);
    }
    body.extend_from_slice(b"]}");
    body
}

/// An assistant message calling a tool and the tool's result, `count / 2` times.
fn tool_messages(count: usize) -> Vec<u8> {
    let mut body = br#"{"model":"gemini-2.5-flash","messages":["#.to_vec();
    for i in 0..count / 2 {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(
            format!(
                r#"{{"role":"assistant","tool_calls":[{{"id":"c{i}","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},{{"role":"tool","tool_call_id":"c{i}","content":"a"}}"#
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(b"]}");
    body
}

fn large_messages(count: usize, each: usize) -> Vec<u8> {
    let text = "lorem ipsum ".repeat(each / 12);
    let mut body = br#"{"model":"gemini-2.5-flash","messages":["#.to_vec();
    for i in 0..count {
        if i > 0 {
            body.push(b',');
        }
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        body.extend_from_slice(format!(r#"{{"role":"{role}","content":"{text}"}}"#).as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

fn inline_image(bytes: usize) -> Vec<u8> {
    let data = "QUJD".repeat(bytes / 4);
    format!(
        r#"{{"model":"gemini-2.5-flash","messages":[{{"role":"user","content":[{{"type":"text","text":"what is it?"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{data}"}}}}]}}]}}"#
    )
    .into_bytes()
}

/// The finding's body: 64 MiB of one-letter messages is refused after the first messages
/// past the limit, holding little more than the body.
fn refused_peak_ratio(mut body: Vec<u8>) -> f64 {
    body.shrink_to_fit();
    let len = body.len();
    let before = ALLOC.current_usage() - body.capacity();
    ALLOC.reset_peak_usage();
    match ChatCompletionRequest::from_slice(&body) {
        Err(pollux_translate::TranslateError::InvalidRequest {
            code: Some("too_many_items"),
            ..
        }) => {}
        other => panic!("expected too_many_items, got {:?}", other.map(|_| ())),
    }
    drop(body);
    (ALLOC.peak_usage() - before) as f64 / len as f64
}

#[test]
fn peak_heap_stays_within_a_small_multiple_of_the_body() {
    let ratio = refused_peak_ratio(tiny_messages(64 * 1024 * 1024 / 32));
    println!("64 MiB of one-letter messages, refused: peak {ratio:.2}x");
    assert!(ratio < 1.1, "refused body peaked at {ratio:.2}x");

    let cases = [
        (
            "tiny messages at the limit",
            tiny_messages(Limits::DEFAULT_MAX_MESSAGES),
            TINY_RATIO,
        ),
        (
            "one-part array contents at the limit",
            array_messages(Limits::DEFAULT_MAX_MESSAGES),
            MAX_RATIO,
        ),
        (
            "tool calls and results at the limit",
            tool_messages(Limits::DEFAULT_MAX_MESSAGES),
            MAX_RATIO,
        ),
        (
            "16 messages of 1 MiB",
            large_messages(16, 1 << 20),
            MAX_RATIO,
        ),
        ("one 16 MiB inline image", inline_image(16 << 20), MAX_RATIO),
    ];
    let mut report = Vec::new();
    let mut over = Vec::new();
    for (name, body, max) in cases {
        let len = body.len();
        let ratio = peak_ratio(body);
        let line = format!("{name}: body {len} bytes, peak {ratio:.2}x (at most {max}x)");
        if ratio > max {
            over.push(line.clone());
        }
        report.push(line);
    }
    println!("{}", report.join("\n"));
    assert!(over.is_empty(), "over their bound: {over:?}");
}
