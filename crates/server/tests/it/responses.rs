//! `POST /v1/responses` end to end, in front of mock-gemini: every body Pollux returns and
//! every stream event it sends is held against OpenAI's Responses spec
//! (`tests/reference/openai-responses.openapi.json`), every upstream body against Gemini's
//! schema, and the Gemini 3 tool loops run against the mock's thought-signature checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use mock_gemini::{Scenario, StreamStep};
use serde_json::{json, Value};
use support::{assert_gemini_request, assert_responses, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const GEMINI3: &str = "gemini-3-pro-preview";

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": true})
}

/// The last upstream request, checked against Gemini's schema.
fn last_upstream(p: &Pollux) -> Value {
    let sent = p.mock.requests().last().unwrap().json().unwrap();
    assert_gemini_request(&sent);
    sent
}

/// Checks a stream's framing rules and returns its terminal event's response.
fn check_stream(events: &[Value]) -> Value {
    for e in events {
        assert_responses("ResponseStreamEvent", e);
    }
    let numbers: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] > w[0]),
        "sequence numbers must increase: {numbers:?}"
    );
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    let terminal: Vec<&Value> = events
        .iter()
        .filter(|e| {
            matches!(
                e["type"].as_str().unwrap(),
                "response.completed" | "response.incomplete" | "response.failed"
            )
        })
        .collect();
    assert_eq!(terminal.len(), 1, "exactly one terminal event");
    assert_eq!(
        events.last().unwrap(),
        terminal[0],
        "the terminal event is last"
    );
    // No delta before its item's `added`, no item event after its `done`.
    let mut added = std::collections::HashSet::new();
    let mut done = std::collections::HashSet::new();
    for e in events {
        let kind = e["type"].as_str().unwrap();
        if kind == "response.output_item.added" {
            added.insert(e["item"]["id"].as_str().unwrap().to_owned());
        } else if kind == "response.output_item.done" {
            done.insert(e["item"]["id"].as_str().unwrap().to_owned());
        } else if let Some(id) = e["item_id"].as_str() {
            assert!(added.contains(id), "{kind} before its item was added");
            assert!(!done.contains(id), "{kind} after its item was done");
        }
    }
    terminal[0]["response"].clone()
}

/// A response with its generated ids and times blanked, for comparing two runs.
fn normalized(mut response: Value) -> Value {
    response["id"] = json!("resp");
    response["created_at"] = json!(0);
    if !response["completed_at"].is_null() {
        response["completed_at"] = json!(0);
    }
    for item in response["output"].as_array_mut().unwrap() {
        item["id"] = json!("item");
        if item.get("call_id").is_some() {
            item["call_id"] = json!("call");
        }
    }
    response
}

#[actix_rt::test]
async fn plain_text_response_round_trip() -> TestResult {
    let p = Pollux::start()?;
    p.mock
        .push(Scenario::text("Paris is the capital of France."));
    let body = json!({
        "model": "gemini-2.5-flash",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]}
        ],
        "temperature": 0.5, "max_output_tokens": 4096, "store": false,
        "metadata": {"run": "1"}, "user": "someone", "prompt_cache_key": "k", "safety_identifier": "s"
    });
    let (status, headers, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert!(headers.get("x-pollux-dropped-params").is_none());
    assert_responses("Response", &out);
    assert!(out["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(out["object"], "response");
    assert_eq!(out["status"], "completed");
    assert_eq!(out["model"], "gemini-2.5-flash");
    assert_eq!(out["instructions"], "Be brief.");
    assert_eq!(out["temperature"], 0.5);
    assert_eq!(out["max_output_tokens"], 4096);
    assert_eq!(out["store"], false);
    assert_eq!(out["metadata"], json!({"run": "1"}));
    let output = out["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "message");
    assert!(output[0]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "text": "Paris is the capital of France.", "annotations": [], "logprobs": []}])
    );
    let usage = &out["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );

    let sent = last_upstream(&p);
    assert_eq!(
        p.mock.requests()[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}, {"text": "Answer in English."}]})
    );
    assert_eq!(
        sent["contents"],
        json!([{"role": "user", "parts": [{"text": "Capital of France?"}]}])
    );
    assert_eq!(sent["generationConfig"]["temperature"], 0.5);
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 4096);
    Ok(())
}

