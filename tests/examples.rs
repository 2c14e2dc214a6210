//! Every example in `examples/` (a connection and a bridge per vendor) loads, and answers as
//! documented against a loopback stand-in for the vendor: its token endpoint answering the way
//! the vendor's does (Salesforce without `expires_in`, Zoom's `account_credentials`), and its
//! API answering with the shape of the vendor's documented reply.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::TestGateway;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// `Basic base64(id:secret)` as RFC 6749 §2.3.1 builds it for plain ids and secrets.
fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn token_endpoint(server: &MockServer, at: &str, must: Vec<&str>, answer: Value) {
    let mut mock = Mock::given(method("POST")).and(path(at));
    for part in must {
        mock = mock.and(body_string_contains(part));
    }
    mock.respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(server)
        .await;
}

async fn serve(dir: &str, env: &[(&str, &str)]) -> TestGateway {
    let gw = TestGateway::start(&example(dir), env).await;
    let page = gw.get("/-/bridges").await.json;
    for file in page["files"].as_array().unwrap() {
        assert_eq!(file["status"], "ok", "{dir}: {file}");
    }
    assert_eq!(page["bridges"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["connections"].as_array().unwrap().len(), 1, "{page}");
    gw
}

#[tokio::test]
async fn salesforce_contact_by_phone() {
    let sf = MockServer::start().await;
    token_endpoint(
        &sf,
        "/services/oauth2/token",
        vec!["grant_type=client_credentials"],
        // Salesforce's answer: no expires_in.
        json!({"access_token": "00Dxx!AQ0", "instance_url": sf.uri(), "id": "https://login.salesforce.com/id/00D/005",
               "token_type": "Bearer", "issued_at": "1700000000000", "signature": "c2ln"}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/services/data/v60.0/parameterizedSearch/"))
        .and(query_param("q", "+1 415 555 0100"))
        .and(query_param("sobject", "Contact"))
        .and(header("authorization", "Bearer 00Dxx!AQ0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"searchRecords": [
            {"attributes": {"type": "Contact", "url": "/services/data/v60.0/sobjects/Contact/003xx"},
             "Id": "003xx", "Name": "Ada Lovelace", "Email": "ada@example.com", "AccountId": "001xx"}
        ]})))
        .mount(&sf)
        .await;
    let gw = serve(
        "salesforce",
        &[
            ("SF_INSTANCE_URL", &sf.uri()),
            ("SF_CLIENT_ID", "3MVG9"),
            ("SF_CLIENT_SECRET", "sf-secret"),
        ],
    )
    .await;
    let reply = gw
        .post_json(
            "/salesforce/contact-by-phone",
            &json!({"phone": "+1 415 555 0100"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({"contact_id": "003xx", "name": "Ada Lovelace", "email": "ada@example.com", "account_id": "001xx"})
    );
}

#[tokio::test]
async fn microsoft_graph_user() {
    let login = MockServer::start().await;
    token_endpoint(
        &login,
        "/tenant-1/oauth2/v2.0/token",
        vec![
            "grant_type=client_credentials",
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
            "client_id=app-1",
            "client_secret=graph-secret",
        ],
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0eXAi.graph"}),
    )
    .await;
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/ada%40contoso.com"))
        .and(query_param("$select", "displayName,mail,mobilePhone,jobTitle"))
        .and(header("authorization", "Bearer eyJ0eXAi.graph"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(displayName,mail,mobilePhone,jobTitle)/$entity",
            "displayName": "Ada Lovelace", "mail": "ada@contoso.com", "mobilePhone": null, "jobTitle": "Analyst"
        })))
        .mount(&graph)
        .await;
    let gw = serve(
        "microsoft-graph",
        &[
            ("GRAPH_LOGIN_URL", &login.uri()),
            ("GRAPH_API_URL", &graph.uri()),
            ("AZURE_TENANT_ID", "tenant-1"),
            ("AZURE_CLIENT_ID", "app-1"),
            ("AZURE_CLIENT_SECRET", "graph-secret"),
        ],
    )
    .await;
    let reply = gw
        .post_json("/graph/user", &json!({"upn": "ada@contoso.com"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({"display_name": "Ada Lovelace", "email": "ada@contoso.com", "mobile": "", "job_title": "Analyst"})
    );
}

#[tokio::test]
async fn zoom_user_with_account_credentials() {
    let zoom = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header(
            "authorization",
            basic("zoom-id", "zoom-secret").as_str(),
        ))
        .and(body_string_contains("grant_type=account_credentials"))
        .and(body_string_contains("account_id=acct-9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "zoom-token", "token_type": "bearer", "expires_in": 3599,
            "scope": "user:read:user:admin", "api_url": "https://api.zoom.us"
        })))
        .expect(1)
        .mount(&zoom)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/users/ada%40example.com"))
        .and(header("authorization", "Bearer zoom-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "z8yAAAAA8bbbQ", "first_name": "Ada", "last_name": "Lovelace",
            "email": "ada@example.com", "type": 2, "status": "active"
        })))
        .mount(&zoom)
        .await;
    let gw = serve(
        "zoom",
        &[
            ("ZOOM_OAUTH_URL", &zoom.uri()),
            ("ZOOM_API_URL", &zoom.uri()),
            ("ZOOM_CLIENT_ID", "zoom-id"),
            ("ZOOM_CLIENT_SECRET", "zoom-secret"),
            ("ZOOM_ACCOUNT_ID", "acct-9"),
        ],
    )
    .await;
    let reply = gw
        .post_json("/zoom/user", &json!({"user": "ada@example.com"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "status": "active"})
    );
}

