//! End-to-end tests of the service around chat: `/v1/models`, `/v1/embeddings`, the native
//! `/v1beta` pass-through, health probes, client keys, the upstream key pool (rotation under
//! 429, removal of invalid keys), aliases and the default model, CORS, the open-relay
//! refusal, and config precedence through the real `pollux` binary. Every Pollux body is held
//! against the OpenAI oracle and every upstream body against the Gemini one (the mock
//! refuses invalid ones).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use mock_gemini::{KeyRule, Scenario};
use serde_json::{json, Value};
use support::{assert_openai, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// A request with optional extra headers; the body is JSON when given. Returns the status,
/// headers and raw body.
async fn call(
    p: &Pollux,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(u16, HeaderMap, Vec<u8>), Box<dyn std::error::Error>> {
    let mut req = client().request(method.parse()?, p.url(path));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut resp = match body {
        Some(b) => req.send_json(b).await?,
        None => req.send().await?,
    };
    let bytes = resp.body().limit(64 * 1024 * 1024).await?;
    Ok((
        resp.status().as_u16(),
        resp.headers().clone(),
        bytes.to_vec(),
    ))
}

async fn call_json(
    p: &Pollux,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(u16, HeaderMap, Value), Box<dyn std::error::Error>> {
    let (status, headers, bytes) = call(p, method, path, headers, body).await?;
    let json = serde_json::from_slice(&bytes)
        .map_err(|e| format!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes)))?;
    Ok((status, headers, json))
}

fn chat(model: Option<&str>) -> Value {
    let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
    if let Some(m) = model {
        body["model"] = json!(m);
    }
    body
}

/// The upstream keys the mock saw, in order.
fn keys_seen(p: &Pollux) -> Vec<String> {
    p.mock
        .requests()
        .iter()
        .map(|r| r.header("x-goog-api-key").unwrap_or("").to_owned())
        .collect()
}

/// One row of a status table: method, path, extra headers, JSON body, the status expected.
type StatusRow<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    Option<&'a Value>,
    u16,
);

/// Sends the rows of `table` in order and asserts each status; a failure names its row.
async fn assert_statuses(p: &Pollux, table: &[StatusRow<'_>]) -> TestResult {
    for (method, path, headers, body, want) in table {
        let (status, _, raw) = call(p, method, path, headers, *body).await?;
        assert_eq!(
            status,
            *want,
            "{method} {path} {headers:?}: {}",
            String::from_utf8_lossy(&raw)
        );
    }
    Ok(())
}

/// A plain chat for gemini-2.5-flash.
async fn flash_chat(p: &Pollux) -> Result<(u16, HeaderMap, Value), Box<dyn std::error::Error>> {
    p.post("/v1/chat/completions", &chat(Some("gemini-2.5-flash")))
        .await
}

/// Sends `n` plain chats and asserts each one is answered 200.
async fn assert_chats_ok(p: &Pollux, n: usize) -> TestResult {
    for i in 0..n {
        let (status, _, out) = flash_chat(p).await?;
        assert_eq!(status, 200, "chat {i}: {out}");
    }
    Ok(())
}

// ---------------------------------------------------------------- models

#[actix_rt::test]
async fn models_list_reads_every_page_filters_and_lists_aliases() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.aliases = vec!["gpt-4o=gemini-2.5-pro".to_owned()];
    })?;
    p.mock.update_config(|m| m.max_page_size = 2);
    let (status, _, out) = p.get("/v1/models").await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("ListModelsResponse", &out);
    let ids: Vec<&str> = out["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_openai("Model", m);
            assert_eq!(m["object"], "model");
            assert_eq!(m["owned_by"], "google");
            m["id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        ids,
        [
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-2.5-flash-lite",
            "gemini-3-pro-preview",
            "text-embedding-004",
            "gemini-embedding-001",
            "gpt-4o"
        ],
        "TTS-only model left out, ids without models/, alias last"
    );
    // 7 models at 2 per page: 4 pages, each asked with the previous page's token.
    let reqs = p.mock.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs
        .iter()
        .all(|r| r.method == "GET" && r.path == "/v1beta/models"));
    assert!(!reqs[0].query.contains("pageToken"));
    assert!(
        reqs[1].query.contains("pageToken=page-2"),
        "{}",
        reqs[1].query
    );
    assert!(reqs
        .iter()
        .all(|r| r.header("x-goog-api-key") == Some("test-key")));

    // Cached: a second list and single lookups cost no upstream call.
    let (status, _, again) = p.get("/models").await?;
    assert_eq!(status, 200);
    assert_eq!(again, out);
    let (status, _, one) = p.get("/v1/models/gpt-4o").await?;
    assert_eq!(status, 200, "{one}");
    assert_openai("Model", &one);
    assert_eq!(one["id"], "gpt-4o");
    let (status, _, one) = p.get("/v1/models/models/gemini-2.5-pro").await?;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["id"], "gemini-2.5-pro");
    let (status, _, missing) = p.get("/v1/models/gemini-2.5-flash-preview-tts").await?;
    assert_eq!(status, 404, "{missing}");
    assert_openai("ErrorResponse", &missing);
    assert_eq!(p.mock.request_count(), 4, "served from the cache");
    Ok(())
}

