//! Function calling end to end: tool declarations and schemas as Gemini must receive them,
//! tool calls back in OpenAI's shape (plain and streamed), name rewriting, and Gemini 3
//! thought signatures through a multi-step agent loop against a fake upstream that rejects
//! a missing or altered signature exactly as Gemini does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use mock_gemini::Scenario;
use serde_json::{json, Value};
use support::{assert_gemini_request, assert_openai, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "strict": true,
        "parameters": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"$ref": "#/$defs/Unit"},
                "when": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
                "days": {"type": ["integer", "null"]},
                "kind": {"const": "current"}
            },
            "required": ["city", "unit", "when", "days", "kind"],
            "additionalProperties": false,
            "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}}
        }
    }})
}

/// Collects streamed tool-call deltas the way the official SDKs' accumulators do.
fn accumulate_tool_calls(chunks: &[Value]) -> Vec<Value> {
    let mut calls: Vec<Value> = Vec::new();
    for chunk in chunks {
        for delta in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = delta["index"].as_u64().unwrap() as usize;
            if calls.len() <= index {
                calls.resize(index + 1, json!({"function": {"arguments": ""}}));
            }
            let call = &mut calls[index];
            for key in ["id", "type", "extra_content"] {
                if !delta[key].is_null() {
                    call[key] = delta[key].clone();
                }
            }
            if let Some(name) = delta["function"]["name"].as_str() {
                call["function"]["name"] = json!(name);
            }
            if let Some(args) = delta["function"]["arguments"].as_str() {
                let joined = format!(
                    "{}{}",
                    call["function"]["arguments"].as_str().unwrap(),
                    args
                );
                call["function"]["arguments"] = json!(joined);
            }
        }
    }
    calls
}

fn chunks_of(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

#[actix_rt::test]
async fn tool_schema_reaches_gemini_as_valid_json_schema() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris", "unit": "c"}),
    ));
    let body = json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [weather_tool(), {"type": "function", "function": {"name": "no_params"}}],
        "tool_choice": "auto"
    });
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    let sent = p.mock.requests()[0].json()?;
    assert_gemini_request(&sent);
    let decls = &sent["tools"][0]["functionDeclarations"];
    let schema = &decls[0]["parametersJsonSchema"];
    assert!(schema.get("$schema").is_none(), "$schema is stripped");
    assert_eq!(
        schema["properties"]["unit"],
        json!({"$ref": "#/$defs/Unit"})
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(decls[1], json!({"name": "no_params"}));
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );

    let msg = &out["choices"][0]["message"];
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["tool_calls"][0]["type"], "function");
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        msg["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )?;
    assert_eq!(args, json!({"city": "Paris", "unit": "c"}));
    assert!(msg["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("call_"));
    Ok(())
}

#[actix_rt::test]
async fn streamed_parallel_calls_rebuild_the_plain_result() -> TestResult {
    let p = Pollux::start()?;
    let calls = [
        ("get_weather", json!({"city": "Paris"})),
        ("get_weather", json!({"city": "Rome"})),
    ];
    p.mock.push(Scenario::function_calls(&calls));
    p.mock.push(Scenario::function_calls(&calls));
    let mut body = json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Weather in Paris and Rome?"}],
        "tools": [weather_tool()]
    });
    let (_, _, plain) = p.post("/v1/chat/completions", &body).await?;
    body["stream"] = json!(true);
    let (status, _, events) = p.stream("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200);
    let chunks = chunks_of(&events);
    for c in &chunks {
        assert_openai("CreateChatCompletionStreamResponse", c);
    }
    let streamed = accumulate_tool_calls(&chunks);
    let plain_calls = plain["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(
        streamed.len(),
        2,
        "parallel calls to the same function stay separate"
    );
    for (s, p) in streamed.iter().zip(plain_calls) {
        assert_eq!(s["function"], p["function"]);
        assert_eq!(s["type"], "function");
    }
    assert_ne!(streamed[0]["id"], streamed[1]["id"]);
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec![&json!("tool_calls")]);
    Ok(())
}

