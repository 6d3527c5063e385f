//! Reading inbound OpenAI JSON bodies, shared by every OpenAI endpoint: the 400s for a body
//! that is not JSON or not a valid request, naming the offending field (`param`).

use crate::TranslateError;

/// Parses a JSON request body, naming the offending field in the error (`param`). Shared by
/// every inbound OpenAI body.
///
/// Tracking the path costs about a fifth of a parse on every request, so a body is first
/// parsed plainly and only a body that fails is parsed again to find where; both parses see
/// the same bytes and fail the same way.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, TranslateError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => parse_body_tracked(body),
    }
}

/// [`parse_body`]'s slow path: the parse again, with the path of the failure. Like
/// `serde_json::from_slice` it refuses anything but whitespace after the value, so a body the
/// fast path refused for trailing data is refused here too.
pub(crate) fn parse_body_tracked<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, TranslateError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = err.path().to_string();
        let param = (path != "." && !path.is_empty()).then_some(path);
        body_error(err.into_inner(), param)
    })?;
    de.end().map_err(|err| body_error(err, None))?;
    Ok(value)
}

/// The 400 for a body that is not JSON (`invalid_json`) or not a valid request
/// (`invalid_value`, naming `param` when known).
pub(crate) fn body_error(inner: serde_json::Error, param: Option<String>) -> TranslateError {
    let syntax = inner.is_syntax() || inner.is_eof();
    let message = if syntax {
        format!("We could not parse the JSON body of your request: {inner}")
    } else {
        match &param {
            Some(p) => format!("Invalid value for '{p}': {inner}"),
            None => format!("Invalid request body: {inner}"),
        }
    };
    TranslateError::InvalidRequest {
        message,
        param,
        code: Some(if syntax {
            "invalid_json"
        } else {
            "invalid_value"
        }),
    }
}
