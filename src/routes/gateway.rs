//! The gateway's shared state, and the one place where a new snapshot is swapped in.
//!
//! A reload builds the next [`Snapshot`] off to the side from the files on disk and the
//! previous snapshot, then stores it in one atomic step. Requests take the snapshot once, at
//! their start, and keep it to their end: a reload never changes a request half-way and never
//! makes one fail.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;

use crate::limits;
use crate::metrics::Metrics;
use crate::pipeline;
use crate::routes::loader::Loader;
use crate::routes::snapshot::Snapshot;
use crate::stages::intake::IntakeLimits;

/// Limits and timeouts of the server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest inbound body, in bytes.
    pub max_body: usize,
    /// Largest upstream body, in bytes.
    pub max_upstream_body: usize,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send its whole request body once its headers are in.
    pub body_timeout: Duration,
    /// How long requests in flight may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Most headers a request may carry.
    pub max_headers: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Deepest nesting of a JSON body (Genesys allows 50 levels).
    pub max_json_depth: usize,
    /// Requests one bridge answers at once; past it, 503 with `Retry-After`.
    pub max_in_flight_per_bridge: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body: limits::MAX_BODY,
            max_upstream_body: limits::MAX_UPSTREAM_BODY,
            header_read_timeout: limits::HEADER_READ_TIMEOUT,
            body_timeout: limits::BODY_TIMEOUT,
            shutdown_grace: limits::SHUTDOWN_GRACE,
            max_headers: limits::MAX_HEADERS,
            max_header_bytes: limits::MAX_HEADER_BYTES,
            max_json_depth: limits::MAX_JSON_DEPTH,
            max_in_flight_per_bridge: limits::MAX_IN_FLIGHT_PER_BRIDGE,
        }
    }
}

impl Settings {
    /// The limits the request sequence enforces.
    pub fn limits(&self) -> pipeline::Limits {
        pipeline::Limits {
            intake: IntakeLimits {
                max_body: self.max_body,
                body_timeout: self.body_timeout,
                max_json_depth: self.max_json_depth,
            },
            max_in_flight_per_bridge: self.max_in_flight_per_bridge,
        }
    }
}

/// State shared by every connection and every worker: the current snapshot, settings, metrics,
/// and whether the gateway is draining.
///
/// The drain flag lives here rather than in the server because it is one fact read by every
/// listener (each worker's and the admin port's) and set from outside them (the signal
/// handler): the gateway is the one object they all already share.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    loader: Loader,
    settings: Settings,
    metrics: Metrics,
    tls: Option<TlsAcceptor>,
    draining: AtomicBool,
}

impl Gateway {
    pub fn new(loader: Loader, settings: Settings) -> Arc<Self> {
        Self::with_tls(loader, settings, None)
    }

    /// A gateway whose connections start with a TLS handshake when `tls` is given.
    pub fn with_tls(loader: Loader, settings: Settings, tls: Option<TlsAcceptor>) -> Arc<Self> {
        Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(Snapshot::empty()),
            loader,
            settings,
            metrics: Metrics::new(),
            tls,
            draining: AtomicBool::new(false),
        })
    }

    pub fn tls(&self) -> Option<&TlsAcceptor> {
        self.tls.as_ref()
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Loads the bridge directory again and swaps the new snapshot in. Requests in flight
    /// keep the snapshot they started with. The result is logged at info level.
    pub fn reload(&self) -> io::Result<Arc<Snapshot>> {
        self.reload_logging(Unchanged::Info)
    }

    /// A reload for the periodic rescan: as [`reload`](Self::reload), except that when nothing
    /// changed it logs at debug level, so that an idle gateway does not write a line every
    /// rescan interval.
    pub fn rescan(&self) -> io::Result<Arc<Snapshot>> {
        self.reload_logging(Unchanged::Debug)
    }

    fn reload_logging(&self, unchanged: Unchanged) -> io::Result<Arc<Snapshot>> {
        let previous = self.snapshot.load_full();
        let next = match self.loader.load(&previous) {
            Ok(next) => Arc::new(next),
            Err(e) => {
                self.metrics.reload("failed");
                tracing::error!(dir = %self.loader.dir().display(), error = %e, "cannot read the bridge directory; still serving the previous bridges");
                return Err(e);
            }
        };
        let failed = next.files.iter().filter(|f| !f.problems.is_empty()).count();
        self.metrics
            .reload(if failed == 0 { "ok" } else { "partial" });
        self.metrics.bridges_loaded.set(next.served.len() as i64);
        self.metrics.bridge_files_failed.set(failed as i64);
        self.snapshot.store(next.clone());
        self.metrics.token_requests.set(next.token_sources());
        // Logged once swapped in: what the line says is loaded is being served.
        log_changes(&previous, &next, self.loader.dir(), unchanged);
        Ok(next)
    }

    /// Starts draining: from now on `/-/ready` answers 503 so that load balancers stop sending
    /// here, while requests are still served. There is no way back; the process is stopping.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Has the gateway started draining (a shutdown signal arrived)?
    pub fn is_draining(&self) -> bool {
        // Relaxed: a flag read per readiness probe and per response, with nothing else to
        // order against it; a response a moment late to see it is harmless.
        self.draining.load(Ordering::Relaxed)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn loader(&self) -> &Loader {
        &self.loader
    }
}

/// At what level a reload that changed nothing is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unchanged {
    Info,
    Debug,
}

