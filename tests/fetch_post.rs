//! The shipped fetch-post bridge end to end, against a local JSONPlaceholder-shaped upstream.

use std::time::{Duration, Instant};

use crate::support::{closed_port, fetch_post_gateway, fetch_post_yaml};
use bridgeway::Settings;
use futures_util::stream;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROUTE: &str = "/api/v1/fetch-post";

fn post(id: u64) -> Value {
    json!({
        "userId": 1,
        "id": id,
        "title": format!("title of post {id}"),
        "body": "quia et suscipit\nsuscipit recusandae consequuntur",
    })
}

/// An upstream that knows posts 1 and 42 and answers 404 `{}` for any other, like JSONPlaceholder.
async fn jsonplaceholder() -> MockServer {
    let server = MockServer::start().await;
    for id in [1, 42] {
        Mock::given(method("GET"))
            .and(path(format!("/posts/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(post(id)))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({})))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn maps_a_post_field_by_field() {
    let upstream = jsonplaceholder().await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;

    let reply = gw
        .post_json(ROUTE, &json!({"user_id": 42, "query_text": "hi"}))
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert!(reply.headers.contains_key("x-request-id"));
    assert_eq!(
        reply.text,
        r#"{"status_code":200,"external_id":42,"title":"title of post 42","body":"quia et suscipit\nsuscipit recusandae consequuntur","error_message":""}"#,
        "fields in the file's order with their types"
    );
    let seen = upstream.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].url.path(), "/posts/42");
    assert_eq!(seen[0].headers["accept"], "application/json");
}

#[tokio::test]
async fn an_unknown_post_passes_404_on() {
    let upstream = jsonplaceholder().await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;

    let reply = gw.post_json(ROUTE, &json!({"user_id": 9999})).await;

    assert_eq!(reply.status, 404);
    reply.assert_error_shape("upstream_status");
    assert_eq!(reply.json["error"]["upstream_status"], 404);
    assert_eq!(reply.json["error"]["bridge"], "fetch-post");
}

#[tokio::test]
async fn a_slow_upstream_gives_504_soon_after_the_bridge_timeout() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(post(1))
                .set_delay(Duration::from_secs(10)),
        )
        .mount(&upstream)
        .await;
    let yaml = fetch_post_yaml().replace("timeout: 10s", "timeout: 500ms");
    let (_dir, gw) = fetch_post_gateway(&yaml, &upstream.uri(), Settings::default()).await;

    let started = Instant::now();
    let reply = gw.post_json(ROUTE, &json!({"user_id": 1})).await;
    let took = started.elapsed();

    assert_eq!(reply.status, 504);
    reply.assert_error_shape("upstream_timeout");
    assert!(
        took >= Duration::from_millis(500),
        "answered before the timeout: {took:?}"
    );
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}

#[tokio::test]
async fn an_unreachable_upstream_gives_502() {
    let base = format!("http://127.0.0.1:{}", closed_port().await);
    let (_dir, gw) = fetch_post_gateway(&fetch_post_yaml(), &base, Settings::default()).await;

    let reply = gw.post_json(ROUTE, &json!({"user_id": 1})).await;

    assert_eq!(reply.status, 502);
    reply.assert_error_shape("upstream_unreachable");
    assert!(
        !reply.text.contains("127.0.0.1"),
        "no upstream address in errors: {}",
        reply.text
    );
}

#[tokio::test]
async fn an_upstream_answering_html_gives_502() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
        )
        .mount(&upstream)
        .await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;

    let reply = gw.post_json(ROUTE, &json!({"user_id": 1})).await;

    assert_eq!(reply.status, 502);
    reply.assert_error_shape("upstream_not_json");
}

