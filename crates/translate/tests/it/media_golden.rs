//! Golden fixtures of the speech, transcription and images mappings, a module of the
//! translate crate's one integration-test binary (`tests/it`).
//!
//! Each folder `tests/fixtures/<dialect>/<case>/` (dialects: [`DIALECTS`]) is one case,
//! written the way the client and the real Gemini API write their bodies, and run through the
//! crate's pure functions only ([`speech`], [`transcription`], [`images`]); what the server
//! adds around them (encoding audio, re-encoding images, HTTP) is tested in
//! `crates/server/tests/it`.
//!
//! | file | role |
//! |---|---|
//! | `case.json` | what the server decided before translating: `endpoint`, the resolved `gemini_model`, an upload's `file_name` |
//! | `openai_request.json` | the client's body; a multipart form as JSON (files as base64 strings, as OpenAPI writes binary) |
//! | `gemini_request.json` | expected upstream body; for images, every call: `[{"method", "body"}]` |
//! | `gemini_response.json` | Gemini's answer; for images, one per call, in order |
//! | `openai_response.json` | expected client body (`.txt`, `.srt`, `.vtt` for text transcripts); for speech, the `speech.audio.delta` / `speech.audio.done` events a `pcm` answer carries |
//! | `openai_headers.json` | expected `x-pollux-dropped-params`, when the mapping drops any |
//! | `openai_error.json` | expected instead when the request (or the answer) maps to an error |
//!
//! Oracles: requests against OpenAI's `CreateSpeechRequest`, `CreateTranscriptionRequest`,
//! `CreateTranslationRequest`, `CreateImageRequest` or `CreateImageEditRequest`
//! (`tests/reference/openai-audio-images.openapi.json`); upstream bodies against the Gemini
//! schema's `GenerateContentRequest` or `PredictImageRequest`, answers against
//! `GenerateContentResponse` or `PredictImageResponse`; client bodies against the matching
//! OpenAI response schema, speech events against `CreateSpeechResponseStreamEvent`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p pollux-translate --test it media_golden` rewrites the
//! expected files; review the diff against OpenAI's and Gemini's documentation before
//! committing it.

use std::path::Path;

use base64::Engine as _;
use pollux_translate::gemini::{GenerateContentResponse, ImageContentResponse, PredictResponse};
use pollux_translate::images::{self, EditImages, ImageCalls};
use pollux_translate::openai::audio::{SpeechRequest, SpeechStreamEvent, TranscriptFormat};
use pollux_translate::openai::ImageRequest;
use pollux_translate::transcription::{self, Rendered, Task, TranscriptionRequest};
use pollux_translate::{gemini, speech};
use serde_json::{json, Value};

use crate::golden::{
    error_json, fail, fixtures, oracle_audio_images, oracle_gemini, pretty, updating, Checks,
    Failure,
};

/// The fixture folders of these endpoints, one per dialect.
pub const DIALECTS: [&str; 3] = ["speech", "transcription", "images"];

/// `created` of every images answer.
const CREATED: u64 = 1_700_000_000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    endpoint: String,
    gemini_model: String,
    #[serde(default)]
    file_name: Option<String>,
}

#[test]
fn speech_cases() -> Result<(), Failure> {
    each_case("speech", speech_case)
}

#[test]
fn transcription_cases() -> Result<(), Failure> {
    each_case("transcription", transcription_case)
}

#[test]
fn images_cases() -> Result<(), Failure> {
    each_case("images", images_case)
}

/// Runs `run` on every case folder of `dialect`, reporting every failure at once.
fn each_case(
    dialect: &str,
    run: fn(&Path, &Case, &mut Checks) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let root = fixtures().join(dialect);
    let mut dirs: Vec<_> = std::fs::read_dir(&root)?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return fail(format!("no cases under {}", root.display()));
    }
    let mut failures = Vec::new();
    for dir in &dirs {
        let result = (|| {
            let case: Case = serde_json::from_str(&read(dir, "case.json")?)?;
            let mut checks = Checks {
                dir,
                update: updating(),
                failures: Vec::new(),
            };
            run(dir, &case, &mut checks)?;
            checks.done()
        })();
        if let Err(e) = result {
            failures.push(format!("{}:\n{e:?}", dir.display()));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        fail(failures.join("\n\n"))
    }
}

