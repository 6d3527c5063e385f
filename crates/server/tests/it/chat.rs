//! End-to-end tests of the Pollux server: the real app on an ephemeral loopback port in
//! front of `mock-gemini`, driven over HTTP. Every upstream body the mock receives is held
//! against the Gemini schema oracle (the mock rejects invalid ones, and we check again), and
//! every body Pollux returns against the OpenAI oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use mock_gemini::{Scenario, StreamStep};
use serde_json::{json, Value};
use support::{assert_openai, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn chat(content: &str) -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": content}]})
}

#[actix_rt::test]
async fn plain_text_chat_round_trip() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text(
        "Quantum mechanics is the physics of the very small.",
    ));
    let body = json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Explain quantum mechanics."}
        ],
        "temperature": 0.7, "max_tokens": 1024, "user": "ignored", "store": false
    });
    let (status, headers, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()?
        .starts_with("application/json"));
    assert_openai("CreateChatCompletionResponse", &out);
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["model"], "gemini-2.5-flash");
    assert!(out["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(out["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "Quantum mechanics is the physics of the very small."
    );
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert!(out["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let reqs = p.mock.requests();
    assert_eq!(reqs.len(), 1, "exactly one upstream call");
    let up = &reqs[0];
    assert_eq!(up.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(up.header("x-goog-api-key"), Some("test-key"));
    assert!(
        !up.query.contains("key="),
        "the key never travels in the URL"
    );
    let sent = up.json()?;
    support::assert_gemini_request(&sent);
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    // Thinking counts inside max_tokens: half of it stays for the answer (docs/mapping.md).
    assert_eq!(
        sent["generationConfig"],
        json!({"temperature": 0.7, "maxOutputTokens": 1024, "thinkingConfig": {"thinkingBudget": 512}})
    );
    Ok(())
}

#[actix_rt::test]
async fn seed_document_usage_arithmetic() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "**Thinking**", "thought": true}, {"text": "Answer."}]},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 153, "totalTokenCount": 1027,
                "trafficType": "ON_DEMAND", "thoughtsTokenCount": 869},
            "modelVersion": "gemini-2.5-flash", "createTime": "2025-08-27T02:34:33.918734Z", "responseId": "r1"
        }),
        headers: Default::default(),
        delay_ms: 0,
    });
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    let u = &out["usage"];
    assert_eq!(
        (
            u["prompt_tokens"].as_u64(),
            u["completion_tokens"].as_u64(),
            u["total_tokens"].as_u64()
        ),
        (Some(5), Some(1022), Some(1027))
    );
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 869);
    assert_eq!(out["choices"][0]["message"]["content"], "Answer.");
    assert_eq!(
        out["choices"][0]["message"]["reasoning_content"],
        "**Thinking**"
    );
    Ok(())
}

#[actix_rt::test]
async fn streaming_chat_emits_role_once_one_finish_usage_and_done() -> TestResult {
    let p = Pollux::start()?;
    p.mock
        .push(Scenario::text_stream(&["Hel", "lo ", "wörld 🌍"]));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, events) = p.stream("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for c in &chunks {
        assert_openai("CreateChatCompletionStreamResponse", c);
    }
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello wörld 🌍");
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"].get("role").is_some())
        .count();
    assert_eq!(roles, 1, "role only in the first chunk");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec![&json!("stop")]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let ids: std::collections::HashSet<&str> =
        chunks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one id for every chunk");

    let up = &p.mock.requests()[0];
    assert_eq!(
        up.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(up.query, "alt=sse");
    support::assert_gemini_request(&up.json()?);
    Ok(())
}

#[actix_rt::test]
async fn upstream_base_with_path_prefix() -> TestResult {
    let p = Pollux::start_with(|c, mock| c.upstream = format!("{}/v1/", mock))?;
    p.mock.push(Scenario::text("ok"));
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        p.mock.requests()[0].path,
        "/v1/v1beta/models/gemini-2.5-flash:generateContent"
    );
    Ok(())
}

#[actix_rt::test]
async fn models_prefix_is_accepted_and_echoed() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("ok"));
    let mut body = chat("hi");
    body["model"] = json!("models/gemini-2.5-pro");
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["model"], "models/gemini-2.5-pro");
    assert_eq!(
        p.mock.requests()[0].model.as_deref(),
        Some("gemini-2.5-pro")
    );
    Ok(())
}

