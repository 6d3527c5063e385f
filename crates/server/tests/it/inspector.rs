//! The inspector (issue #20, docs/inspector.md): what it captures of each exchange, the live
//! feed (an exchange listed from its start), the renames it records, the ring's and the
//! bodies' bounds, key redaction, the Host and Origin checks of its page and
//! API, admin keys, and that `--inspector off` removes it. The browser tests
//! (tests/browser/) drive the page itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use actix_web::http::header::HeaderMap;
use futures_util::StreamExt;
use mock_gemini::{Scenario, StreamStep};
use serde_json::{json, Value};
use support::{assert_openai, chat, client, stream_chat, text_event, Error, Pollux};

type TestResult = Result<(), Error>;

const FIRST: &str = "AIzaFirstPoolKey-000000000000000000001";
const SECOND: &str = "AIzaSecondPoolKey-00000000000000000002";

/// GET with extra headers; the status, headers and body (JSON, or `null`).
async fn get(
    p: &Pollux,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, HeaderMap, Value), Error> {
    let mut req = client().get(p.url(path));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut resp = req.send().await?;
    let bytes = resp.body().limit(16 * 1024 * 1024).await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((resp.status().as_u16(), resp.headers().clone(), body))
}

/// The list of kept exchanges, newest first.
async fn list(p: &Pollux) -> Result<Vec<Value>, Error> {
    let (status, _, body) = get(p, "/inspector/api/exchanges", &[]).await?;
    assert_eq!(status, 200, "{body}");
    Ok(body["data"].as_array().cloned().unwrap_or_default())
}

async fn detail(p: &Pollux, id: &Value) -> Result<Value, Error> {
    let (status, _, body) = get(p, &format!("/inspector/api/exchanges/{id}"), &[]).await?;
    assert_eq!(status, 200, "{body}");
    Ok(body)
}

#[actix_rt::test]
async fn a_chat_is_kept_with_both_sides_its_retry_and_no_key() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_key = None;
        c.api_keys = vec![FIRST.to_owned(), SECOND.to_owned()];
    })?;
    p.mock.push(Scenario::rate_limited(30));
    p.mock.push(Scenario::text("hello from gemini"));
    let body = json!({"model": "gemini-3-pro-preview", "presence_penalty": 0.5,
        "messages": [{"role": "user", "content": "what did I send?"}]});
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");

    let rows = list(&p).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["route"], "/v1/chat/completions");
    assert_eq!(row["status"], 200);
    assert_eq!(row["stream"], false);
    assert_eq!(row["client_model"], "gemini-3-pro-preview");
    assert_eq!(row["model"], "gemini-3-pro-preview");
    assert_eq!(row["dropped"], json!(["presence_penalty"]));
    assert_eq!(row["retries"], 1, "a 429 on the first key, then the second");
    assert!(row["tokens"]["prompt"].as_u64().is_some(), "{row}");
    assert!(row["own_ms"].as_f64().unwrap() <= row["duration_ms"].as_f64().unwrap());

    let x = detail(&p, &row["id"]).await?;
    let text = x.to_string();
    assert!(
        !text.contains(FIRST) && !text.contains(SECOND),
        "no key is kept"
    );
    let attempts = x["bodies"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], 429);
    assert!(attempts[0]["error"]["text"]
        .as_str()
        .unwrap()
        .contains("RESOURCE_EXHAUSTED"));
    assert_eq!(attempts[1]["status"], 200);
    assert_ne!(attempts[0]["key"], attempts[1]["key"], "two fingerprints");
    assert_eq!(row["key"], attempts[1]["key"]);
    assert!(attempts[1]["url"]
        .as_str()
        .unwrap()
        .ends_with("/v1beta/models/gemini-3-pro-preview:generateContent"));
    let client_request: Value =
        serde_json::from_str(x["bodies"]["client_request"]["text"].as_str().unwrap())?;
    assert_eq!(client_request, body);
    let gemini_request: Value =
        serde_json::from_str(x["bodies"]["gemini_request"]["text"].as_str().unwrap())?;
    support::assert_gemini_request(&gemini_request);
    assert_eq!(gemini_request, p.mock.requests()[1].json()?);
    let answer: Value =
        serde_json::from_str(x["bodies"]["client_response"]["text"].as_str().unwrap())?;
    assert_openai("CreateChatCompletionResponse", &answer);
    assert_eq!(answer, out);
    assert!(x["bodies"]["gemini_response"]["text"]
        .as_str()
        .unwrap()
        .contains("hello from gemini"));
    Ok(())
}

