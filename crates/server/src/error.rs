//! The server's one error type and its one exit to HTTP: every failure a client sees,
//! whether from parsing, translation, the upstream or routing, leaves through
//! [`ApiError`]'s `ResponseError` impl as OpenAI's envelope
//! `{"error": {"message", "type", "param", "code"}}`. `docs/errors.md` holds the table.

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use pollux_translate::gemini;
use pollux_translate::openai::{ErrorBody, ErrorEnvelope};
use pollux_translate::TranslateError;

use crate::failure::UpstreamFailure;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or asks for something that cannot be served.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<String>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    /// Something a request field names does not exist (a stored response, an item): 404
    /// naming the field.
    #[error("{message}")]
    NotFoundAt { message: String, param: String },
    #[error("Method {0} is not allowed on this route.")]
    MethodNotAllowed(String),
    #[error("The request body is larger than the {limit}-byte limit.")]
    PayloadTooLarge { limit: usize },
    /// An uploaded file (multipart) over the limit of the route.
    #[error("The uploaded file is larger than {limit} bytes, the most this route takes (OpenAI's limit too; docs/audio.md). Send a shorter or more compressed file (for example mp3).")]
    FileTooLarge { limit: usize },
    /// Gemini refused the request (400/401/403/404/429) or failed (5xx); its status is kept.
    #[error("{message}")]
    Upstream {
        status: u16,
        message: String,
        code: Option<String>,
        /// Seconds from Gemini's `RetryInfo`, sent as `Retry-After`.
        retry_after: Option<u64>,
    },
    /// Pollux could not use what the upstream did (a body that is not Gemini's, a refused
    /// or lost connection, an answer that does not translate).
    #[error("{message}")]
    BadGateway {
        message: String,
        code: Option<String>,
    },
    #[error("{0}")]
    GatewayTimeout(String),
    /// The shared state (`--state`, Redis) did not answer and the request needs it: 503.
    #[error("{0}")]
    StoreUnavailable(String),
    /// `--max-concurrent-upstream` requests are already in flight; refused, not queued.
    #[error("Too many requests in flight ({limit} at once); please retry shortly.")]
    ConcurrencyLimit { limit: usize },
    /// The request body did not arrive in time ([`crate::routes`]' body reader).
    #[error("{0}")]
    RequestTimeout(String),
    /// The `Host` header names no address this Pollux answers for ([`crate::guard`]).
    #[error("{0}")]
    HostNotAllowed(String),
    /// A browser `Origin` that CORS does not allow ([`crate::guard`]).
    #[error("{0}")]
    OriginNotAllowed(String),
    /// A body whose content type the route does not take ([`crate::guard`]).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The inspector answers only its own page: a `Host` that is not the listen address or a
    /// loopback name, or an `Origin` that is not the page's ([`crate::routes::inspector`]).
    #[error("{0}")]
    InspectorRefused(String),
}

