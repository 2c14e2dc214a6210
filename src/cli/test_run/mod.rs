//! `bridgeway test`: runs the `tests:` of bridge files offline. Each test's recorded answers are
//! served by a loopback stand-in upstream ([`stand_in`]), and its input goes through the same
//! sequence `serve` runs: [`pipeline::run`] with the real fetch client, which for this command
//! sends every origin to the stand-in. Token requests of `oauth2` credentials go to a stand-in
//! token endpoint that always grants [`stand_in::TEST_TOKEN`]. One line per test, the
//! differences under a failed one, exit 1 when any failed.

mod compare;
mod junit;
mod stand_in;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bridgeway::file::env::EnvSource;
use bridgeway::file::{self, BridgeTest, RecordedAnswer};
use bridgeway::pipeline::{self, Context, Credentials};
use bridgeway::routes::snapshot::Served;
use bridgeway::stages::fetch::Client;
use bridgeway::stages::upstream_auth::oauth2;
use bridgeway::{Bridge, Loader, Settings, Snapshot};
use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

use super::TestArgs;
use junit::{Case, Suite};
use stand_in::{Received, StandIn};

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let env = args.bridges.env.source()?;
    let dir = &args.bridges.dir;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stand_in = runtime
        .block_on(StandIn::start())
        .context("cannot start the stand-in upstream on 127.0.0.1")?;
    let token = runtime
        .block_on(stand_in::token_endpoint())
        .context("cannot start the stand-in token endpoint on 127.0.0.1")?;
    // Before loading: token sources are made when the bridges compile.
    oauth2::send_token_requests_to(token);
    let snapshot = Loader::new(dir, env.clone())
        .load(&Snapshot::empty())
        .with_context(|| format!("cannot read the bridge directory {}", dir.display()))?;
    let mut suites = load_failures(&snapshot, &args.names);
    let mut missing = false;
    for name in &args.names {
        if snapshot.bridge(name).is_none() {
            eprintln!(
                "error: no bridge named `{name}` loaded from {}",
                dir.display()
            );
            missing = true;
        }
    }
    let selected: Vec<&Served> = snapshot
        .served
        .iter()
        .filter(|s| args.names.is_empty() || args.names.contains(&s.bridge.name))
        .collect();
    suites.extend(runtime.block_on(run_bridges(&stand_in, &selected, dir, &env)));
    let failed = report(&suites);
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::write(&suites))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(super::exit_code(failed || missing))
}

/// Every load problem, printed; a file that does not load cannot be tested, so each fails the
/// run as a `loads` test of its own, unless names single out other bridges.
fn load_failures(snapshot: &Snapshot, names: &[String]) -> Vec<Suite> {
    let mut suites = Vec::new();
    for p in snapshot.problems() {
        eprintln!("error {p}");
        if names.is_empty() {
            let file = p.file.file_name().unwrap_or_default().to_string_lossy();
            suites.push(failed_to_load(&file, p.to_string()));
        }
    }
    suites
}

fn failed_to_load(file: &str, why: String) -> Suite {
    Suite {
        name: file.to_owned(),
        cases: vec![Case {
            name: "loads".into(),
            time: Duration::ZERO,
            failures: vec![why],
        }],
    }
}

async fn run_bridges(
    stand_in: &StandIn,
    selected: &[&Served],
    dir: &Path,
    env: &Arc<dyn EnvSource>,
) -> Vec<Suite> {
    let settings = Settings::default();
    let client = Client::with_stand_in(settings.max_upstream_body, stand_in.addr);
    let cx = Context {
        client: &client,
        limits: settings.limits(),
        // The tests exercise the bridge's work, not its callers' credentials.
        credentials: Credentials::Trust,
    };
    let mut suites = Vec::new();
    for served in selected {
        let bridge = &served.bridge;
        let path = dir.join(&served.file);
        let tests = match tests_of(&path, env) {
            Ok(tests) => tests,
            // Changed between the load and now: reported like any file that does not load.
            Err(e) => {
                let why = format!("{}: {e}", path.display());
                eprintln!("error {why}");
                suites.push(failed_to_load(&served.file, why));
                continue;
            }
        };
        suites.push(run_suite(&cx, stand_in, bridge, &tests).await);
    }
    suites
}

/// One bridge's tests, in order, each printed as it ends.
async fn run_suite(
    cx: &Context<'_>,
    stand_in: &StandIn,
    bridge: &Bridge,
    tests: &[BridgeTest],
) -> Suite {
    if tests.is_empty() {
        println!("--    {}: no tests", bridge.name);
    }
    let mut cases: Vec<Case> = Vec::new();
    for test in tests {
        let mut case = run_test(cx, stand_in, bridge, test).await;
        // A report (and JUnit) names tests by name: two alike could not be told apart.
        if cases.iter().any(|c| c.name == test.name) {
            case.failures
                .push("name: an earlier test of this bridge has the same name".into());
        }
        print_case(&bridge.name, &case);
        cases.push(case);
    }
    Suite {
        name: bridge.name.clone(),
        cases,
    }
}

