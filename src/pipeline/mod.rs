//! The one request sequence, the same for every bridge and for every caller of it — `serve`,
//! `try` and the bridge tests all run [`run`]:
//!
//! ```text
//! auth → intake → admit → validate → render → (token) → fetch → map
//! ```
//!
//! Credentials are checked first, so a caller without them learns nothing about the input
//! contract. A bridge's in-flight place is taken only once the whole body is in (*admit*): the
//! limit protects the upstream, and callers that stall mid-body must not fill it. An
//! [`Observer`] sees each step's product as it is made: `serve` logs bodies with it (when asked
//! to), `try` prints every step. Each stage's error is turned into a [`RequestError`] here, and
//! `on_error: output` is applied here. A bridge whose credential is an OAuth2 token gets it just
//! before fetch, within the bridge's timeout, and on a 401 a new one and a second try.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::AUTHORIZATION;
use serde_json::Value;
use tokio::time::Instant;

use crate::bridge::Bridge;
use crate::file::OnError;
use crate::stages::fetch::{Client, FetchError, UpstreamRequest, UpstreamResponse};
use crate::stages::intake::{Intake, IntakeLimits};
use crate::stages::upstream_auth::{Token, TokenError, TokenStep, UpstreamAuth};
use crate::stages::validate::ValidInput;

mod error;

pub use error::RequestError;

/// What the sequence needs besides the bridge and the request.
pub struct Context<'a> {
    pub client: &'a Client,
    pub limits: Limits,
    pub credentials: Credentials,
}

/// The limits the sequence enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub intake: IntakeLimits,
    /// Requests one bridge answers at once; past it, 503.
    pub max_in_flight_per_bridge: usize,
}

/// Whether the bridge's inbound credentials are checked. `serve` always checks; `try` checks
/// when it is given headers to check, and trusts whoever holds the files otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    Check,
    Trust,
}

/// Sees what each step made, as it is made. Every method does nothing unless overridden.
pub trait Observer {
    fn intake(&mut self, _bridge: &Bridge, _body: &[u8]) {}
    fn validated(&mut self, _bridge: &Bridge, _input: &ValidInput) {}
    fn rendered(&mut self, _bridge: &Bridge, _request: &UpstreamRequest) {}
    fn token(&mut self, _bridge: &Bridge, _step: Result<&TokenStep, &TokenError>) {}
    fn fetched(&mut self, _bridge: &Bridge, _fetched: &Result<UpstreamResponse, FetchError>) {}
}

/// Observes nothing.
impl Observer for () {}

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

impl<E: Into<RequestError>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            error: error.into(),
            upstream: None,
        }
    }
}

/// Runs one request through `bridge`.
pub async fn run<B, O>(
    cx: &Context<'_>,
    bridge: &Bridge,
    request: http::Request<B>,
    request_id: &str,
    observer: &mut O,
) -> Result<Reply, Failure>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    O: Observer,
{
    // Scoped so that neither the inbound request nor its body is kept in this future while it
    // waits for the upstream: the state held across that wait is moved with the future.
    let intake = {
        let (parts, body) = request.into_parts();
        if let (Credentials::Check, Some(auth)) = (cx.credentials, &bridge.auth) {
            auth.check(&parts.headers)?;
        }
        Intake::read(&parts.headers, body, &cx.limits.intake).await?
    };
    observer.intake(bridge, &intake.bytes);
    let _place = Place::take(&bridge.in_flight, cx.limits.max_in_flight_per_bridge)?;
    let input = bridge.input.validate(intake.parse()?)?;
    drop(intake);
    observer.validated(bridge, &input);
    let mut request = bridge.upstream.render(&input, request_id)?;
    request.keep_headers = bridge.output.reads_headers();
    // Kept across the upstream call only for a bridge whose reply templates read it.
    let input = bridge.output.reads_input().then_some(input);
    observer.rendered(bridge, &request);
    let fetched = fetch(cx, bridge, request, observer).await;
    observer.fetched(bridge, &fetched);
    let upstream = fetched
        .as_ref()
        .ok()
        .map(|r| (r.status.as_u16(), r.elapsed));
    let input = input.as_ref().map_or(&Value::Null, ValidInput::fields);
    match map(bridge, fetched, input) {
        (Ok(body), upstream_failure) => Ok(Reply {
            body,
            upstream,
            upstream_failure,
        }),
        (Err(error), _) => Err(Failure { error, upstream }),
    }
}