impl ApiError {
    /// OpenAI's `type` for this error.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. }
            | ApiError::NotFound(_)
            | ApiError::NotFoundAt { .. }
            | ApiError::MethodNotAllowed(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::FileTooLarge { .. }
            | ApiError::RequestTimeout(_)
            | ApiError::HostNotAllowed(_)
            | ApiError::UnsupportedMediaType(_) => "invalid_request_error",
            ApiError::OriginNotAllowed(_) | ApiError::InspectorRefused(_) => "permission_error",
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::Upstream { status, .. } => match status {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                504 => "timeout_error",
                500..=599 => "upstream_error",
                _ => "invalid_request_error",
            },
            ApiError::BadGateway { .. } => "upstream_error",
            ApiError::GatewayTimeout(_) => "timeout_error",
            ApiError::StoreUnavailable(_) => "server_error",
            ApiError::ConcurrencyLimit { .. } => "rate_limit_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            ApiError::NotFoundAt { param, .. } => Some(param),
            _ => None,
        }
    }

    fn code(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { code, .. }
            | ApiError::Upstream { code, .. }
            | ApiError::BadGateway { code, .. } => code.as_deref(),
            ApiError::Unauthorized(_) => Some("invalid_api_key"),
            ApiError::NotFound(_) | ApiError::NotFoundAt { .. } => Some("not_found"),
            ApiError::MethodNotAllowed(_) => Some("method_not_allowed"),
            ApiError::PayloadTooLarge { .. } | ApiError::FileTooLarge { .. } => {
                Some("payload_too_large")
            }
            ApiError::GatewayTimeout(_) => Some("upstream_timeout"),
            ApiError::StoreUnavailable(_) => Some("store_unavailable"),
            ApiError::ConcurrencyLimit { .. } => Some("concurrency_limit"),
            ApiError::RequestTimeout(_) => Some("request_timeout"),
            ApiError::HostNotAllowed(_) => Some("host_not_allowed"),
            ApiError::OriginNotAllowed(_) => Some("origin_not_allowed"),
            ApiError::UnsupportedMediaType(_) => Some("unsupported_media_type"),
            ApiError::InspectorRefused(_) => Some("inspector_refused"),
        }
    }

    /// The envelope as JSON bytes: the body of an error response, or the payload of an
    /// in-band `data:` event once a stream has started.
    pub fn envelope(&self) -> Bytes {
        let message = self.to_string();
        let envelope = ErrorEnvelope {
            error: ErrorBody {
                message: &message,
                kind: self.kind(),
                param: self.param(),
                code: self.code(),
            },
        };
        // Serializing plain strings cannot fail; fall back to a fixed body to be safe.
        serde_json::to_vec(&envelope)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#))
    }

    /// Maps a non-2xx upstream answer given as bytes (see [`From<UpstreamFailure>`]).
    pub fn from_upstream(status: u16, body: &[u8]) -> ApiError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        UpstreamFailure::from_answer(status, HeaderMap::new(), Bytes::copy_from_slice(body)).into()
    }

    /// The same error with `f` applied to its message (see `Keys::redact_error`).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> ApiError {
        match self {
            ApiError::InvalidRequest {
                message,
                param,
                code,
            } => ApiError::InvalidRequest {
                message: f(message),
                param,
                code,
            },
            ApiError::Unauthorized(message) => ApiError::Unauthorized(f(message)),
            ApiError::NotFound(message) => ApiError::NotFound(f(message)),
            ApiError::NotFoundAt { message, param } => ApiError::NotFoundAt {
                message: f(message),
                param,
            },
            ApiError::Upstream {
                status,
                message,
                code,
                retry_after,
            } => ApiError::Upstream {
                status,
                message: f(message),
                code,
                retry_after,
            },
            ApiError::BadGateway { message, code } => ApiError::BadGateway {
                message: f(message),
                code,
            },
            ApiError::GatewayTimeout(message) => ApiError::GatewayTimeout(f(message)),
            // Pollux's own refusals: their text never quotes the upstream.
            other @ (ApiError::MethodNotAllowed(_)
            | ApiError::StoreUnavailable(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::FileTooLarge { .. }
            | ApiError::ConcurrencyLimit { .. }
            | ApiError::RequestTimeout(_)
            | ApiError::HostNotAllowed(_)
            | ApiError::OriginNotAllowed(_)
            | ApiError::InspectorRefused(_)
            | ApiError::UnsupportedMediaType(_)) => other,
        }
    }

    /// The error Gemini wrote into a stream after its 200 (a bare JSON error object).
    pub fn from_stream_error(text: &str) -> ApiError {
        match serde_json::from_str::<gemini::ErrorResponse>(text.trim()) {
            Ok(e) => UpstreamFailure::in_stream(e).into(),
            Err(_) => ApiError::BadGateway {
                message: "The upstream stream contained data that is not an SSE event.".to_owned(),
                code: Some("upstream_error".to_owned()),
            },
        }
    }
}

/// How Gemini's failures reach the client. Gemini's own status is kept (a 503 stays a 503,
/// with `Retry-After` when its `RetryInfo` gave a delay), so clients and alerting can tell
/// "Gemini is overloaded" from "the gateway got garbage": 502 is only for what Pollux could
/// not use (a body that is not a Gemini error, a refused or broken connection, no valid key).
impl From<UpstreamFailure> for ApiError {
    fn from(failure: UpstreamFailure) -> Self {
        match failure {
            UpstreamFailure::Refused {
                status,
                error,
                retry_after,
                ..
            } => {
                let err = error.error;
                let code = (!err.status.is_empty()).then(|| err.status.to_ascii_lowercase());
                if err.reason() == Some("API_KEY_INVALID") {
                    return ApiError::Upstream {
                        status: 401,
                        message: err.message,
                        code: Some("invalid_api_key".to_owned()),
                        retry_after: None,
                    };
                }
                match status.as_u16() {
                    // OpenAI's code for a prompt past the context window: clients compact
                    // the conversation on it (Codex does).
                    400 if err.message.contains("exceeds the maximum number of tokens") => {
                        ApiError::InvalidRequest {
                            message: err.message,
                            param: None,
                            code: Some("context_length_exceeded".to_owned()),
                        }
                    }
                    // OpenAI's wording, which clients read the wait from (Codex does).
                    429 => ApiError::Upstream {
                        status: 429,
                        message: match retry_after {
                            Some(secs) => format!(
                                "{} Please try again in {secs}s.",
                                err.message.trim_end()
                            ),
                            None => err.message,
                        },
                        retry_after,
                        code,
                    },
                    status @ (400 | 401 | 403 | 404) => ApiError::Upstream {
                        status,
                        retry_after: None,
                        code,
                        message: err.message,
                    },
                    status @ 500..=599 => ApiError::Upstream {
                        status,
                        retry_after: if status == 503 { retry_after } else { None },
                        message: format!(
                            "Gemini failed (HTTP {status} {}): {}",
                            err.status, err.message
                        ),
                        code,
                    },
                    // Other client statuses (409, 413, ...) are passed through as invalid
                    // requests.
                    _ => ApiError::InvalidRequest {
                        message: err.message,
                        param: None,
                        code,
                    },
                }
            }
            UpstreamFailure::Unparseable { status, .. } => ApiError::BadGateway {
                message: format!(
                    "The upstream answered HTTP {} with a body that is not a Gemini error.",
                    status.as_u16()
                ),
                code: Some("upstream_error".to_owned()),
            },
            UpstreamFailure::Connect(e) => ApiError::BadGateway {
                message: format!("Could not connect to the upstream: {e}"),
                code: Some("upstream_unreachable".to_owned()),
            },
            UpstreamFailure::Timeout { connecting: false } => {
                ApiError::GatewayTimeout("The upstream did not answer in time.".to_owned())
            }
            UpstreamFailure::Timeout { connecting: true } => {
                ApiError::GatewayTimeout("Connecting to the upstream timed out.".to_owned())
            }
            UpstreamFailure::Broken(message) => ApiError::BadGateway {
                message,
                code: Some("upstream_error".to_owned()),
            },
            UpstreamFailure::NoKeys => ApiError::BadGateway {
                message:
                    "Pollux has no valid upstream API key left: Gemini rejected every configured key."
                        .to_owned(),
                code: Some("upstream_keys_invalid".to_owned()),
            },
            UpstreamFailure::Deadline { limit_secs } => ApiError::GatewayTimeout(format!(
                "The request exceeded Pollux's overall time limit of {limit_secs} seconds."
            )),
            UpstreamFailure::Credentials(message) => ApiError::Upstream {
                status: 503,
                message,
                code: Some("upstream_credentials".to_owned()),
                retry_after: None,
            },
        }
    }
}

