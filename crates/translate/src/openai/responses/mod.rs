//! The Responses API's wire types (<https://platform.openai.com/docs/api-reference/responses>):
//! the `POST /v1/responses` body ([`request`]), the response object and its output items
//! ([`response`]) and the stream events ([`events`]).

pub mod events;
pub mod request;
pub mod response;

pub use events::{EventBody, StreamEvent};
pub use request::*;
pub use response::*;
