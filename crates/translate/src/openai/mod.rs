//! OpenAI Chat Completions wire types, named as the OpenAI API reference names them
//! (<https://platform.openai.com/docs/api-reference/chat>). Requests are read leniently:
//! fields Gemini has no use for are accepted and ignored (the policy for each is listed in
//! `docs/mapping.md`). Responses are written exactly: absent and `null` are different things
//! to strict clients, and the tests assert which is which.

mod embeddings;
mod limits;
mod models;
mod request;
mod response;
mod tagged;

pub use embeddings::*;
pub use limits::Limits;
pub use models::*;
pub use request::*;
pub use response::*;
