//! `genesys deploy` and `genesys test` against a fake Platform API on 127.0.0.1 that checks
//! every request as Genesys does: Basic client credentials and `grant_type=client_credentials`
//! on the token call, the Bearer token afterwards, required body fields, and version numbers on
//! draft patch, draft publish and action patch.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use crate::support::{bridge_dir, fetch_post_yaml};
use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CLIENT_ID: &str = "client-id-123";
const CLIENT_SECRET: &str = "client-secret-never-printed";
const TOKEN: &str = "token-abc";
const INTEGRATION: &str = "integration-1";

#[derive(Debug, Clone)]
struct Action {
    id: String,
    name: String,
    integration_id: String,
    category: String,
    version: u64,
    config: Value,
    contract: Value,
    published: bool,
    draft: Option<Draft>,
}

#[derive(Debug, Clone)]
struct Draft {
    version: u64,
    name: String,
    config: Value,
    contract: Value,
}

#[derive(Default)]
struct State {
    actions: Vec<Action>,
    /// `METHOD path` of every call that changes something.
    writes: Vec<String>,
    /// Answer `(method, path prefix)` with this status.
    fail: Option<(String, String, u16)>,
}

#[derive(Clone, Default)]
struct FakeGenesys(Arc<Mutex<State>>);

fn answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    answer(
        status,
        json!({ "status": status, "code": "bad.request", "message": message }),
    )
}

impl Respond for FakeGenesys {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let method = request.method.to_string();
        let path = request.url.path().to_owned();
        if let Some((m, prefix, status)) = &state.fail
            && *m == method
            && path.starts_with(prefix.as_str())
        {
            return error(*status, "injected failure");
        }
        if path == "/oauth/token" {
            return token(request);
        }
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if bearer != Some(&format!("Bearer {TOKEN}")) {
            return error(401, "Invalid login credentials.");
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if method != "GET" && !path.ends_with("/test") {
            state.writes.push(format!("{method} {path}"));
        }
        let parts: Vec<&str> = path
            .trim_start_matches("/api/v2/integrations/actions")
            .split('/')
            .collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", [""]) => list(&state, request),
            ("POST", ["", "drafts"]) => create_draft(&mut state, &body),
            ("GET", ["", id]) => with_action(&mut state, id, |a| answer(200, full(a))),
            ("PATCH", ["", id]) => with_action(&mut state, id, |a| patch_action(a, &body)),
            ("POST", ["", id, "draft"]) => with_action(&mut state, id, draft_from_action),
            ("PATCH", ["", id, "draft"]) => with_action(&mut state, id, |a| patch_draft(a, &body)),
            ("POST", ["", id, "draft", "publish"]) => {
                with_action(&mut state, id, |a| publish(a, &body))
            }
            ("POST", ["", id, "test"]) => with_action(&mut state, id, |_| test_result(&body)),
            _ => error(404, &format!("no route {method} {path}")),
        }
    }
}

