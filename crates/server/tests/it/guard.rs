//! End-to-end tests of the hardening in front of every route (issue #13): slow bodies are cut
//! off with 408, keys are checked before a body is read, the Host / Origin / content-type
//! guard, and the `/v1beta` path and query checks. Requests are written by hand on raw TCP
//! so that what goes on the wire (a foreign `Host`, `%2e%2e`, a trickled body) is exactly what
//! the test says; the mock counts what reached the upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mock_gemini::Scenario;
use serde_json::{json, Value};
use support::{Error, Pollux};

type TestResult = Result<(), Error>;

/// A status, the response headers as text, and the body parsed as JSON (`null` if empty).
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// Writes a request head (adding `Host: 127.0.0.1:port` unless `headers` name one, and
/// `Connection: close`).
fn head(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body_len: Option<usize>,
) -> String {
    let mut text = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(len) = body_len {
        text.push_str(&format!("Content-Length: {len}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// Reads one response: the head, then `Content-Length` bytes of body.
fn read_answer(stream: &mut TcpStream) -> Result<Answer, Error> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let split = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(format!("connection closed before a response head: {buf:?}").into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..split].to_vec())?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse::<u16>()?;
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[split + 4..].to_vec();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if chunked {
        // `Connection: close`: the body ends with the connection.
        stream.read_to_end(&mut body)?;
        body = dechunk(&body)?;
    }
    while !chunked && body.len() < len {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| format!("non-JSON body ({e}): {}", String::from_utf8_lossy(&body)))?
    };
    Ok(Answer { status, head, body })
}

/// A chunked body's data.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end])?.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let data = &raw[line_end + 2..];
        out.extend_from_slice(data.get(..size).ok_or("short chunk")?);
        raw = data.get(size + 2..).ok_or("chunk end")?;
    }
}