#[actix_rt::test]
async fn invalid_function_names_are_rewritten_and_mapped_back() -> TestResult {
    let p = Pollux::start()?;
    let body = json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "search"}],
        "tools": [{"type": "function", "function": {"name": "mcp/search files", "parameters": {"type": "object", "properties": {}}}}],
        "tool_choice": {"type": "function", "function": {"name": "mcp/search files"}}
    });
    // First learn what name Gemini sees, then script the mock to call it.
    p.mock.push(Scenario::text("no call"));
    p.post("/v1/chat/completions", &body).await?;
    let sent = p.mock.requests()[0].json()?;
    assert_gemini_request(&sent);
    let gemini_name = sent["tools"][0]["functionDeclarations"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(gemini_name, "mcp/search files");
    assert_eq!(
        sent["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"],
        json!([gemini_name])
    );

    p.mock
        .push(Scenario::function_call(&gemini_name, json!({})));
    let (_, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "mcp/search files"
    );

    p.mock
        .push(Scenario::function_call(&gemini_name, json!({})));
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let (_, _, events) = p.stream("/v1/chat/completions", &stream_body).await?;
    let calls = accumulate_tool_calls(&chunks_of(&events));
    assert_eq!(calls[0]["function"]["name"], "mcp/search files");

    // The history the client sends back uses its own name; Gemini gets its rewritten one.
    p.mock.push(Scenario::text("done"));
    let mut follow = body.clone();
    follow["messages"] = json!([
        {"role": "user", "content": "search"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_x", "type": "function", "function": {"name": "mcp/search files", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_x", "content": "no results"}
    ]);
    let (status, _, out) = p.post("/v1/chat/completions", &follow).await?;
    assert_eq!(status, 200, "{out}");
    let sent = p.mock.requests().last().unwrap().json()?;
    assert_eq!(
        sent["contents"][1]["parts"][0]["functionCall"]["name"],
        gemini_name.as_str()
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"]["name"],
        gemini_name.as_str()
    );
    Ok(())
}

/// Runs call → result → call → result → answer on a Gemini 3 model. `strip` removes
/// `extra_content` from the assistant messages before sending them back, as many clients do.
async fn gemini3_agent_loop(p: &Pollux, stream: bool, strip: bool) -> TestResult {
    let model = "gemini-3-pro-preview";
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    p.mock.push(Scenario::function_calls(&[
        ("get_weather", json!({"city": "Rome"})),
        ("get_weather", json!({"city": "Oslo"})),
    ]));
    p.mock.push(Scenario::text("Paris 21°, Rome 25°, Oslo 9°."));
    let mut messages =
        vec![json!({"role": "user", "content": "Weather in Paris, then Rome and Oslo?"})];
    for step in 0..3 {
        let body = json!({"model": model, "messages": messages, "tools": [weather_tool()], "stream": stream});
        let message = if stream {
            let (status, _, events) = p.stream("/v1/chat/completions", &body).await?;
            assert_eq!(status, 200, "step {step}: {events:?}");
            let chunks = chunks_of(&events);
            assert!(
                chunks.iter().all(|c| c.get("error").is_none()),
                "step {step}: {events:?}"
            );
            let text: String = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect();
            let calls = accumulate_tool_calls(&chunks);
            let mut m = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                m["tool_calls"] = json!(calls);
            }
            m
        } else {
            let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
            assert_eq!(status, 200, "step {step}: {out}");
            assert_openai("CreateChatCompletionResponse", &out);
            out["choices"][0]["message"].clone()
        };
        let Some(calls) = message["tool_calls"].as_array().cloned() else {
            assert_eq!(step, 2, "the answer comes at the third step");
            assert_eq!(message["content"], "Paris 21°, Rome 25°, Oslo 9°.");
            break;
        };
        assert!(
            calls[0]["extra_content"]["google"]["thought_signature"].is_string(),
            "signature returned on the first call"
        );
        for later in &calls[1..] {
            assert!(
                later.get("extra_content").is_none() || later["extra_content"].is_null(),
                "no signature on later parallel calls"
            );
        }
        let mut assistant = message.clone();
        if strip {
            for call in assistant["tool_calls"].as_array_mut().unwrap() {
                call.as_object_mut().unwrap().remove("extra_content");
            }
        }
        assert!(!calls[0]["id"].as_str().unwrap().contains(
            calls[0]["extra_content"]["google"]["thought_signature"]
                .as_str()
                .unwrap()
        ));
        messages.push(assistant);
        for call in &calls {
            messages.push(
                json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 20}"}),
            );
        }
    }
    for req in p.mock.requests() {
        assert_gemini_request(&req.json()?);
        // Never the validator-skip value: the real signatures were always available.
        assert!(!String::from_utf8_lossy(&req.body).contains("skip_thought_signature_validator"));
    }
    Ok(())
}

