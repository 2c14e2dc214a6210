//! Secrets (an inbound API key, a Basic password, an upstream token from the environment; the
//! values under `upstream.auth` and a `${file:}` secret) run through success and every error
//! path of the real binary; neither the logs, the status page, the metrics nor any response may
//! ever contain one, nor the output of `check` and `try`. Run twice: with the default logging,
//! and with everything on (`RUST_LOG=debug`, `--log-bodies`, JSON lines).
//!
//! The `upstream.auth` values come from variables whose names do not look secret: they are
//! masked because of where they stand.

use std::time::Duration;

use crate::support::{Server, bridge_dir, closed_port};
use base64::Engine;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INBOUND_KEY: &str = "inbound-key-7f3a9c";
const INBOUND_PASS: &str = "inbound-pass-91bd2e";
const UPSTREAM_TOKEN: &str = "upstream-token-c4e8d1";
const AUTH_PASS: &str = "auth-pass-5e6f7a:ü";
const AUTH_BEARER: &str = "auth-bearer-0b1c2d";
const AUTH_KEY: &str = "auth-key-8a9b&c=d";
const FILE_SECRET: &str = "file-secret-3c4d5e";
/// The Basic header as sent, `svc:AUTH_PASS` in base64.
const AUTH_BASIC_B64: &str = "c3ZjOmF1dGgtcGFzcy01ZTZmN2E6w7w=";
/// The API key as it stands query-encoded in the URL.
const AUTH_KEY_ENCODED: &str = "auth-key-8a9b%26c%3Dd";
const SECRETS: [&str; 9] = [
    INBOUND_KEY,
    INBOUND_PASS,
    UPSTREAM_TOKEN,
    AUTH_PASS,
    AUTH_BEARER,
    AUTH_KEY,
    FILE_SECRET,
    AUTH_BASIC_B64,
    AUTH_KEY_ENCODED,
];

/// Outbound credentials of every kind, on success and failure paths.
const CREDS_BASIC: &str = r#"
route: { path: /creds-basic }
input: { p: { type: string, required: true } }
upstream:
  url: "${UP}/{{input.p}}"
  auth: { basic: { username: svc, password: "${SVC_P}" } }
  timeout: 300ms
output: { status: { from: status } }
"#;

const CREDS_QUERY: &str = r#"
route: { path: /creds-query }
input: { p: { type: string, required: true } }
upstream:
  url: "${UP}/{{input.p}}"
  auth: { api_key: { query: key, value: "${SVC_K}" } }
  timeout: 300ms
output: { status: { from: status } }
"#;

const CREDS_DOWN: &str = r#"
route: { path: /creds-down }
upstream:
  url: "http://127.0.0.1:${DOWN_PORT}/x"
  auth: { bearer: "${SVC_B}" }
"#;

const CREDS_FILE: &str = r#"
route: { path: /creds-file }
input: { p: { type: string, required: true } }
upstream:
  method: POST
  url: "${UP}/{{input.p}}"
  auth: { api_key: { header: X-Svc, value: "${file:secrets/svc}" } }
  form: { note: "pre-${file:secrets/svc}-post", p: "{{input.p}}" }
output: { status: { from: status } }
"#;

/// Fails to load with the file secret in the failing spot.
const BROKEN_FILE: &str = "route: { path: /broken-file }\nupstream: { url: 'http://h/', headers: { '${file:secrets/svc} bad': x } }\n";

/// A bridge directory holding every bridge above and the secret file.
fn secret_bridges() -> tempfile::TempDir {
    let dir = bridge_dir(&[
        ("keyed.yaml", KEYED),
        ("basic.yaml", BASIC),
        ("down.yaml", DOWN),
        ("broken.yaml", BROKEN),
        ("creds-basic.yaml", CREDS_BASIC),
        ("creds-query.yaml", CREDS_QUERY),
        ("creds-down.yaml", CREDS_DOWN),
        ("creds-file.yaml", CREDS_FILE),
        ("broken-file.yaml", BROKEN_FILE),
    ]);
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/svc"), format!("{FILE_SECRET}\n")).unwrap();
    dir
}