/// One whole request on a fresh connection.
fn send(
    p: &Pollux,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, Error> {
    let mut stream = TcpStream::connect(p.addr)?;
    let len = (!body.is_empty() || method != "GET").then_some(body.len());
    stream.write_all(head(p.addr, method, target, headers, len).as_bytes())?;
    stream.write_all(body)?;
    read_answer(&mut stream)
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn chat_body() -> Vec<u8> {
    serde_json::to_vec(
        &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap()
}

// ---------------------------------------------------------------- slow bodies, keys first

#[test]
fn a_trickled_body_is_cut_off_with_408() -> TestResult {
    let p = Pollux::start_with(|c, _| c.body_read_timeout_secs = 1)?;
    let mut stream = TcpStream::connect(p.addr)?;
    stream
        .write_all(head(p.addr, "POST", "/v1/chat/completions", &[JSON], Some(1000)).as_bytes())?;
    let mut writer = stream.try_clone()?;
    // One byte every 200 ms, as the issue describes (at 2 s it would only take longer).
    let trickle = std::thread::spawn(move || {
        for _ in 0..50 {
            if writer.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let started = Instant::now();
    let answer = read_answer(&mut stream)?;
    let took = started.elapsed();
    drop(stream);
    let _ = trickle.join();
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert_eq!(answer.code(), "request_timeout");
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "cut off after {took:?}, wanted about the 1 s timeout"
    );
    assert!(p.mock.requests().is_empty());
    Ok(())
}

#[test]
fn a_body_arriving_at_the_minimum_rate_is_read_in_full() -> TestResult {
    // 1 s of allowance, and every 100 bytes earn another second: 300 bytes in ~1.5 s pass.
    let p = Pollux::start_with(|c, _| {
        c.body_read_timeout_secs = 1;
        c.body_min_rate = 100;
    })?;
    p.mock.push(Scenario::text("in time"));
    let mut body = chat_body();
    body.resize(300, b' ');
    let mut stream = TcpStream::connect(p.addr)?;
    stream.write_all(
        head(
            p.addr,
            "POST",
            "/v1/chat/completions",
            &[JSON],
            Some(body.len()),
        )
        .as_bytes(),
    )?;
    for piece in body.chunks(50) {
        stream.write_all(piece)?;
        std::thread::sleep(Duration::from_millis(250));
    }
    let answer = read_answer(&mut stream)?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(p.mock.requests().len(), 1);
    Ok(())
}

#[test]
fn a_missing_client_key_is_401_before_any_body_is_sent() -> TestResult {
    let p = Pollux::start_with(|c, _| c.client_keys = vec!["team-key".to_owned()])?;
    for path in [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1beta/models/gemini-2.5-flash:generateContent",
    ] {
        let mut stream = TcpStream::connect(p.addr)?;
        // A declared body that never comes: only the head is sent.
        stream.write_all(head(p.addr, "POST", path, &[JSON], Some(100_000)).as_bytes())?;
        let started = Instant::now();
        let answer = read_answer(&mut stream)?;
        assert_eq!(answer.status, 401, "{path}: {}", answer.body);
        assert_eq!(answer.code(), "invalid_api_key");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: answered without waiting for the body"
        );
    }
    assert!(p.mock.requests().is_empty());
    Ok(())
}

// ---------------------------------------------------------------- content type

#[test]
fn a_body_that_is_not_declared_json_is_415_and_never_goes_upstream() -> TestResult {
    let p = Pollux::start()?;
    let body = chat_body();
    for path in [
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/embeddings",
        "/v1beta/models/gemini-2.5-flash:generateContent",
    ] {
        for content_type in [
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let headers: Vec<(&str, &str)> = content_type
                .map(|t| ("Content-Type", t))
                .into_iter()
                .collect();
            let answer = send(&p, "POST", path, &headers, &body)?;
            assert_eq!(
                answer.status, 415,
                "{path} {content_type:?}: {}",
                answer.body
            );
            assert_eq!(answer.code(), "unsupported_media_type");
        }
    }
    // Declared non-JSON is refused even without a body.
    let answer = send(
        &p,
        "POST",
        "/v1beta/models/x:countTokens",
        &[("Content-Type", "text/plain")],
        b"",
    )?;
    assert_eq!(answer.status, 415);
    assert!(p.mock.requests().is_empty(), "{:?}", p.mock.requests());

    // JSON, with parameters or as a +json type, goes through.
    p.mock.push(Scenario::text("ok"));
    let answer = send(
        &p,
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "Application/JSON; charset=utf-8")],
        &body,
    )?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A bare POST with neither body nor content type gets the route's own answer.
    let answer = send(&p, "POST", "/v1/chat/completions", &[], b"")?;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "invalid_json");
    assert_eq!(p.mock.requests().len(), 1);
    Ok(())
}

// ---------------------------------------------------------------- Host

#[test]
fn a_foreign_host_is_refused_on_loopback() -> TestResult {
    let p = Pollux::start()?;
    let port = p.addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("10.0.0.1:{port}"),
    ] {
        let answer = send(
            &p,
            "POST",
            "/v1/chat/completions",
            &[("Host", &host), JSON],
            &chat_body(),
        )?;
        assert_eq!(answer.status, 421, "{host}: {}", answer.body);
        assert_eq!(answer.code(), "host_not_allowed");
        let answer = send(&p, "GET", "/v1/models", &[("Host", &host)], b"")?;
        assert_eq!(answer.status, 421, "{host}");
    }
    assert!(p.mock.requests().is_empty());
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".to_owned(),
        format!("[::1]:{port}"),
    ] {
        let answer = send(&p, "GET", "/v1/models", &[("Host", &host)], b"")?;
        assert_eq!(answer.status, 200, "{host}: {}", answer.body);
    }
    Ok(())
}

