//! The HTTP server: hyper on per-core tokio runtimes, each worker with its own listener and
//! upstream client, serving [`Handler`]; TLS termination, the listening address, and the
//! `/-/…` operations endpoints, on the public port or on a separate admin listener.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::routes::gateway::Gateway;
use crate::stages::fetch::Client;

mod handler;
pub mod listen;
pub mod ops;
pub mod tls;

pub use handler::{Handler, Surface};
use listen::ListenError;

/// Serves `surface` of `gateway` on `listener` until `shutdown` completes, then lets requests
/// in flight finish for up to the shutdown grace period. The connections accepted here share
/// one upstream client, whose pooled connections live on the runtime that calls this. The
/// admin surface ([`Surface::Ops`]) is plain HTTP even when the gateway has TLS: probes and
/// scrapers reach it inside the cluster or on loopback.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    surface: Surface,
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
    let handler = Arc::new(Handler::new(
        gateway.clone(),
        Client::new(settings.max_upstream_body),
        surface,
    ));
    let tls = gateway.tls().filter(|_| surface != Surface::Ops);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let handler = handler.clone();
                    let service = service_fn(move |req| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler.handle(req).await) }
                    });
                    match tls {
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
    surface: Surface,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, Vec<std::thread::JoinHandle<()>>), ListenError> {
    let listeners = listen::bind(addr, workers, "--listen")?;
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
                .spawn(move || run_worker(gateway, listener, surface, shutdown))
        })
        .collect::<io::Result<_>>()
        .map_err(ListenError::Worker)?;
    Ok((addr, handles))
}

/// One worker thread: its own runtime, serving its listener until `shutdown` turns true.
fn run_worker(
    gateway: Arc<Gateway>,
    listener: std::net::TcpListener,
    surface: Surface,
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
            Ok(listener) => serve(gateway, listener, surface, stopped).await,
            Err(e) => Err(e),
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "worker stopped");
        }
    });
}

/// The admin listener (`--admin-listen`): one socket, refused like the main address when
/// anything listens there already. Serve it with [`serve`] and [`Surface::Ops`] on any
/// runtime; the operations endpoints are cheap, so one is enough.
pub fn bind_admin(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    let listener = listen::bind(addr, 1, "--admin-listen")?
        .pop()
        .expect("bind returns at least one listener");
    TcpListener::from_std(listener).map_err(|source| ListenError::Bind { addr, source })
}