#[actix_rt::test]
async fn models_cache_expires_and_list_all_keeps_tts() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.models_cache_secs = 0;
        c.list_all_models = true;
    })?;
    let (_, _, out) = p.get("/v1/models").await?;
    assert_eq!(out["data"].as_array().unwrap().len(), 7);
    p.get("/v1/models").await?;
    assert_eq!(p.mock.request_count(), 2, "a TTL of 0 fetches every time");
    Ok(())
}

#[actix_rt::test]
async fn models_upstream_error_keeps_status() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_key = Some("bad".to_owned());
    })?;
    p.mock.script_key(
        "bad",
        KeyRule::RateLimited {
            retry_delay_secs: 9,
        },
    );
    let (status, headers, out) = p.get("/v1/models").await?;
    assert_eq!(status, 429, "{out}");
    assert_eq!(headers.get("retry-after").unwrap(), "9");
    assert_openai("ErrorResponse", &out);
    Ok(())
}

// ---------------------------------------------------------------- embeddings

#[actix_rt::test]
async fn embeddings_single_string() -> TestResult {
    let p = Pollux::start()?;
    let body =
        json!({"model": "text-embedding-004", "input": "hello", "dimensions": 8, "user": "u1"});
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateEmbeddingResponse", &out);
    assert_eq!(out["model"], "text-embedding-004");
    assert_eq!(out["data"].as_array().unwrap().len(), 1);
    let vector: Vec<f32> = serde_json::from_value(out["data"][0]["embedding"].clone())?;
    assert_eq!(vector, mock_gemini::catalog::fake_vector("hello", 8));
    assert_eq!(out["usage"], json!({"prompt_tokens": 0, "total_tokens": 0}));
    let reqs = p.mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path,
        "/v1beta/models/text-embedding-004:embedContent"
    );
    let sent = reqs[0].json()?;
    assert_eq!(
        mock_gemini::oracle::gemini_errors("EmbedContentRequest", &sent),
        Vec::<String>::new()
    );
    assert_eq!(
        sent,
        json!({"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8})
    );
    Ok(())
}

#[actix_rt::test]
async fn embeddings_split_into_batches_of_100_in_order() -> TestResult {
    let p = Pollux::start()?;
    let texts: Vec<String> = (0..250).map(|i| format!("text number {i}")).collect();
    let body = json!({"model": "gemini-embedding-001", "input": texts, "dimensions": 4});
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateEmbeddingResponse", &out);
    let data = out["data"].as_array().unwrap();
    assert_eq!(data.len(), 250);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["object"], "embedding");
        let vector: Vec<f32> = serde_json::from_value(item["embedding"].clone())?;
        assert_eq!(
            vector,
            mock_gemini::catalog::fake_vector(&texts[i], 4),
            "input {i} keeps its place"
        );
    }
    let reqs = p.mock.requests();
    let sizes: Vec<usize> = reqs
        .iter()
        .map(|r| {
            assert_eq!(
                r.path,
                "/v1beta/models/gemini-embedding-001:batchEmbedContents"
            );
            let sent = r.json().unwrap();
            assert_eq!(
                mock_gemini::oracle::gemini_errors("BatchEmbedContentsRequest", &sent),
                Vec::<String>::new()
            );
            sent["requests"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    Ok(())
}

#[actix_rt::test]
async fn embeddings_base64_is_little_endian_f32() -> TestResult {
    let p = Pollux::start()?;
    let body = json!({"model": "text-embedding-004", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 3});
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    assert_eq!(status, 200, "{out}");
    for (i, text) in ["a", "b"].iter().enumerate() {
        let expected = pollux_translate::embeddings::base64_f32_le(
            &mock_gemini::catalog::fake_vector(text, 3),
        );
        assert_eq!(out["data"][i]["embedding"], expected.as_str());
    }
    Ok(())
}

#[actix_rt::test]
async fn embeddings_refuse_token_input_and_bad_models() -> TestResult {
    let p = Pollux::start()?;
    for input in [json!([1, 2, 3]), json!([[1, 2], [3]])] {
        let body = json!({"model": "text-embedding-004", "input": input});
        let (status, _, out) = p.post("/v1/embeddings", &body).await?;
        assert_eq!(status, 400, "{out}");
        assert_openai("ErrorResponse", &out);
        assert_eq!(out["error"]["param"], "input");
        assert!(out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Token-array"));
    }
    let (status, _, out) = p.post("/v1/embeddings", &json!({"input": "x"})).await?;
    assert_eq!(status, 400, "no model and no default: {out}");
    assert_eq!(
        p.mock.request_count(),
        0,
        "refused before any upstream call"
    );
    // A chat-only model: Gemini's 404 comes back in OpenAI's shape.
    let body = json!({"model": "gemini-2.5-flash", "input": "x"});
    let (status, _, out) = p.post("/v1/embeddings", &body).await?;
    assert_eq!(status, 404, "{out}");
    assert_openai("ErrorResponse", &out);
    Ok(())
}

// ---------------------------------------------------------------- native pass-through

#[actix_rt::test]
async fn native_passthrough_plain_stream_list_and_errors() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("native hello"));
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let (status, _, out) = call_json(
        &p,
        "POST",
        "/v1beta/models/gemini-2.5-flash:generateContent?key=client-side&foo=bar",
        &[],
        Some(&body),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["candidates"][0]["content"]["parts"][0]["text"],
        "native hello"
    );
    let up = &p.mock.requests()[0];
    assert_eq!(up.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(up.query, "foo=bar", "the key parameter never goes upstream");
    assert_eq!(up.header("x-goog-api-key"), Some("test-key"));
    assert_eq!(up.json()?, body, "the body goes upstream unchanged");

    p.mock.push(Scenario::text_stream(&["one ", "two"]));
    let (status, headers, raw) = call(
        &p,
        "POST",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[],
        Some(&body),
    )
    .await?;
    assert_eq!(status, 200);
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()?
        .starts_with("text/event-stream"));
    let text = String::from_utf8(raw)?;
    assert_eq!(text.matches("data: ").count(), 2, "{text}");
    assert!(
        text.contains("\r\n\r\n"),
        "Gemini's framing is kept: {text}"
    );

    let (status, _, list) = call_json(&p, "GET", "/v1beta/models?pageSize=3", &[], None).await?;
    assert_eq!(status, 200);
    assert_eq!(list["nextPageToken"], "page-3", "Gemini's own list shape");
    assert_eq!(
        mock_gemini::oracle::gemini_errors("ListModelsResponse", &list),
        Vec::<String>::new()
    );

    p.mock.push(Scenario::error(
        404,
        "NOT_FOUND",
        "models/nope is not found",
    ));
    let (status, _, err) = call_json(
        &p,
        "POST",
        "/v1beta/models/nope:generateContent",
        &[],
        Some(&body),
    )
    .await?;
    assert_eq!(status, 404);
    assert_eq!(
        err["error"]["status"], "NOT_FOUND",
        "Gemini's error as sent: {err}"
    );

    let (status, _, _) = call(&p, "GET", "/v1beta/../v1/models", &[], None).await?;
    assert_ne!(status, 200);
    Ok(())
}

#[actix_rt::test]
async fn health_and_readiness() -> TestResult {
    let p = Pollux::start()?;
    let (status, _, out) = p.get("/healthz").await?;
    assert_eq!((status, out), (200, json!({"status": "ok"})));
    let (status, _, out) = p.get("/readyz").await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "ready", "{out}");
    assert_eq!(out["state"], json!({"kind": "memory"}), "{out}");
    assert_eq!(out["keys"]["cooling"], 0, "{out}");
    assert_eq!(p.mock.request_count(), 0, "probes never call upstream");
    Ok(())
}

