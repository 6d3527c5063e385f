//! Gemini's `usageMetadata` (<https://ai.google.dev/api/generate-content#UsageMetadata>)
//! counted the way OpenAI bills, for every dialect to write in its own field names.

use crate::gemini;

/// Token counts in OpenAI's terms.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens, tool-use prompt tokens included.
    pub input: u64,
    /// Answer tokens, thinking included (it is billed as output).
    pub output: u64,
    pub total: u64,
    /// Of `input`, those served from the context cache.
    pub cached: u64,
    /// Of `output`, those spent thinking.
    pub reasoning: u64,
}

pub fn tokens(u: &gemini::UsageMetadata) -> Tokens {
    let input = u.prompt_token_count + u.tool_use_prompt_token_count;
    let output = u.candidates_token_count + u.thoughts_token_count;
    Tokens {
        input,
        output,
        total: input + output,
        cached: u.cached_content_token_count,
        reasoning: u.thoughts_token_count,
    }
}
