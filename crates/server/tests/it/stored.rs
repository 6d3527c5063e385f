//! Stored responses end to end: `store` (OpenAI's default), `previous_response_id` chains on
//! Gemini 3 with the mock's signature checks, retrieve, delete, input items, item references,
//! token counting, owners, eviction, and many chains at once. Every body is held against
//! OpenAI's Responses spec.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use awc::http::Method;
use mock_gemini::{Scenario, StreamStep};
use serde_json::{json, Value};
use support::{assert_gemini_request, assert_responses, error_message, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn last_upstream(p: &Pollux) -> Value {
    let sent = p.mock.requests().last().unwrap().json().unwrap();
    assert_gemini_request(&sent);
    sent
}

async fn create(p: &Pollux, body: Value) -> Result<Value, Box<dyn std::error::Error>> {
    let (status, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("Response", &out);
    Ok(out)
}

/// Scripts Gemini's text `reply`, then creates a response from `body`: how most turns of
/// the chains here begin.
async fn reply_then_create(
    p: &Pollux,
    reply: &str,
    body: Value,
) -> Result<Value, Box<dyn std::error::Error>> {
    p.mock.push(Scenario::text(reply));
    create(p, body).await
}

/// A call with no key and no body, the shape of every retrieve, delete, list and cancel
/// here: one line per check keeps each test's sequence of steps readable.
async fn bare(p: &Pollux, method: Method, path: &str) -> Result<(u16, Value), support::Error> {
    p.call(method, path, None, None).await
}

#[actix_rt::test]
async fn retrieve_list_and_delete() -> TestResult {
    let p = Pollux::start()?;
    let out = reply_then_create(
        &p,
        "Hello!",
        json!({"model": "gemini-2.5-flash", "instructions": "Be nice.",
            "input": [{"role": "user", "content": "Hi"}, {"role": "user", "content": [{"type": "input_text", "text": "there"}]}]}),
    )
    .await?;
    let id = out["id"].as_str().unwrap();

    let (status, got) = bare(&p, Method::GET, &format!("/v1/responses/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(got, out, "retrieve returns the response as it was returned");

    let (status, list) = bare(
        &p,
        Method::GET,
        &format!("/v1/responses/{id}/input_items?order=asc"),
    )
    .await?;
    assert_eq!(status, 200, "{list}");
    assert_responses("ResponseItemList", &list);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        list["data"][0]["content"],
        json!([{"type": "input_text", "text": "Hi"}])
    );
    assert_eq!(list["has_more"], false);
    // Paging: one at a time, newest first by default.
    let (_, page) = bare(
        &p,
        Method::GET,
        &format!("/v1/responses/{id}/input_items?limit=1"),
    )
    .await?;
    assert_eq!(page["data"][0]["content"][0]["text"], "there");
    assert_eq!(page["has_more"], true);
    let after = page["last_id"].as_str().unwrap();
    let (_, page) = bare(
        &p,
        Method::GET,
        &format!("/v1/responses/{id}/input_items?limit=1&after={after}"),
    )
    .await?;
    assert_eq!(page["data"][0]["content"][0]["text"], "Hi");
    assert_eq!(page["has_more"], false);
    let (status, bad) = bare(
        &p,
        Method::GET,
        &format!("/v1/responses/{id}/input_items?limit=0"),
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["param"], "limit");

    let (status, deleted) = bare(&p, Method::DELETE, &format!("/v1/responses/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, gone) = bare(&p, Method::GET, &format!("/v1/responses/{id}")).await?;
    assert_eq!(status, 404);
    assert_responses("ErrorResponse", &gone);
    assert!(error_message(&gone).contains("was deleted"));
    let (status, _) = bare(&p, Method::DELETE, &format!("/v1/responses/{id}")).await?;
    assert_eq!(status, 404);
    let (status, _) = bare(&p, Method::GET, "/v1/responses/resp_unknown").await?;
    assert_eq!(status, 404);
    Ok(())
}

/// Three turns on Gemini 3 chained by id, with a tool call in the middle: Gemini gets the
/// whole history each time, its signature restored from the store.
#[actix_rt::test]
async fn a_three_turn_chain_with_tools_on_gemini3() -> TestResult {
    // No signature cache: only the store can give the signature back.
    let p = Pollux::start_with(|c, _| c.signature_cache_size = 0)?;
    let tools = json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    let first = create(
        &p,
        json!({"model": "gemini-3-pro-preview", "input": "Weather in Paris?", "tools": tools,
            "instructions": "First instructions."}),
    )
    .await?;
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();

    let second = reply_then_create(

        &p,

        "Sunny, 24 C.",

        json!({"model": "gemini-3-pro-preview", "previous_response_id": first["id"], "tools": tools,
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 24"}]}),
    )
    .await?;
    assert_eq!(second["previous_response_id"], first["id"]);
    let sent = last_upstream(&p);
    assert!(
        sent.get("systemInstruction").is_none(),
        "instructions do not carry over"
    );
    let signature = sent["contents"][1]["parts"][0]["thoughtSignature"]
        .as_str()
        .unwrap();
    assert_ne!(signature, "skip_thought_signature_validator");

    let third = reply_then_create(

        &p,

        "You are welcome.",

        json!({"model": "gemini-3-pro-preview", "previous_response_id": second["id"], "tools": tools,
            "input": "Thanks!"}),
    )
    .await?;
    assert_eq!(third["output"][0]["content"][0]["text"], "You are welcome.");
    let sent = last_upstream(&p);
    let roles: Vec<&str> = sent["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "model", "user", "model", "user"]);
    assert_eq!(sent["contents"][3]["parts"][0]["text"], "Sunny, 24 C.");
    assert_eq!(sent["contents"][4]["parts"][0]["text"], "Thanks!");
    Ok(())
}

#[actix_rt::test]
async fn streamed_responses_are_stored_before_their_terminal_event() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text_stream(&["One ", "two."]));
    let body = json!({"model": "gemini-2.5-flash", "input": "Count", "stream": true});
    let (status, _, events) = p.named_stream("/v1/responses", &body).await?;
    assert_eq!(status, 200);
    let last = events.last().unwrap()["response"].clone();
    let id = last["id"].as_str().unwrap();
    let (status, got) = bare(&p, Method::GET, &format!("/v1/responses/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(got, last);
    // And chains from it at once.
    reply_then_create(
        &p,
        "Three.",
        json!({"model": "gemini-2.5-flash", "previous_response_id": id, "input": "More"}),
    )
    .await?;
    assert_eq!(
        last_upstream(&p)["contents"][1]["parts"][0]["text"],
        "One two."
    );
    Ok(())
}

#[actix_rt::test]
async fn unknown_unstored_and_foreign_ids_are_404s() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.client_keys = vec!["key-one".to_owned(), "key-two".to_owned()];
    })?;
    p.mock.push(Scenario::text("not kept"));
    let (status, _, unstored) = p
        .post_with_key(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": "x", "store": false}),
            Some("key-one"),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(unstored["store"], false);
    let id = unstored["id"].as_str().unwrap();
    let (status, _) = p
        .call(
            Method::GET,
            &format!("/v1/responses/{id}"),
            Some("key-one"),
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let (status, out) = p
        .call(
            Method::POST,
            "/v1/responses",
            Some("key-one"),
            Some(&json!({"model": "gemini-2.5-flash", "input": "x", "previous_response_id": id})),
        )
        .await?;
    assert_eq!(status, 404, "{out}");
    assert_responses("ErrorResponse", &out);
    assert_eq!(out["error"]["param"], "previous_response_id");

    p.mock.push(Scenario::text("kept"));
    let (_, _, mine) = p
        .post_with_key(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": "x"}),
            Some("key-one"),
        )
        .await?;
    let id = mine["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}");
    assert_eq!(
        p.call(Method::GET, &path, Some("key-one"), None).await?.0,
        200
    );
    // Another key sees nothing, and cannot delete or chain from it.
    assert_eq!(
        p.call(Method::GET, &path, Some("key-two"), None).await?.0,
        404
    );
    assert_eq!(
        p.call(Method::DELETE, &path, Some("key-two"), None)
            .await?
            .0,
        404
    );
    let chained = json!({"model": "gemini-2.5-flash", "input": "y", "previous_response_id": id});
    let (status, _) = p
        .call(
            Method::POST,
            "/v1/responses",
            Some("key-two"),
            Some(&chained),
        )
        .await?;
    assert_eq!(status, 404);
    // No key at all: 401, as every route.
    assert_eq!(bare(&p, Method::GET, &path).await?.0, 401);
    assert_eq!(
        p.call(Method::GET, &path, Some("key-one"), None).await?.0,
        200
    );
    Ok(())
}

#[actix_rt::test]
async fn an_evicted_link_is_a_404_never_a_short_history() -> TestResult {
    let p = Pollux::start_with(|c, _| c.response_store_entries = 2)?;
    let mut previous = Value::Null;
    let mut ids = Vec::new();
    for turn in 0..3 {
        let out = reply_then_create(
            &p,
            &format!("answer {turn}"),
            json!({"model": "gemini-2.5-flash", "input": format!("turn {turn}"), "previous_response_id": previous}),
        )
        .await?;
        previous = out["id"].clone();
        ids.push(previous.clone());
    }
    // The first response was evicted; the third's chain runs through it.
    let (status, out) = p
        .call(
            Method::POST,
            "/v1/responses",
            None,
            Some(
                &json!({"model": "gemini-2.5-flash", "input": "x", "previous_response_id": ids[2]}),
            ),
        )
        .await?;
    assert_eq!(status, 404, "{out}");
    let message = error_message(&out);
    assert!(
        message.contains("incomplete") && message.contains("evicted"),
        "{message}"
    );
    let metrics = support::metrics(&p).await?;
    assert_eq!(
        support::sample(&metrics, "pollux_response_store_evictions_total"),
        Some(1.0)
    );
    assert_eq!(
        support::sample(&metrics, "pollux_response_store_entries"),
        Some(2.0)
    );
    Ok(())
}

/// The AI SDK's default: later steps send `item_reference`s to the items it was given.
#[actix_rt::test]
async fn item_references_resolve_to_stored_items() -> TestResult {
    let p = Pollux::start()?;
    let first = reply_then_create(
        &p,
        "I will check.",
        json!({"model": "gemini-2.5-flash", "input": "Check it"}),
    )
    .await?;
    let message_id = first["output"][0]["id"].as_str().unwrap();
    reply_then_create(
        &p,
        "Done.",
        json!({"model": "gemini-2.5-flash", "input": [
            {"role": "user", "content": "Check it"},
            {"type": "item_reference", "id": message_id},
            {"role": "user", "content": "And?"}]}),
    )
    .await?;
    let sent = last_upstream(&p);
    assert_eq!(
        sent["contents"][1],
        json!({"role": "model", "parts": [{"text": "I will check."}]})
    );
    let (status, _, out) = p
        .post(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": [{"type": "item_reference", "id": "msg_nope"}]}),
        )
        .await?;
    assert_eq!(status, 404);
    assert_eq!(out["error"]["param"], "input[0]");
    Ok(())
}

#[actix_rt::test]
async fn input_tokens_are_counted_by_gemini() -> TestResult {
    let p = Pollux::start()?;
    let first = reply_then_create(
        &p,
        "Earlier answer.",
        json!({"model": "gemini-2.5-flash", "input": "Hello there"}),
    )
    .await?;
    let (status, out) = p
        .call(
            Method::POST,
            "/v1/responses/input_tokens",
            None,
            Some(
                &json!({"model": "gemini-2.5-flash", "instructions": "Be brief.",
                "previous_response_id": first["id"], "input": "And now?",
                "tools": [{"type": "function", "name": "f"}]}),
            ),
        )
        .await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("TokenCountsResource", &out);
    assert!(out["input_tokens"].as_u64().unwrap() > 0);
    let req = p.mock.requests().last().unwrap().clone();
    assert!(req.path.ends_with(":countTokens"), "{}", req.path);
    let sent = req.json()?;
    let inner = &sent["generateContentRequest"];
    assert_eq!(inner["model"], "models/gemini-2.5-flash");
    assert_eq!(inner["contents"].as_array().unwrap().len(), 3);
    assert!(inner["tools"].is_array());
    assert!(mock_gemini::oracle::gemini_errors("CountTokensRequest", &sent).is_empty());
    Ok(())
}

/// Many conversations at once: each turn sees exactly its own chain's history.
#[actix_rt::test]
async fn two_hundred_chains_of_five_turns_at_once() -> TestResult {
    let p = Pollux::start()?;
    let chains = 200;
    let turns = 5;
    let run = |c: usize| {
        let p = &p;
        async move {
            let mut previous = Value::Null;
            for t in 0..turns {
                let body = json!({"model": "gemini-2.5-flash", "input": format!("chain {c} turn {t}"),
                    "previous_response_id": previous});
                let (status, _, out) = p.post("/v1/responses", &body).await.unwrap();
                assert_eq!(status, 200, "{out}");
                // The mock echoes the last user text.
                assert_eq!(
                    out["output"][0]["content"][0]["text"],
                    format!("mock-gemini says: chain {c} turn {t}")
                );
                previous = out["id"].clone();
            }
        }
    };
    futures_util::future::join_all((0..chains).map(run)).await;
    let requests = p.mock.requests();
    assert_eq!(requests.len(), chains * turns);
    for req in &requests {
        let sent = req.json()?;
        let texts: Vec<String> = sent["contents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["role"] == "user")
            .map(|c| c["parts"][0]["text"].as_str().unwrap().to_owned())
            .collect();
        let last = texts.last().unwrap();
        let (chain, turn) = last
            .strip_prefix("chain ")
            .and_then(|rest| rest.split_once(" turn "))
            .unwrap();
        let expected: Vec<String> = (0..=turn.parse::<usize>()?)
            .map(|t| format!("chain {chain} turn {t}"))
            .collect();
        assert_eq!(
            texts, expected,
            "a turn saw another chain's history or lost its own"
        );
    }
    Ok(())
}

/// Polls a response until its status is no longer `queued` / `in_progress` (bounded).
async fn settle(p: &Pollux, id: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, got) = bare(p, Method::GET, &format!("/v1/responses/{id}")).await?;
        assert_eq!(status, 200, "{got}");
        assert_responses("Response", &got);
        if !matches!(got["status"].as_str(), Some("queued" | "in_progress")) {
            return Ok(got);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {}",
            got["status"]
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn background_responses_run_and_are_polled() -> TestResult {
    let p = Pollux::start()?;
    p.mock
        .push(Scenario::text_stream(&["Done ", "in the background."]));
    let queued = create(
        &p,
        json!({"model": "gemini-2.5-flash", "input": "Work", "background": true}),
    )
    .await?;
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["background"], true);
    let id = queued["id"].as_str().unwrap();
    let done = settle(&p, id).await?;
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["output"][0]["content"][0]["text"],
        "Done in the background."
    );
    // A finished background response cancels to itself.
    let (status, same) = bare(&p, Method::POST, &format!("/v1/responses/{id}/cancel")).await?;
    assert_eq!(status, 200);
    assert_eq!(same["status"], "completed");
    // `store: false` cannot run in the background.
    let (status, _, out) = p
        .post(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": "x", "background": true, "store": false}),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(out["error"]["param"], "background");
    support::assert_clean(&p).await?;
    Ok(())
}

/// A background run keeps the tier the client asked for: `serviceTier` reaches the run's
/// upstream request, the queued response echoes the asked tier, and the stored one says the
/// tier Gemini reports it served at (`x-gemini-service-tier`), a downgrade included.
#[actix_rt::test]
async fn a_background_response_keeps_its_service_tier() -> TestResult {
    let p = Pollux::start()?;
    for (asked, served, echoed) in [
        ("flex", "flex", "flex"),
        ("priority", "standard", "default"),
    ] {
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("x-gemini-service-tier".to_owned(), served.to_owned());
        p.mock.push(Scenario::Stream {
            steps: vec![StreamStep::Event(json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": "Done."}]},
                    "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}
            }))],
            headers,
            delay_ms: 0,
        });
        let queued = create(
            &p,
            json!({"model": "gemini-2.5-flash", "input": "Batch job.", "background": true,
                "service_tier": asked}),
        )
        .await?;
        assert_eq!(queued["service_tier"], asked, "{queued}");
        let done = settle(&p, queued["id"].as_str().unwrap()).await?;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["service_tier"], echoed, "{done}");
        let sent = last_upstream(&p);
        assert_eq!(sent["serviceTier"], asked, "{sent}");
        assert!(p
            .mock
            .requests()
            .last()
            .unwrap()
            .path
            .ends_with(":streamGenerateContent"));
    }
    support::assert_clean(&p).await?;
    Ok(())
}

#[actix_rt::test]
async fn a_background_response_can_be_cancelled() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::stream(vec![
        support::text_event("Thinking"),
        StreamStep::Delay(60_000),
        support::final_event(" never"),
    ]));
    let queued = create(
        &p,
        json!({"model": "gemini-2.5-flash", "input": "Long job", "background": true}),
    )
    .await?;
    let id = queued["id"].as_str().unwrap();
    // Wait until the upstream call is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while p.mock.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline);
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, cancelled) = bare(&p, Method::POST, &format!("/v1/responses/{id}/cancel")).await?;
    assert_eq!(status, 200, "{cancelled}");
    assert_responses("Response", &cancelled);
    assert_eq!(cancelled["status"], "cancelled");
    let got = settle(&p, id).await?;
    assert_eq!(got["status"], "cancelled");
    // The upstream request was dropped with the task: no slot is held.
    support::assert_clean(&p).await?;

    // Only background responses can be cancelled.
    let plain = reply_then_create(
        &p,
        "plain",
        json!({"model": "gemini-2.5-flash", "input": "x"}),
    )
    .await?;
    let plain_id = plain["id"].as_str().unwrap();
    let (status, _) = bare(
        &p,
        Method::POST,
        &format!("/v1/responses/{plain_id}/cancel"),
    )
    .await?;
    assert_eq!(status, 400);
    let (status, _) = bare(&p, Method::POST, "/v1/responses/resp_nope/cancel").await?;
    assert_eq!(status, 404);
    Ok(())
}

#[actix_rt::test]
async fn a_background_stream_can_be_resumed() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text_stream(&["a", "b", "c"]));
    let body =
        json!({"model": "gemini-2.5-flash", "input": "abc", "background": true, "stream": true});
    let (status, _, events) = p.named_stream("/v1/responses", &body).await?;
    assert_eq!(status, 200);
    for e in &events {
        assert_responses("ResponseStreamEvent", e);
    }
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let id = events[0]["response"]["id"].as_str().unwrap();
    assert_eq!(events[0]["response"]["background"], true);
    // Reconnecting after event 3 gets the rest, the same events.
    let (status, _, again) = p
        .named_stream_get(&format!("/v1/responses/{id}?stream=true&starting_after=3"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(again, events[4..].to_vec());
    Ok(())
}

#[actix_rt::test]
async fn conversations_are_not_supported() -> TestResult {
    let p = Pollux::start()?;
    let (status, out) = p
        .call(
            Method::POST,
            "/v1/conversations",
            None,
            Some(&json!({"items": []})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_responses("ErrorResponse", &out);
    assert!(error_message(&out).contains("previous_response_id"));
    let (status, _) = bare(&p, Method::GET, "/v1/conversations/conv_1/items").await?;
    assert_eq!(status, 400);
    let (status, out) = p
        .post(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": "x", "conversation": "conv_1"}),
        )
        .await
        .map(|(s, _, o)| (s, o))?;
    assert_eq!(status, 400);
    assert_eq!(out["error"]["param"], "conversation");
    Ok(())
}

#[actix_rt::test]
async fn resuming_a_stream_needs_a_stored_background_response() -> TestResult {
    let p = Pollux::start()?;
    // An id never stored is a 404, with `stream` as without.
    let (status, out) = bare(
        &p,
        Method::GET,
        "/v1/responses/resp_nope?stream=true&starting_after=2",
    )
    .await?;
    assert_eq!(status, 404, "{out}");
    assert_responses("ErrorResponse", &out);
    // A stored response that did not run in the background has no stream: 400 on `stream`.
    let stored = reply_then_create(
        &p,
        "kept",
        json!({"model": "gemini-2.5-flash", "input": "x"}),
    )
    .await?;
    let id = stored["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}?stream=true");
    let (status, out) = bare(&p, Method::GET, &path).await?;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["param"], "stream");
    // Deleted, it is a 404 that says so.
    let (status, _) = bare(&p, Method::DELETE, &format!("/v1/responses/{id}")).await?;
    assert_eq!(status, 200);
    let (status, out) = bare(&p, Method::GET, &path).await?;
    assert_eq!(status, 404, "{out}");
    assert!(error_message(&out).contains("deleted"), "{out}");
    Ok(())
}
