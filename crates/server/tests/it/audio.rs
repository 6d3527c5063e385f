//! `/v1/audio/speech`, `/v1/audio/transcriptions` and `/v1/audio/translations` end to end
//! against mock-gemini: every client body and event held against the OpenAI audio oracle
//! (`openai-audio-images.openapi.json`), every upstream body against the Gemini oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::time::Duration;

use base64::Engine as _;
use mock_gemini::{Scenario, TRANSCRIPT};
use serde_json::{json, Value};

use crate::support::{assert_gemini_request, Pollux};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn assert_audio(schema: &str, value: &Value) {
    let errors = mock_gemini::oracle::audio_images_errors(schema, value);
    assert!(
        errors.is_empty(),
        "not a valid {schema}: {errors:?}\n{value:#}"
    );
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// 40 characters: the mock speaks 50 ms a character, so 2 s (48,000 samples).
const INPUT: &str = "The quick brown fox jumps over the dog.!";

/// Posts a speech request (checked against `CreateSpeechRequest` first).
async fn speak(
    p: &Pollux,
    body: &Value,
) -> Result<(u16, awc::http::header::HeaderMap, Vec<u8>), Box<dyn std::error::Error>> {
    assert_audio("CreateSpeechRequest", body);
    let mut resp = client()
        .post(p.url("/v1/audio/speech"))
        .send_json(body)
        .await?;
    let bytes = resp.body().limit(64 << 20).await?;
    Ok((
        resp.status().as_u16(),
        resp.headers().clone(),
        bytes.to_vec(),
    ))
}

/// The last upstream request: its path and body (checked against the Gemini oracle).
fn upstream_sent(p: &Pollux) -> (String, Value) {
    let last = p
        .mock
        .requests()
        .last()
        .cloned()
        .expect("an upstream request");
    let body = last.json().unwrap();
    assert_gemini_request(&body);
    (last.path.clone(), body)
}

fn error_of(bytes: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    assert_audio("ErrorResponse", &value);
    value
}

#[actix_rt::test]
async fn speech_defaults_to_mp3_streamed_with_the_mapped_voice() -> TestResult {
    let p = Pollux::start()?;
    let (status, headers, body) = speak(
        &p,
        &json!({"model": "tts-1", "input": INPUT, "voice": "alloy"}),
    )
    .await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get("content-type").unwrap(), "audio/mpeg");
    // MPEG-2 layer III frames (24 kHz); 64 kbit/s for 2 s is about 16 KB.
    assert_eq!((body[0], body[1] & 0xfe), (0xff, 0xf2));
    assert!((12_000..24_000).contains(&body.len()), "{}", body.len());
    let (path, sent) = upstream_sent(&p);
    assert!(
        path.ends_with("/models/gemini-2.5-flash-preview-tts:streamGenerateContent"),
        "{path}"
    );
    assert_eq!(
        sent,
        json!({"contents": [{"role": "user", "parts": [{"text": INPUT}]}],
               "generationConfig": {"responseModalities": ["AUDIO"],
                 "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Zephyr"}}}}})
    );
    Ok(())
}

#[actix_rt::test]
async fn wav_flac_and_pcm_carry_the_whole_answer() -> TestResult {
    let p = Pollux::start()?;
    let body = |format: &str| json!({"model": "gemini-2.5-flash-preview-tts", "input": INPUT, "voice": "Kore", "response_format": format});
    let (status, headers, wav) = speak(&p, &body("wav")).await?;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").unwrap(), "audio/wav");
    let reader = hound::WavReader::new(Cursor::new(&wav))?;
    assert_eq!(
        (reader.spec().sample_rate, reader.spec().channels),
        (24_000, 1)
    );
    assert_eq!(reader.duration(), 48_000);
    let (path, _) = upstream_sent(&p);
    assert!(
        path.ends_with(":generateContent"),
        "exact WAV sizes need the whole answer: {path}"
    );

    let (_, _, pcm) = speak(&p, &body("pcm")).await?;
    assert_eq!(pcm.len(), 96_000);
    let samples: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
    assert_eq!(
        samples[..100],
        pcm.chunks(2)
            .take(100)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<_>>()[..]
    );

    let (_, headers, flac) = speak(&p, &body("flac")).await?;
    assert_eq!(headers.get("content-type").unwrap(), "audio/flac");
    assert_eq!(&flac[..4], b"fLaC");
    Ok(())
}

