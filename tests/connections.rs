//! Connections (`kind: connection`) and OAuth2 client credentials (SPEC §5), against a real
//! authorization server (oidc-provider, tests/oauth2-server) and a resource server that accepts
//! only the tokens it issued. wiremock stands in for the token endpoint only where a real server
//! will not misbehave on demand (an answer that is not JSON, has no token, or the wrong type).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::oauth2::{AuthServer, BASIC_CLIENT, ClientCreds, Options, POST_CLIENT};
use crate::support::resource::{Refuse, ResourceServer};
use crate::support::{TestGateway, bridge_dir, closed_port};

/// The connection every bridge here uses; its values come from the environment.
fn connection(extra: &str) -> String {
    format!(
        r#"kind: connection
name: crm
base_url: "${{UP}}/api/"
headers: {{ Accept: application/json, X-Team: contact-centre }}
timeout: 5s
auth:
  oauth2:
    token_url: "${{TOKEN_URL}}"
    client_id: "${{CLIENT_ID}}"
    client_secret: "${{CLIENT_SECRET}}"
    scope: api
{extra}"#
    )
}

const LOOKUP: &str = r#"
route: { path: /lookup }
input: { id: { type: string, required: true } }
upstream:
  connection: crm
  url: /items/{{input.id}}
output:
  ok: { path: $.ok, type: boolean }
  path: { path: $.path, type: string }
  token_number: { path: $.token_number, type: integer }
"#;

const UPDATE: &str = r#"
route: { path: /update }
input: { id: { type: string, required: true }, note: { type: string } }
upstream:
  connection: crm
  method: POST
  url: /items/{{input.id}}
  body: { note: "{{input.note}}" }
output:
  ok: { path: $.ok, type: boolean }
  method: { path: $.method, type: string }
  token_number: { path: $.token_number, type: integer }
"#;

struct Setup {
    auth: Arc<AuthServer>,
    resource: ResourceServer,
    dir: tempfile::TempDir,
    gw: TestGateway,
}