fn read(dir: &Path, name: &str) -> Result<String, Failure> {
    std::fs::read_to_string(dir.join(name))
        .map_err(|e| Failure::from(format!("{}/{name}: {e}", dir.display())))
}

fn read_json(dir: &Path, name: &str) -> Result<Value, Failure> {
    Ok(serde_json::from_str(&read(dir, name)?)?)
}

/// Expects the file `name` to be absent (the outcome went the other way).
fn absent(dir: &Path, name: &str, checks: &mut Checks) {
    if checks.update {
        let _ = std::fs::remove_file(dir.join(name));
    } else if dir.join(name).exists() {
        checks
            .failures
            .push(format!("{name} exists, but the case did not produce it"));
    }
}

fn oracle_openai(what: &str, schema: &str, value: &Value) -> Result<(), Failure> {
    oracle_audio_images(what, schema, value)
}

// ---------------------------------------------------------------------------------------------
// Speech
// ---------------------------------------------------------------------------------------------

fn speech_case(dir: &Path, _case: &Case, checks: &mut Checks) -> Result<(), Failure> {
    let body = read_json(dir, "openai_request.json")?;
    oracle_openai("openai_request.json", "CreateSpeechRequest", &body)?;
    let request = SpeechRequest::from_slice(body.to_string().as_bytes())?;
    let (gemini_body, dropped) = match speech::to_gemini(&request) {
        Ok(mapped) => mapped,
        Err(e) => {
            checks.compare("openai_error.json", "gemini_request.json", &error_json(&e)?)?;
            return Ok(());
        }
    };
    let sent = pretty(&gemini_body)?;
    oracle_gemini("gemini_request.json", "GenerateContentRequest", &sent)?;
    // An error file may still be the answer's: the response step checks it.
    checks.compare("gemini_request.json", "", &sent)?;
    headers(dir, &dropped, checks)?;

    let answer = read_json(dir, "gemini_response.json")?;
    oracle_gemini("gemini_response.json", "GenerateContentResponse", &answer)?;
    let answer: GenerateContentResponse = serde_json::from_value(answer)?;
    let pcm = speech::audio_of(&answer)?;
    if pcm.is_empty() {
        let error = speech::no_audio(&answer, "");
        checks.compare(
            "openai_error.json",
            "openai_response.json",
            &error_json(&error)?,
        )?;
        return Ok(());
    }
    let events = vec![
        SpeechStreamEvent::Delta {
            audio: base64::engine::general_purpose::STANDARD.encode(&pcm),
        },
        SpeechStreamEvent::Done {
            usage: speech::usage(answer.usage_metadata.as_ref()),
        },
    ];
    for event in &events {
        oracle_openai(
            "openai_response.json event",
            "CreateSpeechResponseStreamEvent",
            &serde_json::to_value(event)?,
        )?;
    }
    checks.compare(
        "openai_response.json",
        "openai_error.json",
        &pretty(&events)?,
    )
}

