//! Unit tests of the whole request mapping.

use super::*;
use serde_json::{json, Value};

fn translate(body: Value) -> Result<Value, TranslateError> {
    translate_for("gemini-2.5-flash", body)
}

fn translate_for(model: &str, body: Value) -> Result<Value, TranslateError> {
    let req = openai::ChatCompletionRequest::from_slice(body.to_string().as_bytes())?;
    let opts = RequestOptions {
        model,
        legacy_schemas: false,
        signatures: &(),
    };
    let out = to_gemini(&req, &opts)?;
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
    let out = translate(json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.5, "top_p": 0.9, "max_tokens": 10, "max_completion_tokens": 20,
        "stop": ["a", "b", "c", "d", "e", "f"], "seed": 7, "presence_penalty": 0.1,
        "frequency_penalty": -0.1, "n": 2, "user": "u1", "store": true, "metadata": {"k": "v"}
    }))
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
    let e = openai::ChatCompletionRequest::from_slice(
        br#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
    )
    .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("temperature"));
    let e = openai::ChatCompletionRequest::from_slice(
        br#"{"messages":[{"role":"wizard","content":"x"}]}"#,
    )
    .unwrap_err();
    assert_eq!(param_of(e).as_deref(), Some("messages[0].role"));
    let e = openai::ChatCompletionRequest::from_slice(b"{not json").unwrap_err();
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
    let req = openai::ChatCompletionRequest::from_slice(body.to_string().as_bytes()).unwrap();
    let opts = RequestOptions {
        model: "gemini-3-pro-preview",
        legacy_schemas: false,
        signatures: &Cache,
    };
    let out = serde_json::to_value(to_gemini(&req, &opts).unwrap().body).unwrap();
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