fn secret_env(up: &str, down_port: &str) -> Vec<(String, String)> {
    [
        ("UP", up),
        ("INBOUND_KEY", INBOUND_KEY),
        ("INBOUND_PASS", INBOUND_PASS),
        ("UPSTREAM_TOKEN", UPSTREAM_TOKEN),
        ("SVC_P", AUTH_PASS),
        ("SVC_B", AUTH_BEARER),
        ("SVC_K", AUTH_KEY),
        ("DOWN_PORT", down_port),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
    }
}

const KEYED: &str = r#"
route: { path: /keyed }
auth: { api_key: { header: X-API-Key, value: "${INBOUND_KEY}" } }
input: { p: { type: string, required: true } }
upstream:
  url: "${UP}/{{input.p}}?key=${UPSTREAM_TOKEN}"
  headers: { Authorization: "Bearer ${UPSTREAM_TOKEN}" }
  timeout: 300ms
output:
  status: { from: status }
  title: { path: $.title, type: string, required: true }
"#;

const BASIC: &str = r#"
route: { path: /basic }
auth: { basic: { username: genesys, password: "${INBOUND_PASS}" } }
upstream: { url: "${UP}/ok", headers: { X-Token: "${UPSTREAM_TOKEN}" } }
output: { status: { from: status } }
"#;

const DOWN: &str = r#"
route: { path: /down }
upstream: { url: "http://127.0.0.1:${DOWN_PORT}/x?token=${UPSTREAM_TOKEN}" }
"#;

/// A file that fails to load with the token in the failing spot.
const BROKEN: &str = "route: { path: /broken }\nupstream: { url: 'http://h/', headers: { '${UPSTREAM_TOKEN} bad': x } }\n";

