//! Resident memory across 1,000 real reloads, each of which rewrites all 100 bridge files, so
//! every reload compiles every bridge and swaps a whole new snapshot. Memory must level off,
//! not grow with the number of reloads.
//!
//! Run: `cargo bench --bench reload_memory`

mod support;

use std::sync::Arc;

use bridgeway::file::env::{EnvSource, ProcessEnv};
use bridgeway::{Gateway, Loader, Settings};

const FILES: usize = 100;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let env: Arc<dyn EnvSource> = Arc::new(ProcessEnv);
    let gateway = Gateway::new(Loader::new(dir.path(), env), Settings::default());
    println!("reloads  bridges  rss_kib");
    for reload in 1..=1000 {
        support::write_bridges(dir.path(), FILES, reload);
        let snapshot = gateway.reload().unwrap();
        assert_eq!(snapshot.served.len(), FILES);
        if [10, 100, 250, 500, 750, 1000].contains(&reload) {
            println!(
                "{reload:>7}  {:>7}  {:>7}",
                snapshot.served.len(),
                rss_kib()
            );
        }
    }
}
