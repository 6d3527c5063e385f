//! End-to-end tests of `/v1/images/generations` and `/v1/images/edits` through mock-gemini:
//! every request a test sends is a valid OpenAI `CreateImageRequest`, every body Pollux
//! answers is held against the OpenAI audio/images oracle (`ImagesResponse`,
//! `ErrorResponse`), and every upstream body against the Gemini one (the mock refuses invalid
//! ones too). Images are decoded and measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use base64::Engine as _;
use mock_gemini::{RecordedRequest, Scenario};
use serde_json::{json, Value};
use support::{error_message, Error, Pollux};

type TestResult = Result<(), Error>;

fn assert_oracle(schema: &str, value: &Value) {
    let errors = mock_gemini::oracle::audio_images_errors(schema, value);
    assert!(
        errors.is_empty(),
        "not a valid {schema}: {errors:?}\n{value:#}"
    );
}

fn assert_upstream(def: &str, request: &RecordedRequest) -> Value {
    let sent = request.json().unwrap();
    let errors = mock_gemini::oracle::gemini_errors(def, &sent);
    assert!(errors.is_empty(), "not a valid {def}: {errors:?}\n{sent:#}");
    sent
}

/// The upstream bodies of a generation on gemini-2.5-flash-image: `n` generateContent calls,
/// one per image, each a valid `GenerateContentRequest`.
fn flash_image_calls(p: &Pollux, n: usize) -> Vec<Value> {
    let reqs = p.mock.requests();
    assert_eq!(reqs.len(), n, "one call per image");
    reqs.iter()
        .map(|r| {
            assert_eq!(
                r.path,
                "/v1beta/models/gemini-2.5-flash-image:generateContent"
            );
            assert_upstream("GenerateContentRequest", r)
        })
        .collect()
}

/// Posts a generation request (checked against the OpenAI request schema first).
async fn generate(p: &Pollux, body: Value) -> Result<(u16, Value), Error> {
    assert_oracle("CreateImageRequest", &body);
    let (status, _, out) = p.post("/v1/images/generations", &body).await?;
    assert_answer(status, &out);
    Ok((status, out))
}

/// Holds a non-streamed answer against the oracle: `ImagesResponse` on 200, else
/// `ErrorResponse`; generations and edits answer alike.
fn assert_answer(status: u16, out: &Value) {
    assert_oracle(
        if status == 200 {
            "ImagesResponse"
        } else {
            "ErrorResponse"
        },
        out,
    );
}

/// The decoded images of an answer: (format, width, height) each.
fn decoded(out: &Value) -> Vec<(image::ImageFormat, u32, u32)> {
    out["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d["b64_json"].as_str().unwrap())
                .unwrap();
            let format = image::guess_format(&bytes).unwrap();
            let img = image::load_from_memory(&bytes).unwrap();
            (format, img.width(), img.height())
        })
        .collect()
}

#[actix_rt::test]
async fn gemini_image_model_makes_n_pngs_with_usage() -> TestResult {
    let p = Pollux::start()?;
    let (status, out) = generate(
        &p,
        json!({"model": "gemini-2.5-flash-image", "prompt": "a red fox", "n": 2,
            "size": "1536x1024"}),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        decoded(&out),
        vec![(image::ImageFormat::Png, 1248, 832); 2],
        "two 3:2 PNGs"
    );
    assert_eq!(out["output_format"], "png");
    assert!(out["usage"]["input_tokens"].as_u64().unwrap() > 0, "{out}");
    for sent in flash_image_calls(&p, 2) {
        assert_eq!(
            sent,
            json!({"contents": [{"role": "user", "parts": [{"text": "a red fox"}]}],
                "generationConfig": {"responseModalities": ["IMAGE"],
                    "imageConfig": {"aspectRatio": "3:2"}}})
        );
    }
    Ok(())
}

#[actix_rt::test]
async fn gemini3_gets_image_size_and_jpeg_is_converted() -> TestResult {
    let p = Pollux::start()?;
    let (status, out) = generate(
        &p,
        json!({"model": "gemini-3-pro-image-preview", "prompt": "a lighthouse",
            "quality": "high", "output_format": "jpeg", "output_compression": 80}),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(decoded(&out), vec![(image::ImageFormat::Jpeg, 2048, 2048)]);
    assert_eq!(out["output_format"], "jpeg");
    let sent = assert_upstream("GenerateContentRequest", &p.mock.requests()[0]);
    assert_eq!(
        sent["generationConfig"]["imageConfig"],
        json!({"imageSize": "2K"})
    );
    Ok(())
}

#[actix_rt::test]
async fn imagen_batches_of_four_through_an_alias() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.aliases = vec!["dall-e-3=imagen-4.0-generate-001".to_owned()];
    })?;
    let (status, out) = generate(
        &p,
        json!({"model": "dall-e-3", "prompt": "a city at night", "n": 5, "size": "1792x1024",
            "response_format": "b64_json", "output_format": "webp"}),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        decoded(&out),
        vec![(image::ImageFormat::WebP, 1408, 768); 5]
    );
    assert!(out.get("usage").is_none(), "Imagen reports no tokens");
    let reqs = p.mock.requests();
    let mut counts: Vec<u64> = reqs
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/v1beta/models/imagen-4.0-generate-001:predict");
            let sent = assert_upstream("PredictImageRequest", r);
            assert_eq!(sent["instances"], json!([{"prompt": "a city at night"}]));
            assert_eq!(sent["parameters"]["aspectRatio"], "16:9");
            sent["parameters"]["sampleCount"].as_u64().unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 4]);
    Ok(())
}