#[actix_rt::test]
async fn opus_is_streamed_ogg_opus_that_decodes_to_the_spoken_length() -> TestResult {
    let p = Pollux::start()?;
    let (status, headers, ogg) = speak(
        &p,
        &json!({"model": "tts-1", "input": INPUT, "voice": "echo", "response_format": "opus"}),
    )
    .await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&ogg));
    assert_eq!(headers.get("content-type").unwrap(), "audio/opus");
    let (path, _) = upstream_sent(&p);
    assert!(path.ends_with(":streamGenerateContent"), "{path}");
    // Read back as a player would (RFC 7845): OpusHead, OpusTags, then packets decoded at
    // 48 kHz, less the pre-skip, cut at the last page's granule position.
    let mut reader = ogg::reading::PacketReader::new(Cursor::new(&ogg));
    let head = reader.read_packet_expected()?;
    assert_eq!(&head.data[..8], b"OpusHead");
    let pre_skip = u64::from(u16::from_le_bytes([head.data[10], head.data[11]]));
    assert_eq!(&reader.read_packet_expected()?.data[..8], b"OpusTags");
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono)?;
    let mut buf = vec![0i16; 5760];
    let (mut decoded, mut end) = (0u64, 0u64);
    while let Some(packet) = reader.read_packet()? {
        decoded += decoder.decode(&packet.data, &mut buf, false)? as u64;
        if packet.last_in_stream() {
            end = packet.absgp_page();
        }
    }
    assert!(decoded >= end, "{decoded} decoded, granule {end}");
    // 2 s spoken by the mock: 96,000 samples at 48 kHz, to the sample.
    assert_eq!(end - pre_skip, 96_000);
    Ok(())
}

#[actix_rt::test]
async fn sse_stream_sends_deltas_then_done_with_usage() -> TestResult {
    let p = Pollux::start()?;
    let (status, headers, body) = speak(
        &p,
        &json!({"model": "gpt-4o-mini-tts", "input": INPUT, "voice": "nova", "response_format": "pcm", "stream_format": "sse"}),
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    let events: Vec<Value> = std::str::from_utf8(&body)?
        .split("\n\n")
        .filter(|e| !e.is_empty() && !e.starts_with(':'))
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let mut pcm = Vec::new();
    for e in &events {
        assert_audio("CreateSpeechResponseStreamEvent", e);
        if e["type"] == "speech.audio.delta" {
            pcm.extend(
                base64::engine::general_purpose::STANDARD.decode(e["audio"].as_str().unwrap())?,
            );
        }
    }
    assert!(events.len() >= 3, "{events:?}");
    assert_eq!(pcm.len(), 96_000);
    let done = events.last().unwrap();
    assert_eq!(done["type"], "speech.audio.done");
    assert!(
        done["usage"]["total_tokens"].as_u64().unwrap() > 0,
        "{done}"
    );
    assert_eq!(
        upstream_sent(&p).1["generationConfig"]["speechConfig"]["voiceConfig"]
            ["prebuiltVoiceConfig"]["voiceName"],
        "Leda"
    );
    Ok(())
}

#[actix_rt::test]
async fn bad_speech_requests_say_what_to_send() -> TestResult {
    let p = Pollux::start()?;
    for (body, status, needle) in [
        (
            json!({"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "aac"}),
            400,
            "mp3, opus, wav, flac, pcm",
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "hi", "voice": "alloy"}),
            400,
            "not a text-to-speech model",
        ),
        (
            json!({"model": "tts-1", "input": "hi", "voice": "bob"}),
            400,
            "Zephyr",
        ),
        (
            json!({"model": "tts-1", "input": "", "voice": "alloy"}),
            400,
            "input",
        ),
    ] {
        let (got, _, bytes) = speak(&p, &body).await?;
        assert_eq!(got, status, "{body}");
        let err = error_of(&bytes);
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{err}"
        );
    }
    assert_eq!(
        p.mock.request_count(),
        0,
        "refused before any upstream call"
    );
    // speed cannot be honoured: named, not silent.
    let (status, headers, _) = speak(&p, &json!({"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 1.5, "response_format": "wav"})).await?;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-pollux-dropped-params").unwrap(), "speed");
    Ok(())
}

#[actix_rt::test]
async fn a_text_answer_instead_of_audio_is_an_error_quoting_it() -> TestResult {
    let p = Pollux::start()?;
    p.mock.push(Scenario::text("I can only write."));
    let (status, _, bytes) = speak(
        &p,
        &json!({"model": "tts-1", "input": "hi", "voice": "alloy"}),
    )
    .await?;
    assert_eq!(status, 502);
    let err = error_of(&bytes);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("I can only write."),
        "{err}"
    );
    Ok(())
}

