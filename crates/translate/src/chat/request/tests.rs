//! Unit tests of the whole request mapping.

use super::*;
use crate::build::media::MediaSource;
use crate::build::options::Dialect;
use crate::build::signatures::SignatureSource;
use crate::build::signatures::SKIP_SIGNATURE;
use serde_json::value::RawValue;
use serde_json::{json, Value};

fn translate(body: Value) -> Result<Value, TranslateError> {
    translate_for("gemini-2.5-flash", body)
}

fn translate_for(model: &str, body: Value) -> Result<Value, TranslateError> {
    let req = chat::ChatCompletionRequest::from_slice(body.to_string().as_bytes())?;
    let opts = RequestOptions::new(model);
    let out = to_gemini(req, &opts)?;
    Ok(serde_json::to_value(&out.body).unwrap())
}

fn param_of(err: TranslateError) -> Option<String> {
    match err {
        TranslateError::InvalidRequest { param, .. } => param,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn system_user_assistant_and_merging() {
    let out = translate(json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use English."}]},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello!"},
            {"role": "system", "content": "Late rule"},
            {"role": "user", "content": "Bye"}
        ]
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use English."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "Late rule"}, {"text": "Bye"}]}
            ]
        })
    );
}

#[test]
fn parameters_map_to_generation_config() {
    let out = translate_for(
        "gemini-2.0-flash",
        json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.5, "top_p": 0.9, "max_tokens": 10, "max_completion_tokens": 20,
            "stop": ["a", "b", "c", "d", "e", "f"], "seed": 7, "presence_penalty": 0.1,
            "frequency_penalty": -0.1, "n": 2, "user": "u1", "store": true, "metadata": {"k": "v"}
        }),
    )
    .unwrap();
    assert_eq!(
        out["generationConfig"],
        json!({
            "temperature": 0.5, "topP": 0.9, "maxOutputTokens": 20,
            "stopSequences": ["a", "b", "c", "d", "e"], "seed": 7,
            "presencePenalty": 0.1, "frequencyPenalty": -0.1, "candidateCount": 2
        })
    );
}

#[test]
fn stop_as_string_and_n_one_is_not_sent() {
    let out =
        translate(json!({"messages": [{"role": "user", "content": "x"}], "stop": "END", "n": 1}))
            .unwrap();
    assert_eq!(out["generationConfig"], json!({"stopSequences": ["END"]}));
}

#[test]
fn out_of_range_values_name_their_param() {
    let e = translate(json!({"messages": [{"role": "user", "content": "x"}], "temperature": 3}))
        .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("temperature"));
    let e = translate(json!({"messages": [], "model": "m"})).unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages"));
    let e = translate(json!({"messages": [{"role": "user", "content": "x"}], "n": 0})).unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("n"));
}

#[test]
fn ill_typed_fields_name_their_path() {
    let e = chat::ChatCompletionRequest::from_slice(
        br#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
    )
    .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("temperature"));
    let e = chat::ChatCompletionRequest::from_slice(
        br#"{"messages":[{"role":"wizard","content":"x"}]}"#,
    )
    .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages[0].role"));
    let e = chat::ChatCompletionRequest::from_slice(b"{not json").unwrap_err();
    assert!(matches!(
        e,
        TranslateError::InvalidRequest {
            code: Some("invalid_json"),
            ..
        }
    ));
}

#[test]
fn only_empty_content_is_refused() {
    let e = translate(json!({"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": ""}]})).unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages"));
}

#[test]
fn tool_history_round_trip() {
    let out = translate(json!({
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "sunny"}]},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required"
    }))
    .unwrap();
    assert_eq!(
        out["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {}}}
        ]})
    );
    assert_eq!(
        out["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
            {"text": "Thanks"}
        ]})
    );
    assert_eq!(
        out["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert_eq!(
        out["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["type"],
        "object"
    );
}

#[test]
fn tool_errors_name_their_param() {
    let base = |extra: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        translate(body)
    };
    let e =
        base(json!({"tool_choice": {"type": "function", "function": {"name": "g"}}})).unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("tool_choice"));
    let e = base(json!({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}))
        .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages[0].tool_call_id"));
    let e = base(json!({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}]})).unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages[1].tool_calls"));
    let named =
        base(json!({"tool_choice": {"type": "function", "function": {"name": "f"}}})).unwrap();
    assert_eq!(
        named["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
    );
}