#[actix_rt::test]
async fn a_stream_keeps_its_events_and_chunks_with_arrival_times() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::stream(vec![
        support::text_event("one "),
        support::final_event("two"),
    ]));
    let (status, _, events) = p
        .stream("/v1/chat/completions", &support::stream_chat("hi"))
        .await?;
    assert_eq!(status, 200);
    let x = detail(&p, &list(&p).await?[0]["id"]).await?;
    assert_eq!(x["stream"], true);
    let upstream = x["bodies"]["gemini_events"]["items"].as_array().unwrap();
    assert_eq!(upstream.len(), 2, "{x}");
    assert!(upstream[0]["data"].as_str().unwrap().contains("one "));
    let chunks = x["bodies"]["client_chunks"]["items"].as_array().unwrap();
    let joined: String = chunks.iter().map(|c| c["data"].as_str().unwrap()).collect();
    let sent: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    assert_eq!(joined, sent, "the client's bytes, as written");
    let times: Vec<f64> = chunks
        .iter()
        .map(|c| c["at_ms"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(x["tokens"]["output"].as_u64().is_some(), "{x}");
    Ok(())
}

/// The live feed's next `event: exchange` row, read from `feed` (bytes left over stay in
/// `buf`).
async fn next_row<S, E>(feed: &mut S, buf: &mut String) -> Result<Value, Error>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
    E: std::error::Error + 'static,
{
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block
                .strip_prefix("event: exchange\ndata: ")
                .map(str::trim_end)
            {
                return Ok(serde_json::from_str(data)?);
            }
        }
        let chunk = feed.next().await.ok_or("the feed ended")??;
        buf.push_str(std::str::from_utf8(&chunk)?);
    }
}

#[actix_rt::test]
async fn the_feed_lists_an_exchange_from_its_start_and_updates_it_when_it_ends() -> TestResult {
    let p = Pollux::start()?;
    let mut feed = client().get(p.url("/inspector/api/events")).send().await?;
    assert_eq!(feed.status(), 200);
    let mut buf = String::new();
    // One event, then mock-gemini holds the stream open.
    p.mock.push(Scenario::stream(vec![
        text_event("still "),
        StreamStep::Hang,
    ]));
    let mut held = client()
        .post(p.url("/v1/chat/completions"))
        .send_json(&stream_chat("hold on"))
        .await?;
    assert_eq!(held.status(), 200);
    let first = held.next().await.ok_or("stream ended")??;
    assert!(!first.is_empty());

    let pending = next_row(&mut feed, &mut buf).await?;
    assert_eq!(pending["state"], "pending", "{pending}");
    assert!(pending["status"].is_null() && pending["end"].is_null());
    assert_eq!(pending["path"], "/v1/chat/completions");
    let streaming = next_row(&mut feed, &mut buf).await?;
    assert_eq!(streaming["id"], pending["id"]);
    assert_eq!(streaming["state"], "streaming", "{streaming}");
    assert_eq!(
        (&streaming["status"], &streaming["stream"]),
        (&json!(200), &json!(true))
    );
    let rows = list(&p).await?;
    assert_eq!(rows[0]["state"], "streaming", "listed while it runs");

    // The client goes away: the same exchange is finished.
    drop(held);
    let done = next_row(&mut feed, &mut buf).await?;
    assert_eq!(done["id"], pending["id"]);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["end"], "gone");
    assert_eq!(done["status"], 200);
    assert_eq!(done["model"], "gemini-2.5-flash");
    assert!(done["duration_ms"].as_f64().unwrap() >= done["own_ms"].as_f64().unwrap());
    let x = detail(&p, &done["id"]).await?;
    let events = x["bodies"]["gemini_events"]["items"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{x}");
    assert!(events[0]["data"].as_str().unwrap().contains("still "));
    Ok(())
}