/// The stream's final `response` is what the same request returns unstreamed.
#[actix_rt::test]
async fn streamed_text_ends_in_the_plain_answer() -> TestResult {
    let p = Pollux::start()?;
    let answer = Scenario::text_stream(&["The answer ", "is ", "42."]);
    p.mock.push(answer.clone());
    p.mock.push(answer);
    let mut body = json!({"model": "gemini-2.5-flash", "input": "What is the answer?"});
    let (_, _, plain) = p.post("/v1/responses", &body).await?;
    body["stream"] = json!(true);
    let (status, headers, events) = p.named_stream("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{events:?}");
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    let last = check_stream(&events);
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    assert_responses("Response", &last);
    assert_eq!(normalized(last), normalized(plain));
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["The answer ", "is ", "42."]);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(events[0]["response"]["status"], "in_progress");
    assert_eq!(
        p.mock.requests()[1].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    Ok(())
}

/// A Gemini 3 agent loop the way a stateless client runs it: the whole input replayed each
/// turn, reasoning items included (`include`), or without them (the per-process cache).
async fn gemini3_loop(p: &Pollux, stream: bool, include: bool) -> TestResult {
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    p.mock.push(Scenario::text("It is sunny in Paris."));
    let mut body = json!({
        "model": GEMINI3, "store": false, "stream": stream,
        "input": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [weather_tool()],
    });
    if include {
        body["include"] = json!(["reasoning.encrypted_content"]);
    }
    let first = if stream {
        let (status, _, events) = p.named_stream("/v1/responses", &body).await?;
        assert_eq!(status, 200, "{events:?}");
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"response.function_call_arguments.delta"));
        assert!(kinds.contains(&"response.function_call_arguments.done"));
        check_stream(&events)
    } else {
        p.post("/v1/responses", &body).await?.2
    };
    assert_responses("Response", &first);
    assert_eq!(first["status"], "completed");
    let output = first["output"].as_array().unwrap().clone();
    let call = output
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["arguments"], r#"{"city":"Paris"}"#);
    let reasoning: Vec<&Value> = output.iter().filter(|i| i["type"] == "reasoning").collect();
    if include {
        assert_eq!(reasoning.len(), 1, "{output:?}");
        let sealed = reasoning[0]["encrypted_content"].as_str().unwrap();
        assert!(sealed.starts_with("pollux.v1."));
    } else {
        assert!(
            reasoning.is_empty(),
            "no summary and no include: no reasoning item"
        );
    }

    // Turn two: everything replayed, plus the output.
    let mut input = body["input"].as_array().unwrap().clone();
    input.extend(output.iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 24 C"}));
    body["input"] = json!(input);
    let second = if stream {
        let (status, _, events) = p.named_stream("/v1/responses", &body).await?;
        assert_eq!(status, 200, "{events:?}");
        check_stream(&events)
    } else {
        let (status, _, out) = p.post("/v1/responses", &body).await?;
        assert_eq!(status, 200, "{out}");
        out
    };
    assert_eq!(second["status"], "completed", "{second}");
    let text = second["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "message")
        .unwrap()["content"][0]["text"]
        .clone();
    assert_eq!(text, "It is sunny in Paris.");

    // The signature Gemini issued came back on its call, not the skip value.
    let sent = last_upstream(p);
    let model_turn = &sent["contents"][1];
    assert_eq!(model_turn["role"], "model");
    let signature = model_turn["parts"][0]["thoughtSignature"].as_str().unwrap();
    assert_ne!(signature, "skip_thought_signature_validator");
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny, 24 C"}}}]})
    );
    Ok(())
}

#[actix_rt::test]
async fn gemini3_loop_with_encrypted_content() -> TestResult {
    gemini3_loop(&Pollux::start()?, false, true).await
}

#[actix_rt::test]
async fn gemini3_loop_without_include_uses_the_cache() -> TestResult {
    gemini3_loop(&Pollux::start()?, false, false).await
}

