//! Unit tests of the Responses request mapping; the end-to-end tests (with the spec oracles)
//! are in the server's `tests/it/responses.rs`.

use super::*;
use crate::build::options::SequentialIds;
use crate::build::signatures::{SignatureSource, SKIP_SIGNATURE};
use crate::responses::envelope::{Envelope, Target};
use crate::responses::{to_response, ResponseContext};
use serde_json::{json, Value};

fn translate_for(model: &str, body: Value) -> Result<Translated, TranslateError> {
    let req = CreateResponse::from_slice(body.to_string().as_bytes())?;
    to_gemini(req, model, &RequestOptions::new(model))
}

fn gemini_body(model: &str, body: Value) -> Result<Value, TranslateError> {
    let t = translate_for(model, body)?;
    Ok(serde_json::to_value(&t.body).unwrap())
}

fn invalid_param(result: Result<Value, TranslateError>) -> String {
    match result {
        Err(TranslateError::InvalidRequest { param, .. }) => param.unwrap_or_default(),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn tool_choice_forms() {
    let tools = json!([
        {"type": "function", "name": "a", "parameters": {"type": "object"}},
        {"type": "function", "name": "b", "parameters": {"type": "object"}},
    ]);
    let choice = |c: Value| {
        gemini_body(
            "gemini-2.5-flash",
            json!({"input": "x", "tools": tools, "tool_choice": c}),
        )
    };
    assert_eq!(
        choice(json!("required")).unwrap()["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert_eq!(
        choice(json!("none")).unwrap()["toolConfig"],
        json!({"functionCallingConfig": {"mode": "NONE"}})
    );
    assert_eq!(
        choice(json!({"type": "function", "name": "b"})).unwrap()["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}})
    );
    // allowed_tools narrows the declarations; `auto` stays auto.
    let allowed = choice(json!({"type": "allowed_tools", "mode": "auto",
        "tools": [{"type": "function", "name": "a"}]}))
    .unwrap();
    assert_eq!(
        allowed["tools"][0]["functionDeclarations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        allowed["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
    assert_eq!(
        invalid_param(choice(json!({"type": "function", "name": "nope"}))),
        "tool_choice"
    );
    assert_eq!(
        invalid_param(choice(json!({"type": "mcp", "server_label": "x"}))),
        "tool_choice"
    );
}

#[test]
fn input_media_parts() {
    let body = json!({"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "Look:"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"},
        {"type": "input_image", "file_id": "files/abc", "detail": "auto"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]}]});
    let sent = gemini_body("gemini-2.5-flash", body).unwrap();
    let parts = &sent["contents"][0]["parts"];
    assert_eq!(parts[0], json!({"text": "Look:"}));
    assert_eq!(
        parts[1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        parts[2]["fileData"]["fileUri"],
        "https://generativelanguage.googleapis.com/v1beta/files/abc"
    );
    assert_eq!(parts[3]["inlineData"]["mimeType"], "application/pdf");
    assert_eq!(parts[4]["inlineData"]["mimeType"], "audio/wav");
    assert_eq!(
        sent["generationConfig"]["mediaResolution"],
        "MEDIA_RESOLUTION_HIGH"
    );
    // A remote image the server did not fetch is refused with its place named.
    let remote = json!({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}]}]});
    assert_eq!(
        invalid_param(gemini_body("gemini-2.5-flash", remote.clone())),
        "input[0].content[0].image_url"
    );
    let req = CreateResponse::from_slice(remote.to_string().as_bytes()).unwrap();
    let listed = remote_media(&req);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].param, "input[0].content[0].image_url");
}

#[test]
fn roles_and_late_instructions() {
    let sent = gemini_body(
        "gemini-2.5-flash",
        json!({"instructions": "Sys.", "input": [
            {"role": "system", "content": "Also sys."},
            {"role": "user", "content": "Hi"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]},
            {"role": "developer", "content": "Late rule."},
        ]}),
    )
    .unwrap();
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": "Sys."}, {"text": "Also sys."}]})
    );
    assert_eq!(
        sent["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "Late rule."}]},
        ])
    );
    assert_eq!(
        invalid_param(gemini_body(
            "gemini-2.5-flash",
            json!({"input": [{"role": "tool", "content": "x"}]})
        )),
        "input[0].role"
    );
    assert_eq!(
        invalid_param(gemini_body("gemini-2.5-flash", json!({"input": []}))),
        "input"
    );
}