#[actix_rt::test]
async fn gemini3_loop_with_extra_content_kept() -> TestResult {
    gemini3_agent_loop(&Pollux::start()?, false, false).await
}

#[actix_rt::test]
async fn gemini3_loop_with_extra_content_stripped_uses_the_cache() -> TestResult {
    gemini3_agent_loop(&Pollux::start()?, false, true).await
}

#[actix_rt::test]
async fn gemini3_streamed_loop_with_extra_content_stripped() -> TestResult {
    gemini3_agent_loop(&Pollux::start()?, true, true).await
}

#[actix_rt::test]
async fn gemini3_without_cache_or_extra_content_gets_the_skip_value() -> TestResult {
    // A cache of size 0 stands for a replica that never saw the call.
    let p = Pollux::start_with(|c, _| c.signature_cache_size = 0)?;
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    p.mock.push(Scenario::text("21°"));
    let tools = json!([weather_tool()]);
    let (_, _, out) = p
        .post(
            "/v1/chat/completions",
            &json!({"model": "gemini-3-pro-preview",
        "messages": [{"role": "user", "content": "Paris?"}], "tools": tools}),
        )
        .await?;
    let mut call = out["choices"][0]["message"]["tool_calls"][0].clone();
    call.as_object_mut().unwrap().remove("extra_content");
    let (status, _, out) = p
        .post(
            "/v1/chat/completions",
            &json!({"model": "gemini-3-pro-preview", "tools": tools,
        "messages": [{"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
            {"role": "tool", "tool_call_id": call["id"], "content": "21"}]}),
        )
        .await?;
    assert_eq!(status, 200, "{out}");
    let sent = p.mock.requests()[1].json()?;
    assert_eq!(
        sent["contents"][1]["parts"][0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
    Ok(())
}

#[actix_rt::test]
async fn altered_signature_is_rejected_like_gemini_does() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    let tools = json!([weather_tool()]);
    let (_, _, out) = p
        .post(
            "/v1/chat/completions",
            &json!({"model": "gemini-3-pro-preview",
        "messages": [{"role": "user", "content": "Paris?"}], "tools": tools}),
        )
        .await?;
    let mut call = out["choices"][0]["message"]["tool_calls"][0].clone();
    call["extra_content"]["google"]["thought_signature"] = json!("dGFtcGVyZWQ=");
    let (status, _, out) = p
        .post(
            "/v1/chat/completions",
            &json!({"model": "gemini-3-pro-preview", "tools": tools,
        "messages": [{"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
            {"role": "tool", "tool_call_id": call["id"], "content": "21"}]}),
        )
        .await?;
    assert_eq!(
        status, 400,
        "Pollux passes the client's signature through unchanged: {out}"
    );
    assert_openai("ErrorResponse", &out);
    Ok(())
}

#[actix_rt::test]
async fn malformed_function_call_is_an_actionable_error() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::Answer {
        chunks: vec![],
        finish_reason: "MALFORMED_FUNCTION_CALL".to_owned(),
        fail: None,
        candidate: None,
    });
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "tools": [weather_tool()]});
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 502, "{out}");
    assert_openai("ErrorResponse", &out);
    assert_eq!(out["error"]["code"], "malformed_function_call");
    Ok(())
}

#[actix_rt::test]
async fn legacy_functions_fields_map_like_tools() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    let body = json!({"model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Paris?"}],
        "functions": [weather_tool()["function"].clone()],
        "function_call": {"name": "get_weather"}});
    let (status, _, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    let sent = p.mock.requests()[0].json()?;
    assert_gemini_request(&sent);
    assert_eq!(
        sent["toolConfig"]["functionCallingConfig"],
        json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]})
    );
    // The legacy API answers in its own shape: one `function_call`, finish `function_call`.
    assert_openai("CreateChatCompletionResponse", &out);
    assert_eq!(
        out["choices"][0]["message"]["function_call"]["name"],
        "get_weather"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "function_call");
    assert!(out["choices"][0]["message"].get("tool_calls").is_none());
    Ok(())
}
