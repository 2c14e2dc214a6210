//! The OAuth2 test server (tests/oauth2-server, oidc-provider) is real and does what the
//! gateway's OAuth2 tests will lean on: client credentials tokens with either client
//! authentication method, RFC 6749 error bodies, a configurable lifetime, and the /_test/
//! switches. Requests go straight from reqwest; the gateway is not involved yet.

use std::time::{Duration, Instant};

use crate::support::oauth2::{
    AuthServer, BASIC_CLIENT, CODE_CLIENT, ClientCreds, ODD_CLIENT, Options, POST_CLIENT,
};
use base64::Engine as _;
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    bridgeway::stages::fetch::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// RFC 6749 §2.3.1: id and secret each form-urlencoded, joined by `:`, then Base64.
fn basic_encoded(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// How a token request authenticates the client.
enum Auth<'a> {
    /// The Authorization header, id and secret form-encoded first.
    Basic(ClientCreds),
    /// The Authorization header, id and secret as they are (not form-encoded).
    BasicRaw(ClientCreds),
    /// client_id and client_secret in the form body.
    Post(ClientCreds),
    /// Any Authorization header value.
    Header(&'a str),
}

/// POSTs a client credentials request; returns the status and the JSON body.
async fn token(server: &AuthServer, auth: Auth<'_>, scope: Option<&str>) -> (u16, Value) {
    let (status, _, body) = token_full(server, auth, scope).await;
    (status, body)
}

async fn token_full(
    server: &AuthServer,
    auth: Auth<'_>,
    scope: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut pairs = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let mut request = http().post(server.token_url());
    match auth {
        Auth::Basic(c) => request = request.header("authorization", basic_encoded(c.id, c.secret)),
        Auth::BasicRaw(c) => request = request.basic_auth(c.id, Some(c.secret)),
        Auth::Post(c) => pairs.extend([("client_id", c.id), ("client_secret", c.secret)]),
        Auth::Header(value) => request = request.header("authorization", value),
    }
    let response = request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    (status, headers, body)
}

fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {body}"))
        .to_string()
}

#[tokio::test]
async fn client_secret_basic_gets_a_bearer_token() {
    let server = AuthServer::start(Options::default()).await;
    let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), Some("api")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api");
    assert_eq!(body["expires_in"], 300);
    let issued = access_token(&body);
    assert!(issued.len() >= 32, "{issued}");

    let stats = server.stats().await;
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.issued, vec![issued]);
    assert_eq!(stats.auth_methods, vec!["client_secret_basic"]);
    // The discovery document names the same token endpoint.
    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            server.base()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["token_endpoint"], server.token_url());
    assert_eq!(discovery["issuer"], server.base());
}