#[actix_rt::test]
async fn gemini3_streamed_loop_with_encrypted_content() -> TestResult {
    gemini3_loop(&Pollux::start()?, true, true).await
}

#[actix_rt::test]
async fn gemini3_streamed_loop_without_include() -> TestResult {
    gemini3_loop(&Pollux::start()?, true, false).await
}

/// Custom tools are one-string functions to Gemini and `custom_tool_call`s to the client;
/// namespace members are hoisted and their calls named back into the namespace.
#[actix_rt::test]
async fn custom_and_namespaced_tools() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::function_call(
        "apply_patch",
        json!({"input": "*** Begin Patch\n*** End Patch"}),
    ));
    p.mock.push(Scenario::function_call(
        "files__read",
        json!({"path": "a.txt"}),
    ));
    p.mock.push(Scenario::text("Done."));
    let tools = json!([
        {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin Patch\""}},
        {"type": "namespace", "name": "files", "description": "File tools.",
         "tools": [{"type": "function", "name": "read", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}]},
    ]);
    let mut body = json!({"model": "gemini-2.5-flash", "input": "Fix it.", "tools": tools});
    let (status, _, first) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{first}");
    assert_responses("Response", &first);
    let declared = &last_upstream(&p)["tools"][0]["functionDeclarations"];
    assert_eq!(declared[0]["name"], "apply_patch");
    assert_eq!(
        declared[0]["parametersJsonSchema"]["required"],
        json!(["input"])
    );
    assert!(declared[0]["description"]
        .as_str()
        .unwrap()
        .contains("lark grammar"));
    assert_eq!(declared[1]["name"], "files__read");
    let call = &first["output"][0];
    assert_eq!(call["type"], "custom_tool_call");
    assert_eq!(call["name"], "apply_patch");
    assert_eq!(call["input"], "*** Begin Patch\n*** End Patch");

    let (_, _, second) = p.post("/v1/responses", &body).await?;
    let call2 = &second["output"][0];
    assert_eq!(call2["type"], "function_call");
    assert_eq!(call2["namespace"], "files");
    assert_eq!(call2["name"], "read");

    body["input"] = json!([
        {"role": "user", "content": "Fix it."},
        call.clone(),
        {"type": "custom_tool_call_output", "call_id": call["call_id"], "output": "Patched."},
        call2.clone(),
        {"type": "function_call_output", "call_id": call2["call_id"], "output": [{"type": "input_text", "text": "hello"}]},
    ]);
    let (status, _, third) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{third}");
    let sent = last_upstream(&p);
    assert_eq!(
        sent["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "apply_patch", "args": {"input": "*** Begin Patch\n*** End Patch"}})
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "apply_patch", "response": {"result": "Patched."}})
    );
    assert_eq!(
        sent["contents"][3]["parts"][0]["functionCall"]["name"],
        "files__read"
    );
    assert_eq!(
        sent["contents"][4]["parts"][0]["functionResponse"],
        json!({"name": "files__read", "response": {"result": "hello"}})
    );
    Ok(())
}

#[actix_rt::test]
async fn streamed_custom_tool_call_events() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::function_call(
        "apply_patch",
        json!({"input": "patch text"}),
    ));
    let body = json!({"model": "gemini-2.5-flash", "input": "Fix it.", "stream": true,
        "tools": [{"type": "custom", "name": "apply_patch"}]});
    let (_, _, events) = p.named_stream("/v1/responses", &body).await?;
    let last = check_stream(&events);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"response.custom_tool_call_input.delta"));
    let done = events
        .iter()
        .find(|e| e["type"] == "response.custom_tool_call_input.done")
        .unwrap();
    assert_eq!(done["input"], "patch text");
    assert_eq!(last["output"][0]["type"], "custom_tool_call");
    Ok(())
}