// ---------------------------------------------------------------- client keys

#[actix_rt::test]
async fn client_keys_plain_and_hashed_guard_every_route() -> TestResult {
    use sha2::Digest;
    let hashed = format!("sha256:{:x}", sha2::Sha256::digest(b"team-key-2"));
    let p = Pollux::start_with(|c, _| {
        c.client_keys = vec!["team-key-1".to_owned(), hashed];
    })?;
    for (key, want) in [
        (None, 401),
        (Some("nope"), 401),
        (Some("team-key-"), 401),
        (Some("team-key-1x"), 401),
        (Some("test-key"), 401),
        (Some("team-key-1"), 200),
        (Some("team-key-2"), 200),
    ] {
        let (status, _, out) = p
            .post_with_key("/v1/chat/completions", &chat(Some("gemini-2.5-flash")), key)
            .await?;
        assert_eq!(status, want, "{key:?}: {out}");
        if want == 401 {
            assert_openai("ErrorResponse", &out);
            assert_eq!(out["error"]["type"], "authentication_error");
        }
    }
    assert!(
        keys_seen(&p).iter().all(|k| k == "test-key"),
        "clients' keys never go upstream"
    );
    assert_eq!(
        p.mock.request_count(),
        2,
        "refused requests never went upstream"
    );

    let body = json!({"model": "text-embedding-004", "input": "x"});
    assert_statuses(
        &p,
        &[
            ("GET", "/v1/models", &[], None, 401),
            (
                "GET",
                "/v1/models",
                &[("authorization", "Bearer team-key-1")],
                None,
                200,
            ),
            ("POST", "/v1/embeddings", &[], Some(&body), 401),
            (
                "GET",
                "/v1beta/models",
                &[("x-goog-api-key", "wrong")],
                None,
                401,
            ),
            (
                "GET",
                "/v1beta/models",
                &[("x-goog-api-key", "team-key-2")],
                None,
                200,
            ),
            ("GET", "/v1beta/models?key=team-key-1", &[], None, 200),
        ],
    )
    .await
}