async fn upstream() -> MockServer {
    let answers = vec![
        (
            "/ok",
            ResponseTemplate::new(200).set_body_json(json!({"title": "fine"})),
        ),
        (
            "/missing",
            ResponseTemplate::new(404).set_body_json(json!({})),
        ),
        (
            "/slow",
            ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
        ),
        (
            "/html",
            ResponseTemplate::new(200).set_body_raw("<html/>", "text/html"),
        ),
        (
            "/untitled",
            ResponseTemplate::new(200).set_body_json(json!({})),
        ),
    ];
    let server = crate::support::upstream_answering(answers).await;
    Mock::given(method("POST"))
        .and(path("/post"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    server
}

async fn every_path_leaks_nothing(extra: &[&str], rust_log: &str) -> String {
    let up = upstream().await;
    let dir = secret_bridges();
    let logs_dir = tempfile::tempdir().unwrap();
    let log = logs_dir.path().join("gateway.log");
    let down_port = closed_port().await.to_string();
    let mut env = secret_env(&up.uri(), &down_port);
    env.push(("RUST_LOG".to_owned(), rust_log.to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_logging_to(dir.path(), extra, &env, Some(&log)).await;
    let url = |p: &str| format!("{}{p}", server.base);
    let basic = |pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("genesys:{pass}"))
        )
    };

    let mut seen = String::new();
    let keyed = |p: Option<&str>, key: &str| {
        let body = p.map_or(json!({}), |p| json!({ "p": p }));
        server
            .client
            .post(url("/keyed"))
            .header("x-api-key", key.to_owned())
            .json(&body)
    };
    let requests = vec![
        (keyed(Some("ok"), INBOUND_KEY), 200),
        (keyed(Some("ok"), "wrong-key"), 401),
        (keyed(Some("missing"), INBOUND_KEY), 404),
        (keyed(Some("slow"), INBOUND_KEY), 504),
        (keyed(Some("html"), INBOUND_KEY), 502),
        (keyed(Some("untitled"), INBOUND_KEY), 502),
        (keyed(None, INBOUND_KEY), 422),
        (
            server
                .client
                .post(url("/keyed"))
                .header("x-api-key", INBOUND_KEY)
                .body("{not json"),
            400,
        ),
        (
            server
                .client
                .post(url("/basic"))
                .header("authorization", basic(INBOUND_PASS))
                .json(&json!({})),
            200,
        ),
        (
            server
                .client
                .post(url("/basic"))
                .header("authorization", basic("nope"))
                .json(&json!({})),
            401,
        ),
        (server.client.post(url("/down")).json(&json!({})), 502),
        (
            server
                .client
                .post(url("/creds-basic"))
                .json(&json!({"p": "ok"})),
            200,
        ),
        (
            server
                .client
                .post(url("/creds-basic"))
                .json(&json!({"p": "missing"})),
            404,
        ),
        (
            server
                .client
                .post(url("/creds-basic"))
                .json(&json!({"p": "slow"})),
            504,
        ),
        (
            server
                .client
                .post(url("/creds-query"))
                .json(&json!({"p": "missing"})),
            404,
        ),
        (
            server
                .client
                .post(url("/creds-query"))
                .json(&json!({"p": "html"})),
            200,
        ),
        (server.client.post(url("/creds-down")).json(&json!({})), 502),
        (
            server
                .client
                .post(url("/creds-file"))
                .json(&json!({"p": "post"})),
            200,
        ),
        (server.client.post(url("/creds-file")).json(&json!({})), 422),
        (server.client.get(url("/-/bridges")), 200),
        (server.client.get(url("/-/metrics")), 200),
    ];
    for (request, want) in requests {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, want, "{text}");
        seen.push_str(&text);
    }
    assert!(
        seen.contains("broken.yaml") && seen.contains("broken-file.yaml"),
        "the broken files' errors are on the status page"
    );

    server.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = std::fs::read_to_string(&log).unwrap();
    assert_no_secret("the logs", &logs);
    assert_no_secret("a response", &seen);
    assert!(
        logs.matches("request").count() >= 11,
        "one line per request:\n{logs}"
    );
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_logs_hold_no_secret_and_no_body() {
    let logs = every_path_leaks_nothing(&[], "info").await;
    assert!(
        !logs.contains("inbound body") && !logs.contains("upstream request"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_with_bodies_and_debug_mask_every_secret() {
    let logs = every_path_leaks_nothing(&["--log-bodies", "--log-format", "json"], "debug").await;
    assert!(
        logs.contains("upstream request"),
        "bodies are logged when asked for:\n{logs}"
    );
    assert!(
        logs.contains("authorization: ***"),
        "credential headers are masked whole:\n{logs}"
    );
    assert!(
        logs.contains("key=***"),
        "secret values are masked where they stand:\n{logs}"
    );
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
}

/// Runs the real binary with the secret bridges' environment.
fn bridgeway(args: &[&str], env: &[(String, String)]) -> String {
    crate::support::binary::run_cli(args, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_try_print_no_secret() {
    let up = upstream().await;
    let dir = secret_bridges();
    let down_port = closed_port().await.to_string();
    let env = secret_env(&up.uri(), &down_port);
    let bridges = dir.path().to_str().unwrap().to_owned();
    let runs: Vec<Vec<&str>> = vec![
        vec!["check", "--bridges", &bridges],
        vec![
            "try",
            "creds-basic",
            "--input",
            r#"{"p": "ok"}"#,
            "--bridges",
            &bridges,
        ],
        vec![
            "try",
            "creds-basic",
            "--input",
            r#"{"p": "missing"}"#,
            "--bridges",
            &bridges,
        ],
        vec![
            "try",
            "creds-query",
            "--input",
            r#"{"p": "missing"}"#,
            "--bridges",
            &bridges,
        ],
        vec!["try", "creds-down", "--input", "{}", "--bridges", &bridges],
        vec![
            "try",
            "creds-file",
            "--input",
            r#"{"p": "post"}"#,
            "--bridges",
            &bridges,
        ],
    ];
    let mut all = String::new();
    for args in runs {
        let env = env.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let text = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            bridgeway(&args, &env)
        })
        .await
        .unwrap();
        all.push_str(&text);
    }
    assert!(
        all.contains("broken-file.yaml"),
        "check names the file:\n{all}"
    );
    assert!(all.contains("authorization: ***"), "{all}");
    assert!(
        all.contains("key=***"),
        "the query key is masked where it stands:\n{all}"
    );
    assert!(
        all.contains("note=pre-***-post"),
        "the form body is masked:\n{all}"
    );
    assert_no_secret("check or try output", &all);
}
