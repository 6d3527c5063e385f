//! The mock over real HTTP on 127.0.0.1: scripted answers, SSE framing, Gemini's error bodies,
//! prefixed paths, thought-signature checks, recording, the stream counters, the control
//! endpoints and the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mock_gemini::oracle::gemini_errors;
use mock_gemini::{MockGemini, Scenario, StreamStep};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn Error>>;

const FLASH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const FLASH_SSE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish()
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
}

/// POST `body` with a key; returns status, content type and body bytes.
async fn post(
    mock: &MockGemini,
    path: &str,
    body: &Value,
) -> Result<(u16, String, Vec<u8>), Box<dyn Error>> {
    let mut res = client()
        .post(format!("{}{path}", mock.base_url()))
        .insert_header(("x-goog-api-key", "test-key"))
        .send_json(body)
        .await?;
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = res.body().limit(16 << 20).await?;
    Ok((res.status().as_u16(), ct, bytes.to_vec()))
}

async fn post_json(
    mock: &MockGemini,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), Box<dyn Error>> {
    let (status, _, bytes) = post(mock, path, body).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// Split an SSE body into its events, asserting Gemini's exact framing.
fn sse_events(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        text.ends_with("\r\n\r\n"),
        "body must end with a blank CRLF line: {text:?}"
    );
    text.split_terminator("\r\n\r\n")
        .map(|frame| {
            let json = frame
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("bad frame {frame:?}"));
            assert!(!json.contains('\n'), "event JSON must be compact: {json}");
            serde_json::from_str(json).unwrap()
        })
        .collect()
}

fn text_of(event: &Value) -> String {
    event["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default()
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn scripted_text_and_recording() -> TestResult {
    let mock = MockGemini::start()?;
    mock.push(Scenario::text("Hi from a script"));
    let (status, body) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(status, 200);
    assert_eq!(text_of(&body), "Hi from a script");
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert_eq!(body["modelVersion"], "gemini-2.5-flash");
    assert!(body["responseId"].is_string());
    assert_eq!(
        gemini_errors("GenerateContentResponse", &body),
        Vec::<String>::new()
    );

    let reqs = mock.requests();
    assert_eq!(mock.request_count(), 1);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(r.model.as_deref(), Some("gemini-2.5-flash"));
    assert_eq!(r.rpc.as_deref(), Some("generateContent"));
    assert_eq!(r.header("X-Goog-Api-Key"), Some("test-key"));
    assert_eq!(r.json()?, hello());
    Ok(())
}

#[actix_rt::test]
async fn default_answer_echoes_plain_and_streamed() -> TestResult {
    let mock = MockGemini::start()?;
    let (_, body) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(text_of(&body), "mock-gemini says: hello there");

    let (status, ct, raw) = post(&mock, FLASH_SSE, &hello()).await?;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let events = sse_events(&raw);
    assert_eq!(events.len(), 3);
    let all: String = events.iter().map(text_of).collect();
    assert_eq!(all, "mock-gemini says: hello there");
    let mut last_total = 0;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            gemini_errors("GenerateContentResponse", e),
            Vec::<String>::new()
        );
        let total = e["usageMetadata"]["totalTokenCount"].as_u64().unwrap();
        assert!(total >= last_total, "usage must be cumulative");
        last_total = total;
        let finish = e["candidates"][0].get("finishReason");
        assert_eq!(
            finish.is_some(),
            i == 2,
            "finishReason only on the last event"
        );
        assert_eq!(e["responseId"], events[0]["responseId"]);
    }
    assert_eq!(events[2]["candidates"][0]["finishReason"], "STOP");
    Ok(())
}

#[actix_rt::test]
async fn paths_prefixes_and_stream_mode() -> TestResult {
    let mock = MockGemini::start()?;
    let (status, _) = post_json(
        &mock,
        "/v1/v1beta/models/gemini-2.5-flash:generateContent",
        &hello(),
    )
    .await?;
    assert_eq!(status, 200);
    let (status, ct, raw) = post(
        &mock,
        "/gw/v1/v1beta/models/m:streamGenerateContent?alt=sse",
        &hello(),
    )
    .await?;
    assert_eq!((status, ct.starts_with("text/event-stream")), (200, true));
    assert!(!sse_events(&raw).is_empty());

    let (status, body) = post_json(
        &mock,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        &hello(),
    )
    .await?;
    assert_eq!(status, 400, "streaming without alt=sse is refused");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");

    let (status, body) = post_json(&mock, "/v1beta/nothing/here", &hello()).await?;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], 404);
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(
        mock.request_count(),
        4,
        "every request is counted, refused or not"
    );
    Ok(())
}

