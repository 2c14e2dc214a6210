//! `bridgeway check [FILE|DIR…]`: every problem in the given bridge files and directories, one
//! per line, compiler style (`file:line:column: message`), including what Genesys would refuse
//! when the bridge is exported as a data action.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bridgeway::bridge::{compile_connection_file, compile_file, is_connection};
use bridgeway::connection::Connection;
use bridgeway::file::env::EnvSource;
use bridgeway::file::locate::KeyMap;
use bridgeway::genesys::rules;
use bridgeway::{Bridge, Loader, Problem, Snapshot};
use clap::Args;

use super::BridgesDir;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Bridge files and directories to check; without any, the --bridges directory.
    #[arg(value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    bridges: BridgesDir,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let env = args.bridges.env.source()?;
    let mut report = Report::default();
    if args.paths.is_empty() {
        let dir = &args.bridges.dir;
        report
            .dir(dir, &env)
            .with_context(|| format!("cannot read the bridge directory {}", dir.display()))?;
    }
    for path in &args.paths {
        match path.is_dir() {
            true => report
                .dir(path, &env)
                .with_context(|| format!("cannot read the directory {}", path.display()))?,
            false => report.file(path, &env),
        }
    }
    let failed = !report.problems.is_empty();
    // `check | head` closes the pipe early: that ends the output, not the check.
    match report.print(&mut io::stdout().lock()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("cannot write to standard output")?,
    }
    Ok(super::exit_code(failed))
}

/// What was checked.
#[derive(Default)]
struct Report {
    files: usize,
    ready: Vec<(PathBuf, Arc<Bridge>)>,
    connections: Vec<(PathBuf, Arc<Connection>)>,
    warnings: Vec<(PathBuf, String)>,
    problems: Vec<Problem>,
}

impl Report {
    /// A directory, as `serve` loads it: conflicts between its files are problems too.
    fn dir(&mut self, dir: &Path, env: &Arc<dyn EnvSource>) -> io::Result<()> {
        let snapshot = Loader::new(dir, env.clone()).load(&Snapshot::empty())?;
        self.files += snapshot.files.len();
        self.problems.extend(snapshot.problems().cloned());
        for s in &snapshot.connections {
            self.connections
                .push((dir.join(&s.file), s.connection.clone()));
        }
        for s in &snapshot.served {
            self.bridge(dir.join(&s.file), s.bridge.clone());
        }
        Ok(())
    }

    /// One file, whatever its name.
    fn file(&mut self, path: &Path, env: &Arc<dyn EnvSource>) {
        self.files += 1;
        let text = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => return self.problems.push(Problem::new(path, "is not UTF-8 text")),
            Err(e) => {
                let message = format!("cannot be read: {e}");
                return self.problems.push(Problem::new(path, message));
            }
        };
        if is_connection(&text) {
            match compile_connection_file(path, &text, env).0 {
                Ok(c) => self.connections.push((path.to_owned(), Arc::new(c))),
                Err(problems) => self.problems.extend(problems),
            }
            return;
        }
        // The connections a bridge may name are those of its own directory.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let neighbours = Loader::new(dir.unwrap_or(Path::new(".")), env.clone())
            .load(&Snapshot::empty())
            .map(|s| s.connections)
            .unwrap_or_default();
        let mut lookup = |name: &str| {
            neighbours
                .iter()
                .find(|c| c.connection.name == name)
                .map(|c| c.connection.clone())
        };
        match compile_file(path, &text, env, &mut lookup).0 {
            Ok(bridge) => self.bridge(path.to_owned(), Arc::new(bridge)),
            Err(problems) => self.problems.extend(problems),
        }
    }

    /// A bridge that loads: ready unless Genesys would refuse it.
    fn bridge(&mut self, path: PathBuf, bridge: Arc<Bridge>) {
        // Warnings do not change the exit status.
        for warning in &bridge.warnings {
            self.warnings.push((path.clone(), warning.clone()));
        }
        let genesys = rules::keyed_problems(&bridge);
        if genesys.is_empty() {
            self.ready.push((path, bridge));
            return;
        }
        let keys = std::fs::read_to_string(&path)
            .map(|text| KeyMap::of(&text))
            .unwrap_or_default();
        self.problems
            .extend(genesys.into_iter().map(|(key, message)| Problem {
                location: keys.locate(&format!("{key}: {message}")),
                file: path.clone(),
                message,
            }));
    }

    fn print(&mut self, out: &mut impl Write) -> io::Result<()> {
        for (path, c) in &self.connections {
            writeln!(out, "ok    {}: connection {}", path.display(), c.name)?;
        }
        for (path, b) in &self.ready {
            let (name, method, route) = (&b.name, &b.method, &b.path);
            writeln!(out, "ok    {}: {name} {method} {route}", path.display())?;
        }
        for (path, warning) in &self.warnings {
            writeln!(out, "{}: warning: {warning}", path.display())?;
        }
        self.problems.sort_by_key(|p| {
            let at = p.location.map_or((usize::MAX, 0), |l| (l.line, l.column));
            (p.file.clone(), at)
        });
        for p in &self.problems {
            writeln!(out, "error {p}")?;
        }
        let mut bad: Vec<&Path> = self.problems.iter().map(|p| p.file.as_path()).collect();
        bad.dedup();
        writeln!(
            out,
            "{} file(s), {} bridge(s) ready, {} problem(s) in {} file(s)",
            self.files,
            self.ready.len(),
            self.problems.len(),
            bad.len()
        )?;
        out.flush()
    }
}
