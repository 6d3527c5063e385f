//! What every dialect adds to the `GenerateContentRequest` it mapped, from
//! `extra_body.google` and the server's options: safety settings, a cached content (and,
//! naming one, leaving out what it holds: [`cache`](crate::build::cache)), and on Vertex AI
//! its differences ([`vertex`](crate::build::vertex)).

use serde_json::{Map, Value};

use crate::build::cache::omit_cached_fields;
use crate::build::options::{Dialect, RequestOptions};
use crate::build::safety::safety_settings;
use crate::build::vertex;
use crate::gemini::GenerateContentRequest;
use crate::openai::GoogleOptions;
use crate::TranslateError;

/// Completes `body` (contents, tools, generation settings already mapped); `metadata` is the
/// request's own, a source of Vertex AI labels.
pub(crate) fn finish_body(
    body: &mut GenerateContentRequest,
    google: Option<&GoogleOptions>,
    metadata: Option<&Map<String, Value>>,
    opts: &RequestOptions<'_>,
) -> Result<(), TranslateError> {
    body.safety_settings = safety_settings(
        google.and_then(|g| g.safety_settings.as_deref()),
        opts.default_safety_settings,
    );
    body.cached_content = google.and_then(|g| g.cached_content.clone());
    omit_cached_fields(body);
    if opts.dialect == Dialect::Vertex {
        vertex::adapt(body, google.and_then(|g| g.labels.as_ref()), metadata)?;
    }
    Ok(())
}