#[actix_rt::test]
async fn web_search_becomes_google_search_with_citations() -> TestResult {
    let p = Pollux::start()?;
    let text = "Rust 2.0 was not released.";
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0,
            "groundingMetadata": {"webSearchQueries": ["rust 2.0 release"],
                "groundingChunks": [{"web": {"uri": "https://blog.rust-lang.org/", "title": "Rust Blog"}}],
                "groundingSupports": [{"segment": {"partIndex": 0, "startIndex": 0, "endIndex": 8}, "groundingChunkIndices": [0]}]}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 8}}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let body = json!({"model": "gemini-2.5-flash", "input": "Is Rust 2.0 out?",
        "tools": [{"type": "web_search"}]});
    let (status, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("Response", &out);
    assert_eq!(last_upstream(&p)["tools"], json!([{"googleSearch": {}}]));
    let message = &out["output"][0];
    assert_eq!(
        message["content"][0]["annotations"],
        json!([{"type": "url_citation", "start_index": 0, "end_index": 8,
            "url": "https://blog.rust-lang.org/", "title": "Rust Blog"}])
    );
    let search = &out["output"][1];
    assert_eq!(search["type"], "web_search_call");
    assert_eq!(search["status"], "completed");
    assert_eq!(search["action"]["queries"], json!(["rust 2.0 release"]));
    Ok(())
}

/// `code_interpreter` runs on Gemini's code execution: the stream carries a
/// `code_interpreter_call` item with its code events, and the final response holds the code
/// and its output as logs between the two messages.
#[actix_rt::test]
async fn code_interpreter_becomes_code_execution() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::code_execution(
        "Let me run it.",
        "print(2 + 3)",
        "5\n",
        "It is 5.",
    ));
    let body = json!({"model": "gemini-2.5-flash", "input": "2+3?", "stream": true,
        "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]});
    let (_, _, events) = p.named_stream("/v1/responses", &body).await?;
    let last = check_stream(&events);
    assert_eq!(last_upstream(&p)["tools"], json!([{"codeExecution": {}}]));
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in [
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let output = last["output"].as_array().unwrap();
    let types: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["message", "code_interpreter_call", "message"]);
    assert_eq!(output[1]["code"], "print(2 + 3)");
    assert_eq!(output[1]["status"], "completed");
    assert_eq!(
        output[1]["outputs"],
        json!([{"type": "logs", "logs": "5\n"}])
    );
    assert_eq!(output[2]["content"][0]["text"], "It is 5.");
    Ok(())
}

/// `file_search` over the stores in `vector_store_ids`: Gemini's File Search, answered with
/// a `file_search_call` item naming the documents and `file_citation` annotations.
#[actix_rt::test]
async fn file_search_becomes_gemini_file_search() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::file_search(
        "Refunds are accepted within 30 days.",
        &[(
            "fileSearchStores/handbook/documents/policy",
            "refund-policy.pdf",
            "Customers may return items within 30 days.",
        )],
    ));
    let body = json!({"model": "gemini-2.5-flash", "input": "Refund window?",
        "tools": [{"type": "file_search", "vector_store_ids": ["handbook"]}]});
    let (status, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("Response", &out);
    assert_eq!(
        last_upstream(&p)["tools"],
        json!([{"fileSearch": {"fileSearchStoreNames": ["fileSearchStores/handbook"]}}])
    );
    assert_eq!(
        out["output"][0]["content"][0]["annotations"],
        json!([{"type": "file_citation", "file_id": "fileSearchStores/handbook/documents/policy",
            "index": 36, "filename": "refund-policy.pdf"}])
    );
    let search = &out["output"][1];
    assert_eq!(search["type"], "file_search_call");
    assert_eq!(search["status"], "completed");
    assert_eq!(search["results"][0]["filename"], "refund-policy.pdf");
    Ok(())
}

/// `service_tier: flex` reaches Gemini; the response says the tier Gemini reports.
#[actix_rt::test]
async fn service_tier_flex_is_reported_back() -> TestResult {
    let p = Pollux::start()?;
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("x-gemini-service-tier".to_owned(), "flex".to_owned());
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Done."}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}}),
        headers,
        delay_ms: 0,
    });
    let body = json!({"model": "gemini-2.5-flash", "input": "Batch job.", "service_tier": "flex"});
    let (status, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("Response", &out);
    assert_eq!(last_upstream(&p)["serviceTier"], "flex");
    assert_eq!(out["service_tier"], "flex");
    Ok(())
}

