//! The wider request surface end to end: media parts, structured output, reasoning,
//! logprobs, stop sequences beyond Gemini's five, web search grounding, Gemini-only extras and
//! parameters a model cannot take. Every upstream body is held against the Gemini oracle and
//! every answer against the OpenAI oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use mock_gemini::{Scenario, StreamStep};
use serde_json::{json, Value};
use support::{assert_gemini_request, assert_openai, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn json_answer(body: Value) -> Scenario {
    Scenario::Json {
        status: 200,
        body,
        headers: Default::default(),
        delay_ms: 0,
    }
}

async fn sent_after(
    p: &Pollux,
    body: &Value,
) -> Result<(Value, Value), Box<dyn std::error::Error>> {
    let (status, _, out) = p.post("/v1/chat/completions", body).await?;
    assert_eq!(status, 200, "{out}");
    assert_openai("CreateChatCompletionResponse", &out);
    let sent = p.mock.requests().last().unwrap().json()?;
    assert_gemini_request(&sent);
    Ok((sent, out))
}

#[actix_rt::test]
async fn image_audio_and_pdf_parts_are_inlined_untouched() -> TestResult {
    let p = Pollux::start()?;
    p.mock
        .push(Scenario::text("A cat, a sound and a document."));
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe these."},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}"), "detail": "high"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "a.pdf"}}
    ]}]});
    let (sent, _) = sent_after(&p, &body).await?;
    let parts = &sent["contents"][0]["parts"];
    assert_eq!(
        parts[1],
        json!({"inlineData": {"mimeType": "image/png", "data": png}})
    );
    assert_eq!(parts[2]["inlineData"]["mimeType"], "audio/wav");
    assert_eq!(parts[3]["inlineData"]["mimeType"], "application/pdf");
    assert_eq!(
        sent["generationConfig"]["mediaResolution"],
        "MEDIA_RESOLUTION_HIGH"
    );
    Ok(())
}

#[actix_rt::test]
async fn json_schema_response_format_and_reasoning() -> TestResult {
    let p = Pollux::start()?;
    p.mock
        .push(Scenario::text("{\"name\":\"Pollux\",\"magnitude\":1.14}"));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "A star?"}],
        "reasoning_effort": "low",
        "response_format": {"type": "json_schema", "json_schema": {"name": "Star", "strict": true, "schema": {
            "type": "object", "properties": {"name": {"type": "string"}, "magnitude": {"type": "number"}},
            "required": ["name", "magnitude"], "additionalProperties": false}}}});
    let (sent, out) = sent_after(&p, &body).await?;
    let config = &sent["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(
        config["responseJsonSchema"]["required"],
        json!(["name", "magnitude"])
    );
    assert_eq!(
        config["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 1024})
    );
    let parsed: Value =
        serde_json::from_str(out["choices"][0]["message"]["content"].as_str().unwrap())?;
    assert_eq!(parsed["name"], "Pollux");

    // Gemini 3 takes a level, never a budget.
    p.mock.push(Scenario::text("ok"));
    let body = json!({"model": "gemini-3-pro-preview", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high"});
    let (sent, _) = sent_after(&p, &body).await?;
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingLevel": "high"})
    );
    Ok(())
}

#[actix_rt::test]
async fn logprobs_round_trip() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(json_answer(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
        "finishReason": "STOP", "index": 0,
        "logprobsResult": {"chosenCandidates": [{"token": "Hi", "logProbability": -0.25}],
            "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.25}, {"token": "Hey", "logProbability": -1.5}]}]}}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}})));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 2});
    let (sent, out) = sent_after(&p, &body).await?;
    assert_eq!(sent["generationConfig"]["responseLogprobs"], true);
    assert_eq!(sent["generationConfig"]["logprobs"], 2);
    let lp = &out["choices"][0]["logprobs"]["content"][0];
    assert_eq!(lp["token"], "Hi");
    assert_eq!(lp["top_logprobs"][1]["token"], "Hey");
    Ok(())
}

#[actix_rt::test]
async fn more_than_five_stop_sequences_are_enforced_by_pollux() -> TestResult {
    let p = Pollux::start()?;
    let stops = json!(["s1", "s2", "s3", "s4", "s5", "HALT", "END"]);
    p.mock
        .push(Scenario::text("Counting: one two HALT three four"));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "count"}], "stop": stops});
    let (sent, out) = sent_after(&p, &body).await?;
    assert_eq!(
        sent["generationConfig"]["stopSequences"],
        json!(["s1", "s2", "s3", "s4", "s5"])
    );
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "Counting: one two "
    );
    assert_eq!(out["choices"][0]["finish_reason"], "stop");

    // Streamed, with the stop sequence split across two events.
    p.mock.push(Scenario::text_stream(&[
        "Counting: one two HA",
        "LT three",
        " four",
    ]));
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let (_, _, events) = p.stream("/v1/chat/completions", &stream_body).await?;
    let chunks: Vec<Value> = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for c in &chunks {
        assert_openai("CreateChatCompletionStreamResponse", c);
    }
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Counting: one two ");
    assert_eq!(events.last().unwrap(), "[DONE]");
    Ok(())
}

