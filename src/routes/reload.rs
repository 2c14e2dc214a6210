//! Hot reload: what makes the gateway load its bridge directory again.
//!
//! Three things ask for a reload — a change in the directory, `SIGHUP`, and a periodic rescan
//! — and all of them go through one [`Trigger`] into one task, so reloads never overlap and a
//! burst of requests for one collapses into at most one more. The reload itself runs on a
//! blocking thread, off the request path, and ends in [`Gateway::reload`]'s atomic swap.
//!
//! The *directory* is watched, never the files: editors save by renaming a temp file over the
//! old one, and Kubernetes swaps a `..data` symlink, and a watch on a file misses both (the
//! watch follows the old inode). Any event but a read counts, hidden names included, because
//! the ConfigMap swap happens entirely in hidden names. The debouncer waits for a quiet spell,
//! so a file written in several chunks is normally read once, whole; if it is read half-way,
//! it fails to load, keeps its last good version, and the next event loads it again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

use crate::routes::gateway::Gateway;

/// How the reloader watches.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// Watch the directory for changes (inotify on Linux).
    pub watch: bool,
    /// Quiet time after the last change before reloading.
    pub debounce: Duration,
    /// Reload this often anyway, for file systems that send no events (NFS, some overlays).
    pub rescan_every: Option<Duration>,
}

impl Default for ReloadOptions {
    fn default() -> Self {
        ReloadOptions {
            watch: true,
            debounce: Duration::from_millis(200),
            rescan_every: Some(crate::limits::RESCAN_INTERVAL),
        }
    }
}

/// Asks for a reload. Cheap to clone; requests made while one is pending merge into it.
#[derive(Clone, Debug)]
pub struct Trigger(mpsc::Sender<()>);

impl Trigger {
    pub fn request(&self) {
        // Full means a reload is already pending, which will see this change too.
        let _ = self.0.try_send(());
    }
}

/// Keeps the watcher alive; dropping it stops watching.
pub struct Reloader {
    trigger: Trigger,
    _watcher: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
}

impl Reloader {
    /// Starts reloading `gateway`, beginning with a first load right away. Must be called
    /// inside a tokio runtime.
    pub fn start(gateway: Arc<Gateway>, options: &ReloadOptions) -> notify::Result<Self> {
        let (tx, rx) = mpsc::channel(1);
        let trigger = Trigger(tx);
        let watcher = if options.watch {
            Some(watch(
                gateway.loader().dir(),
                options.debounce,
                trigger.clone(),
            )?)
        } else {
            None
        };
        tokio::spawn(reload_loop(gateway, rx, options.rescan_every));
        trigger.request();
        Ok(Reloader {
            trigger,
            _watcher: watcher,
        })
    }

    pub fn trigger(&self) -> Trigger {
        self.trigger.clone()
    }
}

fn watch(
    dir: &Path,
    debounce: Duration,
    trigger: Trigger,
) -> notify::Result<Debouncer<notify::RecommendedWatcher, RecommendedCache>> {
    let mut debouncer =
        new_debouncer(
            debounce,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events)
                    if events
                        .iter()
                        .any(|e| !matches!(e.kind, EventKind::Access(_))) =>
                {
                    trigger.request()
                }
                Ok(_) => {}
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "file watcher error; reloading to be safe");
                    }
                    trigger.request();
                }
            },
        )?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(debouncer)
}

async fn reload_loop(
    gateway: Arc<Gateway>,
    mut requests: mpsc::Receiver<()>,
    rescan_every: Option<Duration>,
) {
    let mut rescan = rescan_every
        .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
    loop {
        let rescanning = tokio::select! {
            request = requests.recv() => if request.is_none() { break } else { false },
            _ = tick(&mut rescan) => true,
        };
        let gw = gateway.clone();
        // Errors are logged and counted inside; the previous snapshot keeps serving. A rescan
        // that finds nothing changed logs at debug: it runs every 30 s on an idle gateway.
        let _ =
            tokio::task::spawn_blocking(move || if rescanning { gw.rescan() } else { gw.reload() })
                .await;
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