#[actix_rt::test]
async fn without_any_keys_the_client_key_is_the_gemini_key() -> TestResult {
    let p = Pollux::start_with(|c, _| c.api_key = None)?;
    let body = chat(Some("gemini-2.5-flash"));
    let route = "/v1/chat/completions";
    assert_statuses(
        &p,
        &[
            ("POST", route, &[], Some(&body), 401),
            (
                "POST",
                route,
                &[("authorization", "Bearer users-own-key")],
                Some(&body),
                200,
            ),
            (
                "GET",
                "/v1beta/models",
                &[("x-goog-api-key", "native-key")],
                None,
                200,
            ),
        ],
    )
    .await?;
    assert_eq!(keys_seen(&p), ["users-own-key", "native-key"]);
    // Each user's own key gets its own model list.
    assert_statuses(
        &p,
        &[
            (
                "GET",
                "/v1/models",
                &[("authorization", "Bearer a")],
                None,
                200,
            ),
            (
                "GET",
                "/v1/models",
                &[("authorization", "Bearer b")],
                None,
                200,
            ),
        ],
    )
    .await?;
    assert_eq!(p.mock.request_count(), 4);
    Ok(())
}

#[actix_rt::test]
async fn open_relay_is_refused_on_non_loopback() -> TestResult {
    let refused = Pollux::start_with(|c, _| {
        c.listen = "0.0.0.0:0".parse().unwrap();
    });
    let message = refused.err().expect("must refuse").to_string();
    assert!(message.contains("refusing"), "{message}");
    assert!(
        !message.contains("test-key"),
        "the key never appears: {message}"
    );
    // Loopback with a key and no client keys is fine (every other test does it).
    Ok(())
}

// ---------------------------------------------------------------- the key pool

#[actix_rt::test]
async fn rate_limited_key_cools_down_and_the_request_moves_on() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_key = Some("key-a".to_owned());
        c.api_keys = vec!["key-b".to_owned()];
    })?;
    p.mock.script_key(
        "key-a",
        KeyRule::RateLimited {
            retry_delay_secs: 1,
        },
    );
    assert_chats_ok(&p, 4).await?;
    let seen = keys_seen(&p);
    assert_eq!(
        seen.iter().filter(|k| *k == "key-a").count(),
        1,
        "key-a is skipped while it cools down: {seen:?}"
    );
    assert_eq!(seen.iter().filter(|k| *k == "key-b").count(), 4, "{seen:?}");

    // Both keys limited: the client gets Gemini's 429 with its Retry-After.
    p.mock.script_key(
        "key-b",
        KeyRule::RateLimited {
            retry_delay_secs: 7,
        },
    );
    let (status, headers, out) = flash_chat(&p).await?;
    assert_eq!(status, 429, "{out}");
    assert_openai("ErrorResponse", &out);
    assert!(headers.get("retry-after").is_some());

    // After RetryInfo's delay a recovered key serves again.
    p.mock.clear_key("key-a");
    p.mock.clear_key("key-b");
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    p.mock.reset();
    assert_chats_ok(&p, 2).await?;
    assert!(
        keys_seen(&p).contains(&"key-a".to_owned()),
        "{:?}",
        keys_seen(&p)
    );
    Ok(())
}

#[actix_rt::test]
async fn rotation_also_covers_streams_models_embeddings_and_native() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_keys = vec!["key-a".to_owned(), "key-b".to_owned()];
        c.api_key = None;
    })?;
    p.mock.script_key(
        "key-a",
        KeyRule::RateLimited {
            retry_delay_secs: 60,
        },
    );
    let mut body = chat(Some("gemini-2.5-flash"));
    body["stream"] = json!(true);
    let (status, _, events) = p.stream("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let (status, _, _) = p.get("/v1/models").await?;
    assert_eq!(status, 200);
    let (status, _, _) = p
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-004", "input": "x"}),
        )
        .await?;
    assert_eq!(status, 200);
    let (status, _, _) = call(&p, "GET", "/v1beta/models/gemini-2.5-pro", &[], None).await?;
    assert_eq!(status, 200);
    let seen = keys_seen(&p);
    assert!(
        seen.iter().filter(|k| *k == "key-a").count() <= 1,
        "{seen:?}"
    );
    Ok(())
}

