//! What a request can fail with, the HTTP status each failure answers, and the JSON error body.
//!
//! Every error body has one shape: `{"error": {"code", "message", "bridge", "request_id"}}`
//! with `details` (422) or `upstream_status` (upstream 4xx/5xx) inside `error` where they
//! apply. Messages are plain words, never a stack trace, a URL or a secret.

use http::StatusCode;
use serde::Serialize;

use crate::stages::auth::Unauthorized;
use crate::stages::fetch::FetchError;
use crate::stages::intake::IntakeError;
use crate::stages::map::MapError;
use crate::stages::validate::{FieldProblem, InputError};

/// Everything a request can fail with: the route's and the admission's own errors, and each
/// stage's, which carry their own status and code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("no bridge serves this path")]
    NotFound,
    #[error("this path answers {allow} only")]
    MethodNotAllowed { allow: String },
    #[error("the request headers are too large: at most {count} headers and {bytes} bytes")]
    HeadersTooLarge { count: usize, bytes: usize },
    #[error("this bridge is answering {limit} requests already; retry shortly")]
    Overloaded { limit: usize },
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Map(#[from] MapError),
}

impl RequestError {
    pub fn status(&self) -> StatusCode {
        use RequestError::*;
        match self {
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Unauthorized(e) => e.status(),
            Intake(e) => e.status(),
            Input(e) => e.status(),
            Fetch(e) => e.status(),
            Map(e) => e.status(),
        }
    }

    pub fn code(&self) -> &'static str {
        use RequestError::*;
        match self {
            NotFound => "not_found",
            MethodNotAllowed { .. } => "method_not_allowed",
            HeadersTooLarge { .. } => "headers_too_large",
            Overloaded { .. } => "overloaded",
            Unauthorized(e) => e.code(),
            Intake(e) => e.code(),
            Input(e) => e.code(),
            Fetch(e) => e.code(),
            Map(e) => e.code(),
        }
    }

    /// The kind of upstream failure behind this error, for the metrics.
    pub fn upstream_failure(&self) -> Option<&'static str> {
        match self {
            RequestError::Fetch(e) => Some(e.kind()),
            RequestError::Map(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// For a 422, the names of the fields with a problem, comma-separated, each once, in the
    /// order of the `details`: for the log line. Names come from the bridge's input contract;
    /// never a value.
    pub fn fields(&self) -> Option<String> {
        let RequestError::Input(InputError(problems)) = self else {
            return None;
        };
        let mut names: Vec<&str> = Vec::with_capacity(problems.len());
        for p in problems {
            if !p.field.is_empty() && !names.contains(&p.field.as_str()) {
                names.push(&p.field);
            }
        }
        (!names.is_empty()).then(|| names.join(","))
    }

    /// The JSON error body.
    pub fn to_json(&self, bridge: Option<&str>, request_id: &str) -> Vec<u8> {
        let details = match self {
            RequestError::Input(InputError(problems)) => Some(problems.as_slice()),
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
                    RequestError::Map(MapError::Status(s)) => Some(s.as_u16()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_names_each_field_at_fault_once_and_only_for_input_errors() {
        let error = RequestError::Input(InputError(vec![
            FieldProblem::new("user_id", "must be at least 1"),
            FieldProblem::new("email", "is required"),
            FieldProblem::new("user_id", "must be an integer"),
            FieldProblem::new("", "the upstream URL could not be built safely"),
        ]));
        assert_eq!(error.fields().as_deref(), Some("user_id,email"));
        let unnamed = RequestError::Input(InputError(vec![FieldProblem::new("", "x")]));
        assert_eq!(unnamed.fields(), None);
        assert_eq!(RequestError::NotFound.fields(), None);
    }
}
