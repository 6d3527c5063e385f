//! Fault and resilience tests: a real Pollux in front of `mock-gemini` scripted to misbehave
//! (refused connections, hangs, resets, bad JSON, errors inside a 200, 429s, HTML pages),
//! slow and vanishing clients, the concurrency cap, keep-alives, the overall deadline and
//! keys in upstream text. Request ids, `/metrics` and the access log are in `observability`;
//! SIGTERM on the real `pollux` binary is in `process`.
//!
//! Each test asserts what the client sees and that nothing is left behind: the open-stream
//! gauge and the upstream in-flight gauge read 0 on `/metrics` afterwards. Everything runs on
//! 127.0.0.1 with ephemeral ports and short, configured timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mock_gemini::{MockConfig, MockGemini, Scenario, StreamStep};
use serde_json::{json, Value};
use support::{
    assert_clean, assert_openai, chat, client, final_event, metrics, sample, stream_chat,
    text_event, Pollux,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A whole streamed body as text (keep-alive comments included).
async fn raw_stream(
    p: &Pollux,
    body: &Value,
) -> Result<(u16, awc::http::header::HeaderMap, String), Box<dyn std::error::Error>> {
    let mut resp = client()
        .post(p.url("/v1/chat/completions"))
        .send_json(body)
        .await?;
    let bytes = resp.body().limit(64 * 1024 * 1024).await?;
    Ok((
        resp.status().as_u16(),
        resp.headers().clone(),
        String::from_utf8(bytes.to_vec())?,
    ))
}

/// The `data:` payloads of an SSE text, comments skipped.
fn data_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Asserts the stream ended with exactly one in-band error (and no `[DONE]`); returns it.
fn assert_error_event(text: &str) -> Value {
    let events = data_events(text);
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "no [DONE] after an error: {text}"
    );
    let errors: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("{\"error\""))
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert_eq!(
        events.last(),
        errors.first().copied(),
        "the error is last: {text}"
    );
    let err: Value = serde_json::from_str(errors[0]).unwrap();
    assert_openai("ErrorResponse", &err);
    err
}

// ---------------------------------------------------------------------------------------
// Upstream faults before the stream starts.

#[actix_rt::test]
async fn upstream_refusing_connections_is_502() -> TestResult {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let p = Pollux::start_with(|c, _| c.upstream = format!("http://127.0.0.1:{port}"))?;
    for body in [chat("hi"), stream_chat("hi")] {
        let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 502, "{out}");
        assert_eq!(out["error"]["code"], "upstream_unreachable");
        assert_openai("ErrorResponse", &out);
    }
    assert_clean(&p).await
}

#[actix_rt::test]
async fn connect_timeout_is_504() -> TestResult {
    // A listener with a backlog of 1 that never accepts: once its queue is full the kernel
    // drops further SYNs, so connecting hangs until Pollux's connect timeout.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let listener = socket.listen(1)?;
    let addr = listener.local_addr()?;
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    let p = Pollux::start_with(|c, _| {
        c.upstream = format!("http://{addr}");
        c.connect_timeout_secs = 1;
    })?;
    let started = Instant::now();
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 504, "{out}");
    assert_eq!(out["error"]["code"], "upstream_timeout");
    assert_openai("ErrorResponse", &out);
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(fillers);
    assert_clean(&p).await
}

#[actix_rt::test]
async fn upstream_hanging_before_headers_is_504() -> TestResult {
    let p = Pollux::start_with(|c, _| c.response_timeout_secs = 1)?;
    for body in [chat("hi"), stream_chat("hi")] {
        p.mock.push(Scenario::HangBeforeHead);
        let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 504, "{out}");
        assert_eq!(out["error"]["type"], "timeout_error");
        assert_openai("ErrorResponse", &out);
    }
    assert_clean(&p).await
}

