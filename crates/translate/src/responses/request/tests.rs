//! Unit tests of the request mapping; the golden and oracle tests are in tests/it.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::build::options::{RequestOptions, SequentialIds};
use crate::gemini::GenerateContentResponse;
use crate::openai::responses::CreateResponse;
use crate::responses::envelope::{Envelope, Target};
use crate::responses::{to_gemini, to_response, ResponseContext};

const GEMINI3: &str = "gemini-3-pro-preview";

fn gemini_contents(request: Value) -> Vec<crate::gemini::Content> {
    let req: CreateResponse = serde_json::from_value(request).unwrap();
    to_gemini(req, GEMINI3, &RequestOptions::new(GEMINI3))
        .unwrap()
        .body
        .contents
}

fn text_envelope(signature: &str) -> String {
    Envelope {
        signature: signature.to_owned(),
        target: Target::Text(0),
    }
    .seal()
}

/// A signed text answer, replayed whole by a stateless client, gives Gemini its signature
/// back: the envelope Pollux writes after the message belongs to that message.
#[test]
fn text_signature_round_trips_through_the_output_order() {
    let first = json!({
        "model": GEMINI3, "input": "Capital of France?", "store": false,
        "include": ["reasoning.encrypted_content"],
    });
    let translated = to_gemini(
        serde_json::from_value(first).unwrap(),
        GEMINI3,
        &RequestOptions::new(GEMINI3),
    )
    .unwrap();
    let ctx = ResponseContext {
        id: "resp_1".to_owned(),
        created_at: 1,
        completed_at: 1,
        names: translated.names,
        shapes: translated.shapes,
        echo: translated.echo,
        output: translated.output,
    };
    let answer: GenerateContentResponse = serde_json::from_value(json!({"candidates": [{
        "content": {"role": "model", "parts": [{"text": "Paris.", "thoughtSignature": "c2lnLXRleHQ="}]},
        "finishReason": "STOP", "index": 0,
    }]}))
    .unwrap();
    let (response, _) = to_response(answer, ctx, &mut SequentialIds::default());
    let output = serde_json::to_value(&response.output).unwrap();
    let kinds: Vec<&str> = output
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["message", "reasoning"],
        "the envelope follows its message"
    );

    let mut input = vec![json!({"role": "user", "content": "Capital of France?"})];
    input.extend(output.as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "Its population?"}));
    let contents = gemini_contents(json!({"model": GEMINI3, "input": input}));
    assert_eq!(contents.len(), 3);
    assert_eq!(contents[1].parts[0].text.as_deref(), Some("Paris."));
    assert_eq!(
        contents[1].parts[0].thought_signature.as_deref(),
        Some("c2lnLXRleHQ=")
    );
}

/// An envelope before a message (a client that reordered the items) still reaches it, and
/// one after a message never jumps over a user turn.
#[test]
fn text_envelope_before_a_message_and_never_across_a_user_turn() {
    let message = |text: &str| {
        json!({"type": "message", "role": "assistant",
               "content": [{"type": "output_text", "text": text, "annotations": []}]})
    };
    let reasoning = |sig: &str| json!({"type": "reasoning", "summary": [], "encrypted_content": text_envelope(sig)});
    let contents = gemini_contents(json!({"model": GEMINI3, "input": [
        {"role": "user", "content": "a"},
        reasoning("c2lnLWE="),
        message("A."),
        {"role": "user", "content": "b"},
        message("B."),
        {"role": "user", "content": "c"},
        reasoning("c2lnLWM="),
        message("C."),
        reasoning("c2lnLWNj"),
    ]}));
    let signatures: Vec<(Option<&str>, Option<&str>)> = contents
        .iter()
        .flat_map(|c| &c.parts)
        .map(|p| (p.text.as_deref(), p.thought_signature.as_deref()))
        .collect();
    assert_eq!(
        signatures,
        [
            (Some("a"), None),
            (Some("A."), Some("c2lnLWE=")),
            (Some("b"), None),
            (Some("B."), None),
            (Some("c"), None),
            // The envelope before wins; the one after does not overwrite it.
            (Some("C."), Some("c2lnLWM=")),
        ]
    );
}
