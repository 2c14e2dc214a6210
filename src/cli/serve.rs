//! `bridgeway serve`.

use std::process::ExitCode;

use anyhow::Context;
use bridgeway::routes::reload::Trigger;
use bridgeway::server::spawn_workers;
use bridgeway::server::tls::TlsFiles;
use bridgeway::{Gateway, ReloadOptions, Reloader, Settings};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

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
    let gateway = Gateway::with_tls(args.bridges.loader(), settings, tls);
    let workers = args
        .workers
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (stop, stopped) = watch::channel(false);
    let (addr, handles) = spawn_workers(gateway.clone(), args.listen, workers, stopped)?;
    tracing::info!(listen = %addr, workers, tls = encrypted, bridges = %args.bridges.dir.display(), "listening");
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
    shutdown_signal().await;
    let _ = stop.send(true);
    // Each worker drains its requests in flight (up to the grace period) before it ends.
    tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| drop(h.join())))
        .await
        .context("a worker panicked")?;
    tracing::info!("stopped");
    Ok(())
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}
