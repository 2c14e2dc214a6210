//! `bridgeway export genesys` and `bridgeway genesys deploy|test`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use bridgeway::genesys::api::{Platform, PlatformConfig, region_domain};
use bridgeway::genesys::deploy::{DeployOptions, deploy};
use bridgeway::genesys::export::{Credential, action_file};
use bridgeway::genesys::rules;
use bridgeway::{Bridge, Snapshot};
use clap::{Args, Subcommand};
use http::Method;
use serde_json::Value;

use super::BridgesDir;

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// One `<name>.custom.json` per bridge, to import in Genesys (Admin → Integrations → Actions → Import).
    Genesys(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The gateway's public HTTPS address, as Genesys will call it.
    #[arg(long, env = "BRIDGEWAY_BASE_URL")]
    base_url: String,
    #[command(flatten)]
    bridges: BridgesDir,
    /// Where to write the action files.
    #[arg(long, default_value = "genesys-actions")]
    out: PathBuf,
    /// Only these bridges (default: all).
    names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum GenesysCommand {
    /// Create or update the data actions of an integration from the bridges.
    Deploy(DeployArgs),
    /// Run an action's test in Genesys and print each step.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Only these bridges (default: all).
    names: Vec<String>,
    /// The Web Services Data Actions integration to deploy into.
    #[arg(long, env = "GENESYS_CLOUD_INTEGRATION_ID")]
    integration_id: String,
    /// The action category.
    #[arg(long, default_value = "bridgeway")]
    category: String,
    /// Print the calls that would change something instead of making them.
    #[arg(long)]
    dry_run: bool,
    /// When a contract changed, create a new action (flows must be repointed to it).
    #[arg(long)]
    replace: bool,
    /// The gateway's public HTTPS address, as Genesys will call it.
    #[arg(long, env = "BRIDGEWAY_BASE_URL")]
    base_url: String,
    #[command(flatten)]
    bridges: BridgesDir,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The action's name (the bridge's name).
    name: String,
    /// The input JSON object.
    #[arg(long)]
    input: String,
    #[command(flatten)]
    platform: PlatformArgs,
}

/// Where the Platform API is. Client id and secret come from the environment only
/// (`GENESYS_CLOUD_CLIENT_ID`, `GENESYS_CLOUD_CLIENT_SECRET`), never from flags.
#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// A region domain (mypurecloud.ie) or name (eu_west_1).
    #[arg(long, env = "GENESYS_CLOUD_REGION")]
    region: Option<String>,
    /// Overrides the API address (default https://api.<region domain>).
    #[arg(long, env = "GENESYS_CLOUD_API_BASE_URL")]
    api_base_url: Option<String>,
    /// Overrides the login address (default https://login.<region domain>).
    #[arg(long, env = "GENESYS_CLOUD_LOGIN_BASE_URL")]
    login_base_url: Option<String>,
}

impl PlatformArgs {
    fn config(&self) -> anyhow::Result<PlatformConfig> {
        let domain = || -> anyhow::Result<String> {
            let region = self
                .region
                .as_deref()
                .context("set GENESYS_CLOUD_REGION (or --api-base-url and --login-base-url)")?;
            region_domain(region).map_err(anyhow::Error::msg)
        };
        let api_base = match &self.api_base_url {
            Some(url) => url.clone(),
            None => format!("https://api.{}", domain()?),
        };
        let login_base = match &self.login_base_url {
            Some(url) => url.clone(),
            None => format!("https://login.{}", domain()?),
        };
        let var = |name: &str| std::env::var(name).with_context(|| format!("set {name}"));
        Ok(PlatformConfig {
            api_base,
            login_base,
            client_id: var("GENESYS_CLOUD_CLIENT_ID")?,
            client_secret: var("GENESYS_CLOUD_CLIENT_SECRET")?,
        })
    }
}

