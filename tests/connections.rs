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

/// The connection `conn` (as written) and the lookup bridge only.
async fn setup_lookup(options: Options, refuse: Refuse, client: ClientCreds, conn: &str) -> Setup {
    setup_with(
        options,
        refuse,
        client,
        &[("crm.yaml", conn), ("lookup.yaml", LOOKUP)],
    )
    .await
}

/// The usual connection with a client secret the authorization server does not know.
async fn setup_wrong_secret(secret: &'static str) -> Setup {
    let wrong = ClientCreds {
        id: BASIC_CLIENT.id,
        secret,
    };
    setup_lookup(Options::default(), Refuse::Nothing, wrong, &connection("")).await
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
        self.gw.file_error(file).await
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
    let s = setup_lookup(Options::default(), Refuse::Nothing, POST_CLIENT, &conn).await;
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
        metrics.contains(
            r#"bridgeway_token_requests_total{kind="connection",name="crm",result="ok"} 1"#
        ),
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
    let s = setup_lookup(Options::ttl(2), Refuse::Nothing, BASIC_CLIENT, &conn).await;
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
    let s = setup(Refuse::Nothing).await;
    assert_eq!(
        s.lookup("0").await.json["token_number"],
        0,
        "a token in the cache"
    );
    // The cached token is revoked: a GET goes again with a new one.
    s.resource.refuse(Refuse::FirstTokens(1));
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
async fn a_token_refused_twice_or_refused_fresh_is_502_upstream_auth_failed() {
    let s = setup(Refuse::Nothing).await;
    assert_eq!(s.lookup("0").await.status, 200);
    s.resource.refuse(Refuse::Everything);
    // The cached token refused, then the new one too.
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_auth_failed");
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("connection `crm`"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert_eq!(s.resource.requests().len(), 3, "sent twice, not more");
    assert_eq!(s.auth.stats().await.token_requests, 2);
    // A token fetched for this very request and refused: no second token, no second call.
    let reply = s.lookup("2").await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(s.resource.requests().len(), 4);
    assert_eq!(s.auth.stats().await.token_requests, 3);
}

/// A token endpoint slower than the bridge's timeout: the requests that give up do not cancel
/// the token request, which is made once and then serves.
#[tokio::test]
async fn a_slow_token_endpoint_is_asked_once_and_its_token_serves_afterwards() {
    let conn = connection("").replace("timeout: 5s", "timeout: 400ms");
    let s = setup_lookup(Options::default(), Refuse::Nothing, BASIC_CLIENT, &conn).await;
    s.auth.delay(1200).await;
    for _ in 0..2 {
        let reply = s.lookup("1").await;
        assert_eq!(reply.status, 504, "{}", reply.text);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["token_number"], 0);
    assert_eq!(s.auth.stats().await.token_requests, 1);
}

#[tokio::test]
async fn token_endpoint_refusals_and_failures_are_502_naming_the_error_code() {
    let wrong_secret = "not-the-secret-4e5f";
    let s = setup_wrong_secret(wrong_secret).await;
    let reply = s.lookup("1").await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_auth_failed");
    let message = reply.json["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("`invalid_client`"), "{message}");
    assert!(message.contains("connection `crm`"), "{message}");
    assert!(!reply.text.contains(wrong_secret));
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
        r#"bridgeway_token_requests_total{kind="connection",name="crm",result="ok"} 1"#,
        r#"bridgeway_token_requests_total{kind="connection",name="crm",result="refused"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

/// One lookup through the usual connection whose token endpoint is `token_url`, which must
/// fail: the 502 `upstream_auth_failed` reply, once nothing was sent upstream.
async fn lookup_without_a_token(token_url: &str) -> crate::support::Reply {
    let upstream = crate::support::upstream_answering_ok().await;
    let dir = bridge_dir(&[("crm.yaml", &connection("")), ("lookup.yaml", LOOKUP)]);
    let gw = TestGateway::start(
        dir.path(),
        &[
            ("UP", &upstream.uri()),
            ("TOKEN_URL", token_url),
            ("CLIENT_ID", "id"),
            ("CLIENT_SECRET", "secret-value"),
        ],
    )
    .await;
    let reply = gw.post_json("/lookup", &json!({"id": "1"})).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_auth_failed");
    assert!(upstream.received_requests().await.unwrap().is_empty());
    reply
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_502_upstream_auth_failed() {
    let down = closed_port().await;
    let reply = lookup_without_a_token(&format!("http://127.0.0.1:{down}/token")).await;
    assert!(
        reply.text.contains("could not be reached"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_is_asked_at_most_once_a_second() {
    let wrong_secret = "wrong";
    let s = setup_wrong_secret(wrong_secret).await;
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
    let s = setup_lookup(Options::default(), Refuse::Nothing, BASIC_CLIENT, &conn).await;
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
        let reply = lookup_without_a_token(&format!("{}/token", endpoint.uri())).await;
        assert!(reply.text.contains(says), "{says}: {}", reply.text);
        assert!(!reply.text.contains("mac-token-1"));
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

    // Not even YAML: still a connection (its last good version serves), not a broken bridge.
    s.write(
        "crm.yaml",
        &connection("").replace("headers: {", "headers: [{"),
    );
    s.write("late.yaml", &LOOKUP.replace("/lookup", "/late"));
    s.gw.gateway.reload().unwrap();
    let error = s.file_error("crm.yaml").await.unwrap();
    assert!(error.contains("crm.yaml:"), "{error}");
    assert_eq!(s.file_error("lookup.yaml").await, None, "{error}");
    assert_eq!(s.lookup("1").await.status, 200);
    let reply = s.gw.post_json("/late", &json!({"id": "3"})).await;
    assert_eq!(
        reply.status, 200,
        "a new bridge loads on the last good version: {}",
        reply.text
    );
    let page = s.gw.get("/-/bridges").await.json;
    assert_eq!(page["connections"][0]["name"], "crm", "{page}");
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
        metrics.contains(
            r#"bridgeway_token_requests_total{kind="bridge",name="inline",result="ok"} 1"#
        ),
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

/// Mutual TLS: an https upstream that requires a client certificate from a private CA.
mod mutual_tls {
    use std::convert::Infallible;
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::RootCertStore;
    use rustls::server::WebPkiClientVerifier;
    use rustls_pki_types::CertificateDer;
    use serde_json::json;
    use tokio::net::TcpListener;

    use crate::support::{TestGateway, bridge_dir};

    struct Ca(CertifiedIssuer<'static, KeyPair>);

    impl Ca {
        fn new() -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
        }

        /// A leaf for `names` with common name `cn`: (certificate PEM, key PEM).
        fn leaf(&self, names: &[&str], cn: &str) -> (String, String) {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &self.0).unwrap();
            (cert.pem(), key.serialize_pem())
        }
    }

    /// An https server on 127.0.0.1 that requires a client certificate issued by `ca`, and
    /// answers `{"client_certificates": N}`.
    async fn upstream_requiring_client_certificates(ca: &Ca) -> u16 {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject;
        bridgeway::stages::fetch::install_crypto_provider();
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], "upstream");
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.0.der().clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        let config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let presented = tls.get_ref().1.peer_certificates().map_or(0, <[_]>::len);
                    let service = hyper::service::service_fn(move |_req| async move {
                        let body = json!({ "client_certificates": presented }).to_string();
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        port
    }

    const BRIDGE: &str = r#"
route: { path: /secure }
upstream: { connection: secure, url: /who }
output: { presented: { path: $.client_certificates, type: integer } }
"#;

    fn connection(tls: &str) -> String {
        format!(
            "kind: connection\nname: secure\nbase_url: \"https://localhost:${{PORT}}\"\ntls: {tls}\n"
        )
    }

    #[tokio::test]
    async fn a_client_certificate_and_a_private_ca_reach_an_upstream_that_requires_them() {
        let ca = Ca::new();
        let port = upstream_requiring_client_certificates(&ca)
            .await
            .to_string();
        let dir = bridge_dir(&[
            (
                "secure.yaml",
                &connection(
                    "{ ca_file: certs/ca.pem, client_cert: certs/client.pem, client_key: certs/client.key }",
                ),
            ),
            ("call.yaml", BRIDGE),
        ]);
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        std::fs::write(certs.join("ca.pem"), ca.0.pem()).unwrap();
        let (cert, key) = ca.leaf(&["gateway.example"], "bridgeway");
        std::fs::write(certs.join("client.pem"), cert).unwrap();
        std::fs::write(certs.join("client.key"), key).unwrap();
        let gw = TestGateway::start(dir.path(), &[("PORT", &port)]).await;
        let reply = gw.post_json("/secure", &json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json, json!({"presented": 1}));

        // The CA file rotated to another CA: the next reload trusts only that one, although the
        // connection file did not change; rotated back, it is trusted again.
        let other = Ca::new();
        std::fs::write(certs.join("ca.pem"), other.0.pem()).unwrap();
        gw.gateway.reload().unwrap();
        let reply = gw.post_json("/secure", &json!({})).await;
        assert_eq!(reply.status, 502, "{}", reply.text);
        std::fs::write(certs.join("ca.pem"), ca.0.pem()).unwrap();
        gw.gateway.reload().unwrap();
        let reply = gw.post_json("/secure", &json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);

        // Without the client certificate the upstream refuses it. In TLS 1.3 the client's
        // handshake ends before the server has judged its certificate, so the refusal arrives
        // as the request is sent: either code is a 502 the caller can act on.
        std::fs::write(
            dir.path().join("secure.yaml"),
            connection("{ ca_file: certs/ca.pem }"),
        )
        .unwrap();
        gw.gateway.reload().unwrap();
        let reply = gw.post_json("/secure", &json!({})).await;
        assert_eq!(reply.status, 502, "{}", reply.text);
        let code = reply.error_code().to_owned();
        assert!(
            code == "upstream_unreachable" || code == "upstream_failed",
            "{}",
            reply.text
        );

        // Half an identity, or a file that is not there, never loads: named with the key.
        std::fs::write(
            dir.path().join("secure.yaml"),
            connection("{ ca_file: certs/ca.pem, client_cert: certs/client.pem }"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("other.yaml"),
            connection("{ ca_file: certs/missing.pem }").replace("name: secure", "name: other"),
        )
        .unwrap();
        gw.gateway.reload().unwrap();
        let page = gw.get("/-/bridges").await.json;
        let text = page["files"].to_string();
        assert!(
            text.contains("give both `client_cert` and `client_key`"),
            "{text}"
        );
        assert!(text.contains("tls.ca_file: cannot read"), "{text}");
        assert!(text.contains("missing.pem"), "{text}");
    }
}

/// No client secret and no token, in any form, reaches the real binary's logs (debug, bodies,
/// JSON), the status page, the metrics, an error body, or the output of `check` and `try`;
/// `try` shows the token step masked.
mod no_secret {
    use std::sync::Arc;

    use base64::Engine;
    use serde_json::json;

    use super::{LOOKUP, connection};
    use crate::support::binary::run_cli;
    use crate::support::oauth2::{AuthServer, ODD_CLIENT, Options, POST_CLIENT};
    use crate::support::resource::{Refuse, ResourceServer};
    use crate::support::{Server, bridge_dir};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_and_client_secrets_stay_out_of_every_output() {
        let auth = Arc::new(AuthServer::start(Options::default()).await);
        let resource = ResourceServer::start(auth.clone(), Refuse::Nothing).await;
        // Basic with a secret form-encoding changes, and client_secret_post.
        let post = connection("    client_auth: body\n")
            .replace("name: crm", "name: posted")
            .replace("${CLIENT_ID}", "${POST_ID}")
            .replace("${CLIENT_SECRET}", "${POST_SECRET}");
        let wrong = connection("")
            .replace("name: crm", "name: wrong")
            .replace("${CLIENT_SECRET}", "${WRONG_SECRET}");
        let dir = bridge_dir(&[
            ("crm.yaml", &connection("")),
            ("posted.yaml", &post),
            ("wrong.yaml", &wrong),
            ("lookup.yaml", LOOKUP),
            (
                "lookup-posted.yaml",
                &LOOKUP
                    .replace("/lookup", "/lookup-posted")
                    .replace("connection: crm", "connection: posted"),
            ),
            (
                "lookup-wrong.yaml",
                &LOOKUP
                    .replace("/lookup", "/lookup-wrong")
                    .replace("connection: crm", "connection: wrong"),
            ),
        ]);
        let wrong_secret = "wrong-secret-a1b2c3";
        let env: Vec<(String, String)> = [
            ("UP", resource.url.as_str()),
            ("TOKEN_URL", &auth.token_url()),
            ("CLIENT_ID", ODD_CLIENT.id),
            ("CLIENT_SECRET", ODD_CLIENT.secret),
            ("POST_ID", POST_CLIENT.id),
            ("POST_SECRET", POST_CLIENT.secret),
            ("WRONG_SECRET", wrong_secret),
            ("RUST_LOG", "debug"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("gateway.log");
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start_logging_to(
            dir.path(),
            &["--log-bodies", "--log-format", "json"],
            &pairs,
            Some(&log),
        )
        .await;
        let mut seen = String::new();
        for route in ["/lookup", "/lookup-posted", "/lookup-wrong", "/lookup"] {
            let reply = server
                .client
                .post(format!("{}{route}", server.base))
                .json(&json!({"id": "1"}))
                .send()
                .await
                .unwrap();
            seen.push_str(&reply.text().await.unwrap());
        }
        resource.refuse(Refuse::Everything);
        for route in ["/lookup", "/lookup-posted"] {
            let reply = server
                .client
                .post(format!("{}{route}", server.base))
                .json(&json!({"id": "1"}))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 502);
            seen.push_str(&reply.text().await.unwrap());
        }
        for page in ["/-/bridges", "/-/metrics"] {
            let reply = server
                .client
                .get(format!("{}{page}", server.base))
                .send()
                .await;
            seen.push_str(&reply.unwrap().text().await.unwrap());
        }
        resource.refuse(Refuse::Nothing);
        let bridges = dir.path().to_str().unwrap().to_owned();
        let runs = [
            vec!["check", "--bridges", &bridges],
            vec![
                "try",
                "lookup",
                "--input",
                r#"{"id": "2"}"#,
                "--bridges",
                &bridges,
            ],
            vec![
                "try",
                "lookup-wrong",
                "--input",
                r#"{"id": "2"}"#,
                "--bridges",
                &bridges,
            ],
        ];
        let mut printed = String::new();
        for args in runs {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let env = env.clone();
            let text = tokio::task::spawn_blocking(move || run_cli(&args, &env))
                .await
                .unwrap();
            printed.push_str(&text);
        }
        assert!(printed.contains("token    fetched in"), "{printed}");
        assert!(printed.contains("Bearer ***"), "{printed}");
        assert!(printed.contains("token    failed: "), "{printed}");
        assert!(printed.contains("invalid_client"), "{printed}");
        drop(server);
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("upstream_auth_failed"), "{logged}");

        let stats = auth.stats().await;
        assert!(stats.issued.len() >= 4, "{stats:?}");
        let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
        let form = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut secrets = vec![
            ODD_CLIENT.secret.to_owned(),
            form(ODD_CLIENT.secret),
            b64(format!("{}:{}", ODD_CLIENT.id, form(ODD_CLIENT.secret))),
            POST_CLIENT.secret.to_owned(),
            wrong_secret.to_owned(),
        ];
        secrets.extend(stats.issued.iter().cloned());
        for (what, text) in [
            ("replies and pages", &seen),
            ("check and try", &printed),
            ("the log", &logged),
        ] {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{secret} in {what}:\n{text}"
                );
            }
        }
    }
}
