//! `bridgeway serve`.

use std::process::ExitCode;

use anyhow::Context;
use std::time::Duration;

use bridgeway::routes::reload::Trigger;
use bridgeway::server::tls::TlsFiles;
use bridgeway::server::{Surface, bind_admin, spawn_workers};
use bridgeway::{Gateway, ReloadOptions, Reloader, Settings};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{oneshot, watch};

use super::{LogFormat, ServeArgs};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format, args.log_bodies);
    // The control runtime: the first load, reloads and signals. Requests run on the workers.
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    control.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings {
        max_body: args.max_body_bytes,
        max_upstream_body: args.max_upstream_body_bytes,
        header_read_timeout: args.header_read_timeout.into(),
        body_timeout: args.body_timeout.into(),
        shutdown_grace: args.shutdown_grace.into(),
        max_headers: args.max_headers,
        max_header_bytes: args.max_header_bytes,
        max_json_depth: args.max_json_depth,
        max_in_flight_per_bridge: args.max_in_flight_per_bridge,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            bridgeway::server::tls::acceptor(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .context("cannot load the TLS certificate")?,
        ),
        _ => None,
    };
    let encrypted = tls.is_some();
    let gateway = Gateway::with_tls(args.bridges.loader()?, settings, tls);
    let workers = args
        .workers
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Before the workers start: a taken admin address stops start-up with nothing running.
    let admin = args.admin_listen.map(bind_admin).transpose()?;
    let surface = match admin {
        Some(_) => Surface::Bridges,
        None => Surface::All,
    };
    let (stop, stopped) = watch::channel(false);
    let (addr, handles) = spawn_workers(gateway.clone(), args.listen, workers, surface, stopped)?;
    tracing::info!(listen = %addr, workers, tls = encrypted, bridges = %args.bridges.dir.display(), "listening");
    // The admin port runs on this (the control) runtime: a few probes and scrapes a minute.
    let (stop_admin, admin_stopped) = oneshot::channel::<()>();
    let admin = match admin {
        Some(listener) => {
            let admin_addr = listener.local_addr()?;
            tracing::info!(admin_listen = %admin_addr, "operations endpoints on the admin port only");
            Some(tokio::spawn(bridgeway::serve(
                gateway.clone(),
                listener,
                Surface::Ops,
                async {
                    let _ = admin_stopped.await;
                },
            )))
        }
        None => None,
    };
    let options = ReloadOptions {
        watch: !args.no_watch,
        rescan_every: (!args.rescan_interval.is_zero()).then_some(args.rescan_interval.into()),
        ..ReloadOptions::default()
    };
    // The first load runs beside the server, so /-/health answers while it runs.
    let reloader = Reloader::start(gateway.clone(), &options)
        .with_context(|| format!("cannot watch {}", args.bridges.dir.display()))?;
    tokio::spawn(reload_on_sighup(reloader.trigger()));
    if !addr.ip().is_loopback() {
        if !encrypted {
            tracing::warn!(listen = %addr, "listening beyond loopback without TLS: give --tls-cert and --tls-key or put a TLS proxy in front (Genesys calls over HTTPS only)");
        }
        tokio::spawn(warn_about_open_bridges(gateway.clone()));
    }
    let mut signals = StopSignals::new();
    let first = signals.recv().await;
    drain(&gateway, args.drain_delay.into(), first, &mut signals).await;
    tracing::info!(
        signal = first,
        "shutting down: no new connections; finishing requests in flight"
    );
    let _ = stop.send(true);
    // Each worker drains its requests in flight (up to the grace period) before it ends.
    tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| drop(h.join())))
        .await
        .context("a worker panicked")?;
    // The admin port outlives the workers, so that liveness probes keep passing (and /-/ready
    // keeps saying 503) while requests in flight finish.
    let _ = stop_admin.send(());
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The first part of the shutdown: `/-/ready` answers 503 at once, and everything is still
/// served for `delay`, the time load balancers need to stop sending here (Kubernetes removes
/// the pod from its endpoints once the readiness probe fails, and each proxy then has to
/// hear of it). Stopping to accept any earlier would refuse, or reset, the connections they
/// still open. A second signal ends the delay early.
async fn drain(gateway: &Gateway, delay: Duration, signal: &str, signals: &mut StopSignals) {
    gateway.start_draining();
    if delay.is_zero() {
        return;
    }
    tracing::info!(signal, drain_delay = %humantime::format_duration(delay), "draining: /-/ready answers 503; still serving until the drain delay is over");
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        again = signals.recv() => {
            tracing::info!(signal = again, "second signal: ending the drain delay early");
        }
    }
}

/// Once the first load is done, names the bridges anyone who reaches the port can call.
async fn warn_about_open_bridges(gateway: std::sync::Arc<Gateway>) {
    while !gateway.snapshot().ready {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for served in gateway
        .snapshot()
        .served
        .iter()
        .filter(|s| s.bridge.auth.is_none())
    {
        tracing::warn!(bridge = %served.bridge.name, "bridge has no auth and the gateway listens beyond loopback");
    }
}

async fn reload_on_sighup(trigger: Trigger) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reloads come from the watcher only");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the bridge directory");
        trigger.request();
    }
}

/// SIGTERM and SIGINT, listened for once for the whole shutdown, so a second one is seen.
struct StopSignals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl StopSignals {
    fn new() -> Self {
        let listen = |kind, name| {
            signal(kind)
                .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for {name}"))
                .ok()
        };
        StopSignals {
            term: listen(SignalKind::terminate(), "SIGTERM"),
            int: listen(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// The name of the next stop signal, once it arrives.
    async fn recv(&mut self) -> &'static str {
        async fn next(signal: &mut Option<Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.term) => "SIGTERM",
            _ = next(&mut self.int) => "SIGINT",
        }
    }
}

/// `RUST_LOG` sets the levels (default `info`). Bodies are logged under their own target, which
/// stays off whatever `RUST_LOG` says unless `--log-bodies` turns it on.
fn init_logging(format: LogFormat, log_bodies: bool) {
    let bodies = if log_bodies {
        "bridgeway::bodies=debug"
    } else {
        "bridgeway::bodies=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .add_directive(bodies.parse().expect("a valid directive"));
    // Colours only on a terminal: escape codes in a file, journald or a log collector are
    // noise, and they split `field=value` apart for anyone grepping.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}