// --- transcriptions ----------------------------------------------------------------------

const BOUNDARY: &str = "pollux-test-boundary";

/// A multipart body: the text fields, then the file.
fn form(fields: &[(&str, &str)], filename: &str, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes());
    }
    out.extend(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").bytes(),
    );
    out.extend_from_slice(file);
    out.extend(format!("\r\n--{BOUNDARY}--\r\n").bytes());
    out
}

/// A short WAV file.
fn wav() -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..1600 {
        w.write_sample((i % 64) as i16 * 100).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

async fn post_form(
    p: &Pollux,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, String, Vec<u8>), Box<dyn std::error::Error>> {
    let mut resp = client()
        .post(p.url(path))
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ))
        .send_body(body)
        .await?;
    let bytes = resp.body().limit(64 << 20).await?;
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    Ok((resp.status().as_u16(), ct, bytes.to_vec()))
}

#[actix_rt::test]
async fn transcription_json_and_text_send_the_audio_inline() -> TestResult {
    let p = Pollux::start()?;
    let audio = wav();
    let (status, _, body) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(
            &[
                ("model", "whisper-1"),
                ("language", "en"),
                ("prompt", "Pollux"),
                ("temperature", "0.2"),
            ],
            "clip.wav",
            &audio,
        ),
    )
    .await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let value: Value = serde_json::from_slice(&body)?;
    assert_audio("CreateTranscriptionResponseJson", &value);
    assert_eq!(value["text"], TRANSCRIPT);
    assert_eq!(value["usage"]["type"], "tokens");
    let (path, sent) = upstream_sent(&p);
    assert!(
        path.ends_with("/models/gemini-2.5-flash:generateContent"),
        "{path}"
    );
    let parts = &sent["contents"][0]["parts"];
    assert_eq!(parts[1]["inlineData"]["mimeType"], "audio/wav");
    assert_eq!(
        parts[1]["inlineData"]["data"],
        base64::engine::general_purpose::STANDARD.encode(&audio)
    );
    let instruction = parts[0]["text"].as_str().unwrap();
    assert!(
        instruction.contains("'en'") && instruction.contains("Pollux"),
        "{instruction}"
    );
    assert_eq!(sent["generationConfig"], json!({"temperature": 0.2}));

    let (status, ct, body) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(
            &[("model", "whisper-1"), ("response_format", "text")],
            "clip.mp3",
            &audio,
        ),
    )
    .await?;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(String::from_utf8(body)?, format!("{TRANSCRIPT}\n"));
    assert_eq!(
        upstream_sent(&p).1["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "audio/mp3"
    );
    Ok(())
}

