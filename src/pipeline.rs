//! The one generic request path: validate → render → fetch → map, the same for every bridge.
//!
//! [`run`] is what the server calls; the steps are public so `bridgeway try` can show each one.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

use crate::bridge_file::OnError;
use crate::compile::Bridge;
use crate::error::RequestError;
use crate::fetch::{FetchError, Upstream, UpstreamResponse};
use crate::inbound::Inbound;
use crate::map::{Answer, Body, Mode};

/// A successful reply and what the upstream did, for the request log and the metrics.
#[derive(Debug)]
pub struct Reply {
    pub body: Vec<u8>,
    pub upstream: Option<(u16, Duration)>,
    /// The kind of upstream failure an `on_error: output` reply stands for.
    pub upstream_failure: Option<&'static str>,
}

/// A failed request and what the upstream did, for the request log.
#[derive(Debug)]
pub struct Failure {
    pub error: RequestError,
    pub upstream: Option<(u16, Duration)>,
}

impl From<RequestError> for Failure {
    fn from(error: RequestError) -> Self {
        Failure {
            error,
            upstream: None,
        }
    }
}

/// Runs one request through the bridge.
pub async fn run(
    bridge: &Bridge,
    upstream: &Upstream,
    inbound: Inbound,
    request_id: &str,
) -> Result<Reply, Failure> {
    let input = bridge
        .input
        .validate(inbound)
        .map_err(RequestError::InvalidInput)?;
    let mut request = bridge
        .upstream
        .render(&input, request_id)
        .map_err(RequestError::InvalidInput)?;
    request.keep_headers = bridge.output.reads_headers();
    tracing::debug!(
        target: "bridgeway::bodies",
        request_id,
        bridge = %bridge.name,
        request = %request.describe(&bridge.secrets),
        "upstream request"
    );
    let fetched = upstream.send(request).await;
    if let Ok(response) = &fetched {
        tracing::debug!(
            target: "bridgeway::bodies",
            request_id,
            bridge = %bridge.name,
            status = response.status.as_u16(),
            body = %bridge.secrets.mask(&String::from_utf8_lossy(&response.body)),
            "upstream answer"
        );
    }
    let seen = fetched
        .as_ref()
        .ok()
        .map(|r| (r.status.as_u16(), r.elapsed));
    let (result, upstream_failure) = respond_noting(bridge, fetched);
    match result {
        Ok(body) => Ok(Reply {
            body,
            upstream: seen,
            upstream_failure,
        }),
        Err(error) => Err(Failure {
            error,
            upstream: seen,
        }),
    }
}

/// The reply body for what the upstream did: the mapped output on success; on failure an
/// error, or (with `on_error: output`) the output built from the error.
pub fn respond(
    bridge: &Bridge,
    fetched: Result<UpstreamResponse, FetchError>,
) -> Result<Vec<u8>, RequestError> {
    respond_noting(bridge, fetched).0
}

/// [`respond`], and the kind of upstream failure if there was one, which an `on_error: output`
/// reply would otherwise hide from the metrics.
fn respond_noting(
    bridge: &Bridge,
    fetched: Result<UpstreamResponse, FetchError>,
) -> (Result<Vec<u8>, RequestError>, Option<&'static str>) {
    let (response, error) = match fetched {
        Ok(response) => match map_success(bridge, &response) {
            Ok(body) => return (Ok(body), None),
            Err(error) => (Some(response), error),
        },
        Err(e) => (None, RequestError::Fetch(e)),
    };
    let kind = error.upstream_failure();
    match bridge.on_error {
        OnError::Status => (Err(error), kind),
        OnError::Output => (Ok(map_failure(bridge, response.as_ref(), &error)), kind),
    }
}

fn map_success(bridge: &Bridge, response: &UpstreamResponse) -> Result<Vec<u8>, RequestError> {
    let status = response.status;
    if status.is_redirection() {
        return Err(RequestError::UpstreamRedirect(status));
    }
    if !status.is_success() {
        return Err(RequestError::UpstreamStatus(status));
    }
    let body = if bridge.output.reads_body() {
        bridge
            .output
            .read_body(&response.body)
            .ok_or(RequestError::UpstreamNotJson)?
    } else {
        Body::Document(Value::Null)
    };
    let answer = Answer {
        status: status.as_u16(),
        headers: &response.headers,
        body,
        error: "",
    };
    let output = bridge.output.map(answer, Mode::Strict)?;
    Ok(bridge.output.to_json(&output))
}

/// `from: status` is the status the gateway would otherwise have answered: the upstream's own
/// for a 4xx/5xx, 502 or 504 when the gateway failed the call.
fn map_failure(
    bridge: &Bridge,
    response: Option<&UpstreamResponse>,
    error: &RequestError,
) -> Vec<u8> {
    let body = response
        .and_then(|r| bridge.output.read_body(&r.body))
        .unwrap_or(Body::Document(Value::Null));
    let no_headers = HeaderMap::new();
    let message = error.to_string();
    let answer = Answer {
        status: error.status().as_u16(),
        headers: response.map_or(&no_headers, |r| &r.headers),
        body,
        error: &message,
    };
    match bridge.output.map(answer, Mode::Lenient) {
        Ok(output) => bridge.output.to_json(&output),
        Err(_) => b"{}".to_vec(), // Lenient mapping takes defaults instead of failing.
    }
}