#[test]
fn gemini3_signatures_come_from_extra_content_then_cache_then_skip() {
    struct Cache;
    impl SignatureSource for Cache {
        fn signature_for(&self, id: &str) -> Option<String> {
            (id == "call_cached").then(|| "c2ln".to_owned())
        }
    }
    let body = json!({"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"},
             "extra_content": {"google": {"thought_signature": "c2lnQQ=="}}},
            {"id": "call_b", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "1"},
        {"role": "tool", "tool_call_id": "call_b", "content": "2"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_cached", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_cached", "content": "3"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_unknown", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_unknown", "content": "4"}
    ]});
    let req = chat::ChatCompletionRequest::from_slice(body.to_string().as_bytes()).unwrap();
    let opts = RequestOptions {
        signatures: &Cache,
        ..RequestOptions::new("gemini-3-pro-preview")
    };
    let out = serde_json::to_value(to_gemini(req, &opts).unwrap().body).unwrap();
    let sig = |c: usize, p: usize| {
        out["contents"][c]["parts"][p]
            .get("thoughtSignature")
            .cloned()
    };
    assert_eq!(sig(1, 0), Some(json!("c2lnQQ==")));
    assert_eq!(
        sig(1, 1),
        None,
        "later calls of a parallel step get no signature"
    );
    assert_eq!(sig(3, 0), Some(json!("c2ln")));
    assert_eq!(sig(5, 0), Some(json!(SKIP_SIGNATURE)));
    // Gemini 2.5 never gets the skip value.
    let out = translate(body).unwrap();
    assert_eq!(out["contents"][5]["parts"][0].get("thoughtSignature"), None);
}

#[test]
fn upstream_ids_are_echoed_on_call_and_response() {
    let out = translate(json!({"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "abc123", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "abc123", "content": "[1,2]"}
    ]}))
    .unwrap();
    assert_eq!(
        out["contents"][1]["parts"][0]["functionCall"]["id"],
        "abc123"
    );
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"],
        json!({"id": "abc123", "name": "f", "response": {"result": [1, 2]}})
    );
}

#[test]
fn conversation_starting_with_model_gets_a_user_turn() {
    let out = translate(json!({"messages": [
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    ]}))
    .unwrap();
    assert_eq!(out["contents"][0]["role"], "user");
    assert_eq!(out["contents"][1]["role"], "model");
}

#[test]
fn media_parts() {
    let out = translate(json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_id": "files/abc"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.jpg"}}
    ]}]}))
    .unwrap();
    assert_eq!(
        out["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.jpg"}}
        ])
    );
    let e = translate(json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,***"}}]}]}))
    .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages[0].content[0]"));
}