/// Posts `body` and returns the answer's status, headers and bytes as they came.
async fn post_bytes(
    p: &Pollux,
    path: &str,
    content_type: String,
    body: Vec<u8>,
) -> Result<(u16, actix_web::http::header::HeaderMap, Vec<u8>), Error> {
    let mut resp = support::client()
        .post(p.url(path))
        .insert_header(("content-type", content_type))
        .send_body(body)
        .await?;
    let bytes = resp.body().limit(64 * 1024 * 1024).await?;
    Ok((
        resp.status().as_u16(),
        resp.headers().clone(),
        bytes.to_vec(),
    ))
}

/// Posts a streamed generation request (checked against the OpenAI request schema first)
/// and returns the answer as it came, for [`stream_events`] to read.
async fn generate_stream(
    p: &Pollux,
    body: &Value,
) -> Result<(u16, actix_web::http::header::HeaderMap, Vec<u8>), Error> {
    assert_oracle("CreateImageRequest", body);
    post_bytes(
        p,
        "/v1/images/generations",
        "application/json".to_owned(),
        serde_json::to_vec(body)?,
    )
    .await
}

/// The events of an SSE body, each checked against `schema` and its completed-event schema.
fn stream_events(body: &[u8], schema: &str, completed: &str) -> Vec<Value> {
    let events: Vec<Value> = std::str::from_utf8(body)
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty() && !e.starts_with(':'))
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    for e in &events {
        assert_oracle(schema, e);
        assert_oracle(completed, e);
    }
    events
}

#[actix_rt::test]
async fn streamed_generation_sends_one_completed_event_per_image() -> TestResult {
    let p = Pollux::start()?;
    let body = json!({"model": "gemini-2.5-flash-image", "prompt": "a red fox", "n": 2,
        "size": "1536x1024", "quality": "high", "stream": true, "partial_images": 2});
    let (status, headers, bytes) = generate_stream(&p, &body).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    assert_eq!(
        headers.get("x-pollux-dropped-params").unwrap(),
        "partial_images",
        "Gemini sends no interim images"
    );
    let events = stream_events(&bytes, "ImageGenStreamEvent", "ImageGenCompletedEvent");
    assert_eq!(events.len(), 2, "{events:?}");
    let mut tokens = 0;
    for e in &events {
        assert_eq!(e["type"], "image_generation.completed");
        assert_eq!(
            (&e["size"], &e["quality"], &e["output_format"]),
            (&json!("1536x1024"), &json!("high"), &json!("png"))
        );
        assert_eq!(
            decoded(&json!({"data": [e]})),
            vec![(image::ImageFormat::Png, 1248, 832)]
        );
        tokens += e["usage"]["total_tokens"].as_u64().unwrap();
    }
    assert!(tokens > 0, "{events:?}");
    flash_image_calls(&p, 2);

    // Imagen: the events come from one `:predict` call, with zero usage (it reports none).
    let body = json!({"model": "imagen-4.0-generate-001", "prompt": "a city", "n": 3,
        "output_format": "jpeg", "stream": true});
    let (status, headers, bytes) = generate_stream(&p, &body).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(headers.get("x-pollux-dropped-params").is_none());
    let events = stream_events(&bytes, "ImageGenStreamEvent", "ImageGenCompletedEvent");
    assert_eq!(events.len(), 3, "{events:?}");
    for e in &events {
        assert_eq!(
            (&e["size"], &e["quality"]),
            (&json!("auto"), &json!("auto"))
        );
        assert_eq!(e["usage"]["total_tokens"], 0);
        assert_eq!(
            decoded(&json!({"data": [e]}))[0].0,
            image::ImageFormat::Jpeg
        );
    }
    assert_eq!(p.mock.requests().len(), 3, "one :predict call for 3 images");
    Ok(())
}