fn env(auth: &AuthServer, resource: &ResourceServer, client: ClientCreds) -> Vec<(String, String)> {
    [
        ("UP", resource.url.clone()),
        ("TOKEN_URL", auth.token_url()),
        ("CLIENT_ID", client.id.to_owned()),
        ("CLIENT_SECRET", client.secret.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn setup_with(
    options: Options,
    refuse: Refuse,
    client: ClientCreds,
    files: &[(&str, &str)],
) -> Setup {
    let auth = Arc::new(AuthServer::start(options).await);
    let resource = ResourceServer::start(auth.clone(), refuse).await;
    let dir = bridge_dir(files);
    let vars = env(&auth, &resource, client);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let gw = TestGateway::start(dir.path(), &vars).await;
    Setup {
        auth,
        resource,
        dir,
        gw,
    }
}

async fn setup(refuse: Refuse) -> Setup {
    let conn = connection("");
    setup_with(
        Options::default(),
        refuse,
        BASIC_CLIENT,
        &[
            ("crm.yaml", &conn),
            ("lookup.yaml", LOOKUP),
            ("update.yaml", UPDATE),
        ],
    )
    .await
}

impl Setup {
    async fn lookup(&self, id: &str) -> crate::support::Reply {
        self.gw.post_json("/lookup", &json!({"id": id})).await
    }

    async fn file_error(&self, file: &str) -> Option<String> {
        let page = self.gw.get("/-/bridges").await;
        page.json["files"]
            .as_array()?
            .iter()
            .find(|f| f["file"] == file)?["error"]
            .as_str()
            .map(str::to_owned)
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }
}

#[tokio::test]
async fn both_client_authentication_methods_get_a_token_the_upstream_accepts() {
    let s = setup(Refuse::Nothing).await;
    let reply = s.lookup("42").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({"ok": true, "path": "/api/items/42", "token_number": 0}),
        "the path under the connection's base URL, with an issued token"
    );
    assert_eq!(s.auth.stats().await.auth_methods, ["client_secret_basic"]);

    let conn = connection("    client_auth: body\n");
    let s = setup_with(
        Options::default(),
        Refuse::Nothing,
        POST_CLIENT,
        &[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)],
    )
    .await;
    let reply = s.lookup("7").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(s.auth.stats().await.auth_methods, ["client_secret_post"]);
}

#[tokio::test]
async fn one_token_serves_many_requests_of_two_bridges_and_shows_on_the_status_page() {
    let s = setup(Refuse::Nothing).await;
    for i in 0..10 {
        let reply = s.lookup(&i.to_string()).await;
        assert_eq!(reply.json["token_number"], 0, "{}", reply.text);
        let reply =
            s.gw.post_json("/update", &json!({"id": "1", "note": "n"}))
                .await;
        assert_eq!(reply.json["method"], "POST", "{}", reply.text);
        assert_eq!(reply.json["token_number"], 0);
    }
    assert_eq!(s.auth.stats().await.token_requests, 1, "one token for both");
    // The connection's default headers went along.
    let page = s.gw.get("/-/bridges").await.json;
    let crm = &page["connections"][0];
    assert_eq!(crm["name"], "crm");
    assert_eq!(crm["file"], "crm.yaml");
    assert_eq!(crm["auth"], "oauth2");
    assert_eq!(crm["token"]["state"], "valid");
    let left = crm["token"]["expires_in"].as_u64().unwrap();
    assert!((290..=300).contains(&left), "{left}");
    assert_eq!(crm["token"]["error"], Value::Null);
    let bridges = page["bridges"].as_array().unwrap();
    assert!(bridges.iter().all(|b| b["connection"] == "crm"), "{page}");
    let files = page["files"].as_array().unwrap();
    assert!(
        files.iter().any(|f| f["file"] == "crm.yaml"
            && f["kind"] == "connection"
            && f["connection"] == "crm"),
        "{page}"
    );
    let token = &s.auth.stats().await.issued[0];
    assert!(!page.to_string().contains(token.as_str()));

    let metrics = s.gw.get("/-/metrics").await.text;
    assert!(
        metrics.contains(r#"bridgeway_token_requests_total{connection="crm",result="ok"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(token.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_on_a_cold_cache_wait_for_one_token_request() {
    let s = setup(Refuse::Nothing).await;
    s.auth.delay(300).await;
    let calls = (0..24).map(|i| s.lookup(if i % 2 == 0 { "a" } else { "b" }));
    for reply in futures_util::future::join_all(calls).await {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["token_number"], 0);
    }
    let stats = s.auth.stats().await;
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.concurrent_max, 1);
}

#[tokio::test]
async fn short_lived_tokens_are_replaced_before_they_expire_and_no_request_fails() {
    // Tokens live 2 s: each is used for its first second only (half a lifetime under 60 s).
    let conn = connection("");
    let s = setup_with(
        Options::ttl(2),
        Refuse::Nothing,
        BASIC_CLIENT,
        &[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)],
    )
    .await;
    let started = Instant::now();
    let mut numbers = Vec::new();
    while started.elapsed() < Duration::from_millis(3500) {
        let reply = s.lookup("x").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        numbers.push(reply.json["token_number"].as_u64().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = s.resource.requests();
    assert_eq!(requests.len(), numbers.len(), "no request was sent twice");
    let fetched = s.auth.stats().await.token_requests;
    assert!((3..=5).contains(&fetched), "{fetched} token requests");
    assert_eq!(*numbers.last().unwrap(), fetched - 1);
}

#[tokio::test]
async fn a_refused_token_is_replaced_and_the_call_made_again_for_get_and_post() {
    let s = setup(Refuse::FirstTokens(1)).await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["token_number"], 1, "the second token");
    assert_eq!(s.auth.stats().await.token_requests, 2);

    // Now the second is refused too: a POST goes again, body and all.
    s.resource.refuse(Refuse::FirstTokens(2));
    let reply =
        s.gw.post_json("/update", &json!({"id": "9", "note": "twice"}))
            .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["token_number"], 2);
    let bodies = s.resource.bodies();
    let posted: Vec<_> = bodies.iter().rev().take(2).collect();
    assert_eq!(posted[0], posted[1], "the same body both times");
    assert_eq!(
        serde_json::from_slice::<Value>(posted[0]).unwrap(),
        json!({"note": "twice"})
    );
}

