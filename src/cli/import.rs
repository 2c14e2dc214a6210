//! `bridgeway import genesys`: exported data actions become bridge and connection files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bridgeway::genesys::import::{Options, Source, import};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Data actions exported from Genesys Cloud (`*.json`), as bridges and connections.
    Genesys(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Exported action files, or directories of them (`*.json`).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Where to write the bridge and connection files.
    #[arg(long)]
    out: PathBuf,
    /// Routes are `POST <prefix>/<slug of the action name>`.
    #[arg(long, default_value = "/actions")]
    route_prefix: String,
    /// Replace files that already exist in --out.
    #[arg(long)]
    force: bool,
}

fn sources(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            Ok(Source {
                name: f.display().to_string(),
                text,
            })
        })
        .collect()
}

pub fn run(ImportSource::Genesys(args): ImportSource) -> anyhow::Result<ExitCode> {
    let sources = sources(&args.paths)?;
    let report = import(
        &sources,
        &Options {
            route_prefix: args.route_prefix.clone(),
        },
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut failed = false;
    for written in &report.written {
        let path = args.out.join(&written.file);
        if path.exists() && !args.force {
            eprintln!(
                "error: {} exists (use --force to replace it)",
                path.display()
            );
            failed = true;
            continue;
        }
        write(&path, &written.text)?;
        let env = if written.env.is_empty() {
            String::new()
        } else {
            format!(" (set {})", written.env.join(", "))
        };
        println!("wrote {}{env}", path.display());
    }
    for todo in &report.todos {
        eprintln!("TODO(import) {todo}");
    }
    for refused in &report.refused {
        eprintln!("error {refused}");
    }
    let code = match report.exit_code() {
        0 if failed => 1,
        code => code,
    };
    Ok(ExitCode::from(code))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
