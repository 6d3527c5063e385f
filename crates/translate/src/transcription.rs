//! OpenAI speech to text (`POST /v1/audio/transcriptions` and `/v1/audio/translations`,
//! <https://platform.openai.com/docs/api-reference/audio/createTranscription>) on a Gemini
//! model's audio understanding (<https://ai.google.dev/gemini-api/docs/audio>).
//!
//! - The file goes inline (`inlineData` with the MIME type of its extension, [`file_mime`])
//!   after an instruction to transcribe (or, for translations, to translate into English);
//!   `language` and `prompt` become lines of that instruction, `temperature` is Gemini's.
//! - `json` and `text` ask for plain text. `srt`, `vtt` and `verbose_json` (and any
//!   `timestamp_granularities[]`) ask Gemini for timed segments through `responseSchema`
//!   ([`segments_schema`]) and build each format from them ([`render`]).
//! - Usage comes from Gemini's counts in OpenAI's `{"type": "tokens"}` shape.

use serde::Deserialize;

use crate::openai::audio::{
    TranscriptFormat, TranscriptUsage, TranscriptionJson, TranscriptionSegment,
    TranscriptionVerboseJson, TranscriptionWord,
};
use crate::{gemini, TranslateError};

/// Transcription or translation into English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Transcribe,
    Translate,
}

/// The form fields of a transcription request other than the file, parsed from their text
/// ([`TranscriptionRequest::set`]).
#[derive(Debug, Default)]
pub struct TranscriptionRequest {
    pub model: Option<String>,
    pub language: Option<String>,
    pub prompt: Option<String>,
    pub temperature: Option<f64>,
    pub response_format: TranscriptFormat,
    pub words: bool,
    pub segments: bool,
    pub stream: bool,
}

impl TranscriptionRequest {
    /// Takes one text field of the form. Unknown fields are ignored, as in JSON bodies.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), TranslateError> {
        let value = value.trim();
        match name {
            "model" => self.model = Some(value.to_owned()),
            "language" if !value.is_empty() => self.language = Some(value.to_owned()),
            "prompt" if !value.is_empty() => self.prompt = Some(value.to_owned()),
            "temperature" => {
                let t: f64 = value
                    .parse()
                    .ok()
                    .filter(|t| (0.0..=1.0).contains(t))
                    .ok_or_else(|| {
                        TranslateError::invalid(
                            "'temperature' must be a number between 0 and 1.",
                            name,
                        )
                    })?;
                self.temperature = Some(t);
            }
            "response_format" => {
                self.response_format = TranscriptFormat::parse(value).ok_or_else(|| {
                    TranslateError::invalid(
                        format!(
                            "Unsupported response_format '{value}'. Send one of json, text, \
                             srt, vtt, verbose_json."
                        ),
                        name,
                    )
                })?;
            }
            "timestamp_granularities[]" | "timestamp_granularities" => match value {
                "word" => self.words = true,
                "segment" => self.segments = true,
                _ => {
                    return Err(TranslateError::invalid(
                        format!(
                            "Unsupported timestamp granularity '{value}': send word or segment."
                        ),
                        "timestamp_granularities",
                    ))
                }
            },
            "stream" => self.stream = matches!(value, "true" | "True" | "1"),
            _ => {}
        }
        Ok(())
    }

    /// Whether Gemini must answer timed segments rather than plain text.
    pub fn needs_segments(&self) -> bool {
        self.response_format.needs_segments() || self.words || self.segments
    }
}

/// The default Gemini model of OpenAI's speech-to-text names, when no `--alias` names them.
pub fn default_model(name: &str) -> Option<&'static str> {
    match name {
        "whisper-1"
        | "gpt-transcribe"
        | "gpt-4o-transcribe"
        | "gpt-4o-mini-transcribe"
        | "gpt-4o-mini-transcribe-2025-12-15"
        | "gpt-4o-transcribe-diarize" => Some("gemini-2.5-flash"),
        _ => None,
    }
}

