//! Every limit of `docs/operations.md` ("Limits") at its edge (issue #13): just under is
//! served, just over is the stated status, and the same server answers the next request. The
//! limits that live in actix (request head size and field count, request-target length, the
//! first head's deadline, connections per worker) and the body and upstream-body sizes are
//! tested here; the others name their tests in that table. Requests are written by hand on
//! raw loopback TCP so the byte counts are exactly what the test says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Error, Pollux};
use mock_gemini::Scenario;
use serde_json::{json, Value};

type TestResult = Result<(), Error>;

/// actix-http's request-head buffer (`h1::decoder::MAX_BUFFER_SIZE`): a head not complete
/// within this many bytes is answered 431.
const HEAD_LIMIT: usize = 131_072;
/// actix-http's most header fields in one head (`h1::decoder::MAX_HEADERS`).
const MAX_HEADERS: usize = 96;
/// The `http` crate's longest request target (`uri::MAX_LEN`).
const MAX_TARGET: usize = 65_534;

/// A status and a body (JSON, or `null` when empty).
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// Reads one response: its head, then `Content-Length` bytes of body (a response without one
/// is read to the end of the connection).
fn read_answer(stream: &mut TcpStream, wait: Duration) -> Result<Answer, Error> {
    stream.set_read_timeout(Some(wait))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(format!("closed before a response head: {buf:?}").into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..split].to_vec())?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse::<u16>()?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = buf[split + 4..].to_vec();
    match len {
        Some(len) => {
            while body.len() < len {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut body)?;
        }
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| format!("non-JSON body ({e}): {}", String::from_utf8_lossy(&body)))?
    };
    Ok(Answer { status, body })
}

/// Writes `bytes` on a fresh connection and reads the answer.
fn exchange(p: &Pollux, bytes: &[u8]) -> Result<Answer, Error> {
    let mut stream = TcpStream::connect(p.addr)?;
    stream.write_all(bytes)?;
    read_answer(&mut stream, Duration::from_secs(10))
}

/// `GET /healthz` answered 200: the server is still serving.
fn assert_serving(p: &Pollux, after: &str) -> TestResult {
    let answer = exchange(
        p,
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            p.addr
        )
        .as_bytes(),
    )?;
    assert_eq!(answer.status, 200, "serving after {after}: {}", answer.body);
    Ok(())
}

/// A `GET /healthz` head of exactly `len` bytes, padded with one `X-Pad` header.
fn head_of_len(p: &Pollux, len: usize) -> String {
    let start = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-Pad: ",
        p.addr
    );
    let pad = len - start.len() - "\r\n\r\n".len();
    format!("{start}{}\r\n\r\n", "a".repeat(pad))
}

#[test]
fn a_request_head_is_served_up_to_128_kib_and_431_past_it() -> TestResult {
    let p = Pollux::start()?;
    let at = head_of_len(&p, HEAD_LIMIT);
    assert_eq!(at.len(), HEAD_LIMIT);
    let answer = exchange(&p, at.as_bytes())?;
    assert_eq!(
        answer.status, 200,
        "a head of exactly 128 KiB: {}",
        answer.body
    );
    // One byte more: the first 128 KiB arrive without the blank line that ends a head.
    let over = head_of_len(&p, HEAD_LIMIT + 1);
    let mut stream = TcpStream::connect(p.addr)?;
    stream.write_all(&over.as_bytes()[..HEAD_LIMIT])?;
    let answer = read_answer(&mut stream, Duration::from_secs(10))?;
    assert_eq!(answer.status, 431, "{}", answer.body);
    assert_serving(&p, "a 431")?;
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

#[test]
fn a_request_head_is_served_up_to_96_fields_and_431_past_it() -> TestResult {
    let p = Pollux::start()?;
    let with_fields = |n: usize| {
        // Host and Connection are two of the n.
        let mut text = format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            p.addr
        );
        for i in 0..n - 2 {
            text.push_str(&format!("X-Field-{i}: {i}\r\n"));
        }
        text.push_str("\r\n");
        text
    };
    let answer = exchange(&p, with_fields(MAX_HEADERS).as_bytes())?;
    assert_eq!(answer.status, 200, "96 fields: {}", answer.body);
    let answer = exchange(&p, with_fields(MAX_HEADERS + 1).as_bytes())?;
    assert_eq!(answer.status, 431, "97 fields: {}", answer.body);
    assert_serving(&p, "a 431")?;
    Ok(())
}