#[test]
fn response_formats() {
    let out = translate(json!({"messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "strict": true,
            "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"a": {"type": "string"}}}}}}))
    .unwrap();
    assert_eq!(
        out["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        out["generationConfig"]["responseJsonSchema"],
        json!({"type": "object", "properties": {"a": {"type": "string"}}})
    );
}

fn translated(model: &str, body: Value, strict: bool) -> Result<Translated, TranslateError> {
    let req = chat::ChatCompletionRequest::from_slice(body.to_string().as_bytes())?;
    to_gemini(
        req,
        &RequestOptions {
            strict_params: strict,
            ..RequestOptions::new(model)
        },
    )
}

fn user(extra: Value) -> Value {
    let mut body = json!({"messages": [{"role": "user", "content": "x"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[test]
fn unsupported_params_are_dropped_and_reported_or_refused_in_strict_mode() {
    let body =
        user(json!({"presence_penalty": 0.5, "frequency_penalty": 0.0, "n": 2, "logprobs": true}));
    let out = translated("gemini-3-pro-preview", body.clone(), false).unwrap();
    assert_eq!(out.dropped, vec!["presence_penalty", "n", "logprobs"]);
    assert_eq!(out.n, 1);
    let config = serde_json::to_value(&out.body.generation_config).unwrap();
    assert_eq!(config, json!({}));
    let e = translated("gemini-3-pro-preview", body, true).unwrap_err();
    assert!(matches!(
        e,
        TranslateError::InvalidRequest {
            code: Some("unsupported_parameter"),
            ..
        }
    ));
    assert_eq!(param_of(e).as_deref(), Some("presence_penalty"));
    let ok = translated(
        "gemini-2.0-flash",
        user(json!({"presence_penalty": 0.5})),
        true,
    )
    .unwrap();
    assert!(ok.dropped.is_empty());
}

#[test]
fn reasoning_effort_maps_to_budget_or_level_never_both() {
    let thinking = |model: &str, extra: Value| {
        let out = translated(model, user(extra), false).unwrap();
        serde_json::to_value(&out.body.generation_config).unwrap()["thinkingConfig"].clone()
    };
    assert_eq!(
        thinking("gemini-2.5-flash", json!({"reasoning_effort": "low"})),
        json!({"includeThoughts": true, "thinkingBudget": 1024})
    );
    assert_eq!(
        thinking("gemini-2.5-flash", json!({"reasoning_effort": "medium"})),
        json!({"includeThoughts": true, "thinkingBudget": 8192})
    );
    assert_eq!(
        thinking("gemini-2.5-flash", json!({"reasoning_effort": "high"})),
        json!({"includeThoughts": true, "thinkingBudget": 24576})
    );
    assert_eq!(
        thinking("gemini-2.5-flash", json!({"reasoning_effort": "none"})),
        json!({"thinkingBudget": 0})
    );
    // 2.5 Pro cannot stop thinking and tops out at 32768.
    assert_eq!(
        thinking("gemini-2.5-pro", json!({"reasoning_effort": "none"})),
        json!({"includeThoughts": true, "thinkingBudget": 128})
    );
    assert_eq!(
        thinking(
            "gemini-3-pro-preview",
            json!({"reasoning_effort": "medium"})
        ),
        json!({"includeThoughts": true, "thinkingLevel": "high"})
    );
    assert_eq!(
        thinking(
            "gemini-3-pro-preview",
            json!({"reasoning_effort": "minimal"})
        ),
        json!({"includeThoughts": true, "thinkingLevel": "low"})
    );
    assert_eq!(
        thinking(
            "gemini-3-flash-preview",
            json!({"reasoning_effort": "minimal"})
        ),
        json!({"includeThoughts": true, "thinkingLevel": "minimal"})
    );
    assert_eq!(
        thinking("gemini-2.5-flash", json!({})),
        Value::Null,
        "dynamic thinking left alone"
    );
    let out = translated(
        "gemini-2.0-flash",
        user(json!({"reasoning_effort": "high"})),
        false,
    )
    .unwrap();
    assert_eq!(out.dropped, vec!["reasoning_effort"]);
    let e = translated(
        "gemini-2.5-flash",
        user(json!({"reasoning_effort": "extreme"})),
        false,
    )
    .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("reasoning_effort"));
}

#[test]
fn small_max_tokens_caps_thinking_inside_the_limit() {
    let thinking = |model: &str, extra: Value| {
        let out = translated(model, user(extra), false).unwrap();
        serde_json::to_value(&out.body.generation_config).unwrap()
    };
    let c = thinking("gemini-2.5-flash", json!({"max_tokens": 2000}));
    assert_eq!(c["thinkingConfig"], json!({"thinkingBudget": 1000}));
    assert_eq!(c["maxOutputTokens"], 2000);
    let c = thinking(
        "gemini-2.5-flash",
        json!({"max_tokens": 2000, "reasoning_effort": "high"}),
    );
    assert_eq!(
        c["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 1000})
    );
    // Too small to think at all: flash stops thinking, Pro thinks its minimum.
    let c = thinking("gemini-2.5-flash-lite", json!({"max_tokens": 100}));
    assert_eq!(c["thinkingConfig"], json!({"thinkingBudget": 0}));
    let c = thinking("gemini-2.5-pro", json!({"max_tokens": 100}));
    assert_eq!(c["thinkingConfig"], json!({"thinkingBudget": 128}));
    let c = thinking("gemini-2.5-flash", json!({"max_tokens": 100000}));
    assert!(c.get("thinkingConfig").is_none());
}

#[test]
fn google_extras_pass_through_in_both_spellings() {
    let extras = json!({
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "thinking_config": {"thinking_budget": 512, "include_thoughts": true},
        "cached_content": "cachedContents/abc",
        "response_modalities": ["text", "image"],
        "generation_config": {"top_k": 40, "responseMimeType": "text/plain"}
    });
    for body in [
        user(json!({"google": extras.clone()})),
        user(json!({"extra_body": {"google": extras.clone()}})),
    ] {
        let out = translated("gemini-2.5-flash", body, false).unwrap();
        let sent = serde_json::to_value(&out.body).unwrap();
        assert_eq!(
            sent["safetySettings"],
            json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}])
        );
        assert_eq!(sent["cachedContent"], "cachedContents/abc");
        assert_eq!(
            sent["generationConfig"],
            json!({
                "thinkingConfig": {"thinkingBudget": 512, "includeThoughts": true},
                "responseModalities": ["TEXT", "IMAGE"], "topK": 40, "responseMimeType": "text/plain"
            })
        );
    }
}

#[test]
fn a_cached_content_leaves_out_the_system_instruction_tools_and_tool_config() {
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    let body = json!({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}],
        "tools": [tool], "tool_choice": "required",
        "extra_body": {"google": {"cached_content": "cachedContents/abc"}}
    });
    let out = translated("gemini-2.5-flash", body.clone(), false).unwrap();
    let sent = serde_json::to_value(&out.body).unwrap();
    assert_eq!(sent["cachedContent"], "cachedContents/abc");
    for field in ["systemInstruction", "tools", "toolConfig"] {
        assert!(
            sent.get(field).is_none(),
            "{field} sent with a cache: {sent}"
        );
    }
    // The names still map the answer's calls back.
    assert_eq!(out.names.to_gemini("get_weather"), Some("get_weather"));
    // Without a cache, all three go.
    let mut plain = body;
    plain.as_object_mut().unwrap().remove("extra_body");
    let sent =
        serde_json::to_value(translated("gemini-2.5-flash", plain, false).unwrap().body).unwrap();
    for field in ["systemInstruction", "tools", "toolConfig"] {
        assert!(sent.get(field).is_some(), "{field} missing: {sent}");
    }
}

#[test]
fn default_safety_settings_apply_when_the_client_sends_none() {
    let req =
        chat::ChatCompletionRequest::from_slice(user(json!({})).to_string().as_bytes()).unwrap();
    let defaults = RawValue::from_string(
        r#"[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_ONLY_HIGH"}]"#.to_owned(),
    )
    .unwrap();
    let out = to_gemini(
        req,
        &RequestOptions {
            default_safety_settings: Some(&defaults),
            ..RequestOptions::new("gemini-2.5-flash")
        },
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&out.body).unwrap()["safetySettings"][0]["threshold"],
        "BLOCK_ONLY_HIGH"
    );
}

#[test]
fn web_search_and_media_resolution() {
    let body = json!({"web_search_options": {}, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]}]});
    let out =
        serde_json::to_value(translated("gemini-2.5-flash", body, false).unwrap().body).unwrap();
    assert_eq!(out["tools"], json!([{"googleSearch": {}}]));
    assert_eq!(
        out["generationConfig"]["mediaResolution"],
        "MEDIA_RESOLUTION_LOW"
    );
}

