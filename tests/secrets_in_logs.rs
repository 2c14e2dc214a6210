//! Secrets (an inbound API key, a Basic password, an upstream token from the environment) run
//! through success and every error path of the real binary; neither the logs, the status page,
//! the metrics nor any response may ever contain one. Run twice: with the default logging, and
//! with everything on (`RUST_LOG=debug`, `--log-bodies`, JSON lines).

use std::time::Duration;

use crate::support::{Server, bridge_dir, closed_port};
use base64::Engine;
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

const INBOUND_KEY: &str = "inbound-key-7f3a9c";
const INBOUND_PASS: &str = "inbound-pass-91bd2e";
const UPSTREAM_TOKEN: &str = "upstream-token-c4e8d1";
const SECRETS: [&str; 3] = [INBOUND_KEY, INBOUND_PASS, UPSTREAM_TOKEN];

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
    crate::support::upstream_answering(answers).await
}

async fn every_path_leaks_nothing(extra: &[&str], rust_log: &str) -> String {
    let up = upstream().await;
    let dir = bridge_dir(&[
        ("keyed.yaml", KEYED),
        ("basic.yaml", BASIC),
        ("down.yaml", DOWN),
        ("broken.yaml", BROKEN),
    ]);
    let logs_dir = tempfile::tempdir().unwrap();
    let log = logs_dir.path().join("gateway.log");
    let down_port = closed_port().await.to_string();
    let env = [
        ("UP", up.uri()),
        ("INBOUND_KEY", INBOUND_KEY.to_owned()),
        ("INBOUND_PASS", INBOUND_PASS.to_owned()),
        ("UPSTREAM_TOKEN", UPSTREAM_TOKEN.to_owned()),
        ("DOWN_PORT", down_port),
        ("RUST_LOG", rust_log.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
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
        seen.contains("broken.yaml"),
        "the broken file's error is on the status page"
    );

    server.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = std::fs::read_to_string(&log).unwrap();
    for secret in SECRETS {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        assert!(!seen.contains(secret), "{secret} in a response:\n{seen}");
    }
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