#[tokio::test]
async fn an_upstream_body_over_the_default_cap_gives_502() {
    let upstream = MockServer::start().await;
    let eleven_mib = format!(
        "{{\"id\":1,\"title\":\"{}\"}}",
        "x".repeat(11 * 1024 * 1024)
    );
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(eleven_mib, "application/json"))
        .mount(&upstream)
        .await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;

    let reply = gw.post_json(ROUTE, &json!({"user_id": 1})).await;

    assert_eq!(reply.status, 502);
    reply.assert_error_shape("upstream_too_large");
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "http://127.0.0.2:1/elsewhere"),
        )
        .mount(&upstream)
        .await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;

    let reply = gw.post_json(ROUTE, &json!({"user_id": 1})).await;

    assert_eq!(reply.status, 502);
    reply.assert_error_shape("upstream_redirect");
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn chunked_request_bodies_are_accepted() {
    let upstream = jsonplaceholder().await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;
    let chunks: Vec<Result<&'static str, std::io::Error>> =
        vec![Ok("{\"user_"), Ok("id\": "), Ok("1}")];

    let reply = gw
        .send(
            gw.client
                .post(gw.url(ROUTE))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(stream::iter(chunks))),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["external_id"], 1);
}

#[tokio::test]
async fn the_callers_request_id_is_echoed_and_forwarded() {
    let upstream = jsonplaceholder().await;
    let (_dir, gw) =
        fetch_post_gateway(&fetch_post_yaml(), &upstream.uri(), Settings::default()).await;

    let ok = gw
        .send(
            gw.client
                .post(gw.url(ROUTE))
                .header("x-request-id", "genesys-abc-1")
                .json(&json!({"user_id": 1})),
        )
        .await;
    let failed = gw
        .send(
            gw.client
                .post(gw.url(ROUTE))
                .header("x-request-id", "genesys-abc-2")
                .json(&json!({})),
        )
        .await;

    assert_eq!(ok.headers["x-request-id"], "genesys-abc-1");
    assert_eq!(failed.headers["x-request-id"], "genesys-abc-2");
    assert_eq!(failed.json["error"]["request_id"], "genesys-abc-2");
    let seen = upstream.received_requests().await.unwrap();
    assert_eq!(seen[0].headers["x-request-id"], "genesys-abc-1");
}

#[tokio::test]
async fn on_error_output_answers_200_with_the_error_in_the_fields() {
    let upstream = jsonplaceholder().await;
    let yaml = format!(
        "{}on_error: output\n",
        fetch_post_yaml().replace(
            "error_message: { value: \"\" }",
            "error_message: { from: error }"
        )
    );
    let (_dir, gw) = fetch_post_gateway(&yaml, &upstream.uri(), Settings::default()).await;

    let missing = gw.post_json(ROUTE, &json!({"user_id": 9999})).await;
    let found = gw.post_json(ROUTE, &json!({"user_id": 1})).await;

    assert_eq!(missing.status, 200, "{}", missing.text);
    assert_eq!(missing.json["status_code"], 404);
    assert_eq!(
        missing.json["error_message"],
        "the upstream answered 404 Not Found"
    );
    assert!(
        missing.json.get("title").is_none(),
        "no value and no default: left out"
    );
    assert_eq!(found.json["status_code"], 200);
    assert_eq!(found.json["error_message"], "");
}

#[tokio::test]
async fn on_error_output_reports_504_when_there_was_no_answer() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&upstream)
        .await;
    let yaml = format!(
        "{}on_error: output\n",
        fetch_post_yaml()
            .replace("timeout: 10s", "timeout: 200ms")
            .replace(
                "title:         { path: $.title, type: string }",
                "title: { path: $.title, type: string, default: \"\" }"
            )
            .replace(
                "error_message: { value: \"\" }",
                "error_message: { from: error }"
            )
    );
    let (_dir, gw) = fetch_post_gateway(&yaml, &upstream.uri(), Settings::default()).await;

    let reply = gw.post_json(ROUTE, &json!({"user_id": 1})).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["status_code"], 504);
    assert_eq!(reply.json["title"], "");
    assert!(
        reply.json["error_message"]
            .as_str()
            .unwrap()
            .contains("did not answer within 200ms")
    );
}