#[test]
fn a_request_target_is_served_up_to_65534_bytes_and_400_past_it() -> TestResult {
    let p = Pollux::start()?;
    let target = |len: usize| format!("/healthz?{}", "q".repeat(len - "/healthz?".len()));
    let request = |target: &str| {
        format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            p.addr
        )
    };
    let answer = exchange(&p, request(&target(MAX_TARGET)).as_bytes())?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = exchange(&p, request(&target(MAX_TARGET + 1)).as_bytes())?;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_serving(&p, "a 400")?;
    Ok(())
}

#[test]
fn a_first_request_head_slower_than_head_read_timeout_is_408() -> TestResult {
    let p = Pollux::start_with(|c, _| c.head_read_timeout_secs = 1)?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        p.addr
    );
    let (first, rest) = request.split_at(10);
    // Just under: the head completes well inside the second (actix checks its deadline
    // against a clock it refreshes every 500 ms, so the second may end up to half early).
    let mut stream = TcpStream::connect(p.addr)?;
    stream.write_all(first.as_bytes())?;
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(rest.as_bytes())?;
    let answer = read_answer(&mut stream, Duration::from_secs(10))?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Just over: the head stops short and the deadline passes.
    let started = Instant::now();
    let mut stream = TcpStream::connect(p.addr)?;
    stream.write_all(first.as_bytes())?;
    let answer = read_answer(&mut stream, Duration::from_secs(10))?;
    let waited = started.elapsed();
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "408 after {waited:?}, expected about 1 s"
    );
    assert_serving(&p, "a 408")?;
    Ok(())
}

#[test]
fn connections_past_max_connections_wait_until_one_closes() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.max_connections = 2;
        c.workers = 1;
    })?;
    let keep_alive = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", p.addr);
    // N connections, each proven accepted by an answered request, and kept open.
    let mut held = Vec::new();
    for i in 0..2 {
        let mut stream = TcpStream::connect(p.addr)?;
        stream.write_all(keep_alive.as_bytes())?;
        let answer = read_answer(&mut stream, Duration::from_secs(10))?;
        assert_eq!(answer.status, 200, "connection {i}: {}", answer.body);
        held.push(stream);
    }
    // N+1: the kernel completes the handshake (the backlog), but Pollux does not accept it.
    let mut waiting = TcpStream::connect(p.addr)?;
    waiting.write_all(keep_alive.as_bytes())?;
    waiting.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut byte = [0u8; 1];
    match waiting.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("connection 3 was answered past the limit: {other:?}"),
    }
    // One closes: the waiting connection is accepted and answered, well before any timeout.
    let started = Instant::now();
    drop(held.remove(0));
    let answer = read_answer(&mut waiting, Duration::from_secs(10))?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

fn chat_of_len(len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(
        &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap();
    // JSON allows trailing whitespace: the same request, exactly `len` bytes long.
    body.resize(len, b' ');
    body
}

fn post(p: &Pollux, body: &[u8]) -> Result<Answer, Error> {
    let mut request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        p.addr,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(p, &request)
}

fn post_chunked(p: &Pollux, body: &[u8]) -> Result<Answer, Error> {
    let mut request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        p.addr
    )
    .into_bytes();
    // Small chunks: the limit is counted as they arrive, with no length declared up front.
    for piece in body.chunks(100) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    exchange(p, &request)
}

