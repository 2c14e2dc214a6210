//! The request handler: one request in, one response out, never an error. It finds the
//! bridge, hands the request to [`pipeline::run`], and turns what came back into a response,
//! a log line and the metrics. `/-/…` goes to [`ops`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;

use crate::bridge::Bridge;
use crate::pipeline::{self, Context, Credentials, Failure, Limits, Observer, RequestError};
use crate::request_id::{self, X_REQUEST_ID};
use crate::routes::gateway::Gateway;
use crate::routes::snapshot::{Lookup, Snapshot};
use crate::server::ops;
use crate::stages::fetch::{Client, FetchError, UpstreamRequest, UpstreamResponse};

/// Which paths a listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Bridge routes and the operations paths `/-/…`: one port for everything (no
    /// `--admin-listen`).
    All,
    /// Bridge routes only: `/-/…` is a path like any other that no bridge serves (404), so
    /// that metrics and bridge state stay off the public port (`--admin-listen` given).
    Bridges,
    /// The operations paths only, everything else 404: the admin port.
    Ops,
}

impl Surface {
    fn serves_ops(self) -> bool {
        matches!(self, Surface::All | Surface::Ops)
    }
}

/// Answers requests for one listener: the gateway's state, the worker's upstream client, and
/// which paths this listener serves.
#[derive(Clone)]
pub struct Handler {
    gateway: Arc<Gateway>,
    client: Client,
    surface: Surface,
    /// The sequence's limits, taken from the settings once: they never change while serving.
    limits: Limits,
}

/// What one request came to, before it becomes a response.
struct Outcome {
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    /// The error code of an error answer, for the log line.
    error: Option<&'static str>,
    /// For a 422: the names of the fields with a problem, comma-separated, for the log line.
    fields: Option<String>,
    upstream_failure: Option<&'static str>,
    bridge: Option<Arc<Bridge>>,
    allow: Option<String>,
    upstream: Option<(u16, Duration)>,
}

impl Handler {
    pub fn new(gateway: Arc<Gateway>, client: Client, surface: Surface) -> Self {
        let limits = gateway.settings().limits();
        Handler {
            gateway,
            client,
            surface,
            limits,
        }
    }

    /// Answers one request. Never fails: every error becomes a JSON error response.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = request_id::of(request.headers());
        // The URI shares the request's buffer: no copy of the path.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        // Told before the request is consumed: only HTTP/1 has a `Connection` header.
        let http1 = request.version() < http::Version::HTTP_2;
        let path = uri.path();
        let snapshot = self.gateway.snapshot();
        let metrics = self.gateway.metrics();
        let outcome = if let Err(error) = self.check_head(request.headers()) {
            failure(None, error.into(), &request_id)
        } else if path.starts_with("/-/") && self.surface.serves_ops() {
            let accept = request.headers().get(http::header::ACCEPT);
            let accept = accept.and_then(|a| a.to_str().ok());
            let ops = ops::answer(&self.gateway, &snapshot, &method, path, accept, &request_id);
            Outcome {
                status: ops.status,
                error: ops.code,
                body: ops.body,
                content_type: ops.content_type,
                fields: None,
                upstream_failure: None,
                bridge: None,
                allow: ops.allow,
                upstream: None,
            }
        } else if self.surface == Surface::Ops {
            // The admin port serves no bridge, and its 404s are not bridge traffic.
            failure(None, RequestError::NotFound.into(), &request_id)
        } else {
            let _in_flight = InFlight::enter(&metrics.in_flight);
            let outcome = self.bridge_request(&snapshot, request, &request_id).await;
            metrics.request(
                outcome
                    .bridge
                    .as_deref()
                    .map(|b| (b.name.as_str(), &b.meters)),
                outcome.status.as_u16(),
                started.elapsed(),
                outcome.upstream.map(|u| u.1),
                outcome.upstream_failure,
            );
            outcome
        };
        let upstream = outcome.upstream;
        tracing::info!(
            request_id = %request_id,
            method = %method,
            path = %path,
            bridge = outcome.bridge.as_ref().map_or("", |b| b.name.as_str()),
            status = outcome.status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            upstream_status = upstream.map(|u| u.0),
            upstream_ms = upstream.map(|u| u.1.as_secs_f64() * 1000.0),
            error = outcome.error,
            fields = outcome.fields.as_deref(),
            "request"
        );
        // While draining, each HTTP/1 answer closes its connection: a keep-alive client
        // (a proxy's pool) then opens a new one, which the load balancer, told by /-/ready,
        // sends elsewhere, instead of finding its idle connection closed under it at the end
        // of the drain.
        let close = http1 && self.gateway.is_draining();
        to_response(outcome, request_id, close)
    }

    /// The header limits, checked here so that a request over them gets a JSON error.
    fn check_head(&self, headers: &http::HeaderMap) -> Result<(), RequestError> {
        let settings = self.gateway.settings();
        let (count, bytes) = (settings.max_headers, settings.max_header_bytes);
        let size: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        if headers.len() > count || size > bytes {
            return Err(RequestError::HeadersTooLarge { count, bytes });
        }
        Ok(())
    }

    async fn bridge_request<B>(
        &self,
        snapshot: &Snapshot,
        request: Request<B>,
        request_id: &str,
    ) -> Outcome
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let bridge = match snapshot.lookup(request.method(), request.uri().path()) {
            Lookup::Found(bridge) => bridge.clone(),
            Lookup::WrongMethod { allow } => {
                let error = RequestError::MethodNotAllowed {
                    allow: allow.to_owned(),
                };
                let mut outcome = failure(None, error.into(), request_id);
                outcome.allow = Some(allow.to_owned());
                return outcome;
            }
            Lookup::NotFound => return failure(None, RequestError::NotFound.into(), request_id),
        };
        let cx = Context {
            client: &self.client,
            limits: self.limits,
            credentials: Credentials::Check,
        };
        let mut observer = BodyLog { request_id };
        match pipeline::run(&cx, &bridge, request, request_id, &mut observer).await {
            Ok(reply) => Outcome {
                status: StatusCode::OK,
                body: reply.body,
                content_type: ops::JSON,
                error: None,
                fields: None,
                upstream_failure: reply.upstream_failure,
                bridge: Some(bridge),
                allow: None,
                upstream: reply.upstream,
            },
            Err(f) => failure(Some(bridge), f, request_id),
        }
    }
}