#[tokio::test]
async fn client_secret_post_gets_a_token_with_two_scopes() {
    let server = AuthServer::start(Options::default()).await;
    let (status, body) = token(&server, Auth::Post(POST_CLIENT), Some("api read")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api read");
    let stats = server.stats().await;
    assert_eq!(stats.issued, vec![access_token(&body)]);
    assert_eq!(stats.auth_methods, vec!["client_secret_post"]);
}

#[tokio::test]
async fn either_secret_method_is_accepted_and_recorded() {
    // oidc-provider does not hold a secret client to its registered method; the stats say
    // which one was used.
    let server = AuthServer::start(Options::default()).await;
    let (status, body) = token(&server, Auth::Basic(POST_CLIENT), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = token(&server, Auth::Post(BASIC_CLIENT), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.stats().await.auth_methods,
        vec!["client_secret_basic", "client_secret_post"]
    );
}

#[tokio::test]
async fn odd_secret_works_form_encoded_then_base64_and_not_raw() {
    let server = AuthServer::start(Options::default()).await;
    // s3cr3t:with/odd+chars% -> s3cr3t%3Awith%2Fodd%2Bchars%25 before Base64.
    assert_eq!(
        basic_encoded(ODD_CLIENT.id, ODD_CLIENT.secret),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode("odd-client:s3cr3t%3Awith%2Fodd%2Bchars%25")
        )
    );
    let (status, body) = token(&server, Auth::Basic(ODD_CLIENT), Some("api")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api");

    // Unencoded (what reqwest's basic_auth sends): the lone % does not percent-decode.
    let (status, body) = token(&server, Auth::BasicRaw(ODD_CLIENT), Some("api")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");

    // With the % encoded but the + left raw, the server reads the + as a space: wrong secret.
    let half =
        base64::engine::general_purpose::STANDARD.encode("odd-client:s3cr3t%3Awith%2Fodd+chars%25");
    let (status, body) = token(&server, Auth::Header(&format!("Basic {half}")), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // In the form body the secret is ordinary form data: encoded once by the form, that's all.
    let (status, body) = token(&server, Auth::Post(ODD_CLIENT), None).await;
    assert_eq!(status, 200, "{body}");

    // A plain secret reads the same either way.
    let (status, body) = token(&server, Auth::BasicRaw(BASIC_CLIENT), None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_secret_or_unknown_client_is_401_invalid_client() {
    let server = AuthServer::start(Options::default()).await;
    let wrong = ClientCreds {
        id: BASIC_CLIENT.id,
        secret: "not-the-secret",
    };
    let (status, headers, body) = token_full(&server, Auth::Basic(wrong), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic "), "{challenge}");

    let (status, body) = token(&server, Auth::Post(wrong), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");

    let nobody = ClientCreds {
        id: "nobody",
        secret: "x",
    };
    let (status, body) = token(&server, Auth::Basic(nobody), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");

    let stats = server.stats().await;
    assert_eq!(stats.token_requests, 3);
    assert!(stats.issued.is_empty());
}

#[tokio::test]
async fn scopes_are_checked() {
    let server = AuthServer::start(Options::default()).await;
    // Known to the server, not allowed for this client.
    let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), Some("api write")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
    // Unknown to the server: dropped, not an error; no scope left, so none in the answer.
    let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), Some("admin")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none(), "{body}");
    let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), Some("admin read")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "read");
}

#[tokio::test]
async fn grant_type_must_be_allowed_for_the_client() {
    let server = AuthServer::start(Options::default()).await;
    let (status, body) = token(&server, Auth::Basic(CODE_CLIENT), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "requested grant type is not allowed for this client"
    );
}

#[tokio::test]
async fn ttl_is_the_expires_in_and_each_request_gets_a_new_token() {
    let server = AuthServer::start(Options::ttl(2)).await;
    let (status, first) = token(&server, Auth::Basic(BASIC_CLIENT), None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["expires_in"], 2);
    let (_, second) = token(&server, Auth::Post(POST_CLIENT), None).await;
    assert_eq!(second["expires_in"], 2);
    assert_ne!(access_token(&first), access_token(&second));
    assert_eq!(server.stats().await.issued.len(), 2);
}

#[tokio::test]
async fn clients_and_scopes_can_be_given_at_start() {
    let server = AuthServer::start(Options {
        clients: Some(json!([{
            "client_id": "custom",
            "client_secret": "custom-secret",
            "token_endpoint_auth_method": "client_secret_post",
        }])),
        scopes: Some("orders".into()),
        ..Options::default()
    })
    .await;
    let custom = ClientCreds {
        id: "custom",
        secret: "custom-secret",
    };
    let (status, body) = token(&server, Auth::Post(custom), Some("orders")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "orders");
    // clients.json is not loaded beside them.
    let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), None).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn delay_holds_token_requests_so_they_overlap() {
    let server = AuthServer::start(Options::default()).await;
    server.delay(800).await;
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        token(&server, Auth::Basic(BASIC_CLIENT), None),
        token(&server, Auth::Post(POST_CLIENT), None),
        token(&server, Auth::Basic(ODD_CLIENT), None),
    );
    let elapsed = started.elapsed();
    assert_eq!((a.0, b.0, c.0), (200, 200, 200));
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
    // In flight together, not one after another.
    let stats = server.stats().await;
    assert_eq!(stats.concurrent_max, 3);
    assert_eq!(stats.token_requests, 3);

    server.reset().await;
    let started = Instant::now();
    let (status, _) = token(&server, Auth::Basic(BASIC_CLIENT), None).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fail_answers_every_token_request_until_reset() {
    let server = AuthServer::start(Options::default()).await;
    server.fail(503, "temporarily_unavailable").await;
    for _ in 0..2 {
        let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), None).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    server.fail(401, "invalid_client").await;
    let (status, body) = token(&server, Auth::Post(POST_CLIENT), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");

    server.reset().await;
    let (status, body) = token(&server, Auth::Basic(BASIC_CLIENT), None).await;
    assert_eq!(status, 200, "{body}");

    let stats = server.stats().await;
    assert_eq!(stats.token_requests, 4);
    assert_eq!(stats.issued, vec![access_token(&body)]);
    assert_eq!(
        stats.auth_methods,
        vec![
            "client_secret_basic",
            "client_secret_basic",
            "client_secret_post",
            "client_secret_basic"
        ]
    );
}
