//! The HTTP server: hyper on tokio, and the request handler that ties routing, credentials,
//! body intake and the pipeline together.

use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::compile::Bridge;
use crate::error::RequestError;
use crate::gateway::Gateway;
use crate::inbound::{Encoding, Inbound, read_body};
use crate::ops;
use crate::pipeline::{self, Failure};
use crate::snapshot::{Lookup, Snapshot};

/// What one request came to, before it becomes a response.
struct Outcome {
    status: StatusCode,
    body: Vec<u8>,
    bridge: Option<Arc<Bridge>>,
    allow: Option<String>,
    upstream: Option<(u16, Duration)>,
}

impl Gateway {
    /// Answers one request. Never fails: every error becomes a JSON error response.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = request_id(request.headers());
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let snapshot = self.snapshot();
        let outcome = if path.starts_with("/-/") {
            let (status, body, allow) =
                ops::answer(&snapshot, self.metrics(), &method, &path, &request_id);
            Outcome {
                status,
                body,
                bridge: None,
                allow,
                upstream: None,
            }
        } else {
            self.bridge_request(&snapshot, request, &request_id).await
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
            "request"
        );
        respond(outcome, &request_id)
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
        match self.run(&bridge, request, request_id).await {
            Ok(reply) => Outcome {
                status: StatusCode::OK,
                body: reply.body,
                bridge: Some(bridge),
                allow: None,
                upstream: reply.upstream,
            },
            Err(f) => failure(Some(bridge), f, request_id),
        }
    }

    async fn run<B>(
        &self,
        bridge: &Bridge,
        request: Request<B>,
        request_id: &str,
    ) -> Result<pipeline::Reply, Failure>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        // Credentials first: a caller without them learns nothing about the input contract.
        if let Some(auth) = &bridge.auth
            && !auth.accepts(&parts.headers)
        {
            return Err(RequestError::Unauthorized.into());
        }
        let encoding = Encoding::of(&parts.headers)?;
        let bytes = read_body(body, &parts.headers, self.settings().max_body).await?;
        let inbound = Inbound::parse(encoding, &bytes)?;
        pipeline::run(bridge, self.upstream(), inbound, request_id).await
    }
}

fn failure(bridge: Option<Arc<Bridge>>, f: Failure, request_id: &str) -> Outcome {
    Outcome {
        status: f.error.status(),
        body: f
            .error
            .to_json(bridge.as_ref().map(|b| b.name.as_str()), request_id),
        bridge,
        allow: None,
        upstream: f.upstream,
    }
}

fn respond(outcome: Outcome, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(outcome.body)));
    *response.status_mut() = outcome.status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    if let Some(allow) = outcome.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(http::header::ALLOW, allow);
    }
    response
}

/// The caller's `X-Request-Id` when it is a sane token, else a new one.
fn request_id(headers: &http::HeaderMap) -> String {
    let given = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    match given {
        Some(id) if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) => {
            id.to_owned()
        }
        _ => new_request_id(),
    }
}

fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:012x}-{n:08x}", *PREFIX & 0xffff_ffff_ffff)
}

/// Serves `gateway` on `listener` until `shutdown` completes, then lets requests in flight
/// finish for up to the shutdown grace period.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper does not enforce the header read timeout at all.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(gateway.settings().header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let gw = gateway.clone();
                    let service = service_fn(move |req| {
                        let gw = gw.clone();
                        async move { Ok::<_, Infallible>(gw.handle(req).await) }
                    });
                    let conn = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service).into_owned());
                    tokio::spawn(conn);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(gateway.settings().shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing connections still open");
        }
    }
    Ok(())
}