fn token(request: &Request) -> ResponseTemplate {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let auth = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let form = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    if form != Some("application/x-www-form-urlencoded")
        || request.body != b"grant_type=client_credentials"
    {
        return answer(
            400,
            json!({"error": "invalid_request", "error_description": "grant_type must be client_credentials"}),
        );
    }
    if auth != Some(expected.as_str()) {
        return answer(
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        );
    }
    answer(
        200,
        json!({"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400}),
    )
}

fn list(state: &State, request: &Request) -> ResponseTemplate {
    let name = request
        .url
        .query_pairs()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.to_lowercase());
    let entities: Vec<Value> = state
        .actions
        .iter()
        .filter(|a| a.published && name.as_ref().is_none_or(|n| a.name.to_lowercase().contains(n)))
        .map(|a| json!({"id": a.id, "name": a.name, "integrationId": a.integration_id, "version": a.version}))
        .collect();
    answer(
        200,
        json!({"entities": entities, "pageSize": 100, "pageNumber": 1, "total": entities.len()}),
    )
}

fn create_draft(state: &mut State, body: &Value) -> ResponseTemplate {
    for field in ["category", "name", "integrationId", "config", "contract"] {
        if body.get(field).is_none() {
            return error(400, &format!("{field} is required"));
        }
    }
    let id = format!("action-{}", state.actions.len() + 1);
    let action = Action {
        id: id.clone(),
        name: body["name"].as_str().unwrap().to_owned(),
        integration_id: body["integrationId"].as_str().unwrap().to_owned(),
        category: body["category"].as_str().unwrap().to_owned(),
        version: 0,
        config: Value::Null,
        contract: Value::Null,
        published: false,
        draft: Some(Draft {
            version: 1,
            name: body["name"].as_str().unwrap().to_owned(),
            config: body["config"].clone(),
            contract: body["contract"].clone(),
        }),
    };
    state.actions.push(action);
    answer(200, json!({"id": id, "name": body["name"], "version": 1}))
}

fn with_action(
    state: &mut State,
    id: &str,
    f: impl FnOnce(&mut Action) -> ResponseTemplate,
) -> ResponseTemplate {
    match state.actions.iter_mut().find(|a| a.id == id) {
        Some(action) => f(action),
        None => error(404, &format!("action {id} not found")),
    }
}

fn full(a: &Action) -> Value {
    json!({"id": a.id, "name": a.name, "integrationId": a.integration_id, "category": a.category,
           "version": a.version, "config": a.config, "contract": a.contract, "secure": false})
}

/// The error Genesys answers when `version` is missing or not the current one.
fn version_error(body: &Value, current: u64) -> Option<ResponseTemplate> {
    match body["version"].as_u64() {
        None => Some(error(400, "version is required")),
        Some(v) if v != current => Some(error(
            409,
            &format!("version {v} is not the current version {current}"),
        )),
        Some(_) => None,
    }
}

fn patch_action(a: &mut Action, body: &Value) -> ResponseTemplate {
    if let Some(e) = version_error(body, a.version) {
        return e;
    }
    if body.get("contract").is_some() {
        return error(400, "the contract of a published action cannot be changed");
    }
    if let Some(name) = body["name"].as_str() {
        a.name = name.to_owned();
    }
    if let Some(config) = body.get("config") {
        a.config = config.clone();
    }
    a.version += 1;
    answer(200, full(a))
}

fn draft_from_action(a: &mut Action) -> ResponseTemplate {
    if !a.published || a.draft.is_some() {
        return error(400, "a draft already exists or the action is not published");
    }
    a.draft = Some(Draft {
        version: 1,
        name: a.name.clone(),
        config: a.config.clone(),
        contract: a.contract.clone(),
    });
    answer(200, json!({"id": a.id, "version": 1}))
}

fn patch_draft(a: &mut Action, body: &Value) -> ResponseTemplate {
    let Some(draft) = a.draft.as_mut() else {
        return error(404, "no draft");
    };
    if let Some(e) = version_error(body, draft.version) {
        return e;
    }
    if let Some(config) = body.get("config") {
        draft.config = config.clone();
    }
    draft.version += 1;
    answer(200, json!({"id": a.id, "version": draft.version}))
}

fn publish(a: &mut Action, body: &Value) -> ResponseTemplate {
    let Some(draft) = a.draft.clone() else {
        return error(404, "no draft");
    };
    if let Some(e) = version_error(body, draft.version) {
        return e;
    }
    a.name = draft.name;
    a.config = draft.config;
    a.contract = draft.contract;
    a.published = true;
    a.version += 1;
    a.draft = None;
    answer(200, full(a))
}

fn test_result(input: &Value) -> ResponseTemplate {
    if input.get("user_id").is_some() {
        answer(
            200,
            json!({
                "operations": [
                    {"step": 1, "name": "Resolve request URL template", "success": true},
                    {"step": 2, "name": "Execute request", "success": true},
                    {"step": 3, "name": "Validate output against schema", "success": true}
                ],
                "finalResult": {"status_code": 200, "title": "t"},
                "success": true
            }),
        )
    } else {
        answer(
            200,
            json!({
                "operations": [
                    {"step": 1, "name": "Validate input against schema", "success": false,
                     "error": {"message": "user_id is required"}}
                ],
                "error": {"message": "The input did not validate"},
                "success": false
            }),
        )
    }
}

struct Fixture {
    server: MockServer,
    fake: FakeGenesys,
}

async fn fake_genesys() -> Fixture {
    let server = MockServer::start().await;
    let fake = FakeGenesys::default();
    Mock::given(any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    Fixture { server, fake }
}

impl Fixture {
    fn writes(&self) -> Vec<String> {
        self.fake.0.lock().unwrap().writes.clone()
    }

    fn actions(&self) -> Vec<Action> {
        self.fake.0.lock().unwrap().actions.clone()
    }

    fn fail(&self, method: &str, prefix: &str, status: u16) {
        self.fake.0.lock().unwrap().fail = Some((method.to_owned(), prefix.to_owned(), status));
    }

    /// Runs the real binary against the fake.
    async fn run(&self, args: &[&str], dir: &std::path::Path, secret: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
        cmd.args(args)
            .env("BRIDGEWAY_BRIDGES", dir)
            .env("GENESYS_CLOUD_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLOUD_CLIENT_SECRET", secret)
            .env("GENESYS_CLOUD_API_BASE_URL", self.server.uri())
            .env("GENESYS_CLOUD_LOGIN_BASE_URL", self.server.uri())
            .env_remove("GENESYS_CLOUD_REGION");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(CLIENT_SECRET) && !all.contains(TOKEN),
            "no secret in the output: {all}"
        );
        out
    }

    async fn deploy(&self, dir: &std::path::Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "genesys",
            "deploy",
            "--integration-id",
            INTEGRATION,
            "--base-url",
            "https://gw.example.com",
        ];
        args.extend_from_slice(extra);
        self.run(&args, dir, CLIENT_SECRET).await
    }

    /// Deploys, asserts success, and returns what the command said.
    async fn deploy_ok(&self, dir: &std::path::Path, extra: &[&str]) -> String {
        let out = self.deploy(dir, extra).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        text(&out)
    }
}