/// `openai_headers.json` when the mapping dropped parameters, none otherwise.
fn headers(dir: &Path, dropped: &str, checks: &mut Checks) -> Result<(), Failure> {
    if dropped.is_empty() {
        absent(dir, "openai_headers.json", checks);
        Ok(())
    } else {
        checks.compare(
            "openai_headers.json",
            "",
            &pretty(&json!({"x-pollux-dropped-params": dropped}))?,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Transcription and translation
// ---------------------------------------------------------------------------------------------

fn transcription_case(dir: &Path, case: &Case, checks: &mut Checks) -> Result<(), Failure> {
    let (task, schemas) = match case.endpoint.as_str() {
        "/v1/audio/transcriptions" => (
            Task::Transcribe,
            [
                "CreateTranscriptionRequest",
                "CreateTranscriptionResponseJson",
                "CreateTranscriptionResponseVerboseJson",
            ],
        ),
        "/v1/audio/translations" => (
            Task::Translate,
            [
                "CreateTranslationRequest",
                "CreateTranslationResponseJson",
                "CreateTranslationResponseVerboseJson",
            ],
        ),
        other => return fail(format!("case.json: unknown endpoint {other}")),
    };
    let form = read_json(dir, "openai_request.json")?;
    oracle_openai("openai_request.json", schemas[0], &form)?;
    let Value::Object(fields) = &form else {
        return fail("openai_request.json is not an object");
    };
    // The form's text fields as the server reads them, one `set` per multipart field.
    let mut request = TranscriptionRequest::default();
    let mut file = None;
    for (name, value) in fields {
        let values = match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            match name.as_str() {
                "file" => file = Some(text),
                "timestamp_granularities" => request.set("timestamp_granularities[]", &text)?,
                _ => request.set(name, &text)?,
            }
        }
    }
    let Some(data) = file else {
        return fail("openai_request.json has no file");
    };
    let file_name = case.file_name.as_deref().unwrap_or_default();
    let Some(mime) = transcription::file_mime(file_name) else {
        return fail(format!(
            "case.json: no known format for file_name {file_name:?}"
        ));
    };
    let sent = pretty(&transcription::to_gemini(task, &request, mime, data))?;
    oracle_gemini("gemini_request.json", "GenerateContentRequest", &sent)?;
    checks.compare("gemini_request.json", "", &sent)?;

    let answer = read_json(dir, "gemini_response.json")?;
    oracle_gemini("gemini_response.json", "GenerateContentResponse", &answer)?;
    let answer: GenerateContentResponse = serde_json::from_value(answer)?;
    let text = transcription::text_of(&answer);
    let usage = transcription::usage(answer.usage_metadata.as_ref());
    let names = [
        "openai_response.json",
        "openai_response.txt",
        "openai_response.srt",
        "openai_response.vtt",
    ];
    let (name, body) = match transcription::render(task, &request, &text, usage) {
        Ok(Rendered::Json(value)) => {
            let schema = if request.response_format == TranscriptFormat::VerboseJson {
                schemas[2]
            } else {
                schemas[1]
            };
            oracle_openai("openai_response.json", schema, &value)?;
            ("openai_response.json", pretty(&value)?)
        }
        Ok(Rendered::Text { body, .. }) => {
            let name = match request.response_format {
                TranscriptFormat::Srt => "openai_response.srt",
                TranscriptFormat::Vtt => "openai_response.vtt",
                _ => "openai_response.txt",
            };
            (name, body)
        }
        Err(e) => ("openai_error.json", error_json(&e)?),
    };
    for other in names.iter().chain(&["openai_error.json"]) {
        if *other != name {
            absent(dir, other, checks);
        }
    }
    checks.compare(name, "", &body)
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/// The image type of a file by its first bytes, as the server sniffs uploads.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn blob(field: &str, b64: &Value) -> Result<gemini::Blob, Failure> {
    let Some(data) = b64.as_str() else {
        return fail(format!("'{field}' is not a base64 string"));
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
    let Some(mime_type) = sniff(&bytes) else {
        return fail(format!("'{field}' is not a PNG, JPEG or WebP image"));
    };
    Ok(gemini::Blob {
        mime_type: mime_type.to_owned(),
        data: data.to_owned(),
    })
}

fn images_case(dir: &Path, case: &Case, checks: &mut Checks) -> Result<(), Failure> {
    let form = read_json(dir, "openai_request.json")?;
    let edit = match case.endpoint.as_str() {
        "/v1/images/generations" => {
            oracle_openai("openai_request.json", "CreateImageRequest", &form)?;
            None
        }
        "/v1/images/edits" => {
            oracle_openai("openai_request.json", "CreateImageEditRequest", &form)?;
            let images = match &form["image"] {
                Value::Array(items) => items.iter().map(|i| blob("image", i)).collect(),
                one => blob("image", one).map(|b| vec![b]),
            }?;
            let mask = match form.get("mask") {
                Some(m) => Some(blob("mask", m)?),
                None => None,
            };
            Some(EditImages { images, mask })
        }
        other => return fail(format!("case.json: unknown endpoint {other}")),
    };
    // The image files are not options: ImageRequest ignores them as unknown fields.
    let request = ImageRequest::from_slice(form.to_string().as_bytes())?;
    let plan = match images::to_gemini(&request, &case.gemini_model, edit.as_ref()) {
        Ok(plan) => plan,
        Err(e) => {
            checks.compare("openai_error.json", "gemini_request.json", &error_json(&e)?)?;
            return Ok(());
        }
    };
    let model = format!("models/{}", case.gemini_model);
    let calls: Vec<Value> = match &plan.calls {
        ImageCalls::Gemini { request, calls } => {
            let body = serde_json::to_value(request)?;
            oracle_gemini("gemini_request.json", "GenerateContentRequest", &body)?;
            (0..*calls)
                .map(|_| json!({"method": format!("{model}:generateContent"), "body": body}))
                .collect()
        }
        ImageCalls::Imagen(requests) => requests
            .iter()
            .map(|r| {
                let body = serde_json::to_value(r)?;
                oracle_gemini("gemini_request.json", "PredictImageRequest", &body)?;
                Ok(json!({"method": format!("{model}:predict"), "body": body}))
            })
            .collect::<Result<_, Failure>>()?,
    };
    checks.compare("gemini_request.json", "", &pretty(&calls)?)?;

    let Value::Array(answers) = read_json(dir, "gemini_response.json")? else {
        return fail("gemini_response.json must hold one answer per call, in an array");
    };
    if answers.len() != calls.len() {
        return fail(format!(
            "gemini_response.json holds {} answers for {} calls",
            answers.len(),
            calls.len()
        ));
    }
    let mut blobs = Vec::new();
    let mut usage = None;
    let mut outcome = Ok(());
    for answer in answers {
        let result = match &plan.calls {
            ImageCalls::Gemini { .. } => {
                oracle_gemini("gemini_response.json", "GenerateContentResponse", &answer)?;
                let answer: ImageContentResponse = serde_json::from_value(answer)?;
                images::images_from_gemini(answer).map(|(more, one)| {
                    blobs.extend(more);
                    usage = images::add_usage(usage.take(), one);
                })
            }
            ImageCalls::Imagen(_) => {
                oracle_gemini("gemini_response.json", "PredictImageResponse", &answer)?;
                let answer: PredictResponse = serde_json::from_value(answer)?;
                images::images_from_imagen(answer).map(|more| blobs.extend(more))
            }
        };
        if let Err(e) = result {
            outcome = Err(e);
            break;
        }
    }
    if let Err(e) = outcome {
        return checks.compare(
            "openai_error.json",
            "openai_response.json",
            &error_json(&e)?,
        );
    }
    // Re-encoding to another type is the server's (crates/server/src/media/transcode.rs).
    if let Some(b) = blobs.iter().find(|b| b.mime_type != plan.output.mime()) {
        return fail(format!(
            "Gemini sent {} for {} output: a server transcode, not a translate golden",
            b.mime_type,
            plan.output.mime()
        ));
    }
    let data = blobs.into_iter().map(|b| b.data).collect();
    let response = serde_json::to_value(images::to_openai(data, plan.output, usage, CREATED))?;
    oracle_openai("openai_response.json", "ImagesResponse", &response)?;
    checks.compare(
        "openai_response.json",
        "openai_error.json",
        &pretty(&response)?,
    )
}

#[test]
fn every_dialect_folder_exists() -> Result<(), Failure> {
    for dialect in DIALECTS {
        if !fixtures().join(dialect).is_dir() {
            return fail(format!("no fixture folder for {dialect}"));
        }
    }
    Ok(())
}
