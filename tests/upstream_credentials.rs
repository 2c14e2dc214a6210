//! Outbound credentials (`upstream.auth`), form bodies (`upstream.form`) and `${file:PATH}`
//! secrets. Every assertion is on what a recording upstream on 127.0.0.1 actually received.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use wiremock::MockServer;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{Server, TestGateway, bridge_dir, eventually, upstream_answering_ok};

/// A password with non-ASCII and a colon: only the first colon separates user from password.
const PASSWORD: &str = "pä:ss wörd🔑";

fn bridge(route: &str, upstream: &str) -> String {
    format!(
        "route: {{ path: /{route} }}\ninput:\n  v: {{ type: string }}\nupstream:\n  url: \"${{UP}}/{route}\"\n{upstream}output: {{ status: {{ from: status }} }}\n"
    )
}

/// A gateway serving one bridge `NAME.yaml` with `upstream` lines, calling `up`, with `UP` and
/// one more variable set.
async fn one_bridge(
    up: &MockServer,
    name: &str,
    upstream: &str,
    var: (&str, &str),
) -> (tempfile::TempDir, TestGateway) {
    let dir = bridge_dir(&[(&format!("{name}.yaml"), &bridge(name, upstream))]);
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri()), var]).await;
    (dir, gw)
}

/// The one request the upstream received since its last reset.
async fn only_request(up: &MockServer) -> wiremock::Request {
    let seen = up.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1, "one request upstream");
    seen.into_iter().next().unwrap()
}

fn header(req: &wiremock::Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn error_of(gw: &TestGateway, file: &str) -> Option<String> {
    gw.file_error(file).await
}

#[tokio::test]
async fn basic_bearer_and_a_query_api_key_reach_the_upstream_as_configured() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[
        (
            "basic.yaml",
            &bridge(
                "basic",
                "  auth: { basic: { username: \"${USER_NAME}\", password: \"${API_PASSWORD}\" } }\n",
            ),
        ),
        (
            "bearer.yaml",
            &bridge(
                "bearer",
                "  headers: { Accept: application/json }\n  auth: { bearer: \"${API_TOKEN}\" }\n",
            ),
        ),
        (
            "keyquery.yaml",
            &bridge(
                "keyquery",
                "  query: { q: \"{{input.v}}\" }\n  auth: { api_key: { query: api_key, value: \"${API_KEY}\" } }\n",
            ),
        ),
    ]);
    let env = [
        ("UP", up.uri()),
        ("USER_NAME", "jürgen".to_owned()),
        ("API_PASSWORD", PASSWORD.to_owned()),
        ("API_TOKEN", "tok-abc.def_123".to_owned()),
        ("API_KEY", "k&y=1 +/ü".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gw = TestGateway::start(dir.path(), &env).await;

    let reply = gw.post_json("/basic", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let req = only_request(&up).await;
    let sent = header(&req, "authorization").unwrap();
    let encoded = sent.strip_prefix("Basic ").expect("Basic scheme");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("jürgen:{PASSWORD}")
    );

    up.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&up)
        .await;
    assert_eq!(gw.post_json("/bearer", &json!({})).await.status, 200);
    let req = only_request(&up).await;
    assert_eq!(
        header(&req, "authorization").as_deref(),
        Some("Bearer tok-abc.def_123")
    );
    assert_eq!(header(&req, "accept").as_deref(), Some("application/json"));

    up.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&up)
        .await;
    assert_eq!(
        gw.post_json("/keyquery", &json!({"v": "a b"})).await.status,
        200
    );
    let req = only_request(&up).await;
    let pairs: Vec<(String, String)> = req
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("q".to_owned(), "a b".to_owned()),
            ("api_key".to_owned(), "k&y=1 +/ü".to_owned())
        ]
    );
    assert!(header(&req, "authorization").is_none());
}