/// A history call whose signature nobody kept: the first call of a step gets the skip value
/// on Gemini 3, the others nothing; on Gemini 2.5 nothing at all.
#[test]
fn unsigned_history_calls() {
    let body = json!({"input": [
        {"role": "user", "content": "Go"},
        {"type": "function_call", "call_id": "call_a", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_b", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_b", "output": "2"},
        {"type": "function_call_output", "call_id": "call_a", "output": "1"},
    ]});
    let sent = gemini_body("gemini-3-pro-preview", body.clone()).unwrap();
    let calls = &sent["contents"][1]["parts"];
    assert_eq!(calls[0]["thoughtSignature"], SKIP_SIGNATURE);
    assert!(calls[1].get("thoughtSignature").is_none());
    // Results go back in call order, whatever order the client sent them in.
    let results = &sent["contents"][2]["parts"];
    assert_eq!(
        results[0]["functionResponse"]["response"],
        json!({"result": 1})
    );
    assert_eq!(
        results[1]["functionResponse"]["response"],
        json!({"result": 2})
    );
    let sent = gemini_body("gemini-2.5-flash", body).unwrap();
    assert!(sent["contents"][1]["parts"][0]
        .get("thoughtSignature")
        .is_none());
}

/// Signatures kept by the server's cache are used when the client kept none.
#[test]
fn cached_signatures_are_used() {
    struct Cache;
    impl SignatureSource for Cache {
        fn signature_for(&self, id: &str) -> Option<String> {
            (id == "call_a").then(|| "cached-sig".to_owned())
        }
    }
    let req = CreateResponse::from_slice(
        json!({"input": [
            {"role": "user", "content": "Go"},
            {"type": "function_call", "call_id": "call_a", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "1"},
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let opts = RequestOptions {
        signatures: &Cache,
        ..RequestOptions::new("gemini-3-pro-preview")
    };
    let t = to_gemini(req, "m", &opts).unwrap();
    let sent = serde_json::to_value(&t.body).unwrap();
    assert_eq!(
        sent["contents"][1]["parts"][0]["thoughtSignature"],
        "cached-sig"
    );
}

/// Gemini's signatures survive a stateless round trip: out in reasoning items, back on their
/// parts (a call's, and a text part's after its message).
#[test]
fn signatures_round_trip_through_reasoning_items() {
    let answer: crate::gemini::GenerateContentResponse = serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me check.", "thoughtSignature": "text-sig"},
            {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "call-sig"},
        ]}, "finishReason": "STOP"}]
    }))
    .unwrap();
    let t = translate_for(
        "gemini-3-pro-preview",
        json!({"input": "Go", "include": ["reasoning.encrypted_content"],
            "tools": [{"type": "function", "name": "f"}]}),
    )
    .unwrap();
    assert!(t.output.encrypted_content);
    let ctx = ResponseContext {
        id: "resp_1".to_owned(),
        created_at: 1,
        completed_at: 2,
        names: t.names,
        shapes: t.shapes,
        echo: t.echo,
        output: t.output,
    };
    let (response, signatures) = to_response(answer, ctx, &mut SequentialIds::default());
    assert_eq!(
        signatures,
        vec![("call_2".to_owned(), "call-sig".to_owned())]
    );
    let output = serde_json::to_value(&response.output).unwrap();
    let kinds: Vec<&str> = output
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["message", "reasoning", "reasoning", "function_call"]
    );
    let text_envelope = Envelope::open(output[1]["encrypted_content"].as_str().unwrap()).unwrap();
    assert_eq!(text_envelope.target, Target::Text(0));
    let call_envelope = Envelope::open(output[2]["encrypted_content"].as_str().unwrap()).unwrap();
    assert_eq!(call_envelope.target, Target::Call("call_2".to_owned()));

    // Replayed as the next turn's input (with no cache), each signature is back in place.
    let mut input = vec![json!({"role": "user", "content": "Go"})];
    input.extend(output.as_array().unwrap().iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": "call_2", "output": "ok"}));
    let sent = gemini_body(
        "gemini-3-pro-preview",
        json!({"input": input, "tools": [{"type": "function", "name": "f"}]}),
    )
    .unwrap();
    let model_parts = &sent["contents"][1]["parts"];
    assert_eq!(model_parts[0]["text"], "Let me check.");
    assert_eq!(model_parts[0]["thoughtSignature"], "text-sig");
    assert_eq!(model_parts[1]["thoughtSignature"], "call-sig");
}

#[test]
fn hosted_tools_gemini_cannot_serve_are_named() {
    for kind in [
        "computer_use_preview",
        "image_generation",
        "mcp",
        "local_shell",
    ] {
        let result = gemini_body(
            "gemini-2.5-flash",
            json!({"input": "x", "tools": [{"type": kind}]}),
        );
        match result {
            Err(TranslateError::InvalidRequest { message, param, .. }) => {
                assert_eq!(param.as_deref(), Some("tools[0].type"));
                assert!(message.contains(kind), "{message}");
                assert!(message.contains("Remove it"), "{message}");
            }
            other => panic!("{kind}: expected a 400, got {other:?}"),
        }
    }
}