/// The fetch stage. With an OAuth2 credential, the token first (counted in the bridge's
/// timeout); when the upstream answers 401, the token is replaced and the call made once more
/// (a 401 was not acted on, so any method may go again).
async fn fetch<O: Observer>(
    cx: &Context<'_>,
    bridge: &Bridge,
    mut request: UpstreamRequest,
    observer: &mut O,
) -> Result<UpstreamResponse, FetchError> {
    let Some(tokens) = bridge.upstream.auth.as_ref().and_then(UpstreamAuth::tokens) else {
        return cx.client.send(&request).await;
    };
    let timeout = request.timeout;
    let deadline = Instant::now() + timeout;
    let sent = attach(&mut request, bridge, deadline, tokens.bearer(), observer).await?;
    let response = cx.client.send(&request).await?;
    if response.status != StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    // A token fetched for this very request and refused is not worth a second one.
    if matches!(sent.step, TokenStep::Fetched { .. }) {
        tokens.refused_by_upstream(sent.generation);
        return Err(auth_failed(bridge, &TokenError::RefusedByUpstream));
    }
    let resent = tokens.replace(sent.generation);
    let resent = attach(&mut request, bridge, deadline, resent, observer).await?;
    let response = cx.client.send(&request).await?;
    if response.status == StatusCode::UNAUTHORIZED {
        tokens.refused_by_upstream(resent.generation);
        return Err(auth_failed(bridge, &TokenError::RefusedByUpstream));
    }
    Ok(response)
}

/// Waits (until `deadline`) for a token and puts it on `request`, leaving the call the rest of
/// the time.
async fn attach<O: Observer>(
    request: &mut UpstreamRequest,
    bridge: &Bridge,
    deadline: Instant,
    token: impl Future<Output = Result<Token, TokenError>>,
    observer: &mut O,
) -> Result<Token, FetchError> {
    let timeout = request.timeout;
    let got = tokio::time::timeout_at(deadline, token)
        .await
        .map_err(|_| FetchError::Timeout(timeout))?;
    observer.token(bridge, got.as_ref().map(|t| &t.step));
    let token = got.map_err(|e| auth_failed(bridge, &e))?;
    request.headers.insert(AUTHORIZATION, token.header.clone());
    request.timeout = deadline.saturating_duration_since(Instant::now());
    if request.timeout.is_zero() {
        return Err(FetchError::Timeout(timeout));
    }
    Ok(token)
}

fn auth_failed(bridge: &Bridge, error: &TokenError) -> FetchError {
    let whose = match &bridge.connection {
        Some(c) => format!("connection `{}`", c.name),
        None => format!("bridge `{}`", bridge.name),
    };
    FetchError::Auth(format!(
        "could not authenticate to the upstream for {whose}: {error}"
    ))
}

/// The map stage over what fetch gave: the reply body; on failure an error, or (with
/// `on_error: output`) the output built from the error. Also the kind of upstream failure, if
/// there was one, which an `on_error: output` reply would otherwise hide from the metrics.
fn map(
    bridge: &Bridge,
    fetched: Result<UpstreamResponse, FetchError>,
    input: &Value,
) -> (Result<Vec<u8>, RequestError>, Option<&'static str>) {
    let (response, error) = match fetched {
        Ok(response) => match bridge.output.reply(&response, input) {
            Ok(body) => return (Ok(body), None),
            Err(error) => (Some(response), RequestError::from(error)),
        },
        Err(e) => (None, RequestError::from(e)),
    };
    let kind = error.upstream_failure();
    match bridge.on_error {
        OnError::Status => (Err(error), kind),
        OnError::Output => {
            let status: StatusCode = error.status();
            let body = bridge.output.reply_to_failure(
                response.as_ref(),
                status,
                &error.to_string(),
                input,
            );
            (Ok(body), kind)
        }
    }
}

/// One of a bridge's in-flight places, given back when the request ends however it ends.
struct Place<'a>(&'a AtomicUsize);

impl<'a> Place<'a> {
    fn take(count: &'a AtomicUsize, limit: usize) -> Result<Self, RequestError> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        let place = Place(count);
        if before < limit {
            Ok(place)
        } else {
            Err(RequestError::Overloaded { limit })
        }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
