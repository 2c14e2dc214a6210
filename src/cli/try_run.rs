//! `bridgeway try NAME --input JSON`: one request through one bridge, each step printed.
//! Inbound credentials are not asked for: whoever runs this already holds the files.

use std::process::ExitCode;

use anyhow::{Context, bail};
use bridgeway::fetch::Upstream;
use bridgeway::inbound::Inbound;
use bridgeway::validate::FieldProblem;
use bridgeway::{Bridge, Snapshot, pipeline};

use super::TryArgs;

pub fn run(args: TryArgs) -> anyhow::Result<ExitCode> {
    let snapshot = args
        .bridges
        .loader()
        .load(&Snapshot::empty())
        .with_context(|| {
            format!(
                "cannot read the bridge directory {}",
                args.bridges.dir.display()
            )
        })?;
    let Some(bridge) = snapshot.bridge(&args.name) else {
        for p in snapshot.problems() {
            eprintln!("error {p}");
        }
        bail!(
            "no bridge named `{}` loaded from {}",
            args.name,
            args.bridges.dir.display()
        );
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(run_steps(bridge, &args.input)))
}

async fn run_steps(bridge: &Bridge, input: &str) -> ExitCode {
    println!(
        "bridge   {} ({} {})",
        bridge.name, bridge.method, bridge.path
    );
    let inbound = match Inbound::parse_json(input.as_bytes()) {
        Ok(inbound) => inbound,
        Err(e) => return fail("input", &e.to_string()),
    };
    let valid = match bridge.input.validate(inbound) {
        Ok(valid) => valid,
        Err(problems) => return fail("validate", &list(&problems)),
    };
    println!("validate {}", valid.fields());
    let request = match bridge.upstream.render(&valid, "try") {
        Ok(request) => request,
        Err(problems) => return fail("render", &list(&problems)),
    };
    println!("render   {}", indent(&request.describe(&bridge.secrets)));
    let fetched = Upstream::new(bridgeway::fetch::DEFAULT_MAX_UPSTREAM_BODY)
        .send(request)
        .await;
    match &fetched {
        Ok(r) => println!(
            "fetch    {} in {:.1} ms, {} bytes",
            r.status,
            r.elapsed.as_secs_f64() * 1000.0,
            r.body.len()
        ),
        Err(e) => println!("fetch    failed: {e}"),
    }
    match pipeline::respond(bridge, fetched) {
        Ok(body) => {
            println!(
                "map      {}",
                bridge.secrets.mask(&String::from_utf8_lossy(&body))
            );
            println!("answer   200");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let body = e.to_json(Some(&bridge.name), "try");
            println!(
                "map      {}",
                bridge.secrets.mask(&String::from_utf8_lossy(&body))
            );
            println!("answer   {}", e.status().as_u16());
            ExitCode::FAILURE
        }
    }
}

fn fail(step: &str, message: &str) -> ExitCode {
    println!("{step:<8} failed: {message}");
    ExitCode::FAILURE
}

fn list(problems: &[FieldProblem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect();
    lines.join("\n         ")
}

fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n         ")
}
