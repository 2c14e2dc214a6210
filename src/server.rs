//! The HTTP server: hyper on tokio, and the request handler that ties routing, credentials,
//! body intake and the pipeline together.

use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::compile::Bridge;
use crate::error::RequestError;
use crate::fetch::Upstream;
use crate::gateway::Gateway;
use crate::inbound::{Encoding, Inbound, X_REQUEST_ID, check_depth, read_body};
use crate::listen::{self, ListenError};
use crate::ops;
use crate::pipeline::{self, Failure};
use crate::snapshot::{Lookup, Snapshot};

/// What one request came to, before it becomes a response.
struct Outcome {
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    upstream_failure: Option<&'static str>,
    bridge: Option<Arc<Bridge>>,
    allow: Option<String>,
    upstream: Option<(u16, Duration)>,
}

impl Gateway {
    /// Answers one request. Never fails: every error becomes a JSON error response.
    pub async fn handle<B>(&self, upstream: &Upstream, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = request_id(request.headers());
        // The URI shares the request's buffer: no copy of the path.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let path = uri.path();
        let snapshot = self.snapshot();
        let outcome = if let Err(error) = self.check_head(request.headers()) {
            failure(None, error.into(), &request_id)
        } else if path.starts_with("/-/") {
            let accept = request.headers().get(http::header::ACCEPT);
            let accept = accept.and_then(|a| a.to_str().ok());
            let ops = ops::answer(
                &snapshot,
                self.metrics(),
                &method,
                path,
                accept,
                &request_id,
            );
            Outcome {
                status: ops.status,
                body: ops.body,
                content_type: ops.content_type,
                upstream_failure: None,
                bridge: None,
                allow: ops.allow,
                upstream: None,
            }
        } else {
            let _in_flight = InFlight::enter(&self.metrics().in_flight);
            let outcome = self
                .bridge_request(upstream, &snapshot, request, &request_id)
                .await;
            self.metrics().request(
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
            "request"
        );
        respond(outcome, request_id)
    }

    /// The header limits, checked here so that a request over them gets a JSON error.
    fn check_head(&self, headers: &http::HeaderMap) -> Result<(), RequestError> {
        let (count, bytes) = (
            self.settings().max_headers,
            self.settings().max_header_bytes,
        );
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
        upstream: &Upstream,
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
        match self.run(upstream, &bridge, request, request_id).await {
            Ok(reply) => Outcome {
                status: StatusCode::OK,
                body: reply.body,
                content_type: ops::JSON,
                upstream_failure: reply.upstream_failure,
                bridge: Some(bridge),
                allow: None,
                upstream: reply.upstream,
            },
            Err(f) => failure(Some(bridge), f, request_id),
        }
    }

    async fn run<B>(
        &self,
        upstream: &Upstream,
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
        let (encoding, bytes) = self.intake(&parts.headers, body).await?;
        // The in-flight place is taken only once the whole body is in: the limit protects the
        // upstream, and callers that stall mid-body must not fill it and turn everyone else
        // away. Body reads are bounded by the body timeout and the body size instead.
        let limit = self.settings().max_in_flight_per_bridge;
        let Some(_slot) = Slot::take(&bridge.in_flight, limit) else {
            return Err(RequestError::Overloaded { limit }.into());
        };
        tracing::debug!(
            target: "bridgeway::bodies",
            request_id,
            bridge = %bridge.name,
            body = %bridge.secrets.mask(&String::from_utf8_lossy(&bytes)),
            "inbound body"
        );
        let inbound = Inbound::parse(encoding, &bytes)?;
        pipeline::run(bridge, upstream, inbound, request_id).await
    }

    /// The whole body, read within the size, time and nesting limits, and its encoding.
    async fn intake<B>(
        &self,
        headers: &http::HeaderMap,
        body: B,
    ) -> Result<(Encoding, Bytes), RequestError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let encoding = Encoding::of(headers)?;
        let settings = self.settings();
        let bytes = read_body(body, headers, settings.max_body, settings.body_timeout).await?;
        if encoding == Encoding::Json {
            check_depth(&bytes, settings.max_json_depth)?;
        }
        Ok((encoding, bytes))
    }
}

fn failure(bridge: Option<Arc<Bridge>>, f: Failure, request_id: &str) -> Outcome {
    Outcome {
        status: f.error.status(),
        body: f
            .error
            .to_json(bridge.as_ref().map(|b| b.name.as_str()), request_id),
        content_type: ops::JSON,
        upstream_failure: f.error.upstream_failure(),
        bridge,
        allow: None,
        upstream: f.upstream,
    }
}

fn respond(outcome: Outcome, request_id: String) -> Response<Full<Bytes>> {
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
    response
}