#[tokio::test]
async fn servicenow_incident_with_basic() {
    // The instance name becomes the host: point it at the stand-in through a name that
    // resolves to 127.0.0.1 is not possible here, so the test swaps the base URL's host.
    let sn = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/incident"))
        .and(query_param("sysparm_query", "number=INC0010023"))
        .and(header("authorization", basic("svc.bridgeway", "sn-pass").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": [
            {"number": "INC0010023", "short_description": "Headset not working", "state": "2", "priority": "3"}
        ]})))
        .mount(&sn)
        .await;
    let dir = tempfile::tempdir().unwrap();
    for file in ["servicenow.yaml", "sn-incident.yaml"] {
        let text = std::fs::read_to_string(example("servicenow").join(file)).unwrap();
        let text = text.replace("https://${SN_INSTANCE}.service-now.com", "${SN_URL}");
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let gw = TestGateway::start(
        dir.path(),
        &[
            ("SN_URL", &sn.uri()),
            ("SN_USER", "svc.bridgeway"),
            ("SN_PASSWORD", "sn-pass"),
        ],
    )
    .await;
    let reply = gw
        .post_json("/servicenow/incident", &json!({"number": "INC0010023"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({"short_description": "Headset not working", "state": "2", "priority": "3"})
    );
    // The shipped file itself loads with an instance name.
    let gw = TestGateway::start(
        &example("servicenow"),
        &[
            ("SN_INSTANCE", "dev12345"),
            ("SN_USER", "u"),
            ("SN_PASSWORD", "p"),
        ],
    )
    .await;
    let page = gw.get("/-/bridges").await.json;
    assert_eq!(
        page["connections"][0]["base_url"],
        "https://dev12345.service-now.com"
    );
}

#[tokio::test]
async fn genesys_cloud_user() {
    let login = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header(
            "authorization",
            basic("gc-id", "gc-secret").as_str(),
        ))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "gc-token", "token_type": "bearer", "expires_in": 86399
        })))
        .expect(1)
        .mount(&login)
        .await;
    let api = MockServer::start().await;
    let id = "6e3a4b52-64d1-4fd4-9d0e-5c0a1b2c3d4e";
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{id}")))
        .and(header("authorization", "Bearer gc-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "name": "Ada Lovelace", "email": "ada@example.com", "state": "active",
            "version": 3, "selfUri": format!("/api/v2/users/{id}")
        })))
        .mount(&api)
        .await;
    let gw = serve(
        "genesys-cloud",
        &[
            ("GENESYS_LOGIN_URL", &login.uri()),
            ("GENESYS_API_URL", &api.uri()),
            ("GENESYS_CLOUD_CLIENT_ID", "gc-id"),
            ("GENESYS_CLOUD_CLIENT_SECRET", "gc-secret"),
        ],
    )
    .await;
    for _ in 0..3 {
        let reply = gw.post_json("/genesys/user", &json!({"user_id": id})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.json,
            json!({"name": "Ada Lovelace", "email": "ada@example.com", "state": "active"})
        );
    }
}