#[actix_rt::test]
async fn silence_before_the_first_event_is_504_not_a_started_stream() -> TestResult {
    let p = Pollux::start_with(|c, _| c.stream_idle_timeout_secs = 1)?;
    p.mock.push(Scenario::stream(vec![
        StreamStep::Delay(2500),
        final_event("late"),
    ]));
    let (status, _, out) = p.post("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(status, 504, "{out}");
    assert_eq!(out["error"]["code"], "upstream_timeout");
    assert_clean(&p).await
}

#[actix_rt::test]
async fn truncated_or_invalid_json_is_502() -> TestResult {
    let p = Pollux::start()?;
    // A plain answer cut off mid-JSON.
    p.mock.push(Scenario::Raw {
        status: 200,
        content_type: "application/json; charset=UTF-8".to_owned(),
        body: "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"cut".to_owned(),
        headers: Default::default(),
        delay_ms: 0,
    });
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 502, "{out}");
    assert_openai("ErrorResponse", &out);
    // A stream whose only event is cut off: nothing was promised, so a plain 502.
    p.mock.push(Scenario::stream(vec![StreamStep::Raw(
        "data: {\"candidates\": [{\"content\"".to_owned(),
    )]));
    let (status, _, out) = p.post("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(status, 502, "{out}");
    assert_openai("ErrorResponse", &out);
    // A stream whose first event is not JSON.
    p.mock.push(Scenario::stream(vec![StreamStep::Raw(
        "data: {not json}\r\n\r\n".to_owned(),
    )]));
    let (status, _, out) = p.post("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(status, 502, "{out}");
    assert_openai("ErrorResponse", &out);
    assert_clean(&p).await
}

#[actix_rt::test]
async fn rate_limited_upstream_keeps_retry_after() -> TestResult {
    let p = Pollux::start()?;
    for body in [chat("hi"), stream_chat("hi")] {
        p.mock.push(Scenario::rate_limited(7));
        let (status, headers, out) = p.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 429, "{out}");
        assert_eq!(headers.get("retry-after").unwrap(), "7");
        assert_eq!(out["error"]["type"], "rate_limit_error");
        assert_openai("ErrorResponse", &out);
    }
    assert_clean(&p).await
}

#[actix_rt::test]
async fn html_502_page_is_an_openai_error() -> TestResult {
    let p = Pollux::start()?;
    for body in [chat("hi"), stream_chat("hi")] {
        p.mock.push(Scenario::html(502));
        let (status, headers, out) = p.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 502, "{out}");
        assert_eq!(out["error"]["type"], "upstream_error");
        assert!(!out["error"]["message"].as_str().unwrap().contains("<html"));
        assert!(headers.get("x-request-id").is_some());
        assert_openai("ErrorResponse", &out);
    }
    assert_clean(&p).await
}

// ---------------------------------------------------------------------------------------
// Upstream faults after the 200: one in-band error event, then the end.

#[actix_rt::test]
async fn upstream_hanging_mid_stream_times_out_in_band() -> TestResult {
    let p = Pollux::start_with(|c, _| c.stream_idle_timeout_secs = 1)?;
    p.mock
        .push(Scenario::stream(vec![text_event("a"), StreamStep::Hang]));
    let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    let err = assert_error_event(&text);
    assert_eq!(err["error"]["code"], "upstream_timeout");
    assert_clean(&p).await
}

#[actix_rt::test]
async fn slow_gap_mid_stream_times_out_in_band() -> TestResult {
    let p = Pollux::start_with(|c, _| c.stream_idle_timeout_secs = 1)?;
    p.mock.push(Scenario::stream(vec![
        text_event("a"),
        StreamStep::Delay(2500),
        final_event("b"),
    ]));
    let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    assert_eq!(
        assert_error_event(&text)["error"]["code"],
        "upstream_timeout"
    );
    assert_clean(&p).await
}

#[actix_rt::test]
async fn upstream_reset_mid_stream_is_an_error_event() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::stream(vec![
        text_event("a"),
        text_event("b"),
        StreamStep::Cut,
    ]));
    let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    let events = data_events(&text);
    assert!(events[0].contains("\"a\""), "{text}");
    assert_error_event(&text);
    assert_clean(&p).await
}

#[actix_rt::test]
async fn truncated_or_invalid_json_mid_stream_is_an_error_event() -> TestResult {
    let p = Pollux::start()?;
    for bad in [
        "data: {\"candidates\": [{\"content\"",
        "data: {not json}\r\n\r\n",
    ] {
        p.mock.push(Scenario::stream(vec![
            text_event("a"),
            StreamStep::Raw(bad.to_owned()),
        ]));
        let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
        assert_eq!(status, 200);
        let err = assert_error_event(&text);
        assert_eq!(err["error"]["type"], "upstream_error", "{text}");
    }
    assert_clean(&p).await
}