#[test]
fn allowed_hosts_names_are_served() -> TestResult {
    let p = Pollux::start_with(|c, _| c.allowed_hosts = vec!["pollux.internal".to_owned()])?;
    let host = format!("pollux.internal:{}", p.addr.port());
    assert_eq!(
        send(&p, "GET", "/v1/models", &[("Host", &host)], b"")?.status,
        200
    );
    let answer = send(&p, "GET", "/v1/models", &[("Host", "other.internal")], b"")?;
    assert_eq!(answer.status, 421);
    Ok(())
}

// ---------------------------------------------------------------- Origin

#[test]
fn a_foreign_origin_is_refused_before_any_work() -> TestResult {
    // The personal setup of the issue: a server key, no client keys, loopback, no CORS.
    let p = Pollux::start()?;
    for (content_type, path) in [
        ("text/plain", "/v1/chat/completions"),
        ("application/json", "/v1/chat/completions"),
        (
            "application/json",
            "/v1beta/models/gemini-2.5-flash:generateContent",
        ),
    ] {
        let answer = send(
            &p,
            "POST",
            path,
            &[
                ("Origin", "https://evil.example"),
                ("Content-Type", content_type),
            ],
            &chat_body(),
        )?;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert_eq!(answer.code(), "origin_not_allowed");
        assert_eq!(answer.body["error"]["type"], "permission_error");
    }
    let answer = send(&p, "GET", "/v1/models", &[("Origin", "null")], b"")?;
    assert_eq!(answer.status, 403);
    assert!(p.mock.requests().is_empty());
    // The request's own origin is no foreign page.
    let own = format!("http://{}", p.addr);
    assert_eq!(
        send(&p, "GET", "/v1/models", &[("Origin", &own)], b"")?.status,
        200
    );
    Ok(())
}

#[test]
fn an_allowed_origin_is_served_with_cors_headers() -> TestResult {
    let p = Pollux::start_with(|c, _| c.cors_origins = vec!["https://app.example.com".to_owned()])?;
    p.mock.push(Scenario::text("hello app"));
    let app = ("Origin", "https://app.example.com");
    let answer = send(
        &p,
        "POST",
        "/v1/chat/completions",
        &[app, JSON],
        &chat_body(),
    )?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.example.com"),
        "{}",
        answer.head
    );
    // The preflight is still answered by CORS.
    let answer = send(
        &p,
        "OPTIONS",
        "/v1/chat/completions",
        &[
            app,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )?;
    assert_eq!(answer.status, 200);
    let answer = send(
        &p,
        "POST",
        "/v1/chat/completions",
        &[("Origin", "https://evil.example"), JSON],
        &chat_body(),
    )?;
    assert_eq!(answer.status, 403);
    assert_eq!(p.mock.requests().len(), 1);
    Ok(())
}

// ---------------------------------------------------------------- /v1beta

#[test]
fn v1beta_dot_segments_are_refused_in_any_spelling() -> TestResult {
    let p = Pollux::start()?;
    for path in [
        "/v1beta/models/%2e%2e/x",
        "/v1beta/models/%2E%2E/%2e%2e/v1/models",
        "/v1beta/models/.%2e/x:generateContent",
        "/v1beta/models/..%2fx",
        "/v1beta//models",
    ] {
        let answer = send(&p, "GET", path, &[], b"")?;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert_eq!(answer.code(), "invalid_path", "{path}");
    }
    assert!(p.mock.requests().is_empty(), "{:?}", p.mock.requests());
    Ok(())
}

#[test]
fn v1beta_key_parameters_never_reach_the_upstream() -> TestResult {
    let p = Pollux::start()?;
    let answer = send(
        &p,
        "GET",
        "/v1beta/models?KEY=secret-1&pageSize=3&%6Bey=secret-2&Key=secret-3&ke%79=secret-4",
        &[],
        b"",
    )?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let seen = p.mock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1beta/models");
    assert_eq!(seen[0].query, "pageSize=3");
    assert_eq!(seen[0].header("x-goog-api-key"), Some("test-key"));
    let everything = format!("{:?}", seen[0]);
    assert!(!everything.contains("secret"), "{everything}");
    Ok(())
}