/// Each refusal is a 400 whose `param` says where and whose message says what to change.
#[actix_rt::test]
async fn bad_input_is_a_400_naming_its_place() -> TestResult {
    let p = Pollux::start()?;
    let cases = [
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "mcp", "server_label": "x"}]}),
            "tools[0].type",
            "mcp",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": "x"},
                {"type": "function_call_output", "call_id": "call_nope", "output": "1"}]}),
            "input[1].call_id",
            "call_nope",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [
                {"type": "input_image", "image_url": "data:image/png;base64", "detail": "auto"}]}]}),
            "input[0].content[0].image_url",
            "data URL",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [
                {"type": "input_video", "video_url": "x"}]}]}),
            "input[0].content[0].type",
            "input_video",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "text": {"format": {"type": "yaml"}}}),
            "text.format.type",
            "yaml",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": 7}),
            "input",
            "string or an array",
        ),
    ];
    for (body, param, needle) in cases {
        let (status, _, out) = p.post("/v1/responses", &body).await?;
        assert_eq!(status, 400, "{body}: {out}");
        assert_responses("ErrorResponse", &out);
        assert_eq!(out["error"]["param"], param, "{out}");
        let message = out["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
    }
    assert!(p.mock.requests().is_empty(), "nothing reached Gemini");
    Ok(())
}

/// Items clients replay from elsewhere are dropped and named, never refused.
#[actix_rt::test]
async fn foreign_items_are_dropped_and_reported() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("ok"));
    let body = json!({"model": "gemini-2.5-flash", "input": [
        {"type": "compaction", "encrypted_content": "gAAAA..."},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB-openai"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        {"role": "user", "content": "hi"},
    ]});
    let (status, headers, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        headers.get("x-pollux-dropped-params").unwrap(),
        "input[0], input[1].encrypted_content"
    );
    assert_eq!(
        last_upstream(&p)["contents"],
        json!([{"role": "user", "parts": [{"text": "hi"}]}])
    );
    Ok(())
}

#[actix_rt::test]
async fn endings_map_to_status() -> TestResult {
    let p = Pollux::start()?;
    let finish = |reason: &str| Scenario::Answer {
        chunks: vec![vec![json!({"text": "partial"})]],
        finish_reason: reason.to_owned(),
        fail: None,
        candidate: None,
    };
    let body = json!({"model": "gemini-2.5-flash", "input": "go"});

    p.mock.push(finish("MAX_TOKENS"));
    let (_, _, out) = p.post("/v1/responses", &body).await?;
    assert_responses("Response", &out);
    assert_eq!(out["status"], "incomplete");
    assert_eq!(out["incomplete_details"]["reason"], "max_output_tokens");

    p.mock.push(Scenario::Answer {
        chunks: vec![vec![]],
        finish_reason: "SAFETY".to_owned(),
        fail: None,
        candidate: None,
    });
    let (_, _, out) = p.post("/v1/responses", &body).await?;
    assert_responses("Response", &out);
    assert_eq!(out["status"], "incomplete");
    assert_eq!(out["incomplete_details"]["reason"], "content_filter");
    assert_eq!(out["output"][0]["content"][0]["type"], "refusal");

    p.mock.push(finish("MALFORMED_FUNCTION_CALL"));
    let (_, _, out) = p.post("/v1/responses", &body).await?;
    assert_responses("Response", &out);
    assert_eq!(out["status"], "failed");
    assert_eq!(out["error"]["code"], "server_error");
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("MALFORMED_FUNCTION_CALL"));

    // Gemini 3's empty answer after tool output: failed, never an empty `completed`.
    p.mock.push(Scenario::Answer {
        chunks: vec![vec![]],
        finish_reason: "STOP".to_owned(),
        fail: None,
        candidate: None,
    });
    let (_, _, out) = p.post("/v1/responses", &body).await?;
    assert_responses("Response", &out);
    assert_eq!(out["status"], "failed");
    assert!(out["output"].as_array().unwrap().is_empty());

    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let (_, _, out) = p.post("/v1/responses", &body).await?;
    assert_responses("Response", &out);
    assert_eq!(out["status"], "incomplete");
    assert_eq!(out["incomplete_details"]["reason"], "content_filter");
    assert!(out["output"][0]["content"][0]["refusal"]
        .as_str()
        .unwrap()
        .contains("PROHIBITED_CONTENT"));
    Ok(())
}