#[actix_rt::test]
async fn timed_formats_come_from_gemini_segments() -> TestResult {
    let p = Pollux::start()?;
    let audio = wav();
    let (status, _, srt) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(
            &[("model", "whisper-1"), ("response_format", "srt")],
            "a.wav",
            &audio,
        ),
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(srt)?,
        "1\n00:00:00,000 --> 00:00:01,250\nHello from mock-gemini.\n\n2\n00:00:01,250 --> 00:00:02,500\nThis is a transcript.\n\n"
    );
    let sent = upstream_sent(&p).1;
    assert_eq!(
        sent["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(sent["generationConfig"]["responseSchema"]["properties"]["segments"].is_object());

    let (_, ct, vtt) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(
            &[("model", "whisper-1"), ("response_format", "vtt")],
            "a.wav",
            &audio,
        ),
    )
    .await?;
    assert!(ct.starts_with("text/vtt"), "{ct}");
    assert!(String::from_utf8(vtt)?
        .starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello from mock-gemini.\n"));

    let (_, _, verbose) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(
            &[
                ("model", "whisper-1"),
                ("response_format", "verbose_json"),
                ("timestamp_granularities[]", "word"),
                ("timestamp_granularities[]", "segment"),
            ],
            "a.flac",
            &audio,
        ),
    )
    .await?;
    let verbose: Value = serde_json::from_slice(&verbose)?;
    assert_audio("CreateTranscriptionResponseVerboseJson", &verbose);
    assert_eq!(
        (verbose["duration"].as_f64(), verbose["language"].as_str()),
        (Some(2.5), Some("english"))
    );
    assert_eq!(verbose["text"], TRANSCRIPT);
    assert_eq!(verbose["segments"].as_array().unwrap().len(), 2);
    assert_eq!(
        verbose["words"][0],
        json!({"word": "Hello", "start": 0.0, "end": 0.4})
    );
    assert!(sent_schema_has_words(&p));

    let (status, _, translated) = post_form(
        &p,
        "/v1/audio/translations",
        form(
            &[("model", "whisper-1"), ("response_format", "verbose_json")],
            "a.ogg",
            &audio,
        ),
    )
    .await?;
    assert_eq!(status, 200);
    let translated: Value = serde_json::from_slice(&translated)?;
    assert_audio("CreateTranslationResponseVerboseJson", &translated);
    assert_eq!(translated["task"], "translate");
    assert!(upstream_sent(&p).1["contents"][0]["parts"][0]["text"]
        .as_str()
        .unwrap()
        .contains("into English"));
    Ok(())
}

fn sent_schema_has_words(p: &Pollux) -> bool {
    upstream_sent(p).1["generationConfig"]["responseSchema"]["properties"]["words"].is_object()
}

#[actix_rt::test]
async fn transcription_stream_sends_text_deltas_then_done() -> TestResult {
    let p = Pollux::start()?;
    let (status, ct, body) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(
            &[("model", "gpt-4o-transcribe"), ("stream", "true")],
            "a.wav",
            &wav(),
        ),
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/event-stream");
    let events: Vec<Value> = std::str::from_utf8(&body)?
        .split("\n\n")
        .filter(|e| !e.is_empty() && !e.starts_with(':'))
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    let mut text = String::new();
    for e in &events {
        assert_audio("CreateTranscriptionResponseStreamEvent", e);
        if e["type"] == "transcript.text.delta" {
            text.push_str(e["delta"].as_str().unwrap());
        }
    }
    assert!(events.len() >= 3);
    let done = events.last().unwrap();
    assert_eq!(
        (done["type"].as_str(), done["text"].as_str()),
        (Some("transcript.text.done"), Some(TRANSCRIPT))
    );
    assert_eq!(text, TRANSCRIPT);
    assert!(upstream_sent(&p).0.contains(":streamGenerateContent"));
    Ok(())
}

#[actix_rt::test]
async fn bad_uploads_are_refused_with_what_to_send() -> TestResult {
    let p = Pollux::start()?;
    let big = vec![0u8; pollux_server::routes::audio::MAX_FILE_BYTES + 1];
    let (status, _, body) = post_form(
        &p,
        "/v1/audio/transcriptions",
        form(&[("model", "whisper-1")], "a.wav", &big),
    )
    .await?;
    assert_eq!(status, 413);
    assert!(error_of(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("inline"));
    for (fields, filename, needle) in [
        (vec![("model", "whisper-1")], "notes.txt", "flac, mp3"),
        (vec![("model", "tts-1")], "a.wav", "text-to-speech model"),
        (
            vec![("model", "whisper-1"), ("response_format", "diarized_json")],
            "a.wav",
            "json, text, srt, vtt, verbose_json",
        ),
    ] {
        let (status, _, body) = post_form(
            &p,
            "/v1/audio/transcriptions",
            form(&fields, filename, &wav()),
        )
        .await?;
        assert_eq!(status, 400, "{fields:?}");
        let err = error_of(&body);
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{err}"
        );
    }
    // A JSON body is not a form: the route says so.
    let mut resp = client()
        .post(p.url("/v1/audio/transcriptions"))
        .send_json(&json!({"model": "whisper-1"}))
        .await?;
    assert_eq!(resp.status().as_u16(), 400);
    error_of(&resp.body().await?);
    assert_eq!(p.mock.request_count(), 0);
    Ok(())
}