#[actix_rt::test]
async fn gemini_error_bodies() -> TestResult {
    let mock = MockGemini::start()?;
    let url = format!("{}{FLASH}", mock.base_url());

    let mut res = client().post(&url).send_json(&hello()).await?;
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await?;
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");

    let mut res = client()
        .post(format!("{url}?key=invalid-key"))
        .send_json(&hello())
        .await?;
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await?;
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");

    let mut res = client()
        .post(format!("{url}?key=good"))
        .send_json(&hello())
        .await?;
    assert_eq!(res.status().as_u16(), 200, "a key in the query works too");
    res.body().await?;

    let bad = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"x": 1}});
    let (status, body) = post_json(&mock, FLASH, &bad).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Invalid JSON payload received. Unknown name \"x\" at 'generation_config': Cannot find field."
    );
    assert_eq!(
        body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );

    let system = json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]});
    let (status, body) = post_json(&mock, FLASH, &system).await?;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("Please use a valid role: user, model."))
    );

    let empty = json!({"contents": [{"role": "user", "parts": [{"text": ""}]}]});
    let (status, body) = post_json(&mock, FLASH, &empty).await?;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unable to submit request because it has an empty text parameter"));

    let (_, raw_err, _) = post(&mock, FLASH, &bad).await?;
    assert!(raw_err.starts_with("application/json"));

    assert_eq!(mock.queued(), 0);
    mock.push(Scenario::rate_limited(7));
    mock.push(Scenario::html(502));
    mock.push(Scenario::error(
        503,
        "UNAVAILABLE",
        "The model is overloaded. Please try again later.",
    ));
    let (status, body) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(status, 429);
    let details = body["error"]["details"].as_array().unwrap();
    assert!(details.iter().any(
        |d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" && d["retryDelay"] == "7s"
    ));
    let (status, ct, html) = post(&mock, FLASH, &hello()).await?;
    assert_eq!(status, 502);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(String::from_utf8(html)?.contains("<html"));
    let (status, body) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(
        (status, &body["error"]["status"]),
        (503, &json!("UNAVAILABLE"))
    );
    Ok(())
}

#[actix_rt::test]
async fn refused_requests_do_not_consume_scenarios() -> TestResult {
    let mock = MockGemini::start()?;
    mock.push(Scenario::text("kept"));
    let (status, _) = post_json(&mock, FLASH, &json!({"contents": []})).await?;
    assert_eq!(status, 400);
    assert_eq!(mock.queued(), 1);
    let (_, body) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(text_of(&body), "kept");
    Ok(())
}

#[actix_rt::test]
async fn gemini3_thought_signatures() -> TestResult {
    let mock = MockGemini::start()?;
    let path = "/v1beta/models/gemini-3-pro-preview:generateContent";
    mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    let (status, body) = post_json(&mock, path, &hello()).await?;
    assert_eq!(status, 200);
    let call = body["candidates"][0]["content"]["parts"][0].clone();
    let sig = call["thoughtSignature"].as_str().unwrap().to_owned();

    let follow_up = |call: Value| {
        json!({"contents": [
            {"role": "user", "parts": [{"text": "weather in Paris?"}]},
            {"role": "model", "parts": [call]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}]}
        ]})
    };
    let (status, body) = post_json(&mock, path, &follow_up(call.clone())).await?;
    assert_eq!(status, 200, "{body}");

    let mut unsigned = call.clone();
    unsigned.as_object_mut().unwrap().remove("thoughtSignature");
    let (status, body) = post_json(&mock, path, &follow_up(unsigned.clone())).await?;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Function call is missing a thought_signature"));

    let mut altered = call.clone();
    altered["thoughtSignature"] = json!(format!("AAAA{sig}"));
    let (status, _) = post_json(&mock, path, &follow_up(altered)).await?;
    assert_eq!(status, 400);

    let mut skipped = call;
    skipped["thoughtSignature"] = json!("skip_thought_signature_validator");
    let (status, _) = post_json(&mock, path, &follow_up(skipped)).await?;
    assert_eq!(status, 200);

    // Older models neither sign nor check.
    let old = "/v1beta/models/gemini-2.5-flash:generateContent";
    let (status, _) = post_json(&mock, old, &follow_up(unsigned)).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[actix_rt::test]
