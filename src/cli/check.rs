//! `bridgeway check`: every problem in the bridge directory, one per line, compiler style.

use std::process::ExitCode;

use anyhow::Context;
use bridgeway::Snapshot;

use super::BridgesDir;

pub fn run(dir: &BridgesDir) -> anyhow::Result<ExitCode> {
    let snapshot = dir
        .loader()
        .load(&Snapshot::empty())
        .with_context(|| format!("cannot read the bridge directory {}", dir.dir.display()))?;
    for s in &snapshot.served {
        println!(
            "ok    {}: {} {} {}",
            s.file, s.bridge.name, s.bridge.method, s.bridge.path
        );
    }
    let problems: Vec<_> = snapshot.problems().collect();
    for p in &problems {
        println!("error {p}");
    }
    let bad_files = snapshot
        .files
        .iter()
        .filter(|f| !f.problems.is_empty())
        .count();
    println!(
        "{} file(s), {} bridge(s) ready, {} problem(s) in {} file(s)",
        snapshot.files.len(),
        snapshot.served.len(),
        problems.len(),
        bad_files
    );
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