impl From<TranslateError> for ApiError {
    fn from(err: TranslateError) -> Self {
        match err {
            TranslateError::InvalidRequest {
                message,
                param,
                code,
            } => ApiError::InvalidRequest {
                message,
                param,
                code: code.map(str::to_owned),
            },
            TranslateError::UpstreamFormat(_) | TranslateError::StreamIncomplete => {
                ApiError::BadGateway {
                    message: err.to_string(),
                    code: Some("upstream_error".to_owned()),
                }
            }
            TranslateError::UpstreamFinish { reason, message } => ApiError::BadGateway {
                message,
                code: Some(reason.to_ascii_lowercase()),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) | ApiError::NotFoundAt { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } | ApiError::FileTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ConcurrencyLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::HostNotAllowed(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::OriginNotAllowed(_) | ApiError::InspectorRefused(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/json");
        // Gemini's `RetryInfo` delay, on a 429 or a 503.
        if let ApiError::Upstream {
            retry_after: Some(secs),
            ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let ApiError::ConcurrencyLimit { .. } = self {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.body(self.envelope())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn upstream_429_keeps_status_and_retry_after() {
        let body = json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}});
        let err = ApiError::from_upstream(429, body.to_string().as_bytes());
        let resp = err.error_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "7");
        let env: Value = serde_json::from_slice(&err.envelope()).unwrap();
        assert_eq!(
            env,
            json!({"error": {"message": "Quota exceeded Please try again in 7s.", "type": "rate_limit_error", "param": null, "code": "resource_exhausted"}})
        );
    }

    /// Gemini's "input token count exceeds the maximum" is OpenAI's
    /// `context_length_exceeded`, the code clients compact their conversation on.
    #[test]
    fn a_prompt_past_the_context_window_is_context_length_exceeded() {
        let body = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."}});
        let err = ApiError::from_upstream(400, body.to_string().as_bytes());
        assert_eq!(err.status_code(), 400);
        let env: Value = serde_json::from_slice(&err.envelope()).unwrap();
        assert_eq!(env["error"]["code"], "context_length_exceeded");
        assert_eq!(env["error"]["type"], "invalid_request_error");
        assert!(env["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(1048576)"));
    }

    #[test]
    fn html_is_502_and_gemini_5xx_keep_their_status() {
        for status in [500, 502, 503] {
            assert_eq!(
                ApiError::from_upstream(status, b"<html>bad gateway</html>").status_code(),
                502
            );
        }
        for (status, name, kind) in [
            (500, "INTERNAL", "upstream_error"),
            (503, "UNAVAILABLE", "upstream_error"),
            (504, "DEADLINE_EXCEEDED", "timeout_error"),
        ] {
            let body = json!({"error": {"code": status, "message": "The model is overloaded.", "status": name}});
            let err = ApiError::from_upstream(status, body.to_string().as_bytes());
            assert_eq!(err.status_code(), status);
            assert!(err.to_string().contains("overloaded"));
            let env: Value = serde_json::from_slice(&err.envelope()).unwrap();
            assert_eq!(env["error"]["type"], kind);
            assert_eq!(env["error"]["code"], name.to_ascii_lowercase());
            assert!(err.error_response().headers().get("retry-after").is_none());
        }
        let body = json!({"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]}});
        let resp = ApiError::from_upstream(503, body.to_string().as_bytes()).error_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "3");
    }

    #[test]
    fn invalid_key_is_401() {
        let body = json!({"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}});
        assert_eq!(
            ApiError::from_upstream(400, body.to_string().as_bytes()).status_code(),
            401
        );
    }
}