/// OpenAI's file formats (by extension) and the MIME type Gemini is sent. `None`: a format
/// OpenAI does not take either.
pub fn file_mime(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "flac" => "audio/flac",
        "mp3" | "mpeg" | "mpga" => "audio/mp3",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "m4a" => "audio/mp4",
        // Gemini reads the audio track of its video formats.
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => return None,
    })
}

/// The extensions [`file_mime`] knows, for error messages.
pub const FILE_FORMATS: &str = "flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm";

/// The instruction sent before the audio.
fn instruction(task: Task, req: &TranscriptionRequest) -> String {
    let mut text = match task {
        Task::Transcribe => {
            "Transcribe the speech in this audio verbatim, in the language it is spoken in."
                .to_owned()
        }
        Task::Translate => "Translate the speech in this audio into English.".to_owned(),
    };
    if let (Task::Transcribe, Some(lang)) = (task, &req.language) {
        text.push_str(&format!(
            " The audio is in the language with ISO-639-1 code '{lang}'."
        ));
    }
    if req.needs_segments() {
        text.push_str(
            " Split the text into segments of about one sentence; give each segment's start \
             and end time in seconds from the beginning of the audio",
        );
        if req.words {
            text.push_str(", and each word with its start and end time");
        }
        text.push_str(". Give the language of the audio as its English name in lower case.");
    } else {
        text.push_str(" Answer with the text only, without comments or timestamps.");
    }
    if let Some(prompt) = &req.prompt {
        text.push_str(&format!(
            "\n\nContext from the user (vocabulary and style; do not transcribe it): {prompt}"
        ));
    }
    text
}

/// Gemini's `responseSchema` for timed segments (and words when asked).
pub fn segments_schema(words: bool) -> serde_json::Value {
    let timed = |field: &str| {
        serde_json::json!({"type": "OBJECT",
            "properties": {field: {"type": "STRING"}, "start": {"type": "NUMBER"}, "end": {"type": "NUMBER"}},
            "required": [field, "start", "end"], "propertyOrdering": [field, "start", "end"]})
    };
    let mut schema = serde_json::json!({"type": "OBJECT",
        "properties": {"language": {"type": "STRING"}, "segments": {"type": "ARRAY", "items": timed("text")}},
        "required": ["language", "segments"], "propertyOrdering": ["language", "segments"]});
    if words {
        schema["properties"]["words"] =
            serde_json::json!({"type": "ARRAY", "items": timed("word")});
        schema["propertyOrdering"] = serde_json::json!(["language", "segments", "words"]);
    }
    schema
}