#[actix_rt::test]
async fn client_bearer_key_is_forwarded_when_no_key_is_configured() -> TestResult {
    let p = Pollux::start_with(|c, _| c.api_key = None)?;
    p.mock.push(Scenario::text("ok"));
    let (status, _, _) = p
        .post_with_key("/v1/chat/completions", &chat("hi"), Some("client-key"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        p.mock.requests()[0].header("x-goog-api-key"),
        Some("client-key")
    );

    let (status, _, out) = p
        .post_with_key("/v1/chat/completions", &chat("hi"), None)
        .await?;
    assert_eq!(status, 401);
    assert_openai("ErrorResponse", &out);
    assert_eq!(p.mock.request_count(), 1, "no upstream call without a key");

    let (status, _, out) = p
        .post_with_key("/v1/chat/completions", &chat("hi"), Some("invalid-key"))
        .await?;
    assert_eq!(status, 401, "{out}");
    assert_eq!(out["error"]["type"], "authentication_error");
    assert!(
        !out.to_string().contains("invalid-key"),
        "the key never appears in an error"
    );
    Ok(())
}

#[actix_rt::test]
async fn several_choices_with_n() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"candidates": [
            {"content": {"role": "model", "parts": [{"text": "one"}]}, "finishReason": "STOP", "index": 0},
            {"content": {"role": "model", "parts": [{"text": "two"}]}, "finishReason": "MAX_TOKENS", "index": 1}],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 4, "totalTokenCount": 6}}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let mut body = chat("hi");
    body["n"] = json!(2);
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    assert_eq!(out["choices"][1]["index"], 1);
    assert_eq!(out["choices"][1]["finish_reason"], "length");
    assert_eq!(
        p.mock.requests()[0].json()?["generationConfig"]["candidateCount"],
        2
    );
    Ok(())
}

#[actix_rt::test]
async fn blocked_prompt_is_a_content_filter_choice() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let (status, _, out) = p.post("/v1/chat/completions", &chat("bad")).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    assert!(out["choices"][0]["message"]["refusal"]
        .as_str()
        .unwrap()
        .contains("SAFETY"));
    Ok(())
}

