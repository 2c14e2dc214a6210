//! Stage *intake*: the inbound request body, before validation: its content type, its size and
//! time limits, its nesting depth, and its parse into a flat object.
//!
//! Chunked bodies (which Genesys sends) are read like any other, and the size limit counts
//! the bytes actually received, not a `Content-Length` that may be absent or false.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};

use crate::json::json_type_name;

/// What a request body may be: how large, how slow, how deep.
#[derive(Debug, Clone, Copy)]
pub struct IntakeLimits {
    pub max_body: usize,
    pub body_timeout: Duration,
    pub max_json_depth: usize,
}

/// Why a request body was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error(
        "Content-Type `{0}` is not accepted: send application/json or application/x-www-form-urlencoded"
    )]
    UnsupportedMediaType(String),
    #[error("the request body nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("the request body could not be read")]
    BodyUnreadable,
    #[error(
        "the request body did not arrive in full within {}",
        humantime::format_duration(*.timeout)
    )]
    BodyTimeout { timeout: Duration },
    #[error("the request body is empty: send a JSON object")]
    EmptyBody,
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body must be a JSON object, not {0}")]
    NotAnObject(&'static str),
}

impl IntakeError {
    pub fn status(&self) -> StatusCode {
        use IntakeError::*;
        match self {
            PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            TooDeep { .. } | BodyUnreadable | EmptyBody | InvalidJson(_) | NotAnObject(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    pub fn code(&self) -> &'static str {
        use IntakeError::*;
        match self {
            PayloadTooLarge { .. } => "payload_too_large",
            UnsupportedMediaType(_) => "unsupported_media_type",
            TooDeep { .. } => "too_deep",
            BodyUnreadable => "body_unreadable",
            BodyTimeout { .. } => "body_timeout",
            EmptyBody => "empty_body",
            InvalidJson(_) => "invalid_json",
            NotAnObject(_) => "not_an_object",
        }
    }
}

/// A whole request body, read within the limits, and its encoding.
#[derive(Debug)]
pub struct Intake {
    pub encoding: Encoding,
    pub bytes: Bytes,
}

impl Intake {
    /// Reads the body of a request with `headers`: its encoding first (no body is read for a
    /// content type that will be refused), then the bytes, then, for JSON, its depth.
    pub async fn read<B>(
        headers: &HeaderMap,
        body: B,
        limits: &IntakeLimits,
    ) -> Result<Self, IntakeError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let encoding = Encoding::of(headers)?;
        let bytes = read_body(body, headers, limits.max_body, limits.body_timeout).await?;
        if encoding == Encoding::Json {
            check_depth(&bytes, limits.max_json_depth)?;
        }
        Ok(Intake { encoding, bytes })
    }

    pub fn parse(&self) -> Result<Inbound, IntakeError> {
        Inbound::parse(self.encoding, &self.bytes)
    }
}

/// A request body, parsed but not yet validated.
#[derive(Debug)]
pub enum Inbound {
    /// A JSON object.
    Json(Map<String, Value>),
    /// `application/x-www-form-urlencoded` pairs, each converted to its field's type later.
    Form(Vec<(String, String)>),
}

/// How a body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

impl Encoding {
    /// JSON when the header is absent; 415 for anything but JSON (`+json` too) or form data.
    pub fn of(headers: &HeaderMap) -> Result<Self, IntakeError> {
        let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
            return Ok(Encoding::Json);
        };
        let text = String::from_utf8_lossy(value.as_bytes());
        let media = text
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json" => Ok(Encoding::Json),
            "application/x-www-form-urlencoded" => Ok(Encoding::Form),
            m if m.starts_with("application/") && m.ends_with("+json") => Ok(Encoding::Json),
            _ => Err(IntakeError::UnsupportedMediaType(
                text.chars().take(100).collect(),
            )),
        }
    }
}

/// Reads the whole body, refusing it as soon as it passes `limit` bytes or once `timeout` has
/// passed: a caller that stops mid-body must not hold its connection and buffer forever.
pub async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, IntakeError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(IntakeError::PayloadTooLarge { limit });
    }
    let Ok(read) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await else {
        return Err(IntakeError::BodyTimeout { timeout });
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(IntakeError::PayloadTooLarge { limit })
        }
        Err(_) => Err(IntakeError::BodyUnreadable),
    }
}

/// Refuses JSON nested deeper than `limit` before parsing it, so a hostile body costs one linear
/// scan and no recursion.
pub fn check_depth(body: &[u8], limit: usize) -> Result<(), IntakeError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                if depth > limit {
                    return Err(IntakeError::TooDeep { limit });
                }
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

impl Inbound {
    pub fn parse(encoding: Encoding, body: &[u8]) -> Result<Self, IntakeError> {
        match encoding {
            Encoding::Json => Self::parse_json(body),
            Encoding::Form => Ok(Inbound::Form(
                form_urlencoded::parse(body).into_owned().collect(),
            )),
        }
    }

    pub fn parse_json(body: &[u8]) -> Result<Self, IntakeError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(IntakeError::EmptyBody);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Inbound::Json(map)),
            Ok(other) => Err(IntakeError::NotAnObject(json_type_name(&other))),
            Err(e) => Err(IntakeError::InvalidJson(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, value.parse().unwrap());
        h
    }

    #[test]
    fn content_types() {
        assert_eq!(Encoding::of(&HeaderMap::new()).unwrap(), Encoding::Json);
        assert_eq!(
            Encoding::of(&ct("application/json; charset=utf-8")).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            Encoding::of(&ct("application/vnd.api+json")).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            Encoding::of(&ct("application/x-www-form-urlencoded")).unwrap(),
            Encoding::Form
        );
        assert_eq!(
            Encoding::of(&ct("text/plain")).unwrap_err().code(),
            "unsupported_media_type"
        );
    }

    #[test]
    fn bodies_that_are_not_objects() {
        for (body, code) in [
            (&b""[..], "empty_body"),
            (b"  ", "empty_body"),
            (b"{", "invalid_json"),
            (b"[1]", "not_an_object"),
            (b"\"x\"", "not_an_object"),
        ] {
            assert_eq!(Inbound::parse_json(body).unwrap_err().code(), code);
        }
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert!(check_depth(br#"{"a": {"b": [1, {"c": 2}]}}"#, 4).is_ok());
        assert!(check_depth(br#"{"a": {"b": [1, {"c": 2}]}}"#, 3).is_err());
        assert!(check_depth(br#"{"a": "[[[[[[{{{{\"[["}"#, 1).is_ok());
        let deep = "[".repeat(10_000);
        assert_eq!(
            check_depth(deep.as_bytes(), 50).unwrap_err().code(),
            "too_deep"
        );
    }

    #[test]
    fn form_bodies_decode_plus_and_percent() {
        let Inbound::Form(pairs) = Inbound::parse(Encoding::Form, b"q=a+b%26c&n=1").unwrap() else {
            panic!("expected form pairs")
        };
        assert_eq!(
            pairs,
            [
                ("q".to_owned(), "a b&c".to_owned()),
                ("n".to_owned(), "1".to_owned())
            ]
        );
    }
}