async fn client_disconnect_is_counted() -> TestResult {
    let mock = MockGemini::start()?;
    let event = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "index": 0}]});
    let mut steps = Vec::new();
    for _ in 0..50 {
        steps.push(StreamStep::Event(event.clone()));
        steps.push(StreamStep::Delay(50));
    }
    mock.push(Scenario::stream(steps));
    {
        let mut res = client()
            .post(format!("{}{FLASH_SSE}", mock.base_url()))
            .insert_header(("x-goog-api-key", "k"))
            .send_json(&hello())
            .await?;
        assert_eq!(res.status().as_u16(), 200);
        let first = res.next().await.unwrap()?;
        assert!(first.starts_with(b"data: "));
        assert_eq!(mock.open_streams(), 1);
    }
    wait_until("the stream to be dropped", || mock.open_streams() == 0).await;
    assert_eq!(mock.cancelled_streams(), 1);

    // A stream that ran to its end is not a cancellation.
    post(&mock, FLASH_SSE, &hello()).await?;
    assert_eq!((mock.open_streams(), mock.cancelled_streams()), (0, 1));
    Ok(())
}

#[test]
fn disconnect_during_hang_is_counted() -> TestResult {
    let mock = MockGemini::start()?;
    let event = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "index": 0}]});
    mock.push(Scenario::stream(vec![
        StreamStep::Event(event),
        StreamStep::Hang,
    ]));
    let mut conn = raw_post(&mock, FLASH_SSE, &hello())?;
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf)?;
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert_eq!(mock.open_streams(), 1);
    drop(conn);
    let start = Instant::now();
    while mock.open_streams() != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a hung stream must be dropped when its client leaves"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(mock.cancelled_streams(), 1);
    Ok(())
}

fn raw_post(mock: &MockGemini, path: &str, body: &Value) -> std::io::Result<TcpStream> {
    let mut conn = TcpStream::connect(mock.addr())?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = body.to_string();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-goog-api-key: k\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    Ok(conn)
}

#[test]
fn cut_leaves_an_incomplete_body() -> TestResult {
    let mock = MockGemini::start()?;
    let event = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}, "index": 0}]});
    mock.push(Scenario::stream(vec![
        StreamStep::Event(event),
        StreamStep::Cut,
    ]));
    let mut conn = raw_post(&mock, FLASH_SSE, &hello())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let ended_with = loop {
        match conn.read(&mut buf) {
            Ok(0) => break "eof",
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "reset",
            Err(e) => return Err(e.into()),
        }
    };
    assert_eq!(ended_with, "reset", "a cut resets the connection");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(text.contains("data: {"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a cut stream must not end with the last chunk: {text:?}"
    );
    assert_eq!(
        mock.cancelled_streams(),
        0,
        "a scripted cut is not a client cancellation"
    );
    Ok(())
}

#[actix_rt::test]
async fn cut_is_an_error_for_awc() -> TestResult {
    let mock = MockGemini::start()?;
    let event = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}, "index": 0}]});
    mock.push(Scenario::stream(vec![
        StreamStep::Event(event),
        StreamStep::Cut,
    ]));
    let mut res = client()
        .post(format!("{}{FLASH_SSE}", mock.base_url()))
        .insert_header(("x-goog-api-key", "k"))
        .send_json(&hello())
        .await?;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.body().await.is_err(),
        "the client must see an errored body"
    );
    Ok(())
}

#[actix_rt::test]
async fn mid_stream_failure_is_a_bare_error_object() -> TestResult {
    let mock = MockGemini::start()?;
    mock.push(Scenario::text_then_error(
        &["Once upon"],
        503,
        "UNAVAILABLE",
        "The model is overloaded. Please try again later.",
    ));
    let (status, _, raw) = post(&mock, FLASH_SSE, &hello()).await?;
    assert_eq!(status, 200);
    let text = String::from_utf8(raw)?;
    let (events, tail) = text.split_at(text.rfind("\r\n\r\n").unwrap() + 4);
    let events = sse_events(events.as_bytes());
    assert_eq!(events.len(), 1);
    assert!(events[0]["candidates"][0].get("finishReason").is_none());
    let err: Value = serde_json::from_str(tail)?;
    assert_eq!(err["error"]["code"], 503);
    assert!(
        tail.starts_with("{\n  \"error\""),
        "pretty-printed as Gemini writes it: {tail:?}"
    );
    Ok(())
}

