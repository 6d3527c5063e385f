//! Gemini's `logprobsResult` (<https://ai.google.dev/api/generate-content#LogprobsResult>) as
//! OpenAI's token log probabilities, for every dialect. Gemini lists the top candidates per
//! position; `bytes` are the token's UTF-8 bytes, as OpenAI gives them.

use crate::gemini;
use crate::openai::logprobs::{TokenLogprob, TopLogprob};

pub fn token_logprobs(result: &gemini::LogprobsResult) -> Vec<TokenLogprob> {
    result
        .chosen_candidates
        .iter()
        .enumerate()
        .map(|(i, chosen)| TokenLogprob {
            token: chosen.token.clone(),
            logprob: chosen.log_probability,
            bytes: chosen.token.as_bytes().to_vec(),
            top_logprobs: result
                .top_candidates
                .get(i)
                .map(|top| {
                    top.candidates
                        .iter()
                        .map(|c| TopLogprob {
                            token: c.token.clone(),
                            logprob: c.log_probability,
                            bytes: c.token.as_bytes().to_vec(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}