#[actix_rt::test]
async fn streamed_failure_is_a_plain_error_response() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("I can only describe foxes."));
    let body = json!({"model": "gemini-2.5-flash-image", "prompt": "a fox", "stream": true});
    let (status, _, out) = p.post("/v1/images/generations", &body).await?;
    assert_eq!(status, 502, "{out}");
    assert_oracle("ErrorResponse", &out);
    assert_eq!(out["error"]["code"], "no_image");
    Ok(())
}

#[actix_rt::test]
async fn bad_requests_say_what_to_send_and_send_nothing() -> TestResult {
    let p = Pollux::start()?;
    for (body, says) in [
        (
            json!({"model": "gemini-2.5-flash-image", "prompt": "p", "response_format": "url"}),
            "hosts no files",
        ),
        (
            json!({"model": "gemini-2.5-flash", "prompt": "p"}),
            "gemini-2.5-flash-image",
        ),
        (
            json!({"model": "gemini-2.5-flash-image", "prompt": "p", "size": "999x100"}),
            "1536x1024",
        ),
        (
            json!({"model": "imagen-4.0-generate-001", "prompt": "p", "output_format": "webp",
            "quality": "ultra"}),
            "'hd'",
        ),
    ] {
        let (status, out) = if body.get("quality") == Some(&json!("ultra")) {
            // Not a valid CreateImageRequest on purpose: posted without the request check.
            let (status, _, out) = p.post("/v1/images/generations", &body).await?;
            assert_oracle("ErrorResponse", &out);
            (status, out)
        } else {
            generate(&p, body.clone()).await?
        };
        assert_eq!(status, 400, "{body}: {out}");
        let message = error_message(&out);
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

#[actix_rt::test]
async fn an_answer_without_an_image_is_an_error_quoting_gemini() -> TestResult {
    let p = Pollux::start()?;
    let fox = json!({"model": "gemini-2.5-flash-image", "prompt": "a fox"});
    p.mock.push(Scenario::text("I can only describe foxes."));
    let (status, out) = generate(&p, fox.clone()).await?;
    assert_eq!(status, 502, "{out}");
    assert_eq!(out["error"]["code"], "no_image");
    let message = error_message(&out);
    assert!(
        message.contains("\"I can only describe foxes.\""),
        "{message}"
    );

    p.mock.push(Scenario::Answer {
        chunks: vec![vec![]],
        finish_reason: "IMAGE_SAFETY".to_owned(),
        fail: None,
        candidate: None,
    });
    let (status, out) = generate(&p, fox).await?;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "content_policy_violation");
    assert!(error_message(&out).contains("IMAGE_SAFETY"));
    Ok(())
}

fn png(w: u32, h: u32) -> Vec<u8> {
    mock_gemini::images::png(w, h)
}

/// A multipart/form-data body of text fields and PNG files.
fn form(texts: &[(&str, &str)], files: &[(&str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "pollux-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in texts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{name}.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts an edit of `texts` fields and `files` PNGs as multipart form data, the answer held
/// against the oracle: each edit test builds its form only to post it once.
async fn edit(
    p: &Pollux,
    texts: &[(&str, &str)],
    files: &[(&str, Vec<u8>)],
) -> Result<(u16, Value), Error> {
    let (content_type, body) = form(texts, files);
    let (status, _, bytes) = post_bytes(p, "/v1/images/edits", content_type, body).await?;
    let out: Value = serde_json::from_slice(&bytes)?;
    assert_answer(status, &out);
    Ok((status, out))
}

#[actix_rt::test]
async fn edit_sends_images_mask_and_prompt_as_parts() -> TestResult {
    let p = Pollux::start()?;
    let (status, out) = edit(
        &p,
        &[
            ("model", "gemini-2.5-flash-image"),
            ("prompt", "put a hat on the cat"),
            ("size", "1024x1024"),
            ("output_format", "webp"),
        ],
        &[
            ("image[]", png(8, 8)),
            ("image[]", png(4, 4)),
            ("mask", png(8, 8)),
        ],
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(decoded(&out), vec![(image::ImageFormat::WebP, 1024, 1024)]);
    let reqs = p.mock.requests();
    assert_eq!(reqs.len(), 1);
    let sent = assert_upstream("GenerateContentRequest", &reqs[0]);
    let parts = sent["contents"][0]["parts"].as_array().unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    assert_eq!(parts.len(), 5, "{sent:#}");
    assert_eq!(
        parts[0]["inlineData"],
        json!({"mimeType": "image/png", "data": b64(png(8, 8))})
    );
    assert_eq!(parts[1]["inlineData"]["data"], b64(png(4, 4)));
    assert_eq!(parts[2]["text"], pollux_translate::images::MASK_NOTE);
    assert_eq!(parts[3]["inlineData"]["data"], b64(png(8, 8)));
    assert_eq!(parts[4], json!({"text": "put a hat on the cat"}));
    assert_eq!(
        sent["generationConfig"]["imageConfig"]["aspectRatio"],
        "1:1"
    );
    Ok(())
}

#[actix_rt::test]
async fn streamed_edit_sends_image_edit_completed_events() -> TestResult {
    let p = Pollux::start()?;
    let (content_type, body) = form(
        &[
            ("model", "gemini-2.5-flash-image"),
            ("prompt", "put a hat on the cat"),
            ("size", "1024x1024"),
            ("n", "2"),
            ("stream", "true"),
            ("partial_images", "0"),
        ],
        &[("image", png(8, 8))],
    );
    let (status, headers, bytes) = post_bytes(&p, "/v1/images/edits", content_type, body).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    assert!(headers.get("x-pollux-dropped-params").is_none());
    let events = stream_events(&bytes, "ImageEditStreamEvent", "ImageEditCompletedEvent");
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e["type"], "image_edit.completed");
        assert_eq!(e["size"], "1024x1024");
        assert_eq!(decoded(&json!({"data": [e]}))[0].0, image::ImageFormat::Png);
    }
    assert_eq!(p.mock.requests().len(), 2);
    Ok(())
}

#[actix_rt::test]
async fn edit_refuses_oversized_bodies_non_images_and_missing_images() -> TestResult {
    let p = Pollux::start_with(|c, _| c.max_body_bytes = 16 * 1024)?;
    let big: Vec<u8> = png(8, 8).into_iter().chain(vec![0u8; 32 * 1024]).collect();
    let (status, out) = edit(
        &p,
        &[("model", "gemini-2.5-flash-image"), ("prompt", "p")],
        &[("image", big)],
    )
    .await?;
    assert_eq!(status, 413, "{out}");

    let (status, out) = edit(
        &p,
        &[("model", "gemini-2.5-flash-image"), ("prompt", "p")],
        &[("image", b"GIF89a not a png".to_vec())],
    )
    .await?;
    assert_eq!(status, 400, "{out}");
    assert!(error_message(&out).contains("PNG, JPEG or WebP"));

    let (status, out) = edit(
        &p,
        &[("model", "gemini-2.5-flash-image"), ("prompt", "p")],
        &[],
    )
    .await?;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["param"], "image");

    let (status, out) = edit(
        &p,
        &[("model", "imagen-4.0-generate-001"), ("prompt", "p")],
        &[("image", png(2, 2))],
    )
    .await?;
    assert_eq!(status, 400, "{out}");
    assert!(error_message(&out).contains("do not edit"));
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

#[actix_rt::test]
async fn chat_and_responses_refuse_imagen_with_the_way_out() -> TestResult {
    let p = Pollux::start()?;
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "imagen-4.0-generate-001",
            "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/responses",
            json!({"model": "imagen-4.0-generate-001", "input": "hi"}),
        ),
    ] {
        let (status, _, out) = p.post(path, &body).await?;
        assert_eq!(status, 400, "{path}: {out}");
        assert!(
            error_message(&out).contains("/v1/images/generations"),
            "{out}"
        );
    }
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}

#[actix_rt::test]
async fn an_edit_above_the_inline_limit_uploads_its_images_on_one_key() -> TestResult {
    let p = Pollux::start_with(|c, _| {
        c.api_key = None;
        c.api_keys = vec!["key-one".into(), "key-two".into()];
    })?;
    let half = pollux_server::media::files::INLINE_LIMIT / 2 + 1024;
    let big = |w| -> Vec<u8> {
        let mut bytes = png(w, w);
        bytes.resize(half, 0);
        bytes
    };
    let (status, out) = edit(
        &p,
        &[
            ("model", "gemini-2.5-flash-image"),
            ("prompt", "merge them"),
            ("n", "2"),
        ],
        &[("image[]", big(8)), ("image[]", big(4))],
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["data"].as_array().map(Vec::len), Some(2));
    let files = p.mock.files();
    assert_eq!(files.len(), 2, "{files:?}");
    let generations: Vec<_> = p
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.rpc.as_deref() == Some("generateContent"))
        .collect();
    assert_eq!(generations.len(), 2);
    for request in &generations {
        assert_eq!(request.headers["x-goog-api-key"], files[0].key);
        let sent = assert_upstream("GenerateContentRequest", request);
        let parts = sent["contents"][0]["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 3, "{sent:#}");
        for (part, file) in parts.iter().zip(&files) {
            assert_eq!(part["fileData"]["mimeType"], "image/png");
            assert!(part["fileData"]["fileUri"]
                .as_str()
                .unwrap()
                .ends_with(&file.name));
        }
    }
    assert!(files
        .iter()
        .all(|f| f.key == files[0].key && f.size == half));
    assert!(crate::audio::all_files_deleted(&p.mock).await);
    Ok(())
}