#[tokio::test]
async fn an_api_key_header_carries_the_key() {
    let up = upstream_answering_ok().await;
    let (_dir, gw) = one_bridge(
        &up,
        "keyheader",
        "  auth: { api_key: { header: X-Api-Key, value: \"${API_KEY}\" } }\n",
        ("API_KEY", "key:with=odd+chars/"),
    )
    .await;
    assert_eq!(gw.post_json("/keyheader", &json!({})).await.status, 200);
    let req = only_request(&up).await;
    assert_eq!(
        header(&req, "x-api-key").as_deref(),
        Some("key:with=odd+chars/")
    );
    assert!(header(&req, "authorization").is_none());
}

#[tokio::test]
async fn auth_and_an_authorization_header_never_load_together() {
    let up = upstream_answering_ok().await;
    let (_dir, gw) = one_bridge(
        &up,
        "both",
        "  headers: { authorization: \"Bearer x\" }\n  auth: { bearer: \"${API_TOKEN}\" }\n",
        ("API_TOKEN", "tok-never-shown"),
    )
    .await;
    let error = error_of(&gw, "both.yaml").await.expect("refused at load");
    assert!(error.contains("both.yaml"), "{error}");
    assert!(
        error.contains("upstream.auth already sets this header")
            && error.contains("remove it from upstream.headers"),
        "{error}"
    );
    assert!(!error.contains("tok-never-shown"), "{error}");
    assert_eq!(gw.post_json("/both", &json!({})).await.status, 404);
}

const FORM: &str = r#"
route: { path: /form }
input:
  user: { type: string, required: true }
  note: { type: string }
  n: { type: integer }
upstream:
  method: POST
  url: "${UP}/token"
  form:
    grant_type: client_credentials
    username: "{{input.user}}"
    note: "{{input.note}}"
    text: "n={{input.n}}"
    "a key&": fixed value
output: { status: { from: status } }
"#;

#[tokio::test]
async fn form_bodies_are_form_encoded_byte_for_byte() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[("form.yaml", FORM)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri())]).await;

    let hostile = "a&b=c+d e\nü🚀%20";
    let reply = gw
        .post_json("/form", &json!({"user": hostile, "note": "x=y", "n": 5}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let req = only_request(&up).await;
    assert_eq!(
        header(&req, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(req.body.clone()).unwrap(),
        "grant_type=client_credentials\
         &username=a%26b%3Dc%2Bd+e%0A%C3%BC%F0%9F%9A%80%2520\
         &note=x%3Dy&text=n%3D5&a+key%26=fixed+value"
    );
    let decoded: Vec<(String, String)> = form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(decoded[1], ("username".to_owned(), hostile.to_owned()));

    // An optional input not supplied leaves its key out; one inside text renders empty.
    up.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&up)
        .await;
    assert_eq!(
        gw.post_json("/form", &json!({"user": "u"})).await.status,
        200
    );
    let req = only_request(&up).await;
    assert_eq!(
        String::from_utf8(req.body.clone()).unwrap(),
        "grant_type=client_credentials&username=u&text=n%3D&a+key%26=fixed+value"
    );
}

#[tokio::test]
async fn a_bridge_content_type_wins_and_form_with_body_never_loads() {
    let up = upstream_answering_ok().await;
    let typed = FORM.replace("/form", "/typed").replace(
        "  form:",
        "  headers: { Content-Type: application/x-www-form-urlencoded; charset=utf-8 }\n  form:",
    );
    let both = FORM
        .replace("/form", "/both")
        .replace("  form:", "  body: { a: 1 }\n  form:");
    let dir = bridge_dir(&[("typed.yaml", &typed), ("both.yaml", &both)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri())]).await;

    let error = error_of(&gw, "both.yaml").await.expect("refused at load");
    assert!(
        error.contains("both.yaml") && error.contains("upstream.body and upstream.form"),
        "{error}"
    );
    assert_eq!(
        gw.post_json("/typed", &json!({"user": "u"})).await.status,
        200
    );
    let req = only_request(&up).await;
    let types: Vec<_> = req.headers.get_all("content-type").iter().collect();
    assert_eq!(types.len(), 1);
    assert_eq!(types[0], "application/x-www-form-urlencoded; charset=utf-8");
}