#[test]
fn a_body_of_max_body_bytes_is_served_and_one_byte_more_is_413() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_body_bytes = 1024)?;
    for (how, send) in [
        (
            "declared",
            post as fn(&Pollux, &[u8]) -> Result<Answer, Error>,
        ),
        ("chunked", post_chunked),
    ] {
        p.mock.push(Scenario::text("ok"));
        let answer = send(&p, &chat_of_len(1024))?;
        assert_eq!(answer.status, 200, "{how}, at the limit: {}", answer.body);
        let answer = send(&p, &chat_of_len(1025))?;
        assert_eq!(answer.status, 413, "{how}, one over: {}", answer.body);
        assert_eq!(answer.code(), "payload_too_large", "{}", answer.body);
        assert_serving(&p, "a 413")?;
    }
    assert_eq!(
        p.mock.request_count(),
        2,
        "only the bodies at the limit went upstream"
    );
    Ok(())
}

#[test]
fn an_upstream_body_past_max_upstream_body_bytes_is_502() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_upstream_body_bytes = 4096)?;
    p.mock.push(Scenario::text(&"a".repeat(1000)));
    let answer = post(&p, &chat_of_len(200))?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    p.mock.push(Scenario::text(&"a".repeat(8000)));
    let answer = post(&p, &chat_of_len(200))?;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(
        answer.body["error"]["type"], "upstream_error",
        "{}",
        answer.body
    );
    p.mock.push(Scenario::text("ok"));
    let answer = post(&p, &chat_of_len(200))?;
    assert_eq!(answer.status, 200, "serving after a 502: {}", answer.body);
    Ok(())
}

/// Posts a streaming chat request and reads the whole response as text (status, text).
fn post_stream(p: &Pollux) -> Result<(u16, String), Error> {
    let body = serde_json::to_vec(&json!({"model": "gemini-2.5-flash", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}))?;
    let mut stream = TcpStream::connect(p.addr)?;
    stream.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            p.addr,
            body.len()
        )
        .as_bytes(),
    )?;
    stream.write_all(&body)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw)?;
    let status = text.split(' ').nth(1).ok_or("no status")?.parse::<u16>()?;
    Ok((status, text))
}

#[test]
fn an_upstream_stream_event_past_max_upstream_body_bytes_is_502() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_upstream_body_bytes = 4096)?;
    p.mock.push(Scenario::text_stream(&[&"a".repeat(1000)]));
    let (status, text) = post_stream(&p)?;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("data: [DONE]"), "{text}");
    // One event of 8,000 bytes: the decoder stops at 4 KiB instead of buffering on.
    p.mock.push(Scenario::text_stream(&[&"a".repeat(8000)]));
    let (status, text) = post_stream(&p)?;
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("exceeds the limit of 4096 bytes"), "{text}");
    assert_serving(&p, "a 502")?;
    Ok(())
}

/// One request on a fresh connection (`Content-Type: application/json` when it has a body).
fn call(p: &Pollux, method: &str, target: &str, body: Option<&Value>) -> Result<Answer, Error> {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        p.addr
    );
    let body = body
        .map(serde_json::to_vec)
        .transpose()?
        .unwrap_or_default();
    if method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);
    exchange(p, &bytes)
}

#[test]
fn configured_part_limit_is_enforced_at_its_edge() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_parts = 2)?;
    let parts = |n: usize| {
        let part = json!({"type": "text", "text": "x"});
        json!({"model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": vec![part; n]}]})
    };
    p.mock.push(Scenario::text("ok"));
    let answer = call(&p, "POST", "/v1/chat/completions", Some(&parts(2)))?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = call(&p, "POST", "/v1/chat/completions", Some(&parts(3)))?;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "too_many_items", "{}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--max-parts"), "{message}");
    assert_eq!(p.mock.request_count(), 1);
    Ok(())
}

/// Sends one request naming an identifier.
type SendId = fn(&Pollux, &str) -> Result<Answer, Error>;

