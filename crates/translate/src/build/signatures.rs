//! Thought signatures: where a function call's signature comes from when Pollux writes the
//! conversation history back to Gemini (<https://ai.google.dev/gemini-api/docs/thought-signatures>).

/// Google's documented value for a function call whose real signature is unknown
/// (history written by another model or a client that dropped it).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Where earlier answers' thought signatures can be found when the client dropped them.
pub trait SignatureSource {
    fn signature_for(&self, tool_call_id: &str) -> Option<String>;
}

/// No remembered signatures.
impl SignatureSource for () {
    fn signature_for(&self, _: &str) -> Option<String> {
        None
    }
}