#[tokio::test]
async fn a_token_refused_twice_is_502_upstream_auth_failed() {
    let s = setup(Refuse::Everything).await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_auth_failed");
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("connection `crm`"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert_eq!(s.resource.requests().len(), 2, "sent twice, not more");
    assert_eq!(s.auth.stats().await.token_requests, 2);
}

#[tokio::test]
async fn token_endpoint_refusals_and_failures_are_502_naming_the_error_code() {
    let conn = connection("");
    let wrong = ClientCreds {
        id: BASIC_CLIENT.id,
        secret: "not-the-secret-4e5f",
    };
    let s = setup_with(
        Options::default(),
        Refuse::Nothing,
        wrong,
        &[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)],
    )
    .await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_auth_failed");
    let message = reply.json["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("`invalid_client`"), "{message}");
    assert!(message.contains("connection `crm`"), "{message}");
    assert!(!reply.text.contains(wrong.secret));
    assert!(s.resource.requests().is_empty(), "no call without a token");
    let page = s.gw.get("/-/bridges").await.json;
    assert_eq!(page["connections"][0]["token"]["state"], "failed");
    let error = page["connections"][0]["token"]["error"].as_str().unwrap();
    assert!(error.contains("invalid_client"), "{error}");

    // A server error with an RFC 6749 error body, after the 1 s of quiet.
    let s = setup(Refuse::Nothing).await;
    s.auth.fail(503, "temporarily_unavailable").await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 502);
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("temporarily_unavailable"), "{message}");
    s.auth.reset().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.lookup("1").await.status, 200, "recovers once it answers");
    let metrics = s.gw.get("/-/metrics").await.text;
    for line in [
        r#"bridgeway_token_requests_total{connection="crm",result="ok"} 1"#,
        r#"bridgeway_token_requests_total{connection="crm",result="refused"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_502_upstream_auth_failed() {
    let conn = connection("").replace("${TOKEN_URL}", "http://127.0.0.1:${DOWN}/token");
    let auth = Arc::new(AuthServer::start(Options::default()).await);
    let resource = ResourceServer::start(auth.clone(), Refuse::Nothing).await;
    let dir = bridge_dir(&[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)]);
    let down = closed_port().await.to_string();
    let gw = TestGateway::start(
        dir.path(),
        &[
            ("UP", &resource.url),
            ("DOWN", &down),
            ("CLIENT_ID", "x"),
            ("CLIENT_SECRET", "y-secret"),
        ],
    )
    .await;
    let reply = gw.post_json("/lookup", &json!({"id": "1"})).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_auth_failed");
    assert!(
        reply.text.contains("could not be reached"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_is_asked_at_most_once_a_second() {
    let conn = connection("");
    let wrong = ClientCreds {
        id: BASIC_CLIENT.id,
        secret: "wrong",
    };
    let s = setup_with(
        Options::default(),
        Refuse::Nothing,
        wrong,
        &[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)],
    )
    .await;
    for _ in 0..10 {
        let reply = s.lookup("1").await;
        assert_eq!(reply.status, 502);
        assert!(reply.text.contains("invalid_client"), "the same error");
    }
    assert_eq!(s.auth.stats().await.token_requests, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.lookup("1").await.status, 502);
    assert_eq!(
        s.auth.stats().await.token_requests,
        2,
        "one more after a second"
    );
}

#[tokio::test]
async fn the_token_wait_counts_within_the_bridge_timeout() {
    let conn = connection("").replace("timeout: 5s", "timeout: 800ms");
    let s = setup_with(
        Options::default(),
        Refuse::Nothing,
        BASIC_CLIENT,
        &[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)],
    )
    .await;
    s.auth.delay(3000).await;
    let started = Instant::now();
    let reply = s.lookup("1").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.text);
    reply.assert_error_shape("upstream_timeout");
    assert!(took < Duration::from_millis(2000), "{took:?}");
    assert!(s.resource.requests().is_empty());
}

