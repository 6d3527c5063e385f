//! OpenAI audio bodies: `POST /v1/audio/speech`
//! (<https://platform.openai.com/docs/api-reference/audio/createSpeech>) and
//! `POST /v1/audio/transcriptions` / `translations`
//! (<https://platform.openai.com/docs/api-reference/audio/createTranscription>). Requests are
//! read leniently (unknown fields ignored); responses and stream events are written exactly
//! as `tests/reference/openai-audio-images.openapi.json` shapes them.

use serde::{Deserialize, Serialize};

use crate::TranslateError;

/// `POST /v1/audio/speech` body.
#[derive(Debug, Deserialize)]
pub struct SpeechRequest {
    /// Optional here so a configured default model can apply.
    #[serde(default)]
    pub model: Option<String>,
    pub input: String,
    #[serde(default)]
    pub instructions: Option<String>,
    pub voice: Voice,
    #[serde(default)]
    pub response_format: Option<SpeechFormat>,
    #[serde(default)]
    pub speed: Option<f64>,
    #[serde(default)]
    pub stream_format: Option<StreamFormat>,
}

impl SpeechRequest {
    /// Parses a request body, naming the offending field in the error (`param`).
    pub fn from_slice(body: &[u8]) -> Result<Self, TranslateError> {
        super::body::parse_body(body)
    }
}

/// `voice`: a name, or a custom voice `{"id": ...}` (which Gemini has no counterpart for).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Voice {
    Name(String),
    Custom { id: String },
}

/// `response_format` of speech. Every value OpenAI documents parses; which of them Pollux
/// can encode is the server's decision (docs/audio.md).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SpeechFormat {
    Mp3,
    Opus,
    Aac,
    Flac,
    Wav,
    Pcm,
}

impl SpeechFormat {
    pub fn name(self) -> &'static str {
        match self {
            SpeechFormat::Mp3 => "mp3",
            SpeechFormat::Opus => "opus",
            SpeechFormat::Aac => "aac",
            SpeechFormat::Flac => "flac",
            SpeechFormat::Wav => "wav",
            SpeechFormat::Pcm => "pcm",
        }
    }

    /// The `Content-Type` OpenAI answers with.
    pub fn content_type(self) -> &'static str {
        match self {
            SpeechFormat::Mp3 => "audio/mpeg",
            SpeechFormat::Opus => "audio/opus",
            SpeechFormat::Aac => "audio/aac",
            SpeechFormat::Flac => "audio/flac",
            SpeechFormat::Wav => "audio/wav",
            SpeechFormat::Pcm => "audio/pcm",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    Audio,
    Sse,
}

/// `speech.audio.delta` and `speech.audio.done`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum SpeechStreamEvent {
    #[serde(rename = "speech.audio.delta")]
    Delta { audio: String },
    #[serde(rename = "speech.audio.done")]
    Done { usage: SpeechUsage },
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct SpeechUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

/// `response_format` of a transcription or translation.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptFormat {
    #[default]
    Json,
    Text,
    Srt,
    Vtt,
    VerboseJson,
}

impl TranscriptFormat {
    /// Parses a multipart form value.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "json" => TranscriptFormat::Json,
            "text" => TranscriptFormat::Text,
            "srt" => TranscriptFormat::Srt,
            "vtt" => TranscriptFormat::Vtt,
            "verbose_json" => TranscriptFormat::VerboseJson,
            _ => return None,
        })
    }

    /// Whether the format needs timed segments from the model.
    pub fn needs_segments(self) -> bool {
        matches!(
            self,
            TranscriptFormat::Srt | TranscriptFormat::Vtt | TranscriptFormat::VerboseJson
        )
    }
}

/// `{"text", "usage"}`: the `json` transcription (and translation) answer.
#[derive(Debug, Serialize)]
pub struct TranscriptionJson {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<TranscriptUsage>,
}

/// The `verbose_json` answer.
#[derive(Debug, Serialize)]
pub struct TranscriptionVerboseJson {
    /// `transcribe` or `translate`.
    pub task: &'static str,
    pub language: String,
    pub duration: f64,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<TranscriptionSegment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<TranscriptionWord>>,
}

/// One Whisper-style segment. Gemini gives start, end and text; the decoder statistics
/// Whisper reports have no Gemini counterpart and are written as neutral values
/// (docs/audio.md).
#[derive(Debug, Serialize)]
pub struct TranscriptionSegment {
    pub id: u32,
    pub seek: u32,
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub temperature: f64,
    pub avg_logprob: f64,
    pub compression_ratio: f64,
    pub no_speech_prob: f64,
}

#[derive(Debug, Serialize)]
pub struct TranscriptionWord {
    pub word: String,
    pub start: f64,
    pub end: f64,
}

/// Token usage in the transcription shape (`{"type": "tokens", ...}`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct TranscriptUsage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

/// `transcript.text.delta` and `transcript.text.done`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum TranscriptStreamEvent {
    #[serde(rename = "transcript.text.delta")]
    Delta { delta: String },
    #[serde(rename = "transcript.text.done")]
    Done {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<TranscriptUsage>,
    },
}
