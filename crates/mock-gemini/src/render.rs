//! Turning a [`Scenario`] into the exact response for one request: an answer becomes one
//! `GenerateContentResponse` or a list of SSE events depending on the method; scripted success
//! bodies get their missing ids; `gemini-3*` replies get thought signatures.
//!
//! Everything here is pure apart from issuing signatures, so the oracle tests below can check
//! every body a convenience constructor produces.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::body::ReplyContext;
use crate::scenario::{Scenario, StreamStep};
use crate::signatures::{is_gemini3, Signatures};

/// A response ready to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    Whole {
        status: u16,
        content_type: String,
        body: Bytes,
        headers: BTreeMap<String, String>,
        delay_ms: u64,
    },
    Stream {
        steps: Vec<StreamStep>,
        headers: BTreeMap<String, String>,
        delay_ms: u64,
    },
    HangBeforeHead,
}

pub(crate) const JSON: &str = "application/json; charset=UTF-8";

/// Google's REST front end pretty-prints JSON responses with two spaces.
pub(crate) fn pretty(body: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(body).unwrap_or_default())
}

pub(crate) fn json_plan(status: u16, body: &Value) -> Plan {
    Plan::Whole {
        status,
        content_type: JSON.to_owned(),
        body: pretty(body),
        headers: BTreeMap::new(),
        delay_ms: 0,
    }
}

/// The response to one request of `ctx.model`; `stream` is true for `streamGenerateContent`.
pub(crate) fn plan(
    scenario: Scenario,
    ctx: &ReplyContext,
    stream: bool,
    sigs: &Signatures,
) -> Plan {
    let gemini3 = is_gemini3(&ctx.model);
    match scenario {
        Scenario::Answer {
            chunks,
            finish_reason,
            fail,
            candidate,
        } => answer(
            ctx,
            chunks,
            (&finish_reason, candidate),
            fail,
            stream,
            gemini3.then_some(sigs),
        ),
        Scenario::Json {
            status,
            mut body,
            headers,
            delay_ms,
        } => {
            if (200..300).contains(&status) {
                ctx.complete(&mut body);
                if gemini3 {
                    sigs.sign_reply([&mut body]);
                }
            }
            Plan::Whole {
                status,
                content_type: JSON.to_owned(),
                body: pretty(&body),
                headers,
                delay_ms,
            }
        }
        Scenario::Raw {
            status,
            content_type,
            body,
            headers,
            delay_ms,
        } => Plan::Whole {
            status,
            content_type,
            body: Bytes::from(body),
            headers,
            delay_ms,
        },
        Scenario::Stream {
            mut steps,
            headers,
            delay_ms,
        } => {
            for step in &mut steps {
                if let StreamStep::Event(v) = step {
                    ctx.complete(v);
                }
            }
            if gemini3 {
                sigs.sign_reply(steps.iter_mut().filter_map(|s| match s {
                    StreamStep::Event(v) => Some(v),
                    _ => None,
                }));
            }
            Plan::Stream {
                steps,
                headers,
                delay_ms,
            }
        }
        Scenario::HangBeforeHead => Plan::HangBeforeHead,
    }
}

fn answer(
    ctx: &ReplyContext,
    mut chunks: Vec<Vec<Value>>,
    (finish, extra): (&str, Option<Value>),
    fail: Option<Value>,
    stream: bool,
    sigs: Option<&Signatures>,
) -> Plan {
    let has_call = chunks
        .iter()
        .flatten()
        .any(|p| p.get("functionCall").is_some());
    if !stream {
        if let Some(err) = fail {
            let status = error_status(&err);
            return json_plan(status, &err);
        }
        let mut body = ctx.plain(&chunks, finish);
        add_candidate_fields(&mut body, extra.as_ref());
        if let Some(sigs) = sigs {
            if !has_call {
                // Gemini 3 signs its text answers too: the signature rides on a text part.
                if let Some(part) = body.pointer_mut("/candidates/0/content/parts/0") {
                    part["thoughtSignature"] = sigs.issue().into();
                }
            }
            sigs.sign_reply([&mut body]);
        }
        return json_plan(200, &body);
    }
    if let (Some(sigs), false, None) = (sigs, has_call, &fail) {
        // Gemini 3 streams may end with an empty text part that only carries the signature.
        chunks.push(vec![
            json!({ "text": "", "thoughtSignature": sigs.issue() }),
        ]);
    }
    let mut events = ctx.events(&chunks, fail.is_none().then_some(finish));
    if let Some(last) = events.last_mut() {
        add_candidate_fields(last, extra.as_ref());
    }
    if let Some(sigs) = sigs {
        sigs.sign_reply(events.iter_mut());
    }
    let mut steps: Vec<StreamStep> = events.into_iter().map(StreamStep::Event).collect();
    if let Some(err) = fail {
        let text = serde_json::to_string_pretty(&err).unwrap_or_default();
        steps.push(StreamStep::Raw(text + "\n"));
    }
    Plan::Stream {
        steps,
        headers: BTreeMap::new(),
        delay_ms: 0,
    }
}

/// Sets `fields` (an object) on the body's first candidate.
fn add_candidate_fields(body: &mut Value, fields: Option<&Value>) {
    let (Some(Value::Object(fields)), Some(Value::Object(candidate))) =
        (fields, body.pointer_mut("/candidates/0"))
    else {
        return;
    };
    for (k, v) in fields {
        candidate.insert(k.clone(), v.clone());
    }
}

