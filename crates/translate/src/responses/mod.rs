//! The Responses dialect: a [`CreateResponse`](crate::openai::responses::CreateResponse)
//! mapped to Gemini ([`request`]), and Gemini's answer turned into a response object and its
//! stream events by one state machine ([`stream`]; the unstreamed answer is that machine run
//! without events, [`response`], so both end in the same object). Thought signatures travel
//! in reasoning items ([`envelope`]). The rules shared with Chat Completions live in
//! [`build`](crate::build).

pub mod envelope;
pub mod items;
pub mod request;
pub mod response;
pub mod stream;

use std::collections::HashMap;

pub use items::stored_json;
pub use request::{remote_media, to_gemini, OutputOptions, Translated};
pub use response::{to_response, ResponseContext};
pub use stream::StreamTranslator;

/// How a call to one client tool is written back: as a `function_call` or a
/// `custom_tool_call`, and inside which namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallShape {
    pub namespace: Option<String>,
    /// The tool's own name (inside its namespace).
    pub name: String,
    pub custom: bool,
}

/// The shapes of the declared tools that are not plain top-level functions, by the name the
/// tool was registered under ([`CallShapes::qualified`]).
#[derive(Debug, Clone, Default)]
pub struct CallShapes {
    by_name: HashMap<String, CallShape>,
}

impl CallShapes {
    /// The one name a namespace member is declared to Gemini under (Gemini's function list is
    /// flat): `namespace__name`, or `namespacename` when the namespace already ends in `__`.
    pub fn qualified(namespace: Option<&str>, name: &str) -> String {
        match namespace {
            None | Some("") => name.to_owned(),
            Some(ns) if ns.ends_with("__") => format!("{ns}{name}"),
            Some(ns) => format!("{ns}__{name}"),
        }
    }

    pub(crate) fn insert(&mut self, qualified: String, shape: CallShape) {
        if shape.custom || shape.namespace.is_some() {
            self.by_name.insert(qualified, shape);
        }
    }

    /// The shape of a call to `client_name` (a plain function when nothing was recorded).
    pub fn get(&self, client_name: &str) -> Option<&CallShape> {
        self.by_name.get(client_name)
    }
}