/// The caller's `X-Request-Id` when it is a sane token, else a new one.
fn request_id(headers: &http::HeaderMap) -> String {
    let given = headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok());
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
    // Written by hand: `format!` costs a fifth of this request's own bookkeeping.
    let mut id = String::with_capacity(21);
    push_hex(&mut id, *PREFIX, 12);
    id.push('-');
    push_hex(&mut id, n, 8);
    id
}

/// The low `digits` hex digits of `n`, zero-padded.
fn push_hex(out: &mut String, n: u64, digits: u32) {
    for shift in (0..digits).rev() {
        let nibble = (n >> (shift * 4)) & 0xf;
        out.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
    }
}

/// Serves `gateway` on `listener` until `shutdown` completes, then lets requests in flight
/// finish for up to the shutdown grace period. The connections accepted here share one
/// upstream client, whose pooled connections live on the runtime that calls this.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let settings = gateway.settings();
    // Without a timer hyper does not enforce the header read timeout at all. The header limits
    // are checked in `handle`, which can answer with a JSON error; hyper's own, at twice them,
    // only cut off floods (with a bare 431).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(settings.max_headers.saturating_mul(2).max(100))
        .max_buf_size(settings.max_header_bytes.saturating_mul(2).max(8192));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let upstream = Upstream::new(gateway.settings().max_upstream_body);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let (gw, up) = (gateway.clone(), upstream.clone());
                    let service = service_fn(move |req| {
                        let (gw, up) = (gw.clone(), up.clone());
                        async move { Ok::<_, Infallible>(gw.handle(&up, req).await) }
                    });
                    match gateway.tls() {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(tcp), service).into_owned();
                            tokio::spawn(graceful.watch(conn));
                        }
                        Some(tls) => {
                            let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
                            let timeout = settings.header_read_timeout;
                            tokio::spawn(async move {
                                // A failed or stalled handshake (plain HTTP on this port, a
                                // scanner) just closes the connection.
                                let Ok(Ok(stream)) = tokio::time::timeout(timeout, tls.accept(tcp)).await else {
                                    return;
                                };
                                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                                let _ = watcher.watch(conn).await;
                            });
                        }
                    }
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

/// Serves on `addr` with `workers` threads, each with its own single-threaded runtime, its own
/// `SO_REUSEPORT` listener (the kernel spreads connections over them) and its own upstream
/// connections, so a request is handled start to end on one thread, as nginx's workers do.
/// On this gateway's profile, a multi-threaded runtime spent a large share of its CPU waking
/// threads and moving tasks between them. Refuses an address something else listens on (see
/// [`listen`]). Returns once every worker is listening; the workers stop when `shutdown` turns
/// true.
pub fn spawn_workers(
    gateway: Arc<Gateway>,
    addr: SocketAddr,
    workers: usize,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, Vec<std::thread::JoinHandle<()>>), ListenError> {
    let listeners = listen::bind(addr, workers)?;
    let addr = listeners[0]
        .local_addr()
        .map_err(|source| ListenError::Bind { addr, source })?;
    let handles = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
            std::thread::Builder::new()
                .name(format!("bridgeway-worker-{i}"))
                .spawn(move || run_worker(gateway, listener, shutdown))
        })
        .collect::<io::Result<_>>()
        .map_err(ListenError::Worker)?;
    Ok((addr, handles))
}

/// One worker thread: its own runtime, serving its listener until `shutdown` turns true.
fn run_worker(
    gateway: Arc<Gateway>,
    listener: std::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return tracing::error!(error = %e, "worker runtime failed to start"),
    };
    runtime.block_on(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let served = match TcpListener::from_std(listener) {
            Ok(listener) => serve(gateway, listener, stopped).await,
            Err(e) => Err(e),
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "worker stopped");
        }
    });
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

/// One of a bridge's in-flight places, given back when the request ends however it ends.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(count: &'a AtomicUsize, limit: usize) -> Option<Self> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(count);
        (before < limit).then_some(slot)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_request_ids_are_distinct_and_shaped_like_hex() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let (prefix, count) = id.split_once('-').unwrap();
            assert_eq!((prefix.len(), count.len()), (12, 8), "{id}");
            assert!(
                id.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()),
                "{id}"
            );
            assert!(!id.bytes().any(|c| c.is_ascii_uppercase()), "{id}");
        }
        let (na, nb) = (&a[13..], &b[13..]);
        let (na, nb) = (
            u64::from_str_radix(na, 16).unwrap(),
            u64::from_str_radix(nb, 16).unwrap(),
        );
        assert!(nb > na, "the counter part grows: {a} then {b}");
        assert_eq!(a[..12], b[..12], "one prefix per process");
    }
}
