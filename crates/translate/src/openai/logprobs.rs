//! Token log probabilities as every OpenAI API writes them: Chat Completions'
//! `choices[].logprobs.content` and the Responses API's `output_text.logprobs` use the same
//! object (`token`, `logprob`, the token's UTF-8 `bytes`, and its `top_logprobs`).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
    pub bytes: Vec<u8>,
}