/// The Gemini body: the instruction, then the audio (inline, or a Files API upload).
pub fn to_gemini(
    task: Task,
    req: &TranscriptionRequest,
    audio: gemini::Part,
) -> gemini::GenerateContentRequest {
    let segments = req.needs_segments();
    gemini::GenerateContentRequest {
        contents: vec![gemini::Turn {
            role: Some(gemini::Role::User),
            parts: vec![
                gemini::TurnPart::text(instruction(task, req)),
                gemini::TurnPart::from(audio),
            ],
        }],
        generation_config: gemini::GenerationConfig {
            temperature: req.temperature,
            response_mime_type: segments.then(|| "application/json".to_owned()),
            response_schema: segments.then(|| segments_schema(req.words)),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The answer's text (thoughts left out).
pub fn text_of(response: &gemini::GenerateContentResponse) -> String {
    response
        .candidates
        .iter()
        .take(1)
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| &c.parts)
        .filter(|p| !p.is_thought())
        .filter_map(|p| p.text.as_deref())
        .collect()
}

/// Gemini's counts in the transcription usage shape.
pub fn usage(meta: Option<&gemini::UsageMetadata>) -> Option<TranscriptUsage> {
    meta.map(|u| TranscriptUsage {
        kind: "tokens",
        input_tokens: u.prompt_token_count,
        output_tokens: u.candidates_token_count + u.thoughts_token_count,
        total_tokens: u.total_token_count,
    })
}

/// What Gemini answers under [`segments_schema`].
#[derive(Debug, Deserialize)]
struct Timed {
    #[serde(default)]
    language: String,
    #[serde(default)]
    segments: Vec<TimedText>,
    #[serde(default)]
    words: Vec<TimedWord>,
}

#[derive(Debug, Deserialize)]
struct TimedText {
    text: String,
    start: f64,
    end: f64,
}

#[derive(Debug, Deserialize)]
struct TimedWord {
    word: String,
    start: f64,
    end: f64,
}

/// A rendered answer: JSON, or text with its content type.
#[derive(Debug)]
pub enum Rendered {
    Json(serde_json::Value),
    Text {
        body: String,
        content_type: &'static str,
    },
}

/// Builds the client's `response_format` from Gemini's answer text.
pub fn render(
    task: Task,
    req: &TranscriptionRequest,
    answer: &str,
    usage: Option<TranscriptUsage>,
) -> Result<Rendered, TranslateError> {
    if !req.needs_segments() {
        let text = answer.trim().to_owned();
        return Ok(match req.response_format {
            TranscriptFormat::Text => Rendered::Text {
                body: format!("{text}\n"),
                content_type: "text/plain; charset=utf-8",
            },
            _ => Rendered::Json(to_value(&TranscriptionJson { text, usage })?),
        });
    }
    let timed: Timed = serde_json::from_str(answer).map_err(|e| {
        TranslateError::UpstreamFormat(format!("segments are not the asked JSON: {e}"))
    })?;
    let segments: Vec<&TimedText> = timed
        .segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .collect();
    let text = segments
        .iter()
        .map(|s| s.text.trim())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(match req.response_format {
        TranscriptFormat::Json => Rendered::Json(to_value(&TranscriptionJson { text, usage })?),
        TranscriptFormat::Text => Rendered::Text {
            body: format!("{text}\n"),
            content_type: "text/plain; charset=utf-8",
        },
        TranscriptFormat::Srt => Rendered::Text {
            body: subtitles(&segments, ',', ""),
            content_type: "text/plain; charset=utf-8",
        },
        TranscriptFormat::Vtt => Rendered::Text {
            body: subtitles(&segments, '.', "WEBVTT\n\n"),
            content_type: "text/vtt; charset=utf-8",
        },
        TranscriptFormat::VerboseJson => {
            let duration = segments
                .iter()
                .map(|s| s.end)
                .chain(timed.words.iter().map(|w| w.end))
                .fold(0.0, f64::max);
            let language = match (task, timed.language.trim()) {
                (Task::Translate, _) => "english".to_owned(),
                (_, "") => req.language.clone().unwrap_or_default(),
                (_, lang) => lang.to_lowercase(),
            };
            // OpenAI returns segments unless only words were asked for.
            let with_segments = req.segments || !req.words;
            Rendered::Json(to_value(&TranscriptionVerboseJson {
                task: match task {
                    Task::Transcribe => "transcribe",
                    Task::Translate => "translate",
                },
                language,
                duration,
                text,
                segments: with_segments.then(|| {
                    segments
                        .iter()
                        .zip(0..)
                        .map(|(s, id)| TranscriptionSegment {
                            id,
                            seek: 0,
                            start: s.start,
                            end: s.end.max(s.start),
                            text: format!(" {}", s.text.trim()),
                            tokens: Vec::new(),
                            temperature: req.temperature.unwrap_or(0.0),
                            avg_logprob: 0.0,
                            compression_ratio: 1.0,
                            no_speech_prob: 0.0,
                        })
                        .collect()
                }),
                words: req.words.then(|| {
                    timed
                        .words
                        .iter()
                        .map(|w| TranscriptionWord {
                            word: w.word.trim().to_owned(),
                            start: w.start,
                            end: w.end.max(w.start),
                        })
                        .collect()
                }),
            })?)
        }
    })
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, TranslateError> {
    serde_json::to_value(value).map_err(|e| TranslateError::UpstreamFormat(e.to_string()))
}

/// SubRip (numbered cues, `,` before milliseconds) or WebVTT (a header, `.`).
fn subtitles(segments: &[&TimedText], separator: char, header: &str) -> String {
    let mut out = header.to_owned();
    for (i, s) in segments.iter().enumerate() {
        if header.is_empty() {
            out.push_str(&format!("{}\n", i + 1));
        }
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(s.start, separator),
            timestamp(s.end.max(s.start), separator),
            s.text.trim()
        ));
    }
    out
}

/// `HH:MM:SS,mmm` (or with `.`) of a time in seconds.
fn timestamp(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(fields: &[(&str, &str)]) -> TranscriptionRequest {
        let mut r = TranscriptionRequest::default();
        for (k, v) in fields {
            r.set(k, v).unwrap();
        }
        r
    }

    const SEGMENTS: &str = r#"{"language": "English", "segments": [
        {"text": "Hello there.", "start": 0.0, "end": 1.5},
        {"text": "General Kenobi.", "start": 1.5, "end": 3725.25}],
        "words": [{"word": "Hello", "start": 0.0, "end": 0.5}]}"#;

    fn inline(mime: &str, data: &str) -> gemini::Part {
        gemini::Part::inline(gemini::Blob {
            mime_type: mime.to_owned(),
            data: data.to_owned(),
        })
    }

    #[test]
    fn plain_formats_ask_for_text() {
        let r = req(&[
            ("response_format", "text"),
            ("temperature", "0.2"),
            ("prompt", "Pollux"),
        ]);
        let body = serde_json::to_value(to_gemini(
            Task::Transcribe,
            &r,
            inline("audio/wav", "UklGRg=="),
        ))
        .unwrap();
        assert_eq!(body["generationConfig"], json!({"temperature": 0.2}));
        assert_eq!(
            body["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}})
        );
        assert!(body["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Pollux"));
        let Rendered::Text { body, .. } = render(Task::Transcribe, &r, " hi \n", None).unwrap()
        else {
            panic!("not text")
        };
        assert_eq!(body, "hi\n");
    }

    #[test]
    fn timed_formats_ask_for_segments_and_render() {
        let r = req(&[("response_format", "srt")]);
        let body =
            serde_json::to_value(to_gemini(Task::Translate, &r, inline("audio/mp3", "AA==")))
                .unwrap();
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            body["generationConfig"]["responseSchema"],
            segments_schema(false)
        );
        let Rendered::Text { body, .. } = render(Task::Transcribe, &r, SEGMENTS, None).unwrap()
        else {
            panic!("not text")
        };
        assert_eq!(
            body,
            "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,500 --> 01:02:05,250\nGeneral Kenobi.\n\n"
        );
        let vtt = req(&[("response_format", "vtt")]);
        let Rendered::Text { body, .. } = render(Task::Transcribe, &vtt, SEGMENTS, None).unwrap()
        else {
            panic!("not text")
        };
        assert!(
            body.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n"),
            "{body}"
        );
    }

    #[test]
    fn verbose_json_has_segments_words_and_duration() {
        let r = req(&[
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
            ("timestamp_granularities[]", "segment"),
        ]);
        assert_eq!(
            segments_schema(true)["properties"]["words"]["items"]["required"],
            json!(["word", "start", "end"])
        );
        let Rendered::Json(v) = render(Task::Transcribe, &r, SEGMENTS, None).unwrap() else {
            panic!("not json")
        };
        assert_eq!(v["text"], "Hello there. General Kenobi.");
        assert_eq!(v["language"], "english");
        assert_eq!(v["duration"], 3725.25);
        assert_eq!(v["segments"][1]["id"], 1);
        assert_eq!(
            v["words"][0],
            json!({"word": "Hello", "start": 0.0, "end": 0.5})
        );
        assert!(render(Task::Transcribe, &r, "not json", None).is_err());
    }

    #[test]
    fn bad_fields_and_files() {
        let mut r = TranscriptionRequest::default();
        assert!(r.set("response_format", "diarized_json").is_err());
        assert!(r.set("temperature", "2").is_err());
        assert!(r.set("timestamp_granularities[]", "char").is_err());
        assert_eq!(file_mime("a.MP3"), Some("audio/mp3"));
        assert_eq!(file_mime("a.webm"), Some("video/webm"));
        assert_eq!(file_mime("a.txt"), None);
        assert_eq!(file_mime("noext"), None);
    }
}