/// A token endpoint that answers 200 with `body`, for the failures a real server will not make.
async fn odd_token_endpoint(body: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(body)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn token_answers_without_a_usable_bearer_token_are_refused() {
    let cases = [
        (
            ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"),
            "not a JSON object",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer"})),
            "no `access_token`",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "mac-token-1", "token_type": "mac"})),
            "of type `mac`",
        ),
    ];
    for (answer, says) in cases {
        let endpoint = odd_token_endpoint(answer).await;
        let upstream = crate::support::upstream_answering_ok().await;
        let conn = connection("");
        let dir = bridge_dir(&[("crm.yaml", &conn), ("lookup.yaml", LOOKUP)]);
        let gw = TestGateway::start(
            dir.path(),
            &[
                ("UP", &upstream.uri()),
                ("TOKEN_URL", &format!("{}/token", endpoint.uri())),
                ("CLIENT_ID", "id"),
                ("CLIENT_SECRET", "secret-value"),
            ],
        )
        .await;
        let reply = gw.post_json("/lookup", &json!({"id": "1"})).await;
        assert_eq!(reply.status, 502, "{}", reply.text);
        reply.assert_error_shape("upstream_auth_failed");
        assert!(reply.text.contains(says), "{says}: {}", reply.text);
        assert!(!reply.text.contains("mac-token-1"));
        assert!(upstream.received_requests().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn on_error_output_answers_an_auth_failure_with_the_fields() {
    let bridge = format!("{LOOKUP}on_error: output\n").replace(
        "output:\n",
        "output:\n  status: { from: status }\n  error: { from: error }\n",
    );
    let s = setup_with(
        Options::default(),
        Refuse::Everything,
        BASIC_CLIENT,
        &[("crm.yaml", &connection("")), ("lookup.yaml", &bridge)],
    )
    .await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["status"], 502);
    let error = reply.json["error"].as_str().unwrap();
    assert!(error.contains("connection `crm`"), "{error}");
}

#[tokio::test]
async fn editing_a_connection_moves_its_bridges_and_keeps_the_token_while_its_settings_hold() {
    let s = setup(Refuse::Nothing).await;
    assert_eq!(s.lookup("1").await.json["path"], "/api/items/1");

    s.write("crm.yaml", &connection("").replace("/api/", "/v2"));
    s.gw.gateway.reload().unwrap();
    let reply = s.lookup("1").await;
    assert_eq!(reply.json["path"], "/v2/items/1", "{}", reply.text);
    assert_eq!(reply.json["token_number"], 0, "the same token");
    assert_eq!(s.auth.stats().await.token_requests, 1);

    // Other oauth2 settings: another token.
    s.write(
        "crm.yaml",
        &connection("").replace("scope: api", "scope: read"),
    );
    s.gw.gateway.reload().unwrap();
    assert_eq!(s.lookup("1").await.json["token_number"], 1);
    assert_eq!(s.auth.stats().await.token_requests, 2);
}

#[tokio::test]
async fn an_unknown_connection_fails_the_bridge_which_keeps_its_last_good_version() {
    let s = setup(Refuse::Nothing).await;
    assert_eq!(s.lookup("1").await.status, 200);

    s.write(
        "crm.yaml",
        &connection("").replace("name: crm", "name: sales"),
    );
    s.write("new.yaml", &LOOKUP.replace("/lookup", "/new"));
    s.gw.gateway.reload().unwrap();
    let error = s
        .file_error("lookup.yaml")
        .await
        .expect("lookup.yaml fails now");
    assert!(error.contains("no connection named `crm`"), "{error}");
    assert!(error.contains("lookup.yaml"), "{error}");
    let reply = s.lookup("1").await;
    assert_eq!(
        reply.status, 200,
        "the last good version serves: {}",
        reply.text
    );
    assert_eq!(
        s.gw.get("/new").await.status,
        404,
        "a new bridge naming it never loads"
    );

    // Back again: the bridge loads against it.
    s.write("crm.yaml", &connection(""));
    s.gw.gateway.reload().unwrap();
    assert_eq!(s.file_error("lookup.yaml").await, None);
    assert_eq!(
        s.gw.post_json("/new", &json!({"id": "2"})).await.status,
        200
    );
}

#[tokio::test]
async fn a_broken_connection_lends_its_last_good_version_and_names_file_and_line() {
    let s = setup(Refuse::Nothing).await;
    s.write(
        "crm.yaml",
        &connection("").replace("timeout: 5s", "timeout: soon"),
    );
    s.gw.gateway.reload().unwrap();
    let error = s.file_error("crm.yaml").await.unwrap();
    assert!(
        error.contains("crm.yaml") && error.contains("timeout"),
        "{error}"
    );
    assert_eq!(s.file_error("lookup.yaml").await, None, "its bridges stay");
    assert_eq!(s.lookup("1").await.status, 200);

    s.write("crm.yaml", &connection("").replace("base_url", "base_ur"));
    s.gw.gateway.reload().unwrap();
    let error = s.file_error("crm.yaml").await.unwrap();
    assert!(error.contains("crm.yaml:3:"), "a line and column: {error}");
    assert_eq!(s.lookup("1").await.status, 200);
}

#[tokio::test]
async fn connection_rules_are_checked_at_load() {
    let dir = bridge_dir(&[
        ("crm.yaml", &connection("")),
        (
            "full-url.yaml",
            &LOOKUP.replace("url: /items", "url: http://elsewhere/items"),
        ),
        (
            "own-auth.yaml",
            &LOOKUP.replace("/lookup", "/own").replace(
                "connection: crm",
                "connection: crm\n  auth: { bearer: t0ken }",
            ),
        ),
        (
            "header.yaml",
            &connection("")
                .replace("name: crm", "name: hdr")
                .replace("X-Team: contact-centre", "Authorization: Bearer x"),
        ),
        (
            "both.yaml",
            &connection("").replace("name: crm", "name: both").replace(
                "    scope: api\n",
                "    scope: api\n  basic: { username: u, password: p }\n",
            ),
        ),
    ]);
    let gw = TestGateway::start(
        dir.path(),
        &[
            ("UP", "http://127.0.0.1:9"),
            ("TOKEN_URL", "http://127.0.0.1:9/token"),
            ("CLIENT_ID", "id"),
            ("CLIENT_SECRET", "secret"),
        ],
    )
    .await;
    let page = gw.get("/-/bridges").await.json;
    let error = |file: &str| -> String {
        page["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == file)
            .and_then(|f| f["error"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        error("full-url.yaml").contains("path beginning with `/`"),
        "{page}"
    );
    assert!(
        error("own-auth.yaml").contains("remove upstream.auth"),
        "{page}"
    );
    assert!(
        error("header.yaml").contains("`auth` already sets this header"),
        "{page}"
    );
    assert!(error("both.yaml").contains("exactly one of"), "{page}");
    assert_eq!(error("crm.yaml"), "");
}

#[tokio::test]
async fn inline_oauth2_in_a_bridge_works_without_a_connection() {
    let auth = Arc::new(AuthServer::start(Options::default()).await);
    let resource = ResourceServer::start(auth.clone(), Refuse::Nothing).await;
    let bridge = r#"
route: { path: /inline }
upstream:
  url: "${UP}/inline"
  auth:
    oauth2: { token_url: "${TOKEN_URL}", client_id: post-client, client_secret: "${S}", client_auth: body }
output: { token_number: { path: $.token_number, type: integer } }
"#;
    let dir = bridge_dir(&[("inline.yaml", bridge)]);
    let gw = TestGateway::start(
        dir.path(),
        &[
            ("UP", &resource.url),
            ("TOKEN_URL", &auth.token_url()),
            ("S", POST_CLIENT.secret),
        ],
    )
    .await;
    let reply = gw.post_json("/inline", &json!({})).await;
    assert_eq!(reply.json, json!({"token_number": 0}), "{}", reply.text);
    let metrics = gw.get("/-/metrics").await.text;
    assert!(
        metrics.contains(r#"bridgeway_token_requests_total{connection="inline",result="ok"} 1"#),
        "{metrics}"
    );
}

/// A connection's headers go on every call unless the bridge sets its own; its static
/// credentials (here Basic) reach the upstream like inline ones.
#[tokio::test]
async fn connection_headers_and_static_credentials_reach_the_upstream() {
    let upstream = crate::support::upstream_answering_ok().await;
    let conn = r#"
kind: connection
base_url: "${UP}/base"
headers: { X-Team: contact-centre, Accept: application/json }
auth: { basic: { username: svc, password: "${PASS}" } }
"#;
    let bridge = r#"
route: { path: /b }
upstream:
  connection: svc
  url: /x
  headers: { Accept: text/plain }
output: { status: { from: status } }
"#;
    let dir = bridge_dir(&[("svc.yaml", conn), ("b.yaml", bridge)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri()), ("PASS", "pw-1")]).await;
    let reply = gw.post_json("/b", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let seen = upstream.received_requests().await.unwrap();
    let request = &seen[0];
    assert_eq!(request.url.path(), "/base/x");
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("x-team").as_deref(), Some("contact-centre"));
    assert_eq!(
        header("accept").as_deref(),
        Some("text/plain"),
        "the bridge's own wins"
    );
    assert_eq!(
        header("authorization").as_deref(),
        Some("Basic c3ZjOnB3LTE=")
    );
    let page = gw.get("/-/bridges").await.json;
    assert_eq!(
        page["connections"][0]["name"], "svc",
        "named after its file"
    );
    assert_eq!(page["connections"][0]["auth"], "basic");
    assert_eq!(page["connections"][0]["token"], Value::Null);
}
