//! `bridgeway try NAME --input JSON`: one request through one bridge, on the same sequence
//! `serve` runs ([`pipeline::run`]), each step printed as it is made. Inbound credentials are
//! checked when `--header` gives some (as `serve` would); without any, whoever runs this is
//! trusted, since they already hold the files.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bridgeway::pipeline::{self, Context, Credentials, Observer, RequestError};
use bridgeway::stages::fetch::{Client, FetchError, UpstreamRequest, UpstreamResponse};
use bridgeway::stages::upstream_auth::{TokenError, TokenStep};
use bridgeway::stages::validate::{FieldProblem, InputError, ValidInput};
use bridgeway::{Bridge, Settings, Snapshot};
use bytes::Bytes;
use http_body_util::Full;

use super::TryArgs;

pub fn run(args: TryArgs) -> anyhow::Result<ExitCode> {
    let snapshot = args
        .bridges
        .loader()?
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
    let request = request(&args, bridge)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let credentials = match args.header.is_empty() {
        true => Credentials::Trust,
        false => Credentials::Check,
    };
    let steps = Steps {
        show_body: args.show_body,
        ..Steps::default()
    };
    Ok(runtime.block_on(run_steps(bridge, request, credentials, steps)))
}

/// The request `serve` would receive on the bridge's route: the JSON input, with the given
/// headers.
fn request(args: &TryArgs, bridge: &Bridge) -> anyhow::Result<http::Request<Full<Bytes>>> {
    let mut request = http::Request::builder()
        .method(bridge.method.clone())
        .uri(bridge.path.as_str())
        .header(http::header::CONTENT_TYPE, "application/json");
    for header in &args.header {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header `{header}`: write it as NAME: VALUE"))?;
        request = request.header(name.trim(), value.trim());
    }
    Ok(request.body(Full::new(Bytes::from(args.input.clone())))?)
}

async fn run_steps(
    bridge: &Bridge,
    request: http::Request<Full<Bytes>>,
    credentials: Credentials,
    mut steps: Steps,
) -> ExitCode {
    say!(
        "bridge   {} ({} {})",
        bridge.name,
        bridge.method,
        bridge.path
    );
    let settings = Settings::default();
    let client = Client::new(settings.max_upstream_body);
    let cx = Context {
        client: &client,
        limits: settings.limits(),
        credentials,
    };
    match pipeline::run(&cx, bridge, request, "try", &mut steps).await {
        Ok(reply) => {
            let body = String::from_utf8_lossy(&reply.body);
            say!("map      {}", bridge.secrets.mask(&body));
            say!("answer   200");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            steps.failed(bridge, &failure.error);
            ExitCode::FAILURE
        }
    }
}

/// Prints each step as the sequence makes it, and remembers how far it got.
#[derive(Default)]
struct Steps {
    validated: bool,
    fetched: bool,
    /// `--show-body`: print the upstream's answer body too.
    show_body: bool,
}

impl Observer for Steps {
    fn validated(&mut self, _: &Bridge, input: &ValidInput) {
        self.validated = true;
        say!("validate {}", input.fields());
    }

    fn rendered(&mut self, bridge: &Bridge, request: &UpstreamRequest) {
        say!("render   {}", indent(&request.describe(&bridge.secrets)));
    }

    fn token(&mut self, _: &Bridge, step: Result<&TokenStep, &TokenError>) {
        // The token itself is never printed: it is a credential like any other.
        match step {
            Ok(TokenStep::Cached) => println!("token    cached (Authorization: Bearer ***)"),
            Ok(TokenStep::Fetched { took, lifetime }) => println!(
                "token    fetched in {:.1} ms, {} (Authorization: Bearer ***)",
                took.as_secs_f64() * 1000.0,
                match lifetime {
                    Some(l) => format!("valid for {} s", l.as_secs()),
                    None => "no lifetime given".to_owned(),
                }
            ),
            Err(e) => println!("token    failed: {e}"),
        }
    }

    fn fetched(&mut self, bridge: &Bridge, fetched: &Result<UpstreamResponse, FetchError>) {
        self.fetched = true;
        match fetched {
            Ok(r) => {
                say!(
                    "fetch    {} in {:.1} ms, {} bytes",
                    r.status,
                    r.elapsed.as_secs_f64() * 1000.0,
                    r.body.len()
                );
                if self.show_body {
                    let body = String::from_utf8_lossy(&r.body);
                    say!("body     {}", indent(&bridge.secrets.mask(&body)));
                }
            }
            Err(e) => say!("fetch    failed: {e}"),
        }
    }
}

impl Steps {
    /// The failure, at the step that made it.
    fn failed(&self, bridge: &Bridge, error: &RequestError) {
        if self.fetched {
            let body = error.to_json(Some(&bridge.name), "try");
            let body = String::from_utf8_lossy(&body);
            say!("map      {}", bridge.secrets.mask(&body));
            say!("answer   {}", error.status().as_u16());
            return;
        }
        let step = match error {
            RequestError::Unauthorized(_) => "auth",
            RequestError::Input(_) if self.validated => "render",
            RequestError::Input(_) => "validate",
            _ => "input",
        };
        let message = match error {
            RequestError::Input(InputError(problems)) => list(problems),
            other => other.to_string(),
        };
        say!("{step:<8} failed: {message}");
    }
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