#[actix_rt::test]
async fn bad_requests_are_openai_shaped_and_never_reach_upstream() -> TestResult {
    let p = Pollux::start()?;
    let cases: Vec<(Vec<u8>, u16, Option<&str>)> = vec![
        (b"{not json".to_vec(), 400, None),
        (br#"{"model":"gemini-2.5-flash"}"#.to_vec(), 400, None),
        (br#"{"model":"gemini-2.5-flash","messages":"hi"}"#.to_vec(), 400, Some("messages")),
        (br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#.to_vec(), 400, Some("temperature")),
        (br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"}],"temperature":5}"#.to_vec(), 400, Some("temperature")),
        (br#"{"messages":[{"role":"user","content":"x"}]}"#.to_vec(), 400, Some("model")),
        (br#"{"model":"../../etc","messages":[{"role":"user","content":"x"}]}"#.to_vec(), 400, Some("model")),
        (br#"{"model":"gemini-2.5-flash","messages":[]}"#.to_vec(), 400, Some("messages")),
    ];
    for (body, status, param) in cases {
        let (got, _, out) = p.post_raw("/v1/chat/completions", body.clone()).await?;
        assert_eq!(got, status, "{} -> {out}", String::from_utf8_lossy(&body));
        assert_openai("ErrorResponse", &out);
        assert_eq!(out["error"]["type"], "invalid_request_error");
        if let Some(param) = param {
            assert_eq!(out["error"]["param"], param, "{out}");
        }
    }
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

/// Issue #13, finding 6: the configured item limits reach the parser, at their edge.
#[actix_rt::test]
async fn configured_item_limits_are_enforced_at_their_edge() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.max_messages = 2;
        c.max_tools = 1;
    })?;
    let user = json!({"role": "user", "content": "x"});
    let tool = json!({"type": "function", "function": {"name": "f"}});
    let at = json!({"model": "gemini-2.5-flash", "messages": [user, user], "tools": [tool]});
    let (status, _, out) = p.post("/v1/chat/completions", &at).await?;
    assert_eq!(status, 200, "{out}");
    let cases = [
        (
            json!({"model": "gemini-2.5-flash", "messages": [user, user, user]}),
            "messages",
            "--max-messages",
        ),
        (
            json!({"model": "gemini-2.5-flash", "messages": [user], "tools": [tool, tool]}),
            "tools",
            "--max-tools",
        ),
    ];
    for (body, param, flag) in cases {
        let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 400, "{out}");
        assert_openai("ErrorResponse", &out);
        assert_eq!(out["error"]["type"], "invalid_request_error");
        assert_eq!(out["error"]["param"], param, "{out}");
        assert_eq!(out["error"]["code"], "too_many_items", "{out}");
        let message = out["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(flag), "{message}");
    }
    assert_eq!(p.mock.request_count(), 1);
    Ok(())
}

/// Issue #13, findings 1 and 2: schemas whose `$ref`s chain 5,000 deep or fan out are a 400
/// naming the tool, answered at once (they used to abort the process or take seconds).
#[actix_rt::test]
async fn runaway_tool_schemas_are_refused_naming_the_tool() -> TestResult {
    let p = Pollux::start()?;
    let mut chain = serde_json::Map::new();
    for i in 0..5_000 {
        chain.insert(
            format!("a{i}"),
            json!({"type": "object", "properties": {"next": {"$ref": format!("#/$defs/a{}/properties/next", i + 1)}}}),
        );
    }
    chain.insert(
        "a5000".into(),
        json!({"type": "object", "properties": {"next": {"type": "string"}}}),
    );
    let mut fan = serde_json::Map::new();
    for i in 0..20 {
        let next = format!("#/$defs/a{}/allOf/0", i + 1);
        fan.insert(
            format!("a{i}"),
            json!({"allOf": [{"type": "object", "properties": {"l": {"$ref": next}, "r": {"$ref": next}}}]}),
        );
    }
    fan.insert("a20".into(), json!({"allOf": [{"type": "string"}]}));
    let started = std::time::Instant::now();
    for (schema, limit) in [
        (json!({"$defs": chain, "$ref": "#/$defs/a0"}), "128 levels"),
        (
            json!({"$defs": fan, "$ref": "#/$defs/a0/allOf/0"}),
            "10000 nodes",
        ),
    ] {
        let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}},
                      {"type": "function", "function": {"name": "runaway", "parameters": schema}}]});
        let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 400, "{out}");
        assert_openai("ErrorResponse", &out);
        assert_eq!(
            out["error"]["param"], "tools[1].function.parameters",
            "{out}"
        );
        let message = out["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("'runaway'"), "{message}");
        assert!(message.contains(limit), "{message}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

#[actix_rt::test]
async fn routing_errors_are_openai_shaped() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_body_bytes = 1024)?;
    let (status, _, out) = p.get("/v1/nope").await?;
    assert_eq!(status, 404);
    assert_openai("ErrorResponse", &out);
    let (status, _, out) = p.get("/v1/chat/completions").await?;
    assert_eq!(status, 405);
    assert_openai("ErrorResponse", &out);
    let big = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let (status, _, out) = p.post("/v1/chat/completions", &big).await?;
    assert_eq!(status, 413);
    assert_openai("ErrorResponse", &out);
    Ok(())
}

#[actix_rt::test]
async fn upstream_errors_keep_status_and_message() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::rate_limited(7));
    let (status, headers, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 429, "{out}");
    assert_eq!(headers.get("retry-after").unwrap(), "7");
    assert_openai("ErrorResponse", &out);
    assert_eq!(out["error"]["type"], "rate_limit_error");

    p.mock.push(Scenario::error(
        404,
        "NOT_FOUND",
        "models/gemini-9 is not found for API version v1beta",
    ));
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 404);
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gemini-9"));

    p.mock.push(Scenario::error(
        503,
        "UNAVAILABLE",
        "The model is overloaded.",
    ));
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 503);
    assert_openai("ErrorResponse", &out);

    p.mock.push(Scenario::html(502));
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 502);
    assert_openai("ErrorResponse", &out);

    // The same mapping before a stream starts: no 200 until upstream said yes.
    p.mock.push(Scenario::rate_limited(3));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let (status, headers, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 429, "{out}");
    assert_eq!(headers.get("retry-after").unwrap(), "3");
    Ok(())
}