/// An explicit cache lives in the project of the key that created it (mock-gemini refuses it
/// to any other key with 403): a cache created through the native pass-through is
/// remembered with its key, and chat and Responses requests naming it
/// (`extra_body.google.cached_content`) go to that key, leaving out the system instruction,
/// tools and tool config Gemini refuses beside a cache. A replica that did not see the
/// creation falls back to rendezvous over the cache's name, the same guess on every replica.
#[actix_rt::test]
async fn a_cached_content_goes_to_the_key_that_created_it() -> TestResult {
    let p = Pollux::start_with(|c, _| three_keys(c))?;
    let tool = json!({"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}});
    let mut created = Vec::new();
    // Round robin spreads the creations over the keys.
    for _ in 0..4 {
        let (status, _, cache) = p
            .post(
                "/v1beta/cachedContents",
                &json!({"model": "models/gemini-2.5-flash",
                    "contents": [{"role": "user", "parts": [{"text": "A long manual."}]}]}),
            )
            .await?;
        assert_eq!(status, 200, "{cache}");
        let creator = keys_seen(&p).last().cloned().unwrap();
        created.push((cache["name"].as_str().unwrap().to_owned(), creator));
    }
    let creators: std::collections::BTreeSet<&String> = created.iter().map(|c| &c.1).collect();
    assert!(creators.len() > 1, "{created:?}");
    for (name, creator) in &created {
        let before = p.mock.requests().len();
        let chat = json!({"model": "gemini-2.5-flash", "tools": [tool], "tool_choice": "auto",
            "messages": [{"role": "system", "content": "Answer from the manual."},
                         {"role": "user", "content": "What does page 3 say?"}],
            "extra_body": {"google": {"cached_content": name}}});
        let (status, _, out) = p.post("/v1/chat/completions", &chat).await?;
        assert_eq!(status, 200, "{out}");
        assert_openai("CreateChatCompletionResponse", &out);
        let responses = json!({"model": "gemini-2.5-flash", "instructions": "Be brief.",
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
            "input": "Summarize page 3.", "store": false,
            "extra_body": {"google": {"cached_content": name}}});
        let (status, _, out) = p.post("/v1/responses", &responses).await?;
        assert_eq!(status, 200, "{out}");
        support::assert_responses("Response", &out);
        let (status, _, _) = p.get(&format!("/v1beta/{name}")).await?;
        assert_eq!(status, 200);
        assert_eq!(keys_seen(&p)[before..], vec![creator.clone(); 3], "{name}");
        for r in &p.mock.requests()[before..before + 2] {
            let sent = r.json().unwrap();
            support::assert_gemini_request(&sent);
            assert_eq!(sent["cachedContent"], name.as_str());
            for field in ["systemInstruction", "tools", "toolConfig"] {
                assert!(sent.get(field).is_none(), "{field}: {sent}");
            }
        }
    }
    // Replicas that did not see a creation agree on their guess.
    let guess = |q: Pollux| async move {
        let chat = json!({"model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "x"}],
            "extra_body": {"google": {"cached_content": "cachedContents/made-elsewhere"}}});
        let _ = q.post("/v1/chat/completions", &chat).await;
        keys_seen(&q)
    };
    let first = guess(Pollux::start_with(|c, _| three_keys(c))?).await;
    let second = guess(Pollux::start_with(|c, _| three_keys(c))?).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first, second);
    Ok(())
}

/// A chat of conversation `conv` (its `prompt_cache_key`, or none) whose first user turn is
/// `first`, `turns` user turns long.
fn conversation(conv: Option<&str>, first: &str, turns: usize) -> Value {
    let mut messages = vec![json!({"role": "user", "content": first})];
    for i in 1..turns {
        messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
        messages.push(json!({"role": "user", "content": format!("follow-up {i}")}));
    }
    let mut body = json!({"model": "gemini-2.5-flash", "messages": messages});
    if let Some(conv) = conv {
        body["prompt_cache_key"] = json!(conv);
    }
    body
}

fn three_keys(c: &mut pollux_server::Config) {
    c.api_key = None;
    c.api_keys = vec!["key-a".to_owned(), "key-b".to_owned(), "key-c".to_owned()];
}

/// With a key pool a conversation stays on one key (rendezvous hash over its
/// `prompt_cache_key`, else its first user turn), different conversations spread over the
/// keys, a second replica with the same keys picks the same key, and a conversation moves
/// to its next key only while its own cools down.
#[actix_rt::test]
async fn conversations_keep_their_key() -> TestResult {
    let p = Pollux::start_with(|c, _| three_keys(c))?;
    for turns in 1..=3 {
        let (status, _, out) = p
            .post(
                "/v1/chat/completions",
                &conversation(Some("conv-1"), "hi", turns),
            )
            .await?;
        assert_eq!(status, 200, "{out}");
    }
    for turns in 1..=3 {
        let (status, _, out) = p
            .post(
                "/v1/chat/completions",
                &conversation(None, "Plan my trip to Oslo.", turns),
            )
            .await?;
        assert_eq!(status, 200, "{out}");
    }
    let seen = keys_seen(&p);
    assert!(
        seen[..3].iter().all(|k| *k == seen[0]),
        "by prompt_cache_key: {seen:?}"
    );
    assert!(
        seen[3..].iter().all(|k| *k == seen[3]),
        "by first user turn: {seen:?}"
    );
    let chosen = seen[0].clone();

    // Many conversations use more than one key.
    p.mock.reset();
    for i in 0..12 {
        let conv = format!("conv-spread-{i}");
        let (status, _, _) = p
            .post("/v1/chat/completions", &conversation(Some(&conv), "hi", 1))
            .await?;
        assert_eq!(status, 200);
    }
    let spread: std::collections::BTreeSet<String> = keys_seen(&p).into_iter().collect();
    assert!(spread.len() > 1, "{spread:?}");

    // Another replica, same keys, no shared state: the same key.
    let q = Pollux::start_with(|c, _| three_keys(c))?;
    let (status, _, _) = q
        .post(
            "/v1/chat/completions",
            &conversation(Some("conv-1"), "hi", 1),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(keys_seen(&q), vec![chosen.clone()]);

    // The chosen key cools down: the conversation moves to one other key, and stays there
    // while the cooldown lasts.
    p.mock.reset();
    p.mock.script_key(
        &chosen,
        KeyRule::RateLimited {
            retry_delay_secs: 60,
        },
    );
    for turns in 1..=2 {
        let (status, _, out) = p
            .post(
                "/v1/chat/completions",
                &conversation(Some("conv-1"), "hi", turns),
            )
            .await?;
        assert_eq!(status, 200, "{out}");
    }
    let seen = keys_seen(&p);
    assert_eq!(
        seen.len(),
        3,
        "429 on the chosen key, then its next key twice: {seen:?}"
    );
    assert_eq!(seen[0], chosen);
    assert_ne!(seen[1], chosen);
    assert_eq!(seen[1], seen[2]);
    Ok(())
}

#[actix_rt::test]
async fn invalid_key_leaves_the_rotation() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_key = Some("key-revoked".to_owned());
        c.api_keys = vec!["key-good".to_owned()];
    })?;
    p.mock.script_key("key-revoked", KeyRule::Invalid);
    // Distinct conversations: each keeps to the key its hash ranks first, so several are
    // needed for one to start on the revoked key.
    for i in 0..8 {
        let conv = format!("conversation-{i}");
        let (status, _, out) = p
            .post("/v1/chat/completions", &conversation(Some(&conv), "hi", 1))
            .await?;
        assert_eq!(status, 200, "chat {i}: {out}");
    }
    let seen = keys_seen(&p);
    assert_eq!(
        seen.iter().filter(|k| *k == "key-revoked").count(),
        1,
        "{seen:?}"
    );
    let (status, _, _) = p.get("/readyz").await?;
    assert_eq!(status, 200, "one good key left");
    Ok(())
}