#[actix_rt::test]
async fn error_event_inside_a_200_stream() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text_then_error(
        &["partial ", "answer"],
        500,
        "INTERNAL",
        "Internal error encountered.",
    ));
    let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    let err = assert_error_event(&text);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Internal error"));
    assert_clean(&p).await
}

// ---------------------------------------------------------------------------------------
// Clients.

#[actix_rt::test]
async fn client_disconnect_mid_stream_releases_everything() -> TestResult {
    let p = Pollux::start()?;
    let mut steps = vec![text_event("tick")];
    for _ in 0..200 {
        steps.push(StreamStep::Delay(50));
        steps.push(text_event("tick"));
    }
    p.mock.push(Scenario::stream(steps));
    p.stream_then_drop("/v1/chat/completions", &stream_chat("hi"))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.mock.cancelled_streams() == 0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(p.mock.cancelled_streams(), 1, "the upstream saw the close");
    assert_eq!(p.mock.open_streams(), 0);
    assert_clean(&p).await
}

/// A raw HTTP/1.1 request on a socket with a tiny receive buffer, so the kernel cannot
/// absorb what Pollux writes while the test does not read.
async fn slow_client(addr: SocketAddr, body: &Value) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut stream = socket.connect(addr).await?;
    let body = serde_json::to_vec(body)?;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    Ok(stream)
}

#[actix_rt::test]
async fn slow_reader_does_not_make_pollux_read_upstream_ahead() -> TestResult {
    let p = Pollux::start()?;
    // ~24 MB of upstream events: far more than the socket buffers on the way can hold.
    let piece = "x".repeat(8 * 1024);
    let mut steps: Vec<StreamStep> = (0..3000).map(|_| text_event(&piece)).collect();
    steps.push(final_event("end"));
    p.mock.push(Scenario::stream(steps));
    let mut client = slow_client(p.addr, &stream_chat("hi")).await?;
    let mut first = vec![0u8; 1024];
    let n = client.read(&mut first).await?;
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));

    // The client reads nothing for a while: Pollux must stall, and with it the upstream.
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        p.mock.open_streams(),
        1,
        "the upstream stream is still unfinished while the client is not reading"
    );
    let text = metrics(&p).await?;
    assert_eq!(sample(&text, "pollux_open_streams"), Some(1.0));

    // Then it reads everything, and the stream completes normally.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), client.read_to_end(&mut rest)).await??;
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("data: [DONE]"), "the stream completed");
    assert_eq!(p.mock.open_streams(), 0);
    assert_clean(&p).await
}

// ---------------------------------------------------------------------------------------
// Keep-alive, the overall cap, the concurrency cap.

#[actix_rt::test]
async fn keepalive_comments_fill_a_slow_stream_after_the_200() -> TestResult {
    let p = Pollux::start_with(|c, _| c.keepalive_secs = 1)?;
    p.mock.push(Scenario::stream(vec![
        // Before the first event nothing is sent at all: the 200 waits for it.
        StreamStep::Delay(1500),
        text_event("a"),
        StreamStep::Delay(2500),
        final_event("b"),
    ]));
    let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    assert!(
        text.starts_with("data: "),
        "no keep-alive before the 200: {text}"
    );
    let keepalives = text.matches(": keep-alive\n\n").count();
    assert!(keepalives >= 1, "{text}");
    let events = data_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let a = text.find("\"a\"").unwrap();
    let ka = text.find(": keep-alive").unwrap();
    let b = text.find("\"b\"").unwrap();
    assert!(a < ka && ka < b, "the keep-alive sits in the gap: {text}");
    assert_clean(&p).await
}