#[test]
fn legacy_models_get_the_openapi_schema_subset() {
    let body = user(
        json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": ["string", "null"]}}, "additionalProperties": false}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"b": {"const": "x"}}}}}}),
    );
    let out =
        serde_json::to_value(translated("gemini-2.0-flash", body, false).unwrap().body).unwrap();
    let decl = &out["tools"][0]["functionDeclarations"][0];
    assert!(decl.get("parametersJsonSchema").is_none());
    assert_eq!(
        decl["parameters"]["properties"]["a"],
        json!({"type": "STRING", "nullable": true})
    );
    assert_eq!(
        out["generationConfig"]["responseSchema"]["properties"]["b"]["enum"],
        json!(["x"])
    );
}

#[test]
fn remote_media_urls_are_listed_and_fetched_payloads_inlined() {
    struct Fetched;
    impl MediaSource for Fetched {
        fn fetched(&self, url: &str) -> Option<(&str, &str)> {
            (url == "https://example.com/cat.png").then_some(("image/png", "iVBORw0KGgo="))
        }
    }
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "gs://b/x.png"}}]}]});
    let req = chat::ChatCompletionRequest::from_slice(body.to_string().as_bytes()).unwrap();
    let remote = remote_media(&req);
    assert_eq!(
        remote,
        vec![RemoteMedia {
            url: "https://example.com/cat.png",
            param: "messages[0].content[0]".to_owned()
        }]
    );
    let out = to_gemini(
        req.clone(),
        &RequestOptions {
            media: &Fetched,
            ..RequestOptions::new("gemini-2.5-flash")
        },
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&out.body).unwrap()["contents"][0]["parts"][0],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );
    let e = to_gemini(req, &RequestOptions::new("gemini-2.5-flash")).unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages[0].content[0]"));
}

/// Issue #13, finding 9: `input_audio.data` gets the data URL's base64 check.
#[test]
fn input_audio_data_must_be_base64() {
    let audio = |data: &str| {
        translate(json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]}]}))
    };
    let out = audio("UklGRg==").unwrap();
    assert_eq!(
        out["contents"][0]["parts"][0]["inlineData"]["data"],
        "UklGRg=="
    );
    for bad in ["UklGRg", "Ukl GRg=", "data:audio/wav;base64,UklGRg==", ""] {
        match audio(bad) {
            Err(TranslateError::InvalidRequest { message, param, .. }) => {
                assert_eq!(
                    param.as_deref(),
                    Some("messages[0].content[0].input_audio.data"),
                    "{bad:?}"
                );
                assert!(message.contains("not valid base64"), "{message}");
            }
            other => panic!("{bad:?} accepted: {other:?}"),
        }
    }
}