#[actix_rt::test]
async fn the_tool_names_pollux_renamed_are_recorded_with_the_exchange() -> TestResult {
    let p = Pollux::start()?;
    let params = json!({"type": "object", "properties": {"q": {"type": "string"}}});
    let body = json!({"model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "search"}],
        "tools": [
            {"type": "function", "function": {"name": "mcp/search", "parameters": params}},
            {"type": "function", "function": {"name": "get_weather", "parameters": params}}]});
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    let sent = p.mock.requests()[0].json()?;
    support::assert_gemini_request(&sent);
    let declared: Vec<String> = sent["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(declared.len(), 2, "{sent}");
    assert!(declared.contains(&"get_weather".to_owned()), "{declared:?}");
    let gemini_name = declared.iter().find(|n| *n != "get_weather").unwrap();
    assert!(gemini_name.starts_with("mcp_search_"), "{gemini_name}");

    let row = &list(&p).await?[0];
    let renamed = json!([{"client": "mcp/search", "gemini": gemini_name}]);
    assert_eq!(row["renamed"], renamed, "only the name that changed: {row}");
    let x = detail(&p, &row["id"]).await?;
    assert_eq!(x["renamed"], renamed);
    Ok(())
}

#[actix_rt::test]
async fn the_ring_keeps_the_newest_and_bodies_are_capped() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.inspector_entries = 3;
        c.inspector_body_bytes = 100;
    })?;
    for i in 0..5 {
        let (status, _, _) = p
            .post(
                "/v1/chat/completions",
                &chat(&format!("message {i} {}", "x".repeat(300))),
            )
            .await?;
        assert_eq!(status, 200);
    }
    let rows = list(&p).await?;
    let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [5, 4, 3], "newest first, the two oldest gone");
    let (status, _, gone) = get(&p, "/inspector/api/exchanges/1", &[]).await?;
    assert_eq!(status, 404, "{gone}");
    assert!(gone["error"]["message"].is_string());
    let x = detail(&p, &rows[0]["id"]).await?;
    let body = &x["bodies"]["client_request"];
    assert_eq!(body["text"].as_str().unwrap().len(), 100);
    let size = body["size"].as_u64().unwrap();
    assert!(size > 300);
    assert_eq!(body["elided"].as_u64().unwrap(), size - 100);
    Ok(())
}

#[actix_rt::test]
async fn bodies_off_keeps_metadata_only() -> TestResult {
    let p = Pollux::start_with(|c, _| c.inspector_bodies = false)?;
    let (status, _, _) = p.post("/v1/chat/completions", &chat("private")).await?;
    assert_eq!(status, 200);
    let x = detail(&p, &list(&p).await?[0]["id"]).await?;
    assert!(!x.to_string().contains("private"), "{x}");
    assert!(x["bodies"]["client_request"].is_null());
    assert!(x["bodies"]["gemini_request"].is_null());
    assert_eq!(x["status"], 200);
    assert!(x["tokens"]["prompt"].as_u64().is_some());
    Ok(())
}

#[actix_rt::test]
async fn a_clients_own_key_is_redacted_from_what_is_kept() -> TestResult {
    let own = "AIzaClientsOwnKey-0000000000000000003";
    let p = Pollux::start_with(|c, _| c.api_key = None)?;
    let (status, _, out) = p
        .post_with_key(
            "/v1/chat/completions",
            &chat(&format!("my key is {own}")),
            Some(own),
        )
        .await?;
    assert_eq!(status, 200, "{out}");
    let x = detail(&p, &list(&p).await?[0]["id"]).await?;
    let text = x.to_string();
    assert!(!text.contains(own), "{text}");
    assert!(text.contains("[redacted key "), "{text}");
    Ok(())
}

#[actix_rt::test]
async fn the_page_and_api_answer_only_their_own_host_and_origin() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        // The guard would refuse this Host (421) for every route; allowed, the inspector
        // still refuses it.
        c.allowed_hosts = vec!["rebound.example".to_owned()];
        c.cors_origins = vec!["http://rebound.example".to_owned()];
    })?;
    let own = p.addr.to_string();
    let (status, headers, body) = get(&p, "/", &[]).await?;
    assert_eq!(status, 200);
    assert!(headers
        .get("content-security-policy")
        .unwrap()
        .to_str()?
        .contains("default-src 'none'"));
    assert!(body.is_null(), "HTML");
    for path in [
        "/",
        "/inspector/api/exchanges",
        "/inspector/api/status",
        "/inspector/api/events",
    ] {
        let (status, _, body) = get(&p, path, &[("host", "rebound.example")]).await?;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["code"], "inspector_refused");
        assert_eq!(body["error"]["type"], "permission_error");
        let (status, _, body) = get(&p, path, &[("origin", "http://rebound.example")]).await?;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["code"], "inspector_refused");
    }
    // localhost names and the page's own origin are fine.
    let (status, _, _) = get(&p, "/inspector/api/exchanges", &[("host", "localhost:1")]).await?;
    assert_eq!(status, 200);
    let origin = format!("http://{own}");
    let (status, _, _) = get(&p, "/inspector/api/status", &[("origin", origin.as_str())]).await?;
    assert_eq!(status, 200);
    // The same foreign Host still reaches the API routes it is allowed for.
    let mut resp = client()
        .post(p.url("/v1/chat/completions"))
        .insert_header(("host", "rebound.example"))
        .send_json(&chat("hi"))
        .await?;
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.body().await?);
    Ok(())
}