/// The `tests:` of a file that has just compiled; parsed again since the served bridge does not
/// keep them.
fn tests_of(path: &Path, env: &Arc<dyn EnvSource>) -> anyhow::Result<Vec<BridgeTest>> {
    let text = std::fs::read_to_string(path)?;
    let (parsed, _) = file::parse_in::<file::BridgeFile>(&text, env, path.parent());
    let first = |errors: Vec<file::ParseError>| {
        let message = errors.into_iter().next().map(|e| e.message);
        anyhow::anyhow!(message.unwrap_or_default())
    };
    Ok(parsed.map_err(first)?.0.tests)
}

async fn run_test(
    cx: &Context<'_>,
    stand_in: &StandIn,
    bridge: &Bridge,
    test: &BridgeTest,
) -> Case {
    let started = Instant::now();
    let answers = &test.upstream.0;
    let mut failures = check_answers(answers);
    if failures.is_empty() {
        stand_in.load(answers.clone());
        let (status, body) = send(cx, bridge, &test.input).await;
        let received = stand_in.received();
        compare_all(test, status, &body, &received, &mut failures);
    }
    Case {
        name: test.name.clone(),
        time: started.elapsed(),
        failures: failures.iter().map(|f| bridge.secrets.mask(f)).collect(),
    }
}

/// The gateway's status and body for `input` on the bridge's route, as `serve` would answer.
async fn send(cx: &Context<'_>, bridge: &Bridge, input: &Value) -> (u16, Vec<u8>) {
    let request = http::Request::builder()
        .method(bridge.method.clone())
        .uri(bridge.path.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(input.to_string())))
        .expect("a method and path the bridge compiled make a valid request");
    match pipeline::run(cx, bridge, request, "test", &mut ()).await {
        Ok(reply) => (200, reply.body),
        Err(failure) => (
            failure.error.status().as_u16(),
            failure.error.to_json(Some(&bridge.name), "test"),
        ),
    }
}

/// Recorded answers the stand-in could not give.
fn check_answers(answers: &[RecordedAnswer]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let at = index("upstream", i, answers.len());
        if !(200..600).contains(&a.status) {
            out.push(format!(
                "{at}.status: {} is not a final HTTP status (200-599)",
                a.status
            ));
        }
        for (name, value) in &a.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(&value.0).is_err()
            {
                out.push(format!("{at}.headers.{name}: not a valid header"));
            }
        }
    }
    out
}

fn compare_all(
    test: &BridgeTest,
    status: u16,
    body: &[u8],
    got: &[Received],
    out: &mut Vec<String>,
) {
    let reply: Option<Value> = serde_json::from_slice(body).ok();
    let expect = &test.expect;
    if let Some(want) = expect.status
        && want != status
    {
        let why = reply
            .as_ref()
            .and_then(|r| r.pointer("/error"))
            .map(|e| {
                format!(
                    " ({}: {}{})",
                    text(&e["code"]),
                    text(&e["message"]),
                    details(e)
                )
            })
            .unwrap_or_default();
        out.push(format!("status: expected {want}, got {status}{why}"));
    }
    if let Some(want) = &expect.output {
        compare::subset("output", want, reply.as_ref(), out);
    }
    let answers = test.upstream.0.len();
    if got.len() != answers {
        out.push(format!(
            "upstream: the test recorded {answers} answer(s), the bridge made {} call(s)",
            got.len()
        ));
    }
    let wanted = &expect.request.0;
    for (i, want) in wanted.iter().enumerate() {
        let at = index("request", i, wanted.len());
        match got.get(i) {
            Some(received) => compare::request(&at, want, received, out),
            None => out.push(format!(
                "{at}: expected a call, the bridge made {}",
                got.len()
            )),
        }
    }
}

/// An input error's `details`, as `; field: message` each.
fn details(error: &Value) -> String {
    let Some(details) = error["details"].as_array() else {
        return String::new();
    };
    details
        .iter()
        .map(|d| format!("; {}: {}", text(&d["field"]), text(&d["message"])))
        .collect()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// `key` alone for a single item, `key[i]` in a list.
fn index(key: &str, i: usize, of: usize) -> String {
    match of {
        1 => key.to_owned(),
        _ => format!("{key}[{i}]"),
    }
}

fn print_case(bridge: &str, case: &Case) {
    let mark = if case.failures.is_empty() {
        "ok  "
    } else {
        "FAIL"
    };
    println!(
        "{mark}  {bridge}: {} ({:.1} ms)",
        case.name,
        case.time.as_secs_f64() * 1000.0
    );
    for f in &case.failures {
        println!("        {f}");
    }
}

/// The summary line; whether anything failed.
fn report(suites: &[Suite]) -> bool {
    let cases: Vec<&Case> = suites.iter().flat_map(|s| &s.cases).collect();
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count();
    println!(
        "{} test(s), {} passed, {failed} failed",
        cases.len(),
        cases.len() - failed
    );
    failed > 0
}