#[actix_rt::test]
async fn no_valid_key_left_is_502_and_not_ready() -> TestResult {
    let p = Pollux::start_with(|c, _| c.api_key = Some("key-revoked".to_owned()))?;
    p.mock.script_key("key-revoked", KeyRule::Invalid);
    let (status, _, out) = flash_chat(&p).await?;
    assert_eq!(status, 502, "not the client's key: {out}");
    assert_openai("ErrorResponse", &out);
    assert_eq!(out["error"]["code"], "upstream_keys_invalid");
    assert!(!out.to_string().contains("key-revoked"));
    let (status, _, out) = flash_chat(&p).await?;
    assert_eq!(status, 502, "{out}");
    assert_eq!(
        p.mock.request_count(),
        1,
        "a revoked key is not tried again"
    );
    let (status, _, out) = p.get("/readyz").await?;
    assert_eq!(status, 503, "{out}");
    Ok(())
}

// ---------------------------------------------------------------- models in requests

#[actix_rt::test]
async fn aliases_and_default_model_echo_the_clients_name() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.aliases = vec![
            "gpt-4o=gemini-2.5-pro".to_owned(),
            "embed=text-embedding-004".to_owned(),
        ];
        c.default_model = Some("gemini-2.5-flash".to_owned());
    })?;
    let (status, _, out) = p
        .post("/v1/chat/completions", &chat(Some("gpt-4o")))
        .await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    assert_eq!(out["model"], "gpt-4o");
    let (status, _, out) = p.post("/v1/chat/completions", &chat(None)).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["model"], "gemini-2.5-flash");
    let (status, _, out) = p
        .post("/v1/embeddings", &json!({"model": "embed", "input": "x"}))
        .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["model"], "embed");
    let models: Vec<String> = p
        .mock
        .requests()
        .iter()
        .filter_map(|r| r.model.clone())
        .collect();
    assert_eq!(
        models,
        ["gemini-2.5-pro", "gemini-2.5-flash", "text-embedding-004"]
    );
    Ok(())
}

