//! Inbound credentials: checked before the input, never forwarded, never hinted at.

use crate::support::{Reply, TestGateway, bridge_dir, upstream_answering_ok};
use base64::Engine;
use serde_json::json;
use wiremock::MockServer;

const KEYED: &str = r#"
route: { path: /keyed }
auth: { api_key: { header: X-API-Key, value: "${INBOUND_KEY}" } }
input: { id: { type: integer, required: true } }
upstream: { url: "${UP}/x" }
output: { status: { from: status } }
"#;

const BASIC: &str = r#"
route: { path: /basic }
auth: { basic: { username: genesys, password: "${INBOUND_PASS}" } }
upstream: { url: "${UP}/x" }
output: { status: { from: status } }
"#;

const KEY: &str = "key-0123456789abcdef";
const PASS: &str = "pass-0123456789abcdef";

async fn setup() -> (MockServer, tempfile::TempDir, TestGateway) {
    let upstream = upstream_answering_ok().await;
    let dir = bridge_dir(&[("keyed.yaml", KEYED), ("basic.yaml", BASIC)]);
    let gw = TestGateway::start(
        dir.path(),
        &[
            ("UP", &upstream.uri()),
            ("INBOUND_KEY", KEY),
            ("INBOUND_PASS", PASS),
        ],
    )
    .await;
    (upstream, dir, gw)
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn assert_refused(reply: &Reply) {
    assert_eq!(reply.status, 401, "{}", reply.text);
    reply.assert_error_shape("unauthorized");
    assert_eq!(
        reply.json["error"]["message"],
        "missing or wrong credentials"
    );
}

#[tokio::test]
async fn api_key_right_wrong_and_missing() {
    let (upstream, _dir, gw) = setup().await;
    let post = |key: Option<&str>| {
        let mut request = gw.client.post(gw.url("/keyed")).json(&json!({"id": 1}));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        gw.send(request)
    };
    let right = post(Some(KEY)).await;
    assert_eq!(right.status, 200, "{}", right.text);
    assert_refused(&post(Some("key-0123456789abcdeX")).await);
    assert_refused(&post(Some("")).await);
    assert_refused(&post(None).await);

    let seen = upstream.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1, "only the authorised request went upstream");
    assert!(
        seen[0].headers.get("x-api-key").is_none(),
        "credentials are never forwarded"
    );
}

#[tokio::test]
async fn credentials_are_checked_before_the_input() {
    let (_up, _dir, gw) = setup().await;
    let reply = gw
        .send(
            gw.client
                .post(gw.url("/keyed"))
                .header("content-type", "text/plain")
                .body("junk"),
        )
        .await;
    assert_refused(&reply);
}

#[tokio::test]
async fn basic_auth_right_and_wrong() {
    let (upstream, _dir, gw) = setup().await;
    let post = |auth: String| {
        gw.send(
            gw.client
                .post(gw.url("/basic"))
                .header("authorization", auth)
                .json(&json!({})),
        )
    };
    let right = post(basic("genesys", PASS)).await;
    assert_eq!(right.status, 200, "{}", right.text);
    assert_refused(&post(basic("genesys", "wrong")).await);
    assert_refused(&post(basic("someone", PASS)).await);
    assert_refused(&post(format!("Bearer {PASS}")).await);
    assert_refused(&gw.post_json("/basic", &json!({})).await);
    let seen = upstream.received_requests().await.unwrap();
    assert!(
        seen[0].headers.get("authorization").is_none(),
        "credentials are never forwarded"
    );
}

#[tokio::test]
async fn secrets_never_show_in_the_status_page() {
    let (_up, _dir, gw) = setup().await;
    let page = gw.get("/-/bridges").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.text.contains(KEY) && !page.text.contains(PASS),
        "{}",
        page.text
    );
}