/// Names listed in one reload log field at most; past it, a count of the rest.
const MAX_NAMED: usize = 20;

/// Logs each new problem once, then one line naming the files that changed (added or new
/// contents), were removed, or fail now. The line is at debug level when nothing changed and
/// the caller asked for that (the periodic rescan); the first load is always logged.
fn log_changes(previous: &Snapshot, next: &Snapshot, dir: &std::path::Path, unchanged: Unchanged) {
    let was_logged = |p: &crate::bridge::Problem| previous.problems().any(|q| q == p);
    let mut new_problems = 0;
    for problem in next.problems().filter(|p| !was_logged(p)) {
        tracing::warn!(problem = %problem, "bridge file not loaded");
        new_problems += 1;
    }
    let before: HashMap<&str, &str> = previous
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.hash.as_str()))
        .collect();
    let now: HashSet<&str> = next.files.iter().map(|f| f.file.as_str()).collect();
    let changed: Vec<&str> = next
        .files
        .iter()
        .filter(|f| before.get(f.file.as_str()) != Some(&f.hash.as_str()))
        .map(|f| f.file.as_str())
        .collect();
    let removed: Vec<&str> = previous
        .files
        .iter()
        .map(|f| f.file.as_str())
        .filter(|f| !now.contains(f))
        .collect();
    let failed: Vec<&str> = next
        .files
        .iter()
        .filter(|f| !f.problems.is_empty())
        .map(|f| f.file.as_str())
        .collect();
    let nothing_changed =
        previous.ready && changed.is_empty() && removed.is_empty() && new_problems == 0;
    let (changed, removed, failed) = (names(&changed), names(&removed), names(&failed));
    macro_rules! loaded {
        ($level:ident) => {
            tracing::$level!(
                dir = %dir.display(),
                bridges = next.served.len(),
                files_with_errors = next.files.iter().filter(|f| !f.problems.is_empty()).count(),
                changed = changed.as_deref(),
                removed = removed.as_deref(),
                failed = failed.as_deref(),
                "bridges loaded"
            )
        };
    }
    if nothing_changed && unchanged == Unchanged::Debug {
        loaded!(debug);
    } else {
        loaded!(info);
    }
}

/// `a.yaml,b.yaml`, at most [`MAX_NAMED`] names then `… and N more`; `None` when empty, so
/// that the field is left out of the log line.
fn names(files: &[&str]) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let mut text = files[..files.len().min(MAX_NAMED)].join(",");
    if files.len() > MAX_NAMED {
        text.push_str(&format!(" … and {} more", files.len() - MAX_NAMED));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lists_files_and_counts_past_the_cap() {
        assert_eq!(names(&[]), None);
        assert_eq!(
            names(&["a.yaml", "b.yaml"]).as_deref(),
            Some("a.yaml,b.yaml")
        );
        let many: Vec<String> = (0..25).map(|i| format!("f{i:02}.yaml")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let text = names(&many).unwrap();
        assert!(text.starts_with("f00.yaml,f01.yaml,"), "{text}");
        assert!(text.ends_with("f19.yaml … and 5 more"), "{text}");
    }
}