#[actix_rt::test]
async fn hang_before_head_times_out_the_client() -> TestResult {
    let mock = MockGemini::start()?;
    mock.push(Scenario::HangBeforeHead);
    let res = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish()
        .post(format!("{}{FLASH}", mock.base_url()))
        .insert_header(("x-goog-api-key", "k"))
        .send_json(&hello())
        .await;
    assert!(
        matches!(res, Err(awc::error::SendRequestError::Timeout)),
        "{res:?}"
    );
    Ok(())
}

#[actix_rt::test]
async fn control_endpoints() -> TestResult {
    let mock = MockGemini::start()?;
    let base = mock.base_url();
    let scenarios = json!([
        {"kind": "answer", "chunks": [[{"text": "one"}]]},
        {"kind": "json", "status": 500, "body": {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}},
        {"kind": "stream", "steps": [{"event": {"candidates": [{"content": {"role": "model", "parts": [{"text": "s"}]}, "finishReason": "STOP", "index": 0}]}}]}
    ]);
    let mut res = client()
        .post(format!("{base}/_mock/scenarios"))
        .send_json(&scenarios)
        .await?;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().await?["queued"], 3);
    let mut res = client()
        .post(format!("{base}/_mock/scenarios"))
        .send_json(&json!({"kind": "nope"}))
        .await?;
    assert_eq!(res.status().as_u16(), 400);
    res.body().await?;

    let (_, body) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(text_of(&body), "one");
    let (status, _) = post_json(&mock, FLASH, &hello()).await?;
    assert_eq!(status, 500);
    let (_, _, raw) = post(&mock, FLASH_SSE, &hello()).await?;
    let events = sse_events(&raw);
    assert_eq!(text_of(&events[0]), "s");
    assert_eq!(
        events[0]["modelVersion"], "gemini-2.5-flash",
        "ids are filled into scripted events"
    );

    let mut res = client()
        .get(format!("{base}/_mock/requests"))
        .send()
        .await?;
    let recorded: Value = res.json().limit(1 << 20).await?;
    let recorded = recorded.as_array().unwrap();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[2]["rpc"], "streamGenerateContent");
    assert_eq!(recorded[0]["headers"]["x-goog-api-key"], "test-key");
    assert_eq!(
        serde_json::from_str::<Value>(recorded[0]["body"].as_str().unwrap())?,
        hello()
    );

    let mut res = client().get(format!("{base}/_mock/stats")).send().await?;
    let stats: Value = res.json().await?;
    assert_eq!(stats["request_count"], 3);
    assert_eq!(stats["queued_scenarios"], 0);

    mock.push(Scenario::text("dropped by reset"));
    let mut res = client().post(format!("{base}/_mock/reset")).send().await?;
    assert_eq!(res.status().as_u16(), 200);
    res.body().await?;
    assert_eq!(
        (mock.request_count(), mock.requests().len(), mock.queued()),
        (0, 0, 0)
    );
    Ok(())
}

#[test]
fn binary_prints_its_url_and_serves() -> TestResult {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mock-gemini"))
        .args(["--listen", "127.0.0.1:0", "--no-validate"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let url = line
        .trim_end()
        .strip_prefix("mock-gemini listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr = url.strip_prefix("http://127.0.0.1:").unwrap();
    let port: u16 = addr.parse()?;

    let mut conn = TcpStream::connect(("127.0.0.1", port))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = hello().to_string();
    write!(
        conn,
        "POST {FLASH} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: k\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw)?;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("mock-gemini says: hello there"), "{raw}");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(exit) = child.try_wait()? {
            assert!(exit.success(), "{exit:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the binary must exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn stop_does_not_wait_for_hung_requests() -> TestResult {
    let mock = MockGemini::start()?;
    mock.push(Scenario::HangBeforeHead);
    let event = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "index": 0}]});
    mock.push(Scenario::stream(vec![
        StreamStep::Event(event),
        StreamStep::Hang,
    ]));
    let _head = raw_post(&mock, FLASH, &hello())?;
    let mut body = raw_post(&mock, FLASH_SSE, &hello())?;
    let mut buf = [0u8; 1024];
    assert!(body.read(&mut buf)? > 0);
    let start = Instant::now();
    drop(mock);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        start.elapsed()
    );
    Ok(())
}
