//! Observability end to end: request ids and the `x-pollux-overhead-us` header on every
//! answer, the Prometheus text on `/metrics`, and the access log the real `pollux` binary
//! writes (one line per request, never a key, `RUST_LOG` can turn it off).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use mock_gemini::{MockGemini, Scenario};

use crate::process::{spawn_pollux_logging, wait_exit};
use crate::support::{
    assert_clean, chat, client, final_event, metrics, sample, stream_chat, text_event, Pollux,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[actix_rt::test]
async fn request_ids_and_overhead_headers_on_every_answer() -> TestResult {
    let p = Pollux::start()?;
    let mut resp = client()
        .post(p.url("/v1/chat/completions"))
        .insert_header(("x-request-id", "trace-42"))
        .send_json(&chat("hi"))
        .await?;
    assert_eq!(resp.status(), 200);
    let _ = resp.body().await?;
    assert_eq!(resp.headers().get("x-request-id").unwrap(), "trace-42");
    let overhead: u64 = resp
        .headers()
        .get("x-pollux-overhead-us")
        .unwrap()
        .to_str()?
        .parse()?;
    assert!(overhead < 60_000_000);

    // An insane client id is replaced; errors and unknown routes get headers too.
    for (path, id) in [("/v1/chat/completions", "has spaces in it"), ("/nope", "x")] {
        let mut resp = client()
            .post(p.url(path))
            .insert_header(("x-request-id", id))
            .send_body("{")
            .await?;
        let _ = resp.body().await?;
        assert!(resp.status().is_client_error());
        let got = resp.headers().get("x-request-id").unwrap().to_str()?;
        if id == "x" {
            assert_eq!(got, "x");
        } else {
            assert!(got.starts_with("req_"), "{got}");
        }
        assert!(resp.headers().get("x-pollux-overhead-us").is_some());
    }
    let (_, headers, _) = p.stream("/v1/chat/completions", &stream_chat("hi")).await?;
    assert!(headers.get("x-request-id").is_some());
    assert!(headers.get("x-pollux-overhead-us").is_some());
    Ok(())
}

#[actix_rt::test]
async fn metrics_count_requests_tokens_and_latencies() -> TestResult {
    let p = Pollux::start()?;
    let (status, _, _) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 200);
    p.mock
        .push(Scenario::stream(vec![text_event("a"), final_event("b")]));
    let (status, _, events) = p.stream("/v1/chat/completions", &stream_chat("hi")).await?;
    assert_eq!(status, 200);
    assert_eq!(events.last().unwrap(), "[DONE]");
    p.mock
        .push(Scenario::error(404, "NOT_FOUND", "models/x is not found."));
    let (status, _, _) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 404);

    // The access record of a stream is written when its body ends; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = metrics(&p).await?;
        if text.contains("status=\"200\"} 2") || Instant::now() > deadline {
            break text;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    let route = "route=\"/v1/chat/completions\",model=\"gemini-2.5-flash\"";
    assert!(
        text.contains(&format!(
            "pollux_requests_total{{{route},status=\"200\"}} 2"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "pollux_requests_total{{{route},status=\"404\"}} 1"
        )),
        "{text}"
    );
    assert!(text.contains("pollux_tokens_total{model=\"gemini-2.5-flash\",kind=\"prompt\"}"));
    assert!(text.contains("pollux_tokens_total{model=\"gemini-2.5-flash\",kind=\"completion\"}"));
    assert!(text.contains("pollux_time_to_first_token_seconds_count{model=\"gemini-2.5-flash\"} 1"));
    assert!(
        text.contains("pollux_upstream_latency_seconds_count{model=\"gemini-2.5-flash\"} 3"),
        "{text}"
    );
    assert_eq!(sample(&text, "pollux_upstream_retries_total"), Some(0.0));
    assert_eq!(sample(&text, "pollux_key_cooldowns_total"), Some(0.0));
    assert!(sample(&text, "pollux_overhead_seconds_count").unwrap() >= 3.0);
    // Every sample line belongs to a declared metric.
    let declared: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            declared.iter().any(|d| line.starts_with(d)),
            "undeclared sample: {line}"
        );
    }
    assert_clean(&p).await
}

/// One access line per request, written by the real binary (the buffering defers it past
/// the response), with no key in it; `RUST_LOG` can turn the lines off.
#[actix_rt::test]
async fn each_request_writes_one_access_line_unless_rust_log_turns_them_off() -> TestResult {
    for (rust_log, expected) in [("info", 2), ("info,pollux::access=off", 0)] {
        let mock = MockGemini::start()?;
        let (mut child, addr, lines) = spawn_pollux_logging(&mock, 1, rust_log)?;
        let http = client();
        let resp = http
            .post(format!("http://{addr}/v1/chat/completions"))
            .send_json(&chat("hi"))
            .await?;
        assert_eq!(resp.status(), 200);
        let resp = http.get(format!("http://{addr}/v1/nowhere")).send().await?;
        assert_eq!(resp.status(), 404);
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        assert!(wait_exit(&mut child, Duration::from_secs(10)).is_some());
        let lines: Vec<String> = lines.iter().collect();
        assert!(lines.iter().all(|l| !l.contains("test-key")), "{lines:#?}");
        let access: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(" INFO  pollux::access] "))
            .collect();
        assert_eq!(access.len(), expected, "RUST_LOG={rust_log}: {lines:#?}");
        if expected > 0 {
            assert!(
                access[0].contains("POST /v1/chat/completions model=gemini-2.5-flash status=200")
                    && access[0].contains("end=complete"),
                "{}",
                access[0]
            );
            assert!(access[1].contains("GET unmatched"), "{}", access[1]);
            assert!(access[1].contains("status=404"), "{}", access[1]);
        }
    }
    Ok(())
}