#[test]
fn identifiers_reach_the_upstream_up_to_256_bytes_and_are_400_past_it() -> TestResult {
    let p = Pollux::start()?;
    let cases: [(&str, SendId); 3] = [
        ("chat model", |p, id| {
            let chat = json!({"model": id, "messages": [{"role": "user", "content": "hi"}]});
            call(p, "POST", "/v1/chat/completions", Some(&chat))
        }),
        ("models/{id}", |p, id| {
            call(p, "GET", &format!("/v1/models/{id}"), None)
        }),
        ("native segment", |p, id| {
            call(p, "GET", &format!("/v1beta/models/{id}"), None)
        }),
    ];
    for (what, send) in cases {
        let before = p.mock.request_count();
        // At the limit the name is not refused by Pollux: it goes upstream (which may not
        // know it, the point is that it was asked).
        let answer = send(&p, &"g".repeat(256))?;
        assert_eq!(
            p.mock.request_count(),
            before + 1,
            "{what}: {}",
            answer.body
        );
        let answer = send(&p, &"g".repeat(257))?;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert!(
            matches!(answer.code(), "invalid_model" | "invalid_path"),
            "{what}: {}",
            answer.body
        );
        assert_eq!(
            p.mock.request_count(),
            before + 1,
            "{what}: 257 went upstream"
        );
    }
    Ok(())
}

#[test]
fn a_native_path_and_query_is_forwarded_up_to_8_kib_and_400_past_it() -> TestResult {
    let p = Pollux::start()?;
    let prefix = "/v1beta/models?pageToken=";
    let target = |len: usize| format!("{prefix}{}", "t".repeat(len - prefix.len()));
    let answer = call(&p, "GET", &target(8 * 1024), None)?;
    assert_eq!(
        p.mock.request_count(),
        1,
        "8 KiB went upstream: {}",
        answer.body
    );
    let answer = call(&p, "GET", &target(8 * 1024 + 1), None)?;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "invalid_path", "{}", answer.body);
    assert_eq!(p.mock.request_count(), 1, "8 KiB + 1 never went upstream");
    Ok(())
}

#[test]
fn a_body_nested_127_deep_is_parsed_and_128_is_400() -> TestResult {
    let p = Pollux::start()?;
    // serde_json's recursion limit on the values Pollux parses (a tool's schema is the only
    // free-form one), reached before the schema converter's own 128 levels. The body is
    // object, tools, tool, function, parameters, properties: 6 levels above the schema.
    let body = |levels: usize| {
        let mut schema = json!({"type": "string"});
        for _ in 1..levels - 6 {
            schema = json!({"type": "array", "items": schema});
        }
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "deep",
                "parameters": {"type": "object", "properties": {"a": schema}}}}]})
    };
    p.mock.push(Scenario::text("ok"));
    let answer = call(&p, "POST", "/v1/chat/completions", Some(&body(127)))?;
    // Parsed and sent on (the mock's own parser, like any, then has its say).
    assert_ne!(answer.code(), "invalid_json", "127 levels: {}", answer.body);
    assert_eq!(p.mock.request_count(), 1, "127 levels went upstream");
    let answer = call(&p, "POST", "/v1/chat/completions", Some(&body(128)))?;
    assert_eq!(answer.status, 400, "128 levels: {}", answer.body);
    assert_eq!(answer.code(), "invalid_json", "{}", answer.body);
    assert_eq!(p.mock.request_count(), 1, "128 levels never went upstream");
    assert_serving(&p, "a 400")?;
    // A field Pollux ignores is skipped without recursion: 100,000 levels neither fail the
    // request nor overflow a stack.
    let deep = format!(
        r#"{{"model":"gemini-2.5-flash","messages":[{{"role":"user","content":"x"}}],"x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    p.mock.push(Scenario::text("ok"));
    let answer = post(&p, deep.as_bytes())?;
    assert_eq!(answer.status, 200, "an ignored deep field: {}", answer.body);
    assert_serving(&p, "an ignored deep field")?;
    Ok(())
}
