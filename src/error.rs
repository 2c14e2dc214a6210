//! What a request can fail with, the HTTP status each failure answers, and the JSON error body.
//!
//! Every error body has one shape: `{"error": {"code", "message", "bridge", "request_id"}}`
//! with `details` (422) or `upstream_status` (upstream 4xx/5xx) inside `error` where they
//! apply. Messages are plain words, never a stack trace, a URL or a secret.

use http::StatusCode;
use serde::Serialize;

use crate::fetch::FetchError;
use crate::map::MappingError;
use crate::validate::FieldProblem;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("no bridge serves this path")]
    NotFound,
    #[error("this path answers {allow} only")]
    MethodNotAllowed { allow: String },
    #[error("missing or wrong credentials")]
    Unauthorized,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error(
        "Content-Type `{0}` is not accepted: send application/json or application/x-www-form-urlencoded"
    )]
    UnsupportedMediaType(String),
    #[error("the request body nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("the request headers are too large: at most {count} headers and {bytes} bytes")]
    HeadersTooLarge { count: usize, bytes: usize },
    #[error("this bridge is answering {limit} requests already; retry shortly")]
    Overloaded { limit: usize },
    #[error("the request body could not be read")]
    BodyUnreadable,
    #[error(
        "the request body did not arrive in full within {}",
        humantime::format_duration(*.timeout)
    )]
    BodyTimeout { timeout: std::time::Duration },
    #[error("the request body is empty: send a JSON object")]
    EmptyBody,
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("the input does not meet the bridge's input contract")]
    InvalidInput(Vec<FieldProblem>),
    #[error("the upstream answered {0}")]
    UpstreamStatus(StatusCode),
    #[error("the upstream answered with a redirect ({0}), which is never followed")]
    UpstreamRedirect(StatusCode),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the upstream answer is not JSON")]
    UpstreamNotJson,
    #[error("the upstream answer could not be mapped: {0}")]
    Mapping(#[from] MappingError),
}

impl RequestError {
    pub fn status(&self) -> StatusCode {
        use RequestError::*;
        match self {
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Unauthorized => StatusCode::UNAUTHORIZED,
            PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyUnreadable | EmptyBody | InvalidJson(_) | NotAnObject(_) | TooDeep { .. } => {
                StatusCode::BAD_REQUEST
            }
            Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            UpstreamStatus(status) => *status,
            Fetch(FetchError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            UpstreamRedirect(_) | Fetch(_) | UpstreamNotJson | Mapping(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    pub fn code(&self) -> &'static str {
        use RequestError::*;
        match self {
            NotFound => "not_found",
            MethodNotAllowed { .. } => "method_not_allowed",
            Unauthorized => "unauthorized",
            PayloadTooLarge { .. } => "payload_too_large",
            UnsupportedMediaType(_) => "unsupported_media_type",
            BodyUnreadable => "body_unreadable",
            BodyTimeout { .. } => "body_timeout",
            TooDeep { .. } => "too_deep",
            Overloaded { .. } => "overloaded",
            HeadersTooLarge { .. } => "headers_too_large",
            EmptyBody => "empty_body",
            InvalidJson(_) => "invalid_json",
            NotAnObject(_) => "not_an_object",
            InvalidInput(_) => "invalid_input",
            UpstreamStatus(_) => "upstream_status",
            UpstreamRedirect(_) => "upstream_redirect",
            Fetch(FetchError::Timeout(_)) => "upstream_timeout",
            Fetch(FetchError::Connect) => "upstream_unreachable",
            Fetch(FetchError::TooLarge(_)) => "upstream_too_large",
            Fetch(FetchError::Failed(_)) => "upstream_failed",
            UpstreamNotJson => "upstream_not_json",
            Mapping(_) => "mapping_failed",
        }
    }

    /// The kind of upstream failure behind this error, for the metrics.
    pub fn upstream_failure(&self) -> Option<&'static str> {
        use RequestError::*;
        match self {
            Fetch(FetchError::Timeout(_)) => Some("timeout"),
            Fetch(FetchError::Connect) => Some("connect"),
            Fetch(FetchError::TooLarge(_)) => Some("too_large"),
            Fetch(FetchError::Failed(_)) => Some("failed"),
            UpstreamStatus(_) => Some("status"),
            UpstreamRedirect(_) => Some("redirect"),
            UpstreamNotJson => Some("invalid_json"),
            Mapping(_) => Some("mapping"),
            _ => None,
        }
    }

    /// The JSON error body.
    pub fn to_json(&self, bridge: Option<&str>, request_id: &str) -> Vec<u8> {
        let details = match self {
            RequestError::InvalidInput(problems) => Some(problems.as_slice()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorFields {
                code: self.code(),
                message: self.to_string(),
                bridge,
                request_id,
                details,
                upstream_status: match self {
                    RequestError::UpstreamStatus(s) => Some(s.as_u16()),
                    _ => None,
                },
            },
        };
        serde_json::to_vec(&body)
            .unwrap_or_else(|_| b"{\"error\":{\"code\":\"internal\"}}".to_vec())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bridge: Option<&'a str>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a [FieldProblem]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_status: Option<u16>,
}
