//! The one upstream path (`Upstream::head` / `Upstream::whole`), seen from outside: every
//! route that calls Gemini reports its wait, so `x-pollux-overhead-us` and
//! `pollux_overhead_seconds` never count Gemini's time; Gemini's 5xx keep their status after
//! retries, and 502 is left for what Pollux could not use; and embedding aliases under
//! OpenAI names keep OpenAI's sizes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::support::{assert_openai, Pollux};
use actix_web::http::header::HeaderMap;
use mock_gemini::Scenario;
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The scripted wait of the mock before every answer.
const DELAY: Duration = Duration::from_millis(300);
/// Overhead well under [`DELAY`]: what Pollux itself may spend on a loaded test machine.
const MAX_OVERHEAD: Duration = Duration::from_millis(100);

fn chat(stream: bool) -> Value {
    json!({"model": "gemini-2.5-flash", "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]})
}

fn overhead(headers: &HeaderMap) -> Duration {
    let us: u64 = headers
        .get("x-pollux-overhead-us")
        .expect("x-pollux-overhead-us on every answer")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    Duration::from_micros(us)
}

async fn metrics(p: &Pollux) -> Result<String, Box<dyn std::error::Error>> {
    let mut resp = awc::Client::default().get(p.url("/metrics")).send().await?;
    Ok(String::from_utf8(resp.body().await?.to_vec())?)
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Runs one request against a mock that waits [`DELAY`] before every answer, and checks that
/// the request took at least that long while its overhead stayed far below it.
async fn check_route<F, Fut>(route: &str, send: F) -> TestResult
where
    F: FnOnce(Pollux) -> Fut,
    Fut: std::future::Future<Output = Result<(u16, HeaderMap, Pollux), Box<dyn std::error::Error>>>,
{
    let p = Pollux::start()?;
    p.mock
        .update_config(|c| c.delay_ms = DELAY.as_millis() as u64);
    let started = Instant::now();
    let (status, headers, p) = send(p).await?;
    let took = started.elapsed();
    assert_eq!(status, 200, "{route}");
    assert!(
        took >= DELAY,
        "{route}: the mock's delay applied ({took:?})"
    );
    let overhead = overhead(&headers);
    assert!(
        overhead < MAX_OVERHEAD,
        "{route}: overhead {overhead:?} counts the upstream wait of {DELAY:?}"
    );
    // The histogram agrees with the header.
    let text = metrics(&p).await?;
    let sum = sample(&text, "pollux_overhead_seconds_sum").unwrap();
    let count = sample(&text, "pollux_overhead_seconds_count").unwrap();
    assert_eq!(count, 1.0, "{route}");
    assert!(
        sum < MAX_OVERHEAD.as_secs_f64(),
        "{route}: pollux_overhead_seconds_sum {sum}"
    );
    Ok(())
}

#[actix_rt::test]
async fn overhead_excludes_the_upstream_wait_on_chat() -> TestResult {
    check_route("chat", |p| async move {
        let (status, headers, out) = p.post("/v1/chat/completions", &chat(false)).await?;
        assert_eq!(status, 200, "{out}");
        Ok((status, headers, p))
    })
    .await
}

#[actix_rt::test]
async fn overhead_excludes_the_upstream_wait_on_chat_streams() -> TestResult {
    check_route("chat stream", |p| async move {
        let (status, headers, events) = p.stream("/v1/chat/completions", &chat(true)).await?;
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        Ok((status, headers, p))
    })
    .await
}

#[actix_rt::test]
async fn overhead_excludes_the_upstream_wait_on_embeddings() -> TestResult {
    check_route("embeddings", |p| async move {
        let body = json!({"model": "text-embedding-004", "input": ["a", "b"]});
        let (status, headers, out) = p.post("/v1/embeddings", &body).await?;
        assert_eq!(out["data"].as_array().map(Vec::len), Some(2), "{out}");
        Ok((status, headers, p))
    })
    .await
}

#[actix_rt::test]
async fn overhead_excludes_the_upstream_wait_on_models() -> TestResult {
    check_route("models", |p| async move {
        let (status, headers, out) = p.get("/v1/models").await?;
        assert_eq!(out["object"], "list", "{out}");
        Ok((status, headers, p))
    })
    .await
}

#[actix_rt::test]
async fn overhead_excludes_the_upstream_wait_on_v1beta() -> TestResult {
    check_route("/v1beta", |p| async move {
        let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        let (status, headers, out) = p
            .post("/v1beta/models/gemini-2.5-flash:generateContent", &body)
            .await?;
        assert!(out["candidates"].is_array(), "{out}");
        Ok((status, headers, p))
    })
    .await
}

#[actix_rt::test]
async fn overhead_sums_the_waits_of_every_model_list_page() -> TestResult {
    // Two pages, each behind the delay: both waits are Gemini's.
    let p = Pollux::start()?;
    p.mock.update_config(|c| {
        c.delay_ms = DELAY.as_millis() as u64;
        c.max_page_size = 3;
    });
    let started = Instant::now();
    let (status, headers, out) = p.get("/v1/models").await?;
    assert_eq!(status, 200, "{out}");
    assert!(p.mock.request_count() >= 2, "paged");
    assert!(started.elapsed() >= DELAY * 2);
    assert!(
        overhead(&headers) < MAX_OVERHEAD,
        "{:?}",
        overhead(&headers)
    );
    Ok(())
}

// ------------------------------------------------------------------- status fidelity

fn with_retries(max: u32) -> Result<Pollux, Box<dyn std::error::Error>> {
    Pollux::start_with(move |c, _| {
        c.max_retries = max;
        c.retry_base_ms = 10;
        c.retry_max_delay_secs = 2;
    })
}

fn unavailable(retry_delay: Option<&str>) -> Scenario {
    let mut error =
        json!({"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"});
    if let Some(delay) = retry_delay {
        error["details"] =
            json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]);
    }
    Scenario::Json {
        status: 503,
        body: json!({ "error": error }),
        headers: Default::default(),
        delay_ms: 0,
    }
}

#[actix_rt::test]
async fn gemini_5xx_keep_their_status_after_retries() -> TestResult {
    let p = with_retries(1)?;
    for (code, name, kind) in [
        (500, "INTERNAL", "upstream_error"),
        (503, "UNAVAILABLE", "upstream_error"),
    ] {
        for stream in [false, true] {
            let before = p.mock.request_count();
            p.mock.push(Scenario::error(code, name, "Try again later."));
            p.mock.push(Scenario::error(code, name, "Try again later."));
            let (status, headers, out) = p.post("/v1/chat/completions", &chat(stream)).await?;
            assert_eq!(status, code, "{code} stream={stream}: {out}");
            assert_openai("ErrorResponse", &out);
            assert_eq!(out["error"]["type"], kind);
            assert_eq!(out["error"]["code"], name.to_ascii_lowercase());
            assert!(headers.get("retry-after").is_none(), "Gemini gave no delay");
            assert_eq!(p.mock.request_count() - before, 2, "retried once");
        }
    }
    // 504 is not retried (Gemini already waited its own deadline), and stays 504.
    p.mock.push(Scenario::error(
        504,
        "DEADLINE_EXCEEDED",
        "Deadline expired.",
    ));
    let before = p.mock.request_count();
    let (status, _, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 504, "{out}");
    assert_eq!(out["error"]["type"], "timeout_error");
    assert_eq!(out["error"]["code"], "deadline_exceeded");
    assert_eq!(p.mock.request_count() - before, 1);
    Ok(())
}

#[actix_rt::test]
async fn gemini_503_with_retry_info_carries_retry_after() -> TestResult {
    let p = with_retries(1)?;
    p.mock.push(unavailable(Some("5s")));
    p.mock.push(unavailable(Some("7s")));
    let (status, headers, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 503, "{out}");
    assert_eq!(
        headers.get("retry-after").map(|v| v.to_str().unwrap()),
        Some("7"),
        "the last answer's delay"
    );
    assert_eq!(p.mock.request_count(), 2);
    // The /v1beta pass-through gets Gemini's own answer, status and body.
    p.mock.push(unavailable(None));
    p.mock.push(unavailable(None));
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let (status, _, out) = p
        .post("/v1beta/models/gemini-2.5-flash:generateContent", &body)
        .await?;
    assert_eq!(status, 503, "{out}");
    assert_eq!(out["error"]["status"], "UNAVAILABLE");
    Ok(())
}

#[actix_rt::test]
async fn what_pollux_cannot_use_is_502() -> TestResult {
    // An HTML page from something in front of Gemini, even with a 503 status: retried, then
    // 502, because it is not Gemini's answer.
    let p = with_retries(1)?;
    for stream in [false, true] {
        let before = p.mock.request_count();
        p.mock.push(Scenario::html(503));
        p.mock.push(Scenario::html(503));
        let (status, _, out) = p.post("/v1/chat/completions", &chat(stream)).await?;
        assert_eq!(status, 502, "stream={stream}: {out}");
        assert_eq!(out["error"]["code"], "upstream_error");
        assert_openai("ErrorResponse", &out);
        assert_eq!(p.mock.request_count() - before, 2);
    }
    // A refused connection, on every route.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let p = Pollux::start_with(|c, _| c.upstream = format!("http://127.0.0.1:{port}"))?;
    let native = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    for (path, body) in [
        ("/v1/chat/completions", Some(chat(false))),
        ("/v1/chat/completions", Some(chat(true))),
        (
            "/v1/embeddings",
            Some(json!({"model": "text-embedding-004", "input": "a"})),
        ),
        ("/v1/models", None),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            Some(native),
        ),
    ] {
        let (status, _, out) = match &body {
            Some(body) => p.post(path, body).await?,
            None => p.get(path).await?,
        };
        assert_eq!(status, 502, "{path}: {out}");
        assert_eq!(out["error"]["code"], "upstream_unreachable", "{path}");
        assert_openai("ErrorResponse", &out);
    }
    Ok(())
}

