//! Command-line parsing and the subcommands. Flags may also come from `BRIDGEWAY_*` variables.

/// `println!` for output meant for a pipe: when the reader has gone (`try … | head`), the
/// command ends quietly (exit 141, as a shell reports SIGPIPE) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(141);
        }
    }};
}

mod check;
mod genesys;
mod import;
mod reference;
mod serve;
mod test_run;
mod try_run;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bridgeway::Loader;
use bridgeway::file::env::{EnvSource, Layered, ProcessEnv, read_env_file};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bridgeway",
    version,
    about = "A hot-reloaded API-bridge gateway: one YAML file per integration"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every bridge in the directory.
    Serve(ServeArgs),
    /// Load bridge files (the given files and directories, else --bridges), print every
    /// problem, exit 1 if there is any.
    Check(check::CheckArgs),
    /// Run one request through a bridge and print each pipeline step.
    Try(TryArgs),
    /// Run the `tests:` of bridge files against a stand-in upstream; exit 1 if any fails.
    Test(TestArgs),
    /// Print the JSON Schema (draft 2020-12) of bridge files, for editors.
    Schema,
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
    /// Write the bridges out for another system.
    #[command(subcommand)]
    Export(genesys::ExportTarget),
    /// Turn another system's definitions into bridge and connection files.
    #[command(subcommand)]
    Import(import::ImportSource),
    /// Deploy and test Genesys Cloud data actions through the Platform API.
    #[command(subcommand)]
    Genesys(genesys::GenesysCommand),
}

#[derive(Debug, Args)]
pub struct BridgesDir {
    /// The bridge directory.
    #[arg(long = "bridges", env = "BRIDGEWAY_BRIDGES", default_value = "bridges")]
    dir: PathBuf,
    #[command(flatten)]
    env: EnvFiles,
}

impl BridgesDir {
    fn loader(&self) -> anyhow::Result<Loader> {
        Ok(Loader::new(&self.dir, self.env.source()?))
    }
}

/// `--env-file`, for every command that reads bridge files.
#[derive(Debug, Clone, Default, Args)]
pub struct EnvFiles {
    /// Read `NAME=value` lines from FILE for `${VAR}` in bridge files, over the process
    /// environment (a value in the file wins). Repeatable; a later file wins. Read once, at start.
    #[arg(long = "env-file", value_name = "FILE", env = "BRIDGEWAY_ENV_FILE")]
    files: Vec<PathBuf>,
}