const FILE_BRIDGE: &str = r#"
route: { path: /filed }
upstream:
  url: "${UP}/filed"
  auth: { bearer: "${file:secrets/token}" }
  headers: { X-Abs: "${file:ABS}" }
output: { status: { from: status } }
"#;

#[tokio::test]
async fn file_values_are_used_trimmed_and_an_unreadable_file_keeps_the_last_good_version() {
    let up = upstream_answering_ok().await;
    let outside = tempfile::tempdir().unwrap();
    let absolute = outside.path().join("abs.txt");
    std::fs::write(&absolute, "absolute-value\n").unwrap();
    let text = FILE_BRIDGE.replace("ABS", absolute.to_str().unwrap());
    let dir = bridge_dir(&[("filed.yaml", &text)]);
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("token"), "file-token-1\n").unwrap();
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri())]).await;

    assert_eq!(gw.post_json("/filed", &json!({})).await.status, 200);
    let req = only_request(&up).await;
    assert_eq!(
        header(&req, "authorization").as_deref(),
        Some("Bearer file-token-1"),
        "relative to the bridge directory, trailing newline removed"
    );
    assert_eq!(header(&req, "x-abs").as_deref(), Some("absolute-value"));

    // Rotation without touching the bridge file.
    std::fs::write(secrets.join("token"), "file-token-2").unwrap();
    gw.gateway.reload().unwrap();
    up.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&up)
        .await;
    assert_eq!(gw.post_json("/filed", &json!({})).await.status, 200);
    let req = only_request(&up).await;
    assert_eq!(
        header(&req, "authorization").as_deref(),
        Some("Bearer file-token-2")
    );

    // Unreadable: the bridge fails naming the path, and its last good version keeps serving.
    std::fs::remove_file(secrets.join("token")).unwrap();
    gw.gateway.reload().unwrap();
    let error = error_of(&gw, "filed.yaml").await.expect("the file fails");
    assert!(error.contains("secrets/token"), "{error}");
    assert!(!error.contains("file-token"), "{error}");
    up.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&up)
        .await;
    assert_eq!(gw.post_json("/filed", &json!({})).await.status, 200);
    let req = only_request(&up).await;
    assert_eq!(
        header(&req, "authorization").as_deref(),
        Some("Bearer file-token-2")
    );

    // Readable again: the failure clears although the bridge file never changed.
    std::fs::write(secrets.join("token"), "file-token-3\n").unwrap();
    gw.gateway.reload().unwrap();
    assert_eq!(error_of(&gw, "filed.yaml").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_file_secret_is_sent_after_sighup() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/filed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&up)
        .await;
    let text = FILE_BRIDGE.replace("  headers: { X-Abs: \"${file:ABS}\" }\n", "");
    let dir = bridge_dir(&[("filed.yaml", &text)]);
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("token"), "sighup-token-1\n").unwrap();
    let server = Server::start(dir.path(), &[], &[("UP", &up.uri())]).await;
    let sent_token = || async {
        let status = server
            .client
            .post(format!("{}/filed", server.base))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        let seen = up.received_requests().await.unwrap();
        header(seen.last().unwrap(), "authorization")
    };
    assert_eq!(sent_token().await.as_deref(), Some("Bearer sighup-token-1"));

    std::fs::write(secrets.join("token"), "sighup-token-2\n").unwrap();
    server.signal(libc::SIGHUP);
    assert!(
        eventually(|| async { sent_token().await.as_deref() == Some("Bearer sighup-token-2") })
            .await,
        "SIGHUP re-reads the secret file"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
