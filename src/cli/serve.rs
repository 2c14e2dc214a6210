//! `bridgeway serve`.

use std::process::ExitCode;

use anyhow::Context;
use bridgeway::{Gateway, Settings};
use tokio::net::TcpListener;

use super::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings {
        max_body: args.max_body_bytes,
        max_upstream_body: args.max_upstream_body_bytes,
        ..Settings::default()
    };
    let gateway = Gateway::new(args.bridges.loader(), settings);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "listening");
    let loading = gateway.clone();
    // The first load runs beside the server, so /-/health answers while it runs.
    tokio::task::spawn_blocking(move || {
        if let Err(e) = loading.reload() {
            tracing::error!(dir = %loading_dir(&args.bridges.dir), error = %e, "cannot read the bridge directory");
        }
    });
    bridgeway::serve(gateway, listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn loading_dir(dir: &std::path::Path) -> String {
    dir.display().to_string()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