#[actix_rt::test]
async fn a_foreign_host_is_refused_by_the_guard_first() -> TestResult {
    let p = Pollux::start()?;
    let (status, _, body) =
        get(&p, "/inspector/api/exchanges", &[("host", "evil.example")]).await?;
    assert_eq!(status, 421, "{body}");
    assert_eq!(body["error"]["code"], "host_not_allowed");
    let (status, _, body) = get(&p, "/", &[("origin", "http://evil.example")]).await?;
    assert_eq!(status, 403, "{body}");
    Ok(())
}

#[actix_rt::test]
async fn the_status_view_names_the_pool_by_fingerprint() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_key = None;
        c.api_keys = vec![FIRST.to_owned(), SECOND.to_owned()];
    })?;
    p.mock.push(Scenario::rate_limited(30));
    let (status, _, _) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 200);
    let (status, _, s) = get(&p, "/inspector/api/status", &[]).await?;
    assert_eq!(status, 200, "{s}");
    assert!(!s.to_string().contains(FIRST));
    let pool = s["key_pool"].as_array().unwrap();
    assert_eq!(pool.len(), 2);
    assert!(pool
        .iter()
        .any(|k| k["state"] == "cooling" && k["cooldown_secs"].as_u64() > Some(20)));
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["series"].as_array().unwrap()[0]["requests"], 1);
    assert_eq!(s["inspector"]["entries"], 200);
    Ok(())
}

#[actix_rt::test]
async fn admin_keys_close_the_api_but_not_the_page() -> TestResult {
    let p = Pollux::start_with(|c, _| c.admin_keys = vec!["admin-secret".to_owned()])?;
    let (status, _, body) = get(&p, "/inspector/api/exchanges", &[]).await?;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["type"], "authentication_error");
    let (status, _, _) = get(&p, "/", &[]).await?;
    assert_eq!(status, 200, "the page loads to show its key form");
    let (status, _, _) = get(
        &p,
        "/inspector/api/exchanges",
        &[("authorization", "Bearer admin-secret")],
    )
    .await?;
    assert_eq!(status, 200);
    let (status, _, _) = get(
        &p,
        "/inspector/api/exchanges",
        &[("cookie", "a=b; pollux_admin=admin-secret")],
    )
    .await?;
    assert_eq!(status, 200);
    Ok(())
}

#[actix_rt::test]
async fn off_removes_the_page_and_keeps_nothing() -> TestResult {
    let p = Pollux::start_with(|c, _| c.inspector = "off".to_owned())?;
    let (status, _, _) = p.post("/v1/chat/completions", &chat("hi")).await?;
    assert_eq!(status, 200);
    for path in ["/", "/inspector/api/exchanges", "/inspector/app.js"] {
        let (status, _, body) = get(&p, path, &[]).await?;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    Ok(())
}

#[test]
fn on_a_non_loopback_address_the_inspector_needs_admin_keys() {
    let mut c = pollux_server::Config::defaults();
    c.listen = "0.0.0.0:8080".parse().unwrap();
    c.client_keys = vec!["client".to_owned()];
    c.api_key = Some("k".to_owned());
    assert!(c.validate().is_ok(), "auto is off there");
    assert!(!c.inspector_enabled());
    c.inspector = "on".to_owned();
    let err = c.validate().unwrap_err();
    assert!(err.contains("--admin-keys"), "{err}");
    c.admin_keys = vec!["admin".to_owned()];
    assert!(c.validate().is_ok());
    assert!(c.inspector_enabled());
}