#[actix_rt::test]
async fn web_search_grounding_becomes_annotations() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(json_answer(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Pollux is the brightest star in Gemini."}]},
        "finishReason": "STOP", "index": 0,
        "groundingMetadata": {"webSearchQueries": ["pollux star"],
            "groundingChunks": [{"web": {"uri": "https://en.wikipedia.org/wiki/Pollux_(star)", "title": "wikipedia.org"}}],
            "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 39, "text": "Pollux is the brightest star in Gemini."}, "groundingChunkIndices": [0]}]}}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9, "totalTokenCount": 12}})));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Pollux?"}], "web_search_options": {}});
    let (sent, out) = sent_after(&p, &body).await?;
    assert_eq!(sent["tools"], json!([{"googleSearch": {}}]));
    let a = &out["choices"][0]["message"]["annotations"][0];
    assert_eq!(a["type"], "url_citation");
    assert_eq!(
        a["url_citation"]["url"],
        "https://en.wikipedia.org/wiki/Pollux_(star)"
    );
    assert_eq!(a["url_citation"]["end_index"], 39);
    Ok(())
}

/// Gemini's code execution, asked for as a typed tool entry: the code and its output reach
/// the client as fenced blocks in the text and, structured, in
/// `extra_content.google.code_execution`, plain and streamed.
#[actix_rt::test]
async fn code_execution_tool_answers_with_code_and_output() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::code_execution(
        "Let me run it.",
        "print(2 + 3)",
        "5\n",
        "It is 5.",
    ));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "2+3?"}],
        "tools": [{"type": "code_execution"}]});
    let (sent, out) = sent_after(&p, &body).await?;
    assert_eq!(sent["tools"], json!([{"codeExecution": {}}]));
    let message = &out["choices"][0]["message"];
    assert_eq!(
        message["content"],
        "Let me run it.\n```python\nprint(2 + 3)\n```\n```output\n5\n```\nIt is 5."
    );
    assert_eq!(
        message["extra_content"]["google"]["code_execution"],
        json!([{"type": "executable_code", "language": "PYTHON", "code": "print(2 + 3)"},
            {"type": "code_execution_result", "outcome": "OUTCOME_OK", "output": "5\n"}])
    );

    p.mock.push(Scenario::code_execution(
        "Let me run it.",
        "print(2 + 3)",
        "5\n",
        "It is 5.",
    ));
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let (_, _, events) = p.stream("/v1/chat/completions", &stream_body).await?;
    let chunks: Vec<Value> = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for c in &chunks {
        assert_openai("CreateChatCompletionStreamResponse", c);
    }
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, message["content"].as_str().unwrap());
    let steps: Vec<Value> = chunks
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["extra_content"]["google"]["code_execution"].as_array()
        })
        .flatten()
        .cloned()
        .collect();
    assert_eq!(
        Value::Array(steps),
        message["extra_content"]["google"]["code_execution"]
    );
    Ok(())
}

/// Gemini tools in `extra_body.google.tools` beside a function on Gemini 3: both reach
/// Gemini with server-side tool invocations switched on; on 2.5 the pair is a 400.
#[actix_rt::test]
async fn gemini_tools_mix_with_functions_where_the_model_allows() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::url_context(
        "The page says hello.",
        &["https://example.com/"],
    ));
    let body = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": "Read https://example.com/"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "extra_body": {"google": {"tools": [{"url_context": {}}]}}})
    };
    let (sent, out) = sent_after(&p, &body("gemini-3-flash-preview")).await?;
    assert_eq!(sent["tools"][1], json!({"urlContext": {}}));
    assert_eq!(sent["toolConfig"]["includeServerSideToolInvocations"], true);
    let a = &out["choices"][0]["message"]["annotations"][0];
    assert_eq!(a["url_citation"]["url"], "https://example.com/");
    let before = p.mock.requests().len();
    let (status, _, err) = p
        .post("/v1/chat/completions", &body("gemini-2.5-flash"))
        .await?;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "tools");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot combine"));
    assert_eq!(p.mock.requests().len(), before, "nothing went upstream");
    Ok(())
}

/// `service_tier: priority` asks Gemini for its Priority tier; the answer says the tier
/// Gemini reports (`x-gemini-service-tier`), here a downgrade to standard.
#[actix_rt::test]
async fn service_tier_is_sent_and_the_tier_used_reported() -> TestResult {
    let p = Pollux::start()?;
    let mut downgraded = json_answer(
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi."}]},
        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}}),
    );
    if let Scenario::Json { headers, .. } = &mut downgraded {
        headers.insert("x-gemini-service-tier".to_owned(), "standard".to_owned());
    }
    p.mock.push(downgraded);
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}],
        "service_tier": "priority"});
    let (sent, out) = sent_after(&p, &body).await?;
    assert_eq!(sent["serviceTier"], "priority");
    assert_eq!(out["service_tier"], "default");

    p.mock.push(Scenario::text("Hi."));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}],
        "service_tier": "auto"});
    let (sent, out) = sent_after(&p, &body).await?;
    assert!(sent.get("serviceTier").is_none());
    assert!(
        out.get("service_tier").is_none(),
        "no tier reported, none claimed"
    );
    let (status, _, err) = p
        .post(
            "/v1/chat/completions",
            &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}], "service_tier": "scale"}),
        )
        .await?;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "service_tier");
    Ok(())
}