/// A refused schema is a 400 naming the function (or `response_format`), the limit and the
/// field, in both schema dialects.
#[test]
fn refused_schemas_name_the_tool_and_the_limit() {
    let mut deep = json!({"type": "string"});
    for _ in 0..crate::build::schema::MAX_DEPTH {
        deep = json!({"type": "array", "items": deep});
    }
    // Deeper than a client body can be parsed, so the request is built as a value.
    let request = |legacy: bool, in_tools: bool| -> Result<Translated, TranslateError> {
        let mut req = chat::ChatCompletionRequest::from_slice(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "ok"}},
                          {"type": "function", "function": {"name": "deep"}}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "n"}}})
            .to_string()
            .as_bytes(),
        )?;
        if in_tools {
            if let Some(f) = req.tools.as_mut().and_then(|t| t[1].function.as_mut()) {
                f.parameters = Some(deep.clone());
            }
        } else if let Some(chat::ResponseFormat::JsonSchema { json_schema }) =
            req.response_format.as_mut()
        {
            json_schema.schema = Some(deep.clone());
        }
        let opts = RequestOptions {
            legacy_schemas: legacy,
            ..RequestOptions::new("gemini-2.5-flash")
        };
        to_gemini(req, &opts)
    };
    for legacy in [false, true] {
        match request(legacy, true) {
            Err(TranslateError::InvalidRequest { message, param, .. }) => {
                assert_eq!(param.as_deref(), Some("tools[1].function.parameters"));
                assert!(message.contains("function 'deep'"), "{message}");
                assert!(message.contains("more than 128 levels"), "{message}");
            }
            other => panic!("legacy {legacy}: deep tool schema accepted: {other:?}"),
        }
        match request(legacy, false) {
            Err(TranslateError::InvalidRequest { message, param, .. }) => {
                assert_eq!(param.as_deref(), Some("response_format.json_schema.schema"));
                assert!(message.contains("response_format"), "{message}");
                assert!(message.contains("more than 128 levels"), "{message}");
            }
            other => panic!("legacy {legacy}: deep response schema accepted: {other:?}"),
        }
    }
}

/// The Vertex dialect, end to end through the chat mapping: the AI Studio body echoes
/// Gemini's own call id; the Vertex body drops it, gives every content a role, refuses a
/// Gemini file id and carries labels.
#[test]
fn vertex_dialect_differences() {
    let body = json!({
        "model": "gemini-2.5-flash",
        "metadata": {"team": "search"},
        "extra_body": {"google": {"labels": {"env": "prod"}}},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [{"id": "g-1", "type": "function",
                "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "g-1", "content": "sunny"}
        ]
    });
    let vertex = |body: &Value| {
        let req = chat::ChatCompletionRequest::from_slice(body.to_string().as_bytes())?;
        let opts = RequestOptions {
            dialect: Dialect::Vertex,
            ..RequestOptions::new("gemini-2.5-flash")
        };
        to_gemini(req, &opts).map(|t| serde_json::to_value(&t.body).unwrap())
    };
    let studio = translate(body.clone()).unwrap();
    assert_eq!(
        studio["contents"][1]["parts"][0]["functionCall"]["id"],
        "g-1"
    );
    assert_eq!(
        studio["contents"][2]["parts"][0]["functionResponse"]["id"],
        "g-1"
    );
    assert!(studio.get("labels").is_none());
    let out = vertex(&body).unwrap();
    assert!(out["contents"][1]["parts"][0]["functionCall"]
        .get("id")
        .is_none());
    assert!(out["contents"][2]["parts"][0]["functionResponse"]
        .get("id")
        .is_none());
    assert_eq!(out["systemInstruction"]["role"], "user");
    assert!(out["contents"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["role"].is_string()));
    assert_eq!(out["labels"], json!({"team": "search", "env": "prod"}));

    let file = |id: &str| {
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": id}}]}]})
    };
    let err = vertex(&file("files/abc")).unwrap_err();
    assert!(err.to_string().contains("no Files API"), "{err}");
    assert_eq!(param_of(err).as_deref(), Some("file_id"));
    let out = vertex(&file("gs://bucket/a.pdf")).unwrap();
    assert_eq!(
        out["contents"][0]["parts"][0]["fileData"]["fileUri"],
        "gs://bucket/a.pdf"
    );
}
