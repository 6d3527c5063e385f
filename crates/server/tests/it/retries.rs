//! Upstream retries: which failures are repeated, how long Pollux waits, and that nothing is
//! retried once the client has been answered. The fake upstream counts every attempt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::{Duration, Instant};

use mock_gemini::Scenario;
use serde_json::{json, Value};
use support::{assert_openai, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Gemini's 503 for an overloaded model: the failure retries exist for.
fn overloaded() -> Scenario {
    Scenario::error(503, "UNAVAILABLE", "The model is overloaded.")
}

fn chat(stream: bool) -> Value {
    json!({"model": "gemini-2.5-flash", "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]})
}

fn with_retries(max: u32) -> Result<Pollux, Box<dyn std::error::Error>> {
    Pollux::start_with(move |c, _| {
        c.max_retries = max;
        c.retry_base_ms = 20;
        c.retry_max_delay_secs = 2;
    })
}

async fn retries_metric(p: &Pollux) -> Result<u64, Box<dyn std::error::Error>> {
    let mut resp = awc::Client::default().get(p.url("/metrics")).send().await?;
    let text = String::from_utf8(resp.body().await?.to_vec())?;
    let line = text
        .lines()
        .find(|l| l.starts_with("pollux_upstream_retries_total "))
        .ok_or("no retries metric")?;
    Ok(line.rsplit(' ').next().unwrap_or("0").parse()?)
}

#[actix_rt::test]
async fn unavailable_then_success_is_retried() -> TestResult {
    let p = with_retries(2)?;
    p.mock.push(overloaded());
    p.mock.push(Scenario::error(
        500,
        "INTERNAL",
        "Internal error encountered.",
    ));
    p.mock.push(Scenario::text("third time lucky"));
    let (status, _, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["choices"][0]["message"]["content"], "third time lucky");
    assert_eq!(p.mock.request_count(), 3);
    assert_eq!(retries_metric(&p).await?, 2);
    Ok(())
}

#[actix_rt::test]
async fn streams_are_retried_before_the_200() -> TestResult {
    let p = with_retries(1)?;
    p.mock.push(overloaded());
    p.mock.push(Scenario::text_stream(&["ok"]));
    let (status, _, events) = p.stream("/v1/chat/completions", &chat(true)).await?;
    assert_eq!(status, 200);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(p.mock.request_count(), 2);
    Ok(())
}

#[actix_rt::test]
async fn retries_stop_at_the_configured_count() -> TestResult {
    let p = with_retries(2)?;
    for _ in 0..3 {
        p.mock.push(overloaded());
    }
    p.mock.push(Scenario::text("never reached"));
    let (status, _, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 503, "Gemini's status is kept: {out}");
    assert_openai("ErrorResponse", &out);
    assert_eq!(p.mock.request_count(), 3, "one attempt and two retries");
    Ok(())
}

#[actix_rt::test]
async fn rate_limit_waits_for_retry_info() -> TestResult {
    let p = with_retries(1)?;
    p.mock.push(Scenario::rate_limited(1));
    p.mock.push(Scenario::text("after the wait"));
    let started = Instant::now();
    let (status, _, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 200, "{out}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "RetryInfo's 1s was honoured"
    );
    assert_eq!(p.mock.request_count(), 2);
    Ok(())
}

#[actix_rt::test]
async fn long_retry_info_and_daily_quota_go_to_the_client() -> TestResult {
    let p = with_retries(2)?;
    // Longer than retry_max_delay (2 s): the client decides, with Retry-After.
    p.mock.push(Scenario::rate_limited(30));
    let (status, headers, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 429, "{out}");
    assert_eq!(headers.get("retry-after").unwrap(), "30");
    assert_eq!(p.mock.request_count(), 1);

    p.mock.push(Scenario::Json {
        status: 429,
        body: json!({"error": {"code": 429, "message": "Quota exceeded for quota metric 'Generate Content API requests per day'",
            "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let (status, _, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 429, "{out}");
    assert_eq!(p.mock.request_count(), 2, "a per-day quota is not retried");
    Ok(())
}

#[actix_rt::test]
async fn client_errors_are_never_retried() -> TestResult {
    let p = with_retries(3)?;
    p.mock
        .push(Scenario::error(400, "INVALID_ARGUMENT", "Bad request."));
    let (status, _, _) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 400);
    assert_eq!(p.mock.request_count(), 1);
    Ok(())
}

#[actix_rt::test]
async fn failure_after_the_200_is_not_retried() -> TestResult {
    let p = with_retries(3)?;
    p.mock.push(Scenario::text_then_error(
        &["partial"],
        503,
        "UNAVAILABLE",
        "The model is overloaded.",
    ));
    let (status, _, events) = p.stream("/v1/chat/completions", &chat(true)).await?;
    assert_eq!(status, 200);
    assert!(events.last().unwrap().contains("\"error\""));
    assert_eq!(p.mock.request_count(), 1);
    Ok(())
}

#[actix_rt::test]
async fn refused_connections_are_retried_then_reported() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.upstream = "http://127.0.0.1:9".to_owned();
        c.max_retries = 2;
        c.retry_base_ms = 10;
    })?;
    let (status, _, out) = p.post("/v1/chat/completions", &chat(false)).await?;
    assert_eq!(status, 502, "{out}");
    assert_eq!(out["error"]["code"], "upstream_unreachable");
    assert_eq!(retries_metric(&p).await?, 2);
    Ok(())
}