#[actix_rt::test]
async fn overall_cap_is_504_before_the_stream_and_an_event_after() -> TestResult {
    let p = Pollux::start_with(|c, _| c.request_timeout_secs = 1)?;

    // Plain: the upstream is slow to answer.
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "slow"}]}, "finishReason": "STOP", "index": 0}]}),
        headers: Default::default(),
        delay_ms: 3000,
    });
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 504, "{out}");
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("overall time limit"));

    // Stream, before its first event.
    p.mock.push(Scenario::stream(vec![
        StreamStep::Delay(3000),
        final_event("x"),
    ]));
    let (status, _, out) = p.post("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(status, 504, "{out}");

    // Stream, after the 200: events keep coming, but the whole exceeds the cap.
    let mut steps = vec![text_event("t")];
    for _ in 0..20 {
        steps.push(StreamStep::Delay(200));
        steps.push(text_event("t"));
    }
    steps.push(final_event("end"));
    p.mock.push(Scenario::stream(steps));
    let (status, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    let err = assert_error_event(&text);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("overall time limit"));
    assert_clean(&p).await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.mock.open_streams() > 0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(p.mock.open_streams(), 0, "the upstream stream was dropped");
    Ok(())
}

#[actix_rt::test]
async fn concurrency_cap_answers_429_instead_of_queueing() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_concurrent_upstream = 1)?;
    p.mock
        .push(Scenario::stream(vec![text_event("a"), StreamStep::Hang]));
    let mut held = client()
        .post(p.url("/v1/chat/completions"))
        .send_json(&stream_chat("hold"))
        .await?;
    assert_eq!(held.status(), 200);
    let first = held.next().await.ok_or("stream ended")??;
    assert!(!first.is_empty());

    let (status, headers, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 429, "{out}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert_eq!(out["error"]["type"], "rate_limit_error");
    assert_eq!(out["error"]["code"], "concurrency_limit");
    assert_openai("ErrorResponse", &out);
    assert_eq!(
        p.mock.request_count(),
        1,
        "the refused request never went upstream"
    );
    let text = metrics(&p).await?;
    assert_eq!(sample(&text, "pollux_upstream_in_flight"), Some(1.0));
    assert_eq!(
        sample(&text, "pollux_concurrency_rejections_total"),
        Some(1.0)
    );

    drop(held);
    assert_clean(&p).await?;
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 200, "the slot is free again: {out}");
    Ok(())
}