// ---------------------------------------------------------------- CORS

#[actix_rt::test]
async fn cors_allows_only_configured_origins() -> TestResult {
    let p = Pollux::start_with(|c, _| c.cors_origins = vec!["https://app.example.com".to_owned()])?;
    let preflight = |origin: &'static str| {
        [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ]
    };
    // The status and the allowed origin Pollux answers each request with.
    let allowed =
        |method: &'static str, path: &'static str, headers: Vec<(&'static str, &'static str)>| {
            let p = &p;
            async move {
                let (status, headers, _) = call(p, method, path, &headers, None).await?;
                let origin = headers
                    .get("access-control-allow-origin")
                    .map(|v| v.to_str().map(str::to_owned))
                    .transpose()?;
                Ok::<_, Box<dyn std::error::Error>>((status, origin))
            }
        };
    let app = "https://app.example.com";
    let preflight_app = allowed("OPTIONS", "/v1/chat/completions", preflight(app).to_vec());
    assert_eq!(preflight_app.await?, (200, Some(app.to_owned())));
    let preflight_evil = allowed(
        "OPTIONS",
        "/v1/chat/completions",
        preflight("https://evil.example.com").to_vec(),
    );
    assert_eq!(preflight_evil.await?.1, None);
    let simple = allowed("GET", "/v1/models", vec![("origin", app)]);
    assert_eq!(simple.await?, (200, Some(app.to_owned())));
    Ok(())
}

// ---------------------------------------------------------------- config precedence

fn pollux_bin(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pollux"));
    cmd.args(args);
    for var in [
        "POLLUX_LISTEN",
        "POLLUX_CONFIG",
        "GEMINI_API_KEY",
        "GEMINI_API_KEYS",
        "POLLUX_CLIENT_KEYS",
        "POLLUX_WORKERS",
        "POLLUX_MODELS_CACHE_TTL",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run pollux")
}

#[test]
fn config_precedence_flags_env_file_defaults() -> TestResult {
    let dir = std::env::temp_dir().join(format!("pollux-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("pollux.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9001\"\nworkers = 2\nmodels_cache_secs = 42\n\
         api_keys = [\"AIzaFileSecretOne\", \"AIzaFileSecretTwo\"]\n\
         [aliases]\ngpt-4o = \"gemini-2.5-pro\"\n",
    )?;
    let path = file.display().to_string();
    let out = pollux_bin(
        &["--workers", "3", "check-config", "--config", &path],
        &[("POLLUX_LISTEN", "127.0.0.1:9002"), ("POLLUX_WORKERS", "4")],
    );
    let text = String::from_utf8(out.stdout)?;
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("workers = 3  # flag"),
        "flag beats env and file:\n{text}"
    );
    assert!(
        text.contains("listen = \"127.0.0.1:9002\"  # env"),
        "env beats file:\n{text}"
    );
    assert!(
        text.contains("models_cache_secs = 42  # file"),
        "file beats default:\n{text}"
    );
    assert!(text.contains("key_cooldown_secs = 60  # default"), "{text}");
    assert!(
        text.contains("aliases = [\"gpt-4o=gemini-2.5-pro\"]  # file"),
        "{text}"
    );
    assert!(
        !text.contains("FileSecret"),
        "secrets are redacted:\n{text}"
    );
    assert!(text.contains("<redacted "), "{text}");

    // The same through POLLUX_CONFIG.
    let out = pollux_bin(&["check-config"], &[("POLLUX_CONFIG", &path)]);
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains("workers = 2  # file"), "{text}");

    // A bad value is a startup error naming the key and the file.
    std::fs::write(&file, "max_body_bytes = \"lots\"\n")?;
    let out = pollux_bin(&["--config", &path], &[]);
    let err = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key 'max_body_bytes'") && err.contains(&path),
        "{err}"
    );
    std::fs::write(&file, "client_keys = [\"sha256:beef\"]\napi_key = \"k\"\n")?;
    let out = pollux_bin(&["check-config", "--config", &path], &[]);
    let err = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("client_keys:"), "{err}");
    // The open relay, refused at startup.
    let out = pollux_bin(&["--listen", "0.0.0.0:0", "--api-key", "k"], &[]);
    let err = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refusing"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Every boolean setting takes the same spellings from the environment (clap's own `bool`
