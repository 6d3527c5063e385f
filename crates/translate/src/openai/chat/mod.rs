//! OpenAI Chat Completions wire types, named as the OpenAI API reference names them
//! (<https://platform.openai.com/docs/api-reference/chat>). Requests are read leniently:
//! fields Gemini has no use for are accepted and ignored (the policy for each is listed in
//! `docs/mapping.md`). Responses are written exactly: absent and `null` are different things
//! to strict clients, and the tests assert which is which.

mod request;
mod response;

pub use request::*;
pub use response::*;
