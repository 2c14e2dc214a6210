//! `bridgeway check`: every problem in the bridge directory, one per line, compiler style,
//! including what Genesys would refuse when the bridge is exported as a data action.

use std::process::ExitCode;

use anyhow::Context;
use bridgeway::genesys::rules;
use bridgeway::{Problem, Snapshot};

use super::BridgesDir;

pub fn run(dir: &BridgesDir) -> anyhow::Result<ExitCode> {
    let snapshot = dir
        .loader()
        .load(&Snapshot::empty())
        .with_context(|| format!("cannot read the bridge directory {}", dir.dir.display()))?;
    let mut problems: Vec<Problem> = snapshot.problems().cloned().collect();
    let mut ready = 0;
    for s in &snapshot.served {
        let genesys = rules::problems(&s.bridge);
        if genesys.is_empty() {
            ready += 1;
            println!(
                "ok    {}: {} {} {}",
                s.file, s.bridge.name, s.bridge.method, s.bridge.path
            );
        }
        let path = dir.dir.join(&s.file);
        // Warnings do not change the exit status.
        for warning in &s.bridge.warnings {
            println!("{}: warning: {warning}", path.display());
        }
        problems.extend(genesys.into_iter().map(|m| Problem::new(&path, m)));
    }
    problems.sort_by(|a, b| a.file.cmp(&b.file));
    for p in &problems {
        println!("error {p}");
    }
    let mut bad: Vec<&std::path::Path> = problems.iter().map(|p| p.file.as_path()).collect();
    bad.dedup();
    let bad_files = bad.len();
    println!(
        "{} file(s), {} bridge(s) ready, {} problem(s) in {} file(s)",
        snapshot.files.len(),
        ready,
        problems.len(),
        bad_files
    );
    Ok(super::exit_code(!problems.is_empty()))
}