/// The HTTP status of a Gemini error body (`error.code`), 500 when it has none.
fn error_status(err: &Value) -> u16 {
    err.pointer("/error/code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{response_id, sse_frame};
    use crate::oracle::gemini_errors;

    fn ctx(model: &str) -> ReplyContext {
        ReplyContext {
            model: model.into(),
            response_id: response_id(),
            prompt_tokens: 5,
        }
    }

    /// Every success body a plan would put on the wire.
    fn success_bodies(plan: &Plan) -> Vec<Value> {
        match plan {
            Plan::Whole {
                status,
                content_type,
                body,
                ..
            } if (200..300).contains(status) && content_type.starts_with("application/json") => {
                vec![serde_json::from_slice(body).unwrap()]
            }
            Plan::Stream { steps, .. } => steps
                .iter()
                .filter_map(|s| match s {
                    StreamStep::Event(v) => Some(v.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn constructors() -> Vec<Scenario> {
        vec![
            Scenario::text("Hello from the mock"),
            Scenario::text_stream(&["a", "b", "c"]),
            Scenario::function_call("get_weather", json!({"city": "Paris"})),
            Scenario::function_calls(&[("a", json!({})), ("b", json!({"x": 1}))]),
            Scenario::text_then_error(&["par", "tial"], 503, "UNAVAILABLE", "overloaded"),
            Scenario::error(503, "UNAVAILABLE", "The model is overloaded."),
            Scenario::rate_limited(7),
            Scenario::html(502),
            Scenario::code_execution("Let me run it.", "print(2 + 3)", "5\n", "It is 5."),
            Scenario::file_search(
                "Refunds within 30 days.",
                &[("fileSearchStores/s/documents/d", "policy.pdf", "30 days")],
            ),
            Scenario::url_context("The page says hi.", &["https://example.com/"]),
        ]
    }

    #[test]
    fn every_constructor_body_matches_the_oracle() {
        let sigs = Signatures::default();
        for model in ["gemini-2.5-flash", "gemini-3-pro-preview"] {
            for scenario in constructors() {
                for stream in [false, true] {
                    let plan = plan(scenario.clone(), &ctx(model), stream, &sigs);
                    for body in success_bodies(&plan) {
                        let errs = gemini_errors("GenerateContentResponse", &body);
                        assert!(
                            errs.is_empty(),
                            "{scenario:?} {model} stream={stream}: {errs:?}"
                        );
                        assert_eq!(body["modelVersion"], model);
                    }
                }
            }
        }
    }

    #[test]
    fn error_bodies_have_geminis_envelope() {
        for scenario in constructors() {
            for body in scenario.bodies() {
                let err = &body["error"];
                assert!(err["code"].is_u64(), "{body}");
                assert!(err["message"].is_string(), "{body}");
                assert!(err["status"].is_string(), "{body}");
                assert_eq!(
                    err.as_object().unwrap().len(),
                    3 + usize::from(err.get("details").is_some())
                );
            }
        }
    }

    #[test]
    fn gemini3_signs_first_call_only_and_text_tail() {
        let sigs = Signatures::default();
        let p = plan(
            Scenario::function_calls(&[("a", json!({})), ("b", json!({}))]),
            &ctx("gemini-3-pro-preview"),
            true,
            &sigs,
        );
        let events = success_bodies(&p);
        assert_eq!(events.len(), 2);
        assert!(events[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"].is_string());
        assert!(events[1]["candidates"][0]["content"]["parts"][0]
            .get("thoughtSignature")
            .is_none());

        let text = success_bodies(&plan(
            Scenario::text("hi"),
            &ctx("gemini-3-flash"),
            true,
            &sigs,
        ));
        let last = text.last().unwrap();
        assert_eq!(last["candidates"][0]["content"]["parts"][0]["text"], "");
        assert!(last["candidates"][0]["content"]["parts"][0]["thoughtSignature"].is_string());
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");

        let old = success_bodies(&plan(
            Scenario::function_call("a", json!({})),
            &ctx("gemini-2.5-flash"),
            false,
            &sigs,
        ));
        assert!(old[0]["candidates"][0]["content"]["parts"][0]
            .get("thoughtSignature")
            .is_none());
    }

    #[test]
    fn failing_stream_ends_with_bare_error() {
        let p = plan(
            Scenario::text_then_error(&["a"], 503, "UNAVAILABLE", "overloaded"),
            &ctx("gemini-2.5-flash"),
            true,
            &Signatures::default(),
        );
        let Plan::Stream { steps, .. } = p else {
            panic!("not a stream")
        };
        let StreamStep::Event(first) = &steps[0] else {
            panic!("no event")
        };
        assert!(first["candidates"][0].get("finishReason").is_none());
        assert!(sse_frame(first).starts_with(b"data: {"));
        let StreamStep::Raw(tail) = &steps[1] else {
            panic!("no raw tail")
        };
        assert!(
            tail.starts_with("{\n  \"error\": {\n    \"code\": 503,"),
            "{tail}"
        );
        let plain = plan(
            Scenario::text_then_error(&["a"], 503, "UNAVAILABLE", "overloaded"),
            &ctx("gemini-2.5-flash"),
            false,
            &Signatures::default(),
        );
        assert!(matches!(plain, Plan::Whole { status: 503, .. }));
    }
}