/// awc's connector allowed 256 upstream connections per worker by default, so request 257
/// waited for one of the first 256 to finish. Every request in flight must reach Gemini.
#[actix_rt::test]
async fn more_than_256_upstream_requests_are_in_flight_at_once() -> TestResult {
    const REQUESTS: usize = 270;
    // Each request holds four sockets in this process (client, Pollux both ways, the mock).
    // `make test` raises the soft open-files limit to the hard one; a plain `cargo test`
    // under a 1,024 limit cannot hold them and skips, saying so.
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(usize::MAX);
    if soft_limit < 4 * REQUESTS + 256 {
        eprintln!("skipped: open-files limit {soft_limit} is too low (run `make test`)");
        return Ok(());
    }
    let mock = MockGemini::start_with(MockConfig {
        delay_ms: 3_000,
        record: false,
        ..MockConfig::default()
    })?;
    let p = Pollux::start_before(mock, |_, _| {})?;
    // The test's own client must not cap its connections either.
    let http = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish();
    let url = p.url("/v1/chat/completions");
    let requests = (0..REQUESTS).map(|_| http.post(&url).send_json(&chat("hi")));
    let all = futures_util::future::join_all(requests);
    let arrived = async {
        let deadline = Instant::now() + Duration::from_secs(2);
        while p.mock.request_count() < REQUESTS && Instant::now() < deadline {
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        p.mock.request_count()
    };
    let (responses, arrived) = futures_util::future::join(all, arrived).await;
    assert_eq!(arrived, REQUESTS, "requests reached the mock within 2 s");
    for r in responses {
        assert_eq!(r?.status(), 200);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Keys in upstream text: Gemini's messages are passed on nearly word for word, and a
// gateway in front of it may echo the key it was sent. No key may reach the client.

const POOL_KEY: &str = "AIzaSyPoolKeyEchoedByAGateway000000000";
const OWN_KEY: &str = "AIzaSyClientOwnKeyEchoedByAGateway0000";

/// Asserts `text` carries no key but does carry the redaction mark.
fn assert_redacted(what: &str, text: &str) {
    assert!(
        !text.contains(POOL_KEY) && !text.contains(OWN_KEY),
        "{what}: a key reached the client: {text}"
    );
    assert!(
        text.contains("[redacted key "),
        "{what}: the message is kept, the key marked: {text}"
    );
}

fn echoing(code: u16, status: &str, key: &str) -> Scenario {
    Scenario::error(
        code,
        status,
        &format!("The gateway refused key {key} (key={key})."),
    )
}

#[actix_rt::test]
async fn upstream_error_text_never_carries_the_pool_key() -> TestResult {
    let p = Pollux::start_with(|c, _| c.api_key = Some(POOL_KEY.to_owned()))?;
    // Refusals read while choosing keys (400), and error heads read afterwards (500, 404),
    // plain and streamed.
    for (code, status, want) in [
        (400, "INVALID_ARGUMENT", 400),
        (500, "INTERNAL", 500),
        (404, "NOT_FOUND", 404),
    ] {
        for body in [chat("hi"), stream_chat("hi")] {
            p.mock.push(echoing(code, status, POOL_KEY));
            let (got, _, out) = p.post("/v1/chat/completions", &body).await?;
            assert_eq!(got, want, "{out}");
            assert_openai("ErrorResponse", &out);
            assert_redacted(&format!("{code} {}", body["stream"]), &out.to_string());
        }
    }
    // A stream that fails before its first chunk: a bare error object, and an error framed
    // as an event.
    let message = format!("Backend saw {POOL_KEY}.");
    p.mock
        .push(Scenario::text_then_error(&[], 500, "INTERNAL", &message));
    let (got, _, out) = p.post("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(got, 500, "Gemini's status is kept: {out}");
    assert_redacted("first event, bare", &out.to_string());
    p.mock.push(Scenario::stream(vec![StreamStep::Event(
        json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}),
    )]));
    let (got, _, out) = p.post("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(got, 400, "{out}");
    assert_redacted("first event, framed", &out.to_string());
    // After the 200: the in-band error event.
    p.mock.push(Scenario::text_then_error(
        &["partial ", "answer"],
        500,
        "INTERNAL",
        &message,
    ));
    let (got, _, text) = raw_stream(&p, &stream_chat("hi")).await?;
    assert_eq!(got, 200);
    let err = assert_error_event(&text);
    assert_redacted("in-band", &err.to_string());
    assert!(!text.contains(POOL_KEY), "{text}");
    // A finish message Gemini wrote into a successful answer.
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"candidates": [{"content": {"role": "model", "parts": []},
            "finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": message, "index": 0}]}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let (got, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(got, 502, "{out}");
    assert_redacted("finish message", &out.to_string());
    // The native pass-through: a refusal and an error head, passed on redacted.
    let native = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    for (code, status) in [(400, "INVALID_ARGUMENT"), (500, "INTERNAL")] {
        p.mock.push(echoing(code, status, POOL_KEY));
        let mut resp = client()
            .post(p.url("/v1beta/models/gemini-2.5-flash:generateContent"))
            .send_json(&native)
            .await?;
        assert_eq!(resp.status().as_u16(), code);
        let body: Value = serde_json::from_slice(&resp.body().await?)?;
        assert_eq!(
            body["error"]["status"], status,
            "Gemini's shape is kept: {body}"
        );
        assert_redacted(&format!("native {code}"), &body.to_string());
    }
    assert_clean(&p).await
}

#[actix_rt::test]
async fn upstream_error_text_never_carries_the_clients_own_key() -> TestResult {
    let p = Pollux::start_with(|c, _| c.api_key = None)?;
    for code in [400, 500] {
        p.mock.push(echoing(code, "INVALID_ARGUMENT", OWN_KEY));
        let (got, _, out) = p
            .post_with_key("/v1/chat/completions", &chat("hi"), Some(OWN_KEY))
            .await?;
        assert_ne!(got, 200, "{out}");
        assert_redacted(&format!("own key, {code}"), &out.to_string());
        let up = p.mock.requests();
        assert_eq!(
            up.last().and_then(|r| r.header("x-goog-api-key")),
            Some(OWN_KEY),
            "the client's key is what went upstream"
        );
    }
    Ok(())
}
