//! OpenAI text to speech (`POST /v1/audio/speech`,
//! <https://platform.openai.com/docs/api-reference/audio/createSpeech>) on a Gemini TTS
//! model's `generateContent` / `streamGenerateContent`
//! (<https://ai.google.dev/gemini-api/docs/speech-generation>).
//!
//! - `input` is the one user turn; `instructions` becomes a style line before it.
//! - `voice`: a Gemini voice name is taken as is (any case); OpenAI's names map to the
//!   Gemini voices of [`OPENAI_VOICES`] (table in docs/audio.md).
//! - `generationConfig.responseModalities: ["AUDIO"]` and `speechConfig.voiceConfig.
//!   prebuiltVoiceConfig.voiceName`.
//! - `speed` has no Gemini counterpart: any value but 1 is named in the dropped-params header.
//! - Gemini answers 24 kHz signed 16-bit little-endian mono PCM in `inlineData`
//!   (`audio/L16;codec=pcm;rate=24000`); [`audio_of`] decodes it. Encoding to the client's
//!   `response_format` is the server's job (it needs codec libraries).

use base64::Engine as _;

use crate::openai::audio::{SpeechRequest, SpeechUsage, Voice};
use crate::{gemini, TranslateError};

/// OpenAI's limit on `input` and `instructions`, in characters.
pub const MAX_INPUT_CHARS: usize = 4096;

/// The sample rate Gemini's TTS models answer in.
pub const SAMPLE_RATE: u32 = 24_000;

/// Gemini's prebuilt voices (<https://ai.google.dev/gemini-api/docs/speech-generation#voices>).
pub const GEMINI_VOICES: [&str; 30] = [
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
];

/// OpenAI voice → the Gemini voice whose documented character is closest.
pub const OPENAI_VOICES: [(&str, &str); 13] = [
    ("alloy", "Zephyr"),
    ("ash", "Charon"),
    ("ballad", "Algieba"),
    ("coral", "Aoede"),
    ("echo", "Puck"),
    ("fable", "Fenrir"),
    ("onyx", "Algenib"),
    ("nova", "Leda"),
    ("sage", "Sadaltager"),
    ("shimmer", "Achernar"),
    ("verse", "Orus"),
    ("marin", "Sulafat"),
    ("cedar", "Gacrux"),
];

/// The Gemini model an OpenAI speech model name stands for when no `--alias` names it.
pub fn default_model(name: &str) -> Option<&'static str> {
    match name {
        "tts-1" | "gpt-4o-mini-tts" | "gpt-4o-mini-tts-2025-12-15" => {
            Some("gemini-2.5-flash-preview-tts")
        }
        "tts-1-hd" => Some("gemini-2.5-pro-preview-tts"),
        _ => None,
    }
}

/// Whether a Gemini model id is a text-to-speech model (Gemini names them all `*-tts*`).
pub fn is_tts_model(model: &str) -> bool {
    gemini::model_id(model).split('-').any(|w| w == "tts")
}

/// The Gemini voice for `voice`.
pub fn gemini_voice(voice: &Voice) -> Result<&'static str, TranslateError> {
    let name = match voice {
        Voice::Name(name) => name.trim(),
        Voice::Custom { .. } => {
            return Err(TranslateError::InvalidRequest {
                message: "Custom voices ({\"id\": ...}) have no Gemini counterpart. Send one \
                          of OpenAI's voice names or a Gemini voice name (docs/audio.md)."
                    .to_owned(),
                param: Some("voice".to_owned()),
                code: Some("unsupported_voice"),
            })
        }
    };
    if let Some((_, gemini)) = OPENAI_VOICES
        .iter()
        .find(|(openai, _)| openai.eq_ignore_ascii_case(name))
    {
        return Ok(gemini);
    }
    GEMINI_VOICES
        .iter()
        .find(|g| g.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| TranslateError::InvalidRequest {
            message: format!(
                "Unknown voice '{name}'. Send one of OpenAI's voices ({}) or a Gemini voice ({}).",
                OPENAI_VOICES.map(|(o, _)| o).join(", "),
                GEMINI_VOICES.join(", ")
            ),
            param: Some("voice".to_owned()),
            code: Some("unsupported_voice"),
        })
}