/// The bridges to work on: the named ones (each must load) or every one that loads.
fn select(dir: &BridgesDir, names: &[String]) -> anyhow::Result<(Vec<Arc<Bridge>>, bool)> {
    let snapshot = dir
        .loader()?
        .load(&Snapshot::empty())
        .with_context(|| format!("cannot read the bridge directory {}", dir.dir.display()))?;
    let mut failed = false;
    for file in snapshot.files.iter().filter(|f| !f.problems.is_empty()) {
        let named = names.is_empty() || file.serving.as_ref().is_some_and(|n| names.contains(n));
        if named || file.serving.is_none() {
            file.problems.iter().for_each(|p| eprintln!("error {p}"));
            failed |= names.is_empty();
        }
    }
    let mut bridges = Vec::new();
    for s in &snapshot.served {
        if names.is_empty() || names.contains(&s.bridge.name) {
            bridges.push(s.bridge.clone());
        }
    }
    for name in names.iter().filter(|n| snapshot.bridge(n).is_none()) {
        eprintln!(
            "error: no bridge named `{name}` loaded from {}",
            dir.dir.display()
        );
        failed = true;
    }
    Ok((bridges, failed))
}

fn warn_if_not_https(base_url: &str) {
    if !base_url.starts_with("https://") {
        eprintln!(
            "warning: {base_url} is not https: Genesys calls data actions over HTTPS, with a publicly trusted certificate and its full chain"
        );
    }
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    warn_if_not_https(&args.base_url);
    let (bridges, mut failed) = select(&args.bridges, &args.names)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for bridge in bridges {
        match action_file(&bridge, &args.base_url) {
            Ok(action) => {
                let path = args.out.join(format!("{}.custom.json", bridge.name));
                let text = serde_json::to_string_pretty(&action)? + "\n";
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("{}: wrote {}", bridge.name, path.display());
                println!("  Genesys: {}", Credential::of(&bridge).instructions());
            }
            Err(problems) => {
                problems
                    .iter()
                    .for_each(|p| eprintln!("error {}: {p}", bridge.name));
                failed = true;
            }
        }
    }
    Ok(super::exit_code(failed))
}

pub fn run(command: GenesysCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        GenesysCommand::Deploy(args) => runtime.block_on(run_deploy(args)),
        GenesysCommand::Test(args) => runtime.block_on(run_test(args)),
    }
}

async fn run_deploy(args: DeployArgs) -> anyhow::Result<ExitCode> {
    warn_if_not_https(&args.base_url);
    let (bridges, mut failed) = select(&args.bridges, &args.names)?;
    let mut ready = Vec::new();
    for bridge in bridges {
        let problems = rules::problems(&bridge);
        problems
            .iter()
            .for_each(|p| eprintln!("error {}: {p}", bridge.name));
        failed |= !problems.is_empty();
        if problems.is_empty() {
            ready.push(bridge);
        }
    }
    let platform = Platform::login(&args.platform.config()?).await?;
    let options = DeployOptions {
        base_url: args.base_url,
        integration_id: args.integration_id,
        category: args.category,
        dry_run: args.dry_run,
        replace: args.replace,
    };
    for bridge in ready {
        match deploy(&platform, &bridge, &options).await {
            Ok(outcome) => {
                println!("{}", outcome.describe(&bridge.name));
                failed |= outcome.is_failure();
            }
            Err(e) => {
                eprintln!("error {}: {e}", bridge.name);
                failed = true;
            }
        }
    }
    Ok(super::exit_code(failed))
}

async fn run_test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let input: Value = serde_json::from_str(&args.input).context("--input is not valid JSON")?;
    let platform = Platform::login(&args.platform.config()?).await?;
    let Some(action) = platform.find_action(&args.name, None).await? else {
        bail!("no data action named `{}`", args.name);
    };
    let id = action["id"].as_str().unwrap_or_default();
    let path = format!("/api/v2/integrations/actions/{id}/test?flatten=true");
    let result = platform.call(Method::POST, &path, Some(&input)).await?;
    for op in result["operations"].as_array().into_iter().flatten() {
        let outcome = match op["success"].as_bool() {
            Some(true) => "ok".to_owned(),
            _ => format!(
                "failed: {}",
                op["error"]["message"].as_str().unwrap_or("no message")
            ),
        };
        println!(
            "step {:>2} {}: {outcome}",
            op["step"].as_u64().unwrap_or(0),
            op["name"].as_str().unwrap_or("?")
        );
    }
    if let Some(error) = result["error"]["message"].as_str() {
        println!("error    {error}");
    }
    println!("result   {}", result["finalResult"]);
    let success = result["success"].as_bool() == Some(true);
    println!("success  {success}");
    Ok(super::exit_code(!success))
}