/// Fails with the whole output unless it contains `expected`.
fn assert_said(said: &str, expected: &str) {
    assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fetch_post_dir() -> tempfile::TempDir {
    bridge_dir(&[("fetch-post.yaml", &fetch_post_yaml())])
}

/// fetch-post deployed, then its file edited by replacing `from` with `to`.
async fn deployed_then_edited(f: &Fixture, from: &str, to: &str) -> tempfile::TempDir {
    let dir = fetch_post_dir();
    f.deploy_ok(dir.path(), &[]).await;
    let yaml = fetch_post_yaml().replace(from, to);
    assert_ne!(yaml, fetch_post_yaml(), "the edit applies");
    std::fs::write(dir.path().join("fetch-post.yaml"), yaml).unwrap();
    dir
}

#[tokio::test]
async fn deploy_creates_and_publishes_a_missing_action() {
    let f = fake_genesys().await;
    let dir = fetch_post_dir();
    let said = f.deploy_ok(dir.path(), &[]).await;
    assert_said(&said, "fetch-post: created and published action action-1");
    assert_eq!(
        f.writes(),
        [
            "POST /api/v2/integrations/actions/drafts",
            "POST /api/v2/integrations/actions/action-1/draft/publish"
        ]
    );
    let action = &f.actions()[0];
    assert!(action.published);
    assert_eq!(
        (action.name.as_str(), action.category.as_str()),
        ("fetch-post", "bridgeway")
    );
    assert_eq!(action.integration_id, INTEGRATION);
    assert_eq!(
        action.config["request"]["requestUrlTemplate"],
        "https://gw.example.com/api/v1/fetch-post"
    );
    assert_eq!(
        action.contract["input"]["inputSchema"]["required"],
        json!(["user_id"])
    );
}

#[tokio::test]
async fn deploying_again_unchanged_changes_nothing() {
    let f = fake_genesys().await;
    let dir = fetch_post_dir();
    f.deploy_ok(dir.path(), &[]).await;
    let before = f.writes().len();
    let said = f.deploy_ok(dir.path(), &[]).await;
    assert_said(&said, "fetch-post: unchanged (action action-1)");
    assert_eq!(f.writes().len(), before, "no call that changes anything");
}

#[tokio::test]
async fn changed_config_goes_through_a_draft_with_versions() {
    let f = fake_genesys().await;
    let dir = deployed_then_edited(&f, "timeout: 10s", "timeout: 20s").await;

    let said = f.deploy_ok(dir.path(), &[]).await;

    assert_said(
        &said,
        "fetch-post: config updated and published (action action-1)",
    );
    assert_eq!(
        f.writes()[2..],
        [
            "POST /api/v2/integrations/actions/action-1/draft",
            "PATCH /api/v2/integrations/actions/action-1/draft",
            "POST /api/v2/integrations/actions/action-1/draft/publish"
        ]
    );
    let action = &f.actions()[0];
    assert_eq!(action.config["timeoutSeconds"], 21);
    assert_eq!(action.version, 2, "published twice");
}

#[tokio::test]
async fn a_changed_contract_is_refused_without_replace() {
    let f = fake_genesys().await;
    let dir = deployed_then_edited(&f, "minimum: 1,", "minimum: 1, maximum: 100,").await;
    let before = f.writes().len();

    let out = f.deploy(dir.path(), &[]).await;

    assert_eq!(out.status.code(), Some(1));
    let said = text(&out);
    assert_said(&said, "contract changed");
    assert_said(&said, "--replace");
    assert_said(&said, "cannot edit the contract of a published action");
    assert_eq!(f.writes().len(), before, "nothing changed");
}

#[tokio::test]
async fn replace_creates_a_new_action_and_says_to_repoint_flows() {
    let f = fake_genesys().await;
    let dir = deployed_then_edited(&f, "minimum: 1,", "minimum: 1, maximum: 100,").await;

    let said = f.deploy_ok(dir.path(), &["--replace"]).await;

    assert_said(&said, "created and published action action-2");
    assert_said(
        &said,
        "Flows that call action-1 must be repointed to action-2",
    );
    let actions = f.actions();
    assert!(
        actions[0].name.starts_with("fetch-post (replaced "),
        "{}",
        actions[0].name
    );
    assert_eq!(actions[1].name, "fetch-post");
    assert_eq!(
        actions[1].contract["input"]["inputSchema"]["properties"]["user_id"]["maximum"],
        100
    );
    let again = f.deploy_ok(dir.path(), &[]).await;
    assert_said(&again, "fetch-post: unchanged (action action-2)");
}

#[tokio::test]
async fn a_dry_run_lists_the_calls_and_makes_none() {
    let f = fake_genesys().await;
    let dir = fetch_post_dir();
    let said = f.deploy_ok(dir.path(), &["--dry-run"]).await;
    assert_said(&said, "fetch-post: dry run, would call:");
    assert_said(
        &said,
        "POST /api/v2/integrations/actions/drafts {category, config, contract, integrationId, name, secure}",
    );
    assert!(f.writes().is_empty());
    assert!(f.actions().is_empty());
}

#[tokio::test]
async fn a_token_failure_says_so_without_the_secret() {
    let f = fake_genesys().await;
    let dir = fetch_post_dir();
    let out = f
        .run(
            &[
                "genesys",
                "deploy",
                "--integration-id",
                INTEGRATION,
                "--base-url",
                "https://gw.example.com",
            ],
            dir.path(),
            "wrong-secret",
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_said(
        &text(&out),
        "Genesys Cloud login failed (401): client authentication failed",
    );
    assert!(f.writes().is_empty());
}

#[tokio::test]
async fn api_errors_are_reported_with_the_call_and_genesys_message() {
    for (method, prefix, status) in [
        ("POST", "/api/v2/integrations/actions/drafts", 503),
        ("GET", "/api/v2/integrations/actions", 403),
    ] {
        let f = fake_genesys().await;
        f.fail(method, prefix, status);
        let out = f.deploy(fetch_post_dir().path(), &[]).await;
        assert_eq!(out.status.code(), Some(1));
        let expected =
            format!("error fetch-post: {method} {prefix} failed ({status}): injected failure");
        assert_said(&text(&out), &expected);
    }
}

#[tokio::test]
async fn genesys_test_prints_each_step_and_fails_when_the_action_fails() {
    let f = fake_genesys().await;
    let dir = fetch_post_dir();
    f.deploy_ok(dir.path(), &[]).await;

    let ok = f
        .run(
            &[
                "genesys",
                "test",
                "fetch-post",
                "--input",
                r#"{"user_id": 1}"#,
            ],
            dir.path(),
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let said = text(&ok);
    assert_said(&said, "step  1 Resolve request URL template: ok");
    assert_said(&said, r#"result   {"status_code":200,"title":"t"}"#);
    assert_said(&said, "success  true");

    let bad = f
        .run(
            &["genesys", "test", "fetch-post", "--input", "{}"],
            dir.path(),
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(bad.status.code(), Some(1));
    let said = text(&bad);
    assert_said(
        &said,
        "step  1 Validate input against schema: failed: user_id is required",
    );
    assert_said(&said, "success  false");
}