// ---------------------------------------------------------------- embedding dimensions

async fn embedding_len(p: &Pollux, body: Value) -> Result<usize, Box<dyn std::error::Error>> {
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    assert_eq!(status, 200, "{out}");
    Ok(out["data"][0]["embedding"]
        .as_array()
        .ok_or("no embedding")?
        .len())
}

#[actix_rt::test]
async fn openai_embedding_names_keep_openai_sizes_behind_aliases() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.aliases = vec![
            "text-embedding-3-small=gemini-embedding-001".to_owned(),
            "text-embedding-3-large=gemini-embedding-001".to_owned(),
            "text-embedding-ada-002=gemini-embedding-001".to_owned(),
            "small-768=gemini-embedding-001@768".to_owned(),
        ];
    })?;
    for (model, dims) in [
        ("text-embedding-3-small", 1536),
        ("text-embedding-3-large", 3072),
        ("text-embedding-ada-002", 1536),
        ("small-768", 768),
        // Not an alias: Gemini's own default.
        ("gemini-embedding-001", 3072),
    ] {
        let got = embedding_len(&p, json!({"model": model, "input": "hello"})).await?;
        assert_eq!(got, dims, "{model}");
    }
    // The client's own `dimensions` wins, also in batches.
    let got = embedding_len(
        &p,
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 64}),
    )
    .await?;
    assert_eq!(got, 64);
    let sent: Vec<Value> = p
        .mock
        .requests()
        .iter()
        .map(|r| r.json().unwrap())
        .collect();
    assert_eq!(sent[0]["outputDimensionality"], 1536);
    assert!(sent[4].get("outputDimensionality").is_none(), "{}", sent[4]);
    Ok(())
}