/// A failure after the 200: an `error` event, then `response.failed`, and nothing after.
#[actix_rt::test]
async fn a_failure_mid_stream_ends_in_response_failed() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text_then_error(
        &["Once upon ", "a time"],
        503,
        "UNAVAILABLE",
        "The model is overloaded.",
    ));
    let body = json!({"model": "gemini-2.5-flash", "input": "story", "stream": true});
    let (status, _, events) = p.named_stream("/v1/responses", &body).await?;
    assert_eq!(status, 200);
    let last = check_stream(&events);
    let n = events.len();
    assert_eq!(events[n - 2]["type"], "error");
    assert_eq!(events[n - 1]["type"], "response.failed");
    assert_eq!(last["status"], "failed");
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("overloaded"));
    // The text that did arrive is in the failed response, its message closed.
    assert_eq!(last["output"][0]["content"][0]["text"], "Once upon a time");

    // A stream cut without a finish reason fails too.
    p.mock.push(Scenario::stream(vec![
        support::text_event("Hel"),
        StreamStep::Cut,
    ]));
    let (_, _, events) = p.named_stream("/v1/responses", &body).await?;
    let last = check_stream(&events);
    assert_eq!(last["status"], "failed");
    Ok(())
}

#[actix_rt::test]
async fn rate_limit_before_the_stream_is_a_429_with_openais_wording() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::rate_limited(7));
    let body = json!({"model": "gemini-2.5-flash", "input": "x", "stream": true});
    let (status, headers, events) = p.named_stream("/v1/responses", &body).await?;
    assert_eq!(status, 429);
    assert_eq!(headers.get("retry-after").unwrap(), "7");
    let message = events[0]["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("Please try again in 7s."), "{message}");
    Ok(())
}

#[actix_rt::test]
async fn reasoning_summaries_and_effort() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::answer(vec![
        vec![json!({"text": "Thinking about it.", "thought": true})],
        vec![json!({"text": "Four."})],
    ]));
    let body = json!({"model": "gemini-2.5-flash", "input": "2+2?", "stream": true,
        "reasoning": {"effort": "low", "summary": "auto"}});
    let (_, _, events) = p.named_stream("/v1/responses", &body).await?;
    let last = check_stream(&events);
    assert_responses("Response", &last);
    assert_eq!(
        last["output"][0]["summary"],
        json!([{"type": "summary_text", "text": "Thinking about it."}])
    );
    assert_eq!(last["output"][1]["content"][0]["text"], "Four.");
    assert_eq!(
        last["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    let thinking = &last_upstream(&p)["generationConfig"]["thinkingConfig"];
    assert_eq!(
        *thinking,
        json!({"includeThoughts": true, "thinkingBudget": 1024})
    );

    // Without `summary`, thoughts are not asked for and not shown.
    p.mock.push(Scenario::answer(vec![
        vec![json!({"text": "hmm", "thought": true})],
        vec![json!({"text": "Four."})],
    ]));
    let body =
        json!({"model": "gemini-2.5-flash", "input": "2+2?", "reasoning": {"effort": "xhigh"}});
    let (_, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(out["output"].as_array().unwrap().len(), 1);
    let thinking = &last_upstream(&p)["generationConfig"]["thinkingConfig"];
    assert!(thinking.get("includeThoughts").is_none(), "{thinking}");
    Ok(())
}

#[actix_rt::test]
async fn json_schema_text_format() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text(r#"{"name":"Ada"}"#));
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}},
        "required": ["name"], "additionalProperties": false});
    let body = json!({"model": "gemini-2.5-flash", "input": "Who?",
        "text": {"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": true}}});
    let (status, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("Response", &out);
    assert_eq!(out["text"]["format"]["name"], "person");
    let config = &last_upstream(&p)["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(
        config["responseJsonSchema"]["properties"]["name"]["type"],
        "string"
    );
    Ok(())
}

