//! What editors, shells and `man` read, generated from the definitions they describe: the JSON
//! Schema from the serde types of the bridge file, completions and the man page from clap's.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use super::Cli;

pub fn schema() -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&bridgeway::file::json_schema())?;
    write_out(format!("{text}\n").as_bytes())
}

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "bridgeway", &mut out);
    write_out(&out)
}

pub fn man() -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    write_out(&out)
}

/// Writes to stdout; a reader that closed the pipe early (`| head`) ends it quietly.
fn write_out(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