#[test]
fn input_items_are_counted_against_the_limits() {
    let limits = crate::openai::Limits {
        max_messages: 2,
        ..Default::default()
    };
    let body = json!({"input": [
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": "c"}
    ]});
    match CreateResponse::from_slice_within(body.to_string().as_bytes(), &limits) {
        Err(TranslateError::InvalidRequest {
            param,
            code,
            message,
        }) => {
            assert_eq!(param.as_deref(), Some("input"));
            assert_eq!(code, Some("too_many_items"));
            assert!(message.contains("input items"), "{message}");
        }
        other => panic!("expected too_many_items, got {other:?}"),
    }
}

/// Google Search goes beside function tools only where the model takes the pair (Gemini 3);
/// elsewhere it is dropped and reported, never sent to a 400.
#[test]
fn web_search_beside_functions_follows_the_model() {
    let body = json!({"input": "x", "tools": [
        {"type": "function", "name": "f"}, {"type": "web_search", "external_web_access": true}]});
    let t = translate_for("gemini-2.5-flash", body.clone()).unwrap();
    assert_eq!(t.dropped, vec!["tools[1]".to_owned()]);
    assert_eq!(t.body.tools.len(), 1);
    let t = translate_for("gemini-3-pro-preview", body).unwrap();
    assert!(t.dropped.is_empty());
    let tools = serde_json::to_value(&t.body.tools).unwrap();
    assert_eq!(tools[1], json!({"googleSearch": {}}));
    // Alone, search is kept on every model.
    let t = translate_for(
        "gemini-2.5-flash",
        json!({"input": "x", "tools": [{"type": "web_search_preview"}]}),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&t.body.tools).unwrap(),
        json!([{"googleSearch": {}}])
    );
}

/// The Responses mapping applies the Vertex dialect too (ids, roles, labels from
/// `metadata`).
#[test]
fn vertex_dialect_applies_to_responses() {
    let body = json!({
        "model": "gemini-2.5-flash",
        "instructions": "Be brief.",
        "metadata": {"team": "search"},
        "input": [
            {"type": "message", "role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "g-1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "g-1", "output": "sunny"}
        ]
    });
    let req = CreateResponse::from_slice(body.to_string().as_bytes()).unwrap();
    let opts = RequestOptions {
        dialect: crate::Dialect::Vertex,
        ..RequestOptions::new("gemini-2.5-flash")
    };
    let out = serde_json::to_value(&to_gemini(req, "m", &opts).unwrap().body).unwrap();
    let text = out.to_string();
    assert!(!text.contains("g-1"), "{out:#}");
    assert_eq!(out["systemInstruction"]["role"], "user");
    assert_eq!(out["labels"], json!({"team": "search"}));
}

#[test]
fn code_interpreter_and_file_search_become_gemini_tools() {
    let sent = gemini_body(
        "gemini-2.5-flash",
        json!({"input": "x", "tools": [
            {"type": "code_interpreter", "container": {"type": "auto"}},
            {"type": "file_search", "vector_store_ids": ["handbook", "fileSearchStores/faq"], "max_num_results": 4},
            {"type": "url_context"}
        ], "tool_choice": {"type": "code_interpreter"}}),
    )
    .unwrap();
    assert_eq!(
        sent["tools"],
        json!([{"codeExecution": {}},
            {"fileSearch": {"fileSearchStoreNames": ["fileSearchStores/handbook", "fileSearchStores/faq"], "topK": 4}},
            {"urlContext": {}}])
    );
    assert!(sent.get("toolConfig").is_none());
    match gemini_body(
        "gemini-2.5-flash",
        json!({"input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]}),
    ) {
        Err(TranslateError::InvalidRequest { param, .. }) => {
            assert_eq!(param.as_deref(), Some("tools[0].vector_store_ids"));
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn builtin_tools_beside_functions_need_a_model_that_mixes_them() {
    let body = |model: &str| {
        gemini_body(
            model,
            json!({"input": "x", "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}},
                {"type": "code_interpreter", "container": {"type": "auto"}}
            ]}),
        )
    };
    let sent = body("gemini-3-flash-preview").unwrap();
    assert_eq!(
        sent["toolConfig"],
        json!({"includeServerSideToolInvocations": true})
    );
    match body("gemini-2.5-flash") {
        Err(TranslateError::InvalidRequest { message, param, .. }) => {
            assert_eq!(param.as_deref(), Some("tools"));
            assert!(message.contains("cannot combine"), "{message}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn service_tier_is_sent_and_echoed() {
    let sent = gemini_body(
        "gemini-2.5-flash",
        json!({"input": "x", "service_tier": "flex"}),
    )
    .unwrap();
    assert_eq!(sent["serviceTier"], "flex");
    let sent = gemini_body(
        "gemini-2.5-flash",
        json!({"input": "x", "service_tier": "auto"}),
    )
    .unwrap();
    assert!(sent.get("serviceTier").is_none());
}
