//! The inbound request body, before validation: its content type, its size limit, and its
//! parse into a flat object.
//!
//! Chunked bodies (which Genesys sends) are read like any other, and the size limit counts
//! the bytes actually received, not a `Content-Length` that may be absent or false.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::validate::json_type_name;

pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// How long a caller may take to send its whole body once its headers are in.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The request id header: taken from the caller when it sends a usable one, else made up,
/// and passed upstream and back in the reply.
pub const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

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
    pub fn of(headers: &HeaderMap) -> Result<Self, RequestError> {
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
            _ => Err(RequestError::UnsupportedMediaType(
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
) -> Result<Bytes, RequestError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RequestError::PayloadTooLarge { limit });
    }
    let Ok(read) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await else {
        return Err(RequestError::BodyTimeout { timeout });
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(RequestError::PayloadTooLarge { limit })
        }
        Err(_) => Err(RequestError::BodyUnreadable),
    }
}

/// Refuses JSON nested deeper than `limit` before parsing it, so a hostile body costs one linear
/// scan and no recursion.
pub fn check_depth(body: &[u8], limit: usize) -> Result<(), RequestError> {
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
                    return Err(RequestError::TooDeep { limit });
                }
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

impl Inbound {
    pub fn parse(encoding: Encoding, body: &[u8]) -> Result<Self, RequestError> {
        match encoding {
            Encoding::Json => Self::parse_json(body),
            Encoding::Form => Ok(Inbound::Form(
                form_urlencoded::parse(body).into_owned().collect(),
            )),
        }
    }

    pub fn parse_json(body: &[u8]) -> Result<Self, RequestError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(RequestError::EmptyBody);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Inbound::Json(map)),
            Ok(other) => Err(RequestError::NotAnObject(json_type_name(&other))),
            Err(e) => Err(RequestError::InvalidJson(e.to_string())),
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
