//! One JSON call to Gemini for the routes that read a whole answer (models, embeddings):
//! sent through the one upstream path ([`Upstream::whole`]: keys, retries, the request's
//! deadline, the wait recorded on its trace), a failure mapped to [`ApiError`], the body
//! parsed as the expected Gemini type.

use pollux_translate::TranslateError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::observe::Trace;
use crate::resilience::Deadline;
pub use crate::upstream::encode;
use crate::upstream::{Call, Upstream};

/// GETs (no body) or POSTs (a JSON body) `url` and parses the 2xx answer as `T`.
pub async fn gemini_json<T: DeserializeOwned>(
    upstream: &Upstream,
    call: Call<'_>,
    trace: &Trace,
    deadline: &Deadline,
) -> Result<T, ApiError> {
    let key = call.key;
    let bytes = upstream.whole(call, trace, deadline).await?;
    // serde's message may quote a piece of the body.
    serde_json::from_slice(&bytes).map_err(|e| {
        let error = ApiError::from(TranslateError::UpstreamFormat(e.to_string()));
        upstream.keys().redact_error(error, key)
    })
}