/// parser took only `true`/`false`, so `POLLUX_ALLOW_OPEN_RELAY=0` was a startup error).
#[test]
fn boolean_environment_variables_take_every_spelling() -> TestResult {
    use clap::CommandFactory;
    let command = pollux_server::Config::command();
    let vars: Vec<(String, String)> = command
        .get_arguments()
        .filter(|a| pollux_server::config::is_bool(a))
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_owned();
            Some((a.get_id().as_str().to_owned(), env))
        })
        .collect();
    assert!(
        vars.iter().any(|(_, e)| e == "POLLUX_ALLOW_OPEN_RELAY"),
        "{vars:?}"
    );
    for (spellings, want) in [
        (&["1", "true", "yes", "on", "TRUE", "Y"][..], true),
        (&["0", "false", "no", "off", "False", "n"][..], false),
    ] {
        for v in spellings {
            let env: Vec<(&str, &str)> = vars.iter().map(|(_, e)| (e.as_str(), *v)).collect();
            let out = pollux_bin(&["check-config"], &env);
            let text = String::from_utf8(out.stdout)?;
            assert!(
                out.status.success(),
                "{v}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for (id, _) in &vars {
                assert!(
                    text.contains(&format!("{id} = {want}  # env")),
                    "{id} from {v}:\n{text}"
                );
            }
        }
    }
    // The relay check sees the parsed value: 0 refuses, 1 allows.
    let relay = |v: &str| {
        pollux_bin(
            &["--listen", "0.0.0.0:0", "--api-key", "k", "check-config"],
            &[("POLLUX_ALLOW_OPEN_RELAY", v)],
        )
    };
    let refused = relay("0");
    let err = String::from_utf8(refused.stderr)?;
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("refusing"), "{err}");
    assert!(relay("1").status.success());
    Ok(())
}

// ---------------------------------------------------------------- identifier bounds

/// Asserts a 400 with `code` and `param` that went nowhere near the upstream.
fn assert_refused(p: &Pollux, what: &str, status: u16, out: &Value, code: &str, param: Value) {
    assert_eq!(status, 400, "{what}: {out}");
    assert_openai("ErrorResponse", out);
    assert_eq!(out["error"]["code"], code, "{what}: {out}");
    assert_eq!(out["error"]["param"], param, "{what}: {out}");
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most") && message.len() < 200,
        "{what}: the message names the limit and does not echo the name: {message}"
    );
    assert_eq!(p.mock.request_count(), 0, "{what}: nothing may go upstream");
}

/// A 70 KB model name made the upstream URL too long for the HTTP client: the client got
/// 502 "uri too long" for its own mistake. Identifiers that reach a URL are bounded (256
/// bytes) with a 400 first, on every route.
#[actix_rt::test]
async fn overlong_identifiers_are_refused_with_400() -> TestResult {
    let p = Pollux::start()?;
    let huge = "g".repeat(70 * 1024);
    let mut streamed = chat(Some(&huge));
    streamed["stream"] = json!(true);
    // A URL cannot carry 70 KB (the test's own client refuses it), but the bound is the same.
    let long = "g".repeat(1000);
    let native = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let cases = [
        (
            "chat",
            "POST",
            "/v1/chat/completions".to_owned(),
            Some(chat(Some(&huge))),
            "invalid_model",
            json!("model"),
        ),
        (
            "stream",
            "POST",
            "/v1/chat/completions".to_owned(),
            Some(streamed),
            "invalid_model",
            json!("model"),
        ),
        (
            "models/",
            "POST",
            "/v1/chat/completions".to_owned(),
            Some(chat(Some(&format!("models/{huge}")))),
            "invalid_model",
            json!("model"),
        ),
        (
            "embeddings",
            "POST",
            "/v1/embeddings".to_owned(),
            Some(json!({"model": huge, "input": "hi"})),
            "invalid_model",
            json!("model"),
        ),
        (
            "models/{id}",
            "GET",
            format!("/v1/models/{long}"),
            None,
            "invalid_model",
            json!("model"),
        ),
        (
            "native path",
            "POST",
            format!("/v1beta/models/{long}:generateContent"),
            Some(native),
            "invalid_path",
            Value::Null,
        ),
        (
            "native query",
            "GET",
            format!("/v1beta/models?pageToken={}", "t".repeat(9 * 1024)),
            None,
            "invalid_path",
            Value::Null,
        ),
    ];
    for (what, method, path, body, code, param) in cases {
        let (status, _, out) = call_json(&p, method, &path, &[], body.as_ref()).await?;
        assert_refused(&p, what, status, &out, code, param);
    }

    // 256 bytes is still a model name: it goes upstream.
    let longest = "g".repeat(256);
    p.mock.push(Scenario::text("fine"));
    let (status, _, out) = p
        .post("/v1/chat/completions", &chat(Some(&longest)))
        .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["model"], longest.as_str());
    let up = &p.mock.requests()[0];
    assert_eq!(up.path, format!("/v1beta/models/{longest}:generateContent"));
    let (status, _, out) = p
        .post("/v1/chat/completions", &chat(Some(&"g".repeat(257))))
        .await?;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["param"], "model");
    Ok(())
}