#[actix_rt::test]
async fn upstream_timeout_is_504() -> TestResult {
    let p = Pollux::start_with(|c, _| c.response_timeout_secs = 1)?;
    p.mock.push(Scenario::HangBeforeHead);
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 504, "{out}");
    assert_openai("ErrorResponse", &out);
    Ok(())
}

#[actix_rt::test]
async fn unreachable_upstream_is_502() -> TestResult {
    let p = Pollux::start_with(|c, _| c.upstream = "http://127.0.0.1:9".to_owned())?;
    let (status, _, out) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 502, "{out}");
    assert_openai("ErrorResponse", &out);
    Ok(())
}

#[actix_rt::test]
async fn mid_stream_failure_becomes_one_error_event() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text_then_error(
        &["partial ", "answer"],
        503,
        "UNAVAILABLE",
        "The model is overloaded. Please try again later.",
    ));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let (status, _, events) = p.stream("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200);
    let last: Value = serde_json::from_str(events.last().unwrap())?;
    assert_openai("ErrorResponse", &last);
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("overloaded"));
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "no [DONE] after an error"
    );
    let errors = events.iter().filter(|e| e.contains("\"error\"")).count();
    assert_eq!(errors, 1);
    Ok(())
}

#[actix_rt::test]
async fn stream_without_finish_reason_is_an_error_not_a_stop() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::stream(vec![
        StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "cut sh"}]}, "index": 0}]})),
    ]));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let (_, _, events) = p.stream("/v1/chat/completions", &body).await?;
    let last: Value = serde_json::from_str(events.last().unwrap())?;
    assert_openai("ErrorResponse", &last);
    assert!(!events
        .iter()
        .any(|e| e.contains("\"finish_reason\":\"stop\"")));

    // A connection cut mid-stream is an error event too.
    p.mock.push(Scenario::stream(vec![
        StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}, "index": 0}]})),
        StreamStep::Cut,
    ]));
    let (_, _, events) = p.stream("/v1/chat/completions", &body).await?;
    let last: Value = serde_json::from_str(events.last().unwrap())?;
    assert_openai("ErrorResponse", &last);
    Ok(())
}

#[actix_rt::test]
async fn idle_upstream_stream_times_out_in_band() -> TestResult {
    let p = Pollux::start_with(|c, _| c.stream_idle_timeout_secs = 1)?;
    p.mock.push(Scenario::stream(vec![
        StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}, "index": 0}]})),
        StreamStep::Hang,
    ]));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let (_, _, events) = p.stream("/v1/chat/completions", &body).await?;
    let last: Value = serde_json::from_str(events.last().unwrap())?;
    assert_eq!(last["error"]["code"], "upstream_timeout");
    Ok(())
}

#[actix_rt::test]
async fn client_disconnect_drops_the_upstream_stream() -> TestResult {
    let p = Pollux::start()?;
    let mut steps = vec![StreamStep::Event(
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "tick"}]}, "index": 0}]}),
    )];
    for _ in 0..200 {
        steps.push(StreamStep::Delay(50));
        steps.push(StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "tick"}]}, "index": 0}]})));
    }
    p.mock.push(Scenario::stream(steps));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    p.stream_then_drop("/v1/chat/completions", &body).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.mock.cancelled_streams() == 0 && std::time::Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        p.mock.cancelled_streams(),
        1,
        "the upstream saw the connection close"
    );
    assert_eq!(p.mock.open_streams(), 0);
    Ok(())
}

#[actix_rt::test]
async fn gemini_error_event_inside_a_200_stream() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::stream(vec![StreamStep::Event(
        json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}),
    )]));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    // The first event is already the failure: Pollux has not answered yet, so it is an
    // error response with Gemini's status.
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 500, "{out}");
    assert_openai("ErrorResponse", &out);
    Ok(())
}

#[actix_rt::test]
async fn client_disconnect_while_upstream_is_silent_drops_it_at_once() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::stream(vec![
        StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "first"}]}, "index": 0}]})),
        StreamStep::Delay(20_000),
        StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "late"}]}, "finishReason": "STOP", "index": 0}]})),
    ]));
    let mut body = chat("hi");
    body["stream"] = json!(true);
    p.stream_then_drop("/v1/chat/completions", &body).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.mock.cancelled_streams() == 0 && std::time::Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        p.mock.cancelled_streams(),
        1,
        "noticed long before the upstream's next event"
    );
    Ok(())
}
