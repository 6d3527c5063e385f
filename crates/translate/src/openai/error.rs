//! OpenAI's error body, the same for every endpoint
//! (<https://platform.openai.com/docs/guides/error-codes>). The server fills it from its one
//! error type; the stream writes it in-band after a 200.

use serde::Serialize;

/// OpenAI's error envelope: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}
