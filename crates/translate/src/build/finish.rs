//! Gemini's finish reasons (<https://ai.google.dev/api/generate-content#FinishReason>),
//! decided once for every dialect: how the answer ended, or why it is an error.
//!
//! [`ending`] is the table. It names every reason Gemini sends, `Unknown` (a reason newer
//! than this build) included, and has no catch-all arm: a reason added to
//! [`gemini::FinishReason`] does not compile until it has a decision here. Each dialect then
//! says the [`Ending`] in its own words (Chat Completions: `chat::finish`, which also
//! applies the stop-sequence and legacy `function_call` overrides).

use crate::gemini;
use crate::TranslateError;

/// How a candidate ended, in neither dialect's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The model stopped by itself, or Gemini gave no reason the client could act on.
    Stop,
    /// The output limit cut the answer short.
    Length,
    /// Gemini withheld the answer, or its rest, for content reasons.
    ContentFilter,
}

/// Gemini's reason as an [`Ending`], or the error for a reason that leaves the client
/// nothing it could use (rather than an empty `stop`; see docs/mapping.md). A candidate
/// without a reason ended normally. `message` is Gemini's `finishMessage`.
pub fn ending(
    reason: Option<gemini::FinishReason>,
    message: Option<&str>,
) -> Result<Ending, TranslateError> {
    use gemini::FinishReason as G;
    let Some(reason) = reason else {
        return Ok(Ending::Stop);
    };
    let what = match reason {
        G::Stop | G::FinishReasonUnspecified | G::Other => return Ok(Ending::Stop),
        // Image generation that produced no image still ends the text answer normally.
        G::ImageOther | G::NoImage => return Ok(Ending::Stop),
        // A reason this build does not know: the answer is passed on as it came.
        G::Unknown => return Ok(Ending::Stop),
        G::MaxTokens => return Ok(Ending::Length),
        G::Safety
        | G::Recitation
        | G::Blocklist
        | G::ProhibitedContent
        | G::Spii
        | G::ImageSafety
        | G::ImageProhibitedContent
        | G::ImageRecitation
        | G::Language => return Ok(Ending::ContentFilter),
        G::MalformedFunctionCall => "Gemini produced a malformed function call",
        G::UnexpectedToolCall => "Gemini called a tool that was not offered",
        G::TooManyToolCalls => "Gemini made more tool calls than it may in one turn",
        G::MissingThoughtSignature => "Gemini reported a missing thought signature",
    };
    let name = reason.as_str();
    let message = match message {
        Some(m) if !m.is_empty() => format!("{what} (finishReason {name}): {m}"),
        _ => format!("{what} (finishReason {name}); retrying the request usually helps."),
    };
    Err(TranslateError::UpstreamFinish {
        reason: name.to_owned(),
        message,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use gemini::FinishReason as G;

    /// Every reason has its decision; the four that leave nothing usable are errors that
    /// name the reason and carry Gemini's message.
    #[test]
    fn every_reason_has_a_decision() {
        let cases = [
            (G::Stop, Ending::Stop),
            (G::FinishReasonUnspecified, Ending::Stop),
            (G::Other, Ending::Stop),
            (G::ImageOther, Ending::Stop),
            (G::NoImage, Ending::Stop),
            (G::Unknown, Ending::Stop),
            (G::MaxTokens, Ending::Length),
            (G::Safety, Ending::ContentFilter),
            (G::Recitation, Ending::ContentFilter),
            (G::Blocklist, Ending::ContentFilter),
            (G::ProhibitedContent, Ending::ContentFilter),
            (G::Spii, Ending::ContentFilter),
            (G::ImageSafety, Ending::ContentFilter),
            (G::ImageProhibitedContent, Ending::ContentFilter),
            (G::ImageRecitation, Ending::ContentFilter),
            (G::Language, Ending::ContentFilter),
        ];
        for (reason, expected) in cases {
            assert_eq!(ending(Some(reason), None), Ok(expected), "{reason:?}");
        }
        assert_eq!(ending(None, None), Ok(Ending::Stop));
        for reason in [
            G::MalformedFunctionCall,
            G::UnexpectedToolCall,
            G::TooManyToolCalls,
            G::MissingThoughtSignature,
        ] {
            match ending(Some(reason), Some("print(x")) {
                Err(TranslateError::UpstreamFinish { reason: r, message }) => {
                    assert_eq!(r, reason.as_str());
                    assert!(message.ends_with(&format!("(finishReason {r}): print(x")));
                }
                other => panic!("{reason:?} should be an error, got {other:?}"),
            }
        }
        let Err(TranslateError::UpstreamFinish { message, .. }) =
            ending(Some(G::MalformedFunctionCall), Some(""))
        else {
            panic!("MALFORMED_FUNCTION_CALL should be an error");
        };
        assert_eq!(
            message,
            "Gemini produced a malformed function call (finishReason MALFORMED_FUNCTION_CALL); retrying the request usually helps."
        );
    }

    /// An unknown reason is read, not refused, and decided like `STOP`.
    #[test]
    fn a_reason_newer_than_this_build_reads_as_unknown() {
        let reason: G = serde_json::from_str("\"SOMETHING_NEW_2027\"").unwrap();
        assert_eq!(reason, G::Unknown);
        assert_eq!(ending(Some(reason), None), Ok(Ending::Stop));
    }
}
