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

/// The signature sent with a function call of the history: the one the client sent back,
/// else the one remembered for the call's id, else (where the model wants one, and only
/// when `skip_allowed`) Google's documented skip value.
pub fn for_history_call(
    sent: Option<String>,
    id: &str,
    remembered: &dyn SignatureSource,
    skip_allowed: bool,
) -> Option<String> {
    sent.or_else(|| remembered.signature_for(id))
        .or_else(|| skip_allowed.then(|| SKIP_SIGNATURE.to_owned()))
}