#[actix_rt::test]
async fn google_extras_reach_gemini() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("ok"));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}],
        "extra_body": {"google": {
            "safety_settings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}],
            "thinking_config": {"thinking_budget": 0},
            "generation_config": {"top_k": 20}}}});
    let (sent, _) = sent_after(&p, &body).await?;
    assert_eq!(sent["safetySettings"][0]["threshold"], "BLOCK_ONLY_HIGH");
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 0})
    );
    assert_eq!(sent["generationConfig"]["topK"], 20);
    Ok(())
}

#[actix_rt::test]
async fn generated_image_is_returned_not_dropped() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::answer(vec![vec![
        json!({"text": "Here is your image."}),
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}),
    ]]));
    let body = json!({"model": "gemini-2.5-flash-image", "messages": [{"role": "user", "content": "draw"}]});
    let (_, out) = sent_after(&p, &body).await?;
    assert_eq!(
        out["choices"][0]["message"]["images"][0]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );

    p.mock.push(Scenario::stream(vec![StreamStep::Event(json!({"candidates": [{"content": {"role": "model", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}, "finishReason": "STOP", "index": 0}]}))]));
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let (_, _, events) = p.stream("/v1/chat/completions", &stream_body).await?;
    assert!(
        events
            .iter()
            .any(|e| e.contains("data:image/png;base64,iVBORw0KGgo=")),
        "{events:?}"
    );
    Ok(())
}

#[actix_rt::test]
async fn parameters_a_model_cannot_take_are_dropped_and_reported() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("ok"));
    let body = json!({"model": "gemini-3-pro-preview", "messages": [{"role": "user", "content": "hi"}],
        "presence_penalty": 0.5, "n": 2});
    let (status, headers, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        headers.get("x-pollux-dropped-params").unwrap(),
        "presence_penalty, n"
    );
    let sent = p.mock.requests()[0].json()?;
    assert!(sent
        .get("generationConfig")
        .is_none_or(|c| c.get("presencePenalty").is_none() && c.get("candidateCount").is_none()));
    assert_eq!(out["choices"].as_array().unwrap().len(), 1);

    let strict = Pollux::start_with(|c, _| c.strict_params = true)?;
    let (status, _, out) = strict.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "unsupported_parameter");
    assert_eq!(out["error"]["param"], "presence_penalty");
    assert_eq!(strict.mock.request_count(), 0);
    Ok(())
}

#[actix_rt::test]
async fn configured_safety_defaults_and_legacy_schemas() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.safety_settings = Some(
            r#"[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]"#.to_owned(),
        );
        c.legacy_schemas = true;
    })?;
    p.mock.push(Scenario::text("ok"));
    p.mock.push(Scenario::text("ok"));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
            "properties": {"a": {"type": ["string", "null"]}}, "additionalProperties": false}}}]});
    let (sent, _) = sent_after(&p, &body).await?;
    assert_eq!(
        sent["safetySettings"],
        json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}])
    );
    let decl = &sent["tools"][0]["functionDeclarations"][0];
    assert!(decl.get("parametersJsonSchema").is_none());
    assert_eq!(
        decl["parameters"]["properties"]["a"],
        json!({"type": "STRING", "nullable": true})
    );
    // A client's own settings win over the default.
    let mut own = body.clone();
    own["extra_body"] = json!({"google": {"safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_LOW_AND_ABOVE"}]}});
    let (sent, _) = sent_after(&p, &own).await?;
    assert_eq!(
        sent["safetySettings"][0]["category"],
        "HARM_CATEGORY_HATE_SPEECH"
    );
    Ok(())
}

#[actix_rt::test]
async fn capability_overrides_from_configuration() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.model_capabilities = Some(r#"{"gemini-2.5-flash": {"penalties": true}}"#.to_owned());
    })?;
    p.mock.push(Scenario::text("ok"));
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}],
        "presence_penalty": 0.5});
    let (status, headers, out) = p.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{out}");
    assert!(headers.get("x-pollux-dropped-params").is_none());
    assert_eq!(
        p.mock.requests()[0].json()?["generationConfig"]["presencePenalty"],
        0.5
    );

    let mut bad = pollux_server::Config::defaults();
    bad.model_capabilities = Some(r#"{"gemini-2.5-flash": {"penalty": true}}"#.to_owned());
    let err = bad.validate().unwrap_err();
    assert!(err.contains("POLLUX_MODEL_CAPABILITIES"), "{err}");
    Ok(())
}
