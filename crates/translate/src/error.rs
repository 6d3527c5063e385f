//! The translate crate's one error type. It knows nothing of HTTP: the server maps each
//! variant to a status code and the OpenAI error envelope in one place.

use thiserror::Error;

/// Everything that can go wrong while mapping between the two wire formats.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TranslateError {
    /// The client's request cannot be served as written (OpenAI answers these with 400).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        /// The request field at fault, in OpenAI's dotted form (`messages[2].content`).
        param: Option<String>,
        /// A stable machine-readable code, when one applies.
        code: Option<&'static str>,
    },
    /// Gemini answered with a body we could not read as a `GenerateContentResponse`.
    #[error("upstream sent an unreadable response: {0}")]
    UpstreamFormat(String),
    /// Gemini finished a candidate in a way that leaves the client nothing usable
    /// (for example `MALFORMED_FUNCTION_CALL`); `reason` is Gemini's finish reason.
    #[error("{message}")]
    UpstreamFinish { reason: String, message: String },
    /// The upstream stream ended without a finish reason: the answer was cut short.
    #[error("upstream stream ended before a finish reason: the answer is incomplete")]
    StreamIncomplete,
}

impl TranslateError {
    /// Shorthand for a 400-class error naming the offending field.
    pub fn invalid(message: impl Into<String>, param: impl Into<String>) -> Self {
        TranslateError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: None,
        }
    }
}