/// The Gemini body for a speech request, and the client parameters it could not honour
/// (comma-separated, for `x-pollux-dropped-params`).
pub fn to_gemini(
    req: &SpeechRequest,
) -> Result<(gemini::GenerateContentRequest, String), TranslateError> {
    let input = req.input.trim();
    if input.is_empty() {
        return Err(TranslateError::invalid(
            "'input' must not be empty: send the text to speak.",
            "input",
        ));
    }
    for (field, text) in [
        ("input", Some(&req.input)),
        ("instructions", req.instructions.as_ref()),
    ] {
        if text.is_some_and(|t| t.chars().count() > MAX_INPUT_CHARS) {
            return Err(TranslateError::invalid(
                format!("'{field}' is longer than {MAX_INPUT_CHARS} characters."),
                field,
            ));
        }
    }
    let mut dropped = String::new();
    if let Some(speed) = req.speed {
        if !(0.25..=4.0).contains(&speed) {
            return Err(TranslateError::invalid(
                "'speed' must be between 0.25 and 4.0.",
                "speed",
            ));
        }
        // Gemini TTS has no rate control; a resampled answer would change the pitch.
        if speed != 1.0 {
            dropped.push_str("speed");
        }
    }
    let voice = gemini_voice(&req.voice)?;
    let text = match req.instructions.as_deref().map(str::trim) {
        Some(style) if !style.is_empty() => format!(
            "Read the text after the blank line aloud, word for word, in this style: \
             {style}\n\n{input}"
        ),
        _ => input.to_owned(),
    };
    let body = gemini::GenerateContentRequest {
        contents: vec![gemini::Turn {
            role: Some(gemini::Role::User),
            parts: vec![gemini::TurnPart::text(text)],
        }],
        generation_config: gemini::GenerationConfig {
            response_modalities: vec!["AUDIO".to_owned()],
            speech_config: Some(gemini::SpeechConfig {
                voice_config: gemini::VoiceConfig {
                    prebuilt_voice_config: gemini::PrebuiltVoiceConfig {
                        voice_name: voice.to_owned(),
                    },
                },
                language_code: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Ok((body, dropped))
}

/// The PCM bytes of one answer (or one stream event): every audio `inlineData` part, in
/// order, base64-decoded. A text part in a TTS answer is ignored (the audio is the answer).
pub fn audio_of(response: &gemini::GenerateContentResponse) -> Result<Vec<u8>, TranslateError> {
    let mut pcm = Vec::new();
    let parts = response
        .candidates
        .iter()
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| &c.parts);
    for part in parts {
        let Some(blob) = &part.inline_data else {
            continue;
        };
        if !blob.mime_type.starts_with("audio/") {
            continue;
        }
        if let Some(rate) = pcm_rate(&blob.mime_type) {
            if rate != SAMPLE_RATE {
                return Err(TranslateError::UpstreamFormat(format!(
                    "audio at {rate} Hz; Pollux expects {SAMPLE_RATE} Hz PCM"
                )));
            }
        }
        base64::engine::general_purpose::STANDARD
            .decode_vec(blob.data.as_bytes(), &mut pcm)
            .map_err(|e| TranslateError::UpstreamFormat(format!("audio is not base64: {e}")))?;
    }
    Ok(pcm)
}

/// Why an answer that carried no audio at all has none: Gemini's text (`earlier` holds the
/// text of a stream's previous events), a block, or a finish reason, as a 502-class error
/// the client can read.
pub fn no_audio(response: &gemini::GenerateContentResponse, earlier: &str) -> TranslateError {
    if let Some(reason) = response
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
    {
        return TranslateError::UpstreamFinish {
            reason: reason.to_owned(),
            message: format!("Gemini refused the input ({reason}) and returned no audio."),
        };
    }
    let text = format!("{earlier}{}", text_of(response));
    let reason = response
        .candidates
        .first()
        .and_then(|c| c.finish_reason)
        .map(|r| format!("{r:?}"))
        .unwrap_or_else(|| "none".to_owned());
    TranslateError::UpstreamFinish {
        message: if text.is_empty() {
            format!("Gemini returned no audio (finish reason {reason}).")
        } else {
            format!("Gemini returned text instead of audio: {text}")
        },
        reason: "NO_AUDIO".to_owned(),
    }
}

/// The text parts of an answer (a TTS model asked for text may answer some).
pub fn text_of(response: &gemini::GenerateContentResponse) -> String {
    response
        .candidates
        .iter()
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| &c.parts)
        .filter_map(|p| p.text.as_deref())
        .collect()
}

/// The rate of an `audio/L16;codec=pcm;rate=24000` MIME type.
fn pcm_rate(mime: &str) -> Option<u32> {
    mime.split(';')
        .filter_map(|p| p.trim().strip_prefix("rate="))
        .find_map(|r| r.parse().ok())
}

/// Gemini's counts in the `speech.audio.done` shape.
pub fn usage(meta: Option<&gemini::UsageMetadata>) -> SpeechUsage {
    let Some(u) = meta else {
        return SpeechUsage::default();
    };
    SpeechUsage {
        input_tokens: u.prompt_token_count,
        output_tokens: u.candidates_token_count,
        total_tokens: u.total_token_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: serde_json::Value) -> SpeechRequest {
        SpeechRequest::from_slice(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn maps_input_voice_and_instructions() {
        let req = request(
            json!({"model": "tts-1", "input": "Hello there.", "voice": "alloy",
            "instructions": "cheerful", "speed": 1.5}),
        );
        let (body, dropped) = to_gemini(&req).unwrap();
        assert_eq!(dropped, "speed");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"contents": [{"role": "user", "parts": [{"text":
                "Read the text after the blank line aloud, word for word, in this style: cheerful\n\nHello there."}]}],
              "generationConfig": {"responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Zephyr"}}}}})
        );
    }

    #[test]
    fn gemini_voices_pass_in_any_case_and_unknown_ones_are_refused() {
        assert_eq!(gemini_voice(&Voice::Name("kore".into())).unwrap(), "Kore");
        assert_eq!(
            gemini_voice(&Voice::Name("ONYX".into())).unwrap(),
            "Algenib"
        );
        let err = gemini_voice(&Voice::Name("bob".into())).unwrap_err();
        assert!(err.to_string().contains("alloy") && err.to_string().contains("Zephyr"));
        assert!(gemini_voice(&Voice::Custom {
            id: "voice_1".into()
        })
        .is_err());
        for (_, g) in OPENAI_VOICES {
            assert!(GEMINI_VOICES.contains(&g), "{g}");
        }
    }

    #[test]
    fn bad_input_and_speed_are_refused() {
        for body in [
            json!({"input": " ", "voice": "alloy"}),
            json!({"input": "x".repeat(4097), "voice": "alloy"}),
            json!({"input": "x", "voice": "alloy", "speed": 5.0}),
        ] {
            assert!(to_gemini(&request(body)).is_err());
        }
        let (_, dropped) = to_gemini(&request(
            json!({"input": "x", "voice": "alloy", "speed": 1.0}),
        ))
        .unwrap();
        assert_eq!(dropped, "");
    }

    #[test]
    fn tts_models_and_aliases() {
        assert!(is_tts_model("gemini-2.5-flash-preview-tts"));
        assert!(is_tts_model("models/gemini-3.1-flash-tts-preview"));
        assert!(!is_tts_model("gemini-2.5-flash"));
        assert!(default_model("tts-1").is_some_and(is_tts_model));
        assert!(default_model("whisper-1").is_none());
    }

    #[test]
    fn audio_parts_are_decoded_in_order() {
        let resp: gemini::GenerateContentResponse = serde_json::from_value(json!({"candidates": [{"content": {"parts": [
            {"inlineData": {"mimeType": "audio/L16;codec=pcm;rate=24000", "data": "AAE="}},
            {"inlineData": {"mimeType": "audio/L16;codec=pcm;rate=24000", "data": "AgM="}}]}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 8}}))
        .unwrap();
        assert_eq!(audio_of(&resp).unwrap(), [0, 1, 2, 3]);
        assert_eq!(usage(resp.usage_metadata.as_ref()).total_tokens, 8);
        let text: gemini::GenerateContentResponse = serde_json::from_value(
            json!({"candidates": [{"content": {"parts": [{"text": "I cannot"}]}, "finishReason": "STOP"}]}),
        )
        .unwrap();
        assert!(audio_of(&text).unwrap().is_empty());
        assert!(no_audio(&text, "Sorry, ")
            .to_string()
            .contains("Sorry, I cannot"));
    }
}
