//! Gemini's safety system on both sides of a call: the `safetySettings` sent
//! (<https://ai.google.dev/gemini-api/docs/safety-settings>) and the refusal text a client
//! reads when Gemini blocked the prompt or withheld an answer. Each text is written here
//! once, for plain answers and streams of every dialect alike.

use serde_json::value::RawValue;

use crate::gemini;

/// The `safetySettings` to send: the client's own, else the server's default, else none.
pub fn safety_settings(
    client: Option<&RawValue>,
    server_default: Option<&RawValue>,
) -> Option<Box<RawValue>> {
    client.or(server_default).map(ToOwned::to_owned)
}

/// The refusal for a prompt Gemini blocked (`promptFeedback.blockReason`, no candidates).
pub fn blocked_prompt_refusal(block_reason: &str) -> String {
    format!("The prompt was blocked by Gemini (blockReason: {block_reason}).")
}

/// The refusal for an answer Gemini stopped for content reasons before any text.
pub fn content_filter_refusal(reason: Option<gemini::FinishReason>) -> String {
    format!(
        "Gemini stopped the answer for content reasons (finishReason {}).",
        reason.map_or("unknown", gemini::FinishReason::as_str)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts golden fixtures and clients see, pinned here where they are written.
    #[test]
    fn refusal_texts() {
        assert_eq!(
            blocked_prompt_refusal("PROHIBITED_CONTENT"),
            "The prompt was blocked by Gemini (blockReason: PROHIBITED_CONTENT)."
        );
        assert_eq!(
            content_filter_refusal(Some(gemini::FinishReason::Safety)),
            "Gemini stopped the answer for content reasons (finishReason SAFETY)."
        );
        assert_eq!(
            content_filter_refusal(None),
            "Gemini stopped the answer for content reasons (finishReason unknown)."
        );
    }
}