/// Logs the inbound body, the upstream request and the upstream answer at debug level on the
/// `bridgeway::bodies` target, which is off unless `--log-bodies` is given; secrets masked.
struct BodyLog<'a> {
    request_id: &'a str,
}

impl Observer for BodyLog<'_> {
    fn intake(&mut self, bridge: &Bridge, body: &[u8]) {
        tracing::debug!(
            target: "bridgeway::bodies",
            request_id = self.request_id,
            bridge = %bridge.name,
            body = %bridge.secrets.mask(&String::from_utf8_lossy(body)),
            "inbound body"
        );
    }

    fn rendered(&mut self, bridge: &Bridge, request: &UpstreamRequest) {
        tracing::debug!(
            target: "bridgeway::bodies",
            request_id = self.request_id,
            bridge = %bridge.name,
            request = %request.describe(&bridge.secrets),
            "upstream request"
        );
    }

    fn fetched(&mut self, bridge: &Bridge, fetched: &Result<UpstreamResponse, FetchError>) {
        if let Ok(response) = fetched {
            tracing::debug!(
                target: "bridgeway::bodies",
                request_id = self.request_id,
                bridge = %bridge.name,
                status = response.status.as_u16(),
                body = %bridge.secrets.mask(&String::from_utf8_lossy(&response.body)),
                "upstream answer"
            );
        }
    }
}

fn failure(bridge: Option<Arc<Bridge>>, f: Failure, request_id: &str) -> Outcome {
    Outcome {
        status: f.error.status(),
        body: f
            .error
            .to_json(bridge.as_ref().map(|b| b.name.as_str()), request_id),
        content_type: ops::JSON,
        error: Some(f.error.code()),
        fields: f.error.fields(),
        upstream_failure: f.error.upstream_failure(),
        bridge,
        allow: None,
        upstream: f.upstream,
    }
}

fn to_response(outcome: Outcome, request_id: String, close: bool) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(outcome.body)));
    *response.status_mut() = outcome.status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(outcome.content_type),
    );
    if let Ok(id) = HeaderValue::from_maybe_shared(Bytes::from(request_id)) {
        headers.insert(X_REQUEST_ID, id);
    }
    if outcome.status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Some(allow) = outcome.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(http::header::ALLOW, allow);
    }
    if close {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Counts a request in flight for as long as it lives, also when its connection drops mid-way.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