/// The request settings a response echoes, without what the run decides.
fn echoed(response: &Value) -> Value {
    let mut echo = response.as_object().unwrap().clone();
    for key in [
        "id",
        "object",
        "created_at",
        "status",
        "completed_at",
        "error",
        "incomplete_details",
        "output",
        "usage",
    ] {
        echo.remove(key);
    }
    Value::Object(echo)
}

/// The settings are encoded once per response and copied into each object that carries
/// them: `response.created`, `response.in_progress` and `response.completed` echo the same
/// settings as the plain body of the same request, each object valid as a whole.
#[actix_rt::test]
async fn echoed_settings_are_the_same_in_every_response_object() -> TestResult {
    let p = Pollux::start()?;
    let answer = Scenario::text_stream(&["Sunny ", "today."]);
    p.mock.push(answer.clone());
    p.mock.push(answer);
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
        "required": ["answer"], "additionalProperties": false});
    let mut body = json!({
        "model": "gemini-2.5-flash",
        "instructions": "Be brief. \"Quote\" and \u{e9}.",
        "input": [{"role": "user", "content": "Weather?"}],
        "tools": [weather_tool()],
        "tool_choice": "auto",
        "text": {"format": {"type": "json_schema", "name": "reply", "schema": schema, "strict": true},
            "verbosity": "low"},
        "reasoning": {"effort": "low"},
        "metadata": {"run": "7", "who": "test"},
        "temperature": 0.25, "top_p": 0.5, "max_output_tokens": 300, "max_tool_calls": 3,
        "user": "someone", "safety_identifier": "s", "prompt_cache_key": "k",
        "parallel_tool_calls": false, "truncation": "disabled", "store": false
    });
    let (status, _, plain) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{plain}");
    assert_responses("Response", &plain);
    let expected = echoed(&plain);
    assert_eq!(expected["instructions"], body["instructions"]);
    assert_eq!(expected["metadata"], body["metadata"]);
    assert_eq!(expected["text"]["format"]["schema"], schema);
    assert_eq!(expected["tools"][0]["name"], "get_weather");
    assert_eq!(expected["reasoning"]["effort"], "low");
    assert_eq!(expected["temperature"], 0.25);
    assert_eq!(expected["max_tool_calls"], 3);
    assert_eq!(expected["parallel_tool_calls"], false);

    body["stream"] = json!(true);
    let (status, _, events) = p.named_stream("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{events:?}");
    check_stream(&events);
    let carrying: Vec<&Value> = events
        .iter()
        .filter(|e| e.get("response").is_some())
        .collect();
    let kinds: Vec<&str> = carrying
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
    for event in carrying {
        assert_responses("Response", &event["response"]);
        assert_eq!(echoed(&event["response"]), expected, "{}", event["type"]);
    }
    Ok(())
}

#[actix_rt::test]
async fn log_probabilities_where_the_model_gives_them() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::Json {
        status: 200,
        body: json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP", "index": 0,
            "logprobsResult": {"chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
                "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "Hey", "logProbability": -2.5}]}]}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}),
        headers: Default::default(),
        delay_ms: 0,
    });
    let body = json!({"model": "gemini-2.5-flash", "input": "Say hi", "top_logprobs": 2,
        "include": ["message.output_text.logprobs"]});
    let (status, _, out) = p.post("/v1/responses", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_responses("Response", &out);
    let logprobs = &out["output"][0]["content"][0]["logprobs"];
    assert_eq!(logprobs[0]["token"], "Hi");
    assert_eq!(logprobs[0]["bytes"], json!([72, 105]));
    assert_eq!(logprobs[0]["top_logprobs"][1]["token"], "Hey");
    let config = &last_upstream(&p)["generationConfig"];
    assert_eq!(config["responseLogprobs"], true);
    assert_eq!(config["logprobs"], 2);

    // Gemini 3 gives none: the parameter is dropped and said so.
    p.mock.push(Scenario::text("Hi"));
    let body = json!({"model": GEMINI3, "input": "Say hi", "top_logprobs": 2});
    let (_, headers, _) = p.post("/v1/responses", &body).await?;
    assert_eq!(
        headers.get("x-pollux-dropped-params").unwrap(),
        "top_logprobs"
    );
    Ok(())
}