impl EnvFiles {
    /// Where `${VAR}` takes its values: the env files over the process environment.
    pub fn source(&self) -> anyhow::Result<Arc<dyn EnvSource>> {
        let process: Arc<dyn EnvSource> = Arc::new(ProcessEnv);
        if self.files.is_empty() {
            return Ok(process);
        }
        let mut vars = HashMap::new();
        for file in &self.files {
            vars.extend(read_env_file(file)?);
        }
        Ok(Arc::new(Layered::new(vars, process)))
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    bridges: BridgesDir,
    /// Address to listen on.
    #[arg(long, env = "BRIDGEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve the operations endpoints (/-/health, /-/ready, /-/metrics, /-/bridges) on this
    /// address, plain HTTP, and not on --listen (there /-/… answers 404).
    #[arg(long, env = "BRIDGEWAY_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
    /// Largest inbound request body, in bytes.
    #[arg(long, env = "BRIDGEWAY_MAX_BODY_BYTES", default_value_t = bridgeway::limits::MAX_BODY)]
    max_body_bytes: usize,
    /// Largest upstream answer body, in bytes (past it the answer is 502).
    #[arg(long, env = "BRIDGEWAY_MAX_UPSTREAM_BODY_BYTES", default_value_t = bridgeway::limits::MAX_UPSTREAM_BODY)]
    max_upstream_body_bytes: usize,
    /// TLS certificate chain, PEM, leaf first with its intermediates (Genesys rejects servers that
    /// omit them). Re-read when the file changes.
    #[arg(long, env = "BRIDGEWAY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM.
    #[arg(long, env = "BRIDGEWAY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long a client may take to send its request headers (slow clients are cut off).
    #[arg(long, env = "BRIDGEWAY_HEADER_READ_TIMEOUT", default_value_t = bridgeway::limits::HEADER_READ_TIMEOUT.into())]
    header_read_timeout: humantime::Duration,
    /// How long a client may take to send its whole request body once its headers are in
    /// (past it: 408).
    #[arg(long, env = "BRIDGEWAY_BODY_TIMEOUT", default_value_t = bridgeway::limits::BODY_TIMEOUT.into())]
    body_timeout: humantime::Duration,
    /// Most headers one request may carry (past it: 431).
    #[arg(long, env = "BRIDGEWAY_MAX_HEADERS", default_value_t = bridgeway::limits::MAX_HEADERS)]
    max_headers: usize,
    /// Largest request head, request line and headers, in bytes (past it: 431; at least 8192).
    #[arg(long, env = "BRIDGEWAY_MAX_HEADER_BYTES", default_value_t = bridgeway::limits::MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// Deepest nesting of a JSON body (Genesys allows 50).
    #[arg(long, env = "BRIDGEWAY_MAX_JSON_DEPTH", default_value_t = bridgeway::limits::MAX_JSON_DEPTH)]
    max_json_depth: usize,
    /// Requests one bridge answers at once; past it, 503 with Retry-After.
    #[arg(
        long,
        env = "BRIDGEWAY_MAX_IN_FLIGHT_PER_BRIDGE",
        default_value_t = bridgeway::limits::MAX_IN_FLIGHT_PER_BRIDGE
    )]
    max_in_flight_per_bridge: usize,
    /// After SIGTERM or SIGINT, keep serving this long with /-/ready answering 503, so that load
    /// balancers stop sending first; then stop accepting (a second signal ends it early).
    #[arg(long, env = "BRIDGEWAY_DRAIN_DELAY", default_value_t = bridgeway::limits::DRAIN_DELAY.into())]
    drain_delay: humantime::Duration,
    /// How long requests in flight may take to finish once the gateway stops accepting.
    #[arg(long, env = "BRIDGEWAY_SHUTDOWN_GRACE", default_value_t = bridgeway::limits::SHUTDOWN_GRACE.into())]
    shutdown_grace: humantime::Duration,
    /// Worker threads, each serving its share of connections start to end (default: one per core).
    #[arg(long, env = "BRIDGEWAY_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// Log lines as text or as one JSON object each.
    #[arg(long, env = "BRIDGEWAY_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log request and upstream bodies (at debug level, with secret values masked).
    #[arg(long, env = "BRIDGEWAY_LOG_BODIES")]
    log_bodies: bool,
    /// Do not watch the directory; reload only on SIGHUP and the periodic rescan.
    #[arg(long, env = "BRIDGEWAY_NO_WATCH")]
    no_watch: bool,
    /// Reload this often even without a change event (for NFS and the like); 0 turns it off.
    #[arg(long, env = "BRIDGEWAY_RESCAN_INTERVAL", default_value_t = bridgeway::limits::RESCAN_INTERVAL.into())]
    rescan_interval: humantime::Duration,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct TryArgs {
    /// The bridge's name.
    name: String,
    /// The inbound JSON object.
    #[arg(long)]
    input: String,
    /// A request header, `NAME: VALUE` (repeatable). With any given, the bridge's inbound
    /// credentials are checked as `serve` checks them; without, they are not asked for.
    #[arg(long = "header", short = 'H')]
    header: Vec<String>,
    /// Also print the upstream's answer body (secret values masked).
    #[arg(long)]
    show_body: bool,
    #[command(flatten)]
    bridges: BridgesDir,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Test only these bridges (by name); default: every bridge in the directory.
    names: Vec<String>,
    /// Also write the results as JUnit XML to this file.
    #[arg(long)]
    junit: Option<PathBuf>,
    #[command(flatten)]
    bridges: BridgesDir,
}

/// Exit 1 when anything failed, 0 otherwise.
fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(&args),
        Command::Try(args) => try_run::run(args),
        Command::Test(args) => test_run::run(args),
        Command::Schema => reference::schema(),
        Command::Completions { shell } => reference::completions(shell),
        Command::Man => reference::man(),
        Command::Export(genesys::ExportTarget::Genesys(args)) => genesys::export(args),
        Command::Import(source) => import::run(source),
        Command::Genesys(command) => genesys::run(command),
    }
}
