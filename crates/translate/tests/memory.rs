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
    let mut encoded = Vec::with_capacity(len + len / 16 + 1024);
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

    // Tiny messages at the limit cost the most per byte of JSON: each 32-byte message is a
    // 64-byte `Message`, then a Gemini turn (32 bytes) holding a part (about 120 bytes),
    // both forms alive at the end of the mapping. That floor is about 8x, so this case gets
    // its own bound; the message limit keeps it to a few MB in absolute terms.
    let cases = [
        (
            "tiny messages at the limit",
            tiny_messages(Limits::DEFAULT_MAX_MESSAGES),
            11.0,
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
