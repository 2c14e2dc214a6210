//! Hostile input placed into every part of the upstream request. Whatever the input, the
//! request goes to the bridge's host, keeps its path segments, gains no header, and carries
//! valid JSON. Every assertion is on what the upstream actually received.

use crate::support::{TestGateway, bridge_dir, upstream_answering_ok};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BRIDGE: &str = r#"
route: { path: /place }
input:
  v: { type: string, required: true }
upstream:
  method: POST
  url: "${UP}/items/{{input.v}}/detail"
  query:
    q: "{{input.v}}"
    fixed: "yes"
  headers:
    X-Value: "{{input.v}}"
  body:
    exact: "{{input.v}}"
    wrapped: "value=<{{input.v}}>"
    list: ["{{input.v}}", 1]
output:
  status: { from: status }
"#;

const HOSTILE: [&str; 7] = [
    "../admin",
    "a/b",
    "x?y#z",
    "%2e%2e",
    "über 🚀",
    "\"quote\"",
    "\r\nX-Evil: 1",
];

async fn setup() -> (MockServer, tempfile::TempDir, TestGateway) {
    let upstream = upstream_answering_ok().await;
    let dir = bridge_dir(&[("place.yaml", BRIDGE)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    (upstream, dir, gw)
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[tokio::test]
async fn hostile_values_stay_inside_their_place() {
    let (upstream, _dir, gw) = setup().await;
    let up_addr = upstream.address().to_owned();

    for value in HOSTILE {
        upstream.reset().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&upstream)
            .await;
        let reply = gw.post_json("/place", &json!({ "v": value })).await;
        if value.contains('\r') {
            // A line break can be placed in the path, query and body, but never in a header.
            assert_eq!(reply.status, 422, "{value:?}: {}", reply.text);
            assert_eq!(reply.details()[0].0, "v");
            assert!(
                upstream.received_requests().await.unwrap().is_empty(),
                "nothing sent for {value:?}"
            );
            continue;
        }
        assert_eq!(reply.status, 200, "{value:?}: {}", reply.text);

        let seen = upstream.received_requests().await.unwrap();
        assert_eq!(seen.len(), 1, "{value:?}");
        let req = &seen[0];
        assert_eq!(
            req.headers["host"],
            up_addr.to_string().as_str(),
            "{value:?} changed the host"
        );

        let segments: Vec<&str> = req.url.path_segments().unwrap().collect();
        assert_eq!(
            segments.len(),
            3,
            "{value:?} added a path segment: {}",
            req.url.path()
        );
        assert_eq!((segments[0], segments[2]), ("items", "detail"));
        assert_eq!(
            decode(segments[1]),
            value,
            "{value:?} arrives whole in its segment"
        );

        let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        assert_eq!(
            query,
            [
                ("q".to_owned(), value.to_owned()),
                ("fixed".to_owned(), "yes".to_owned())
            ]
        );

        assert_eq!(req.headers["x-value"].as_bytes(), value.as_bytes());
        assert!(req.headers.get("x-evil").is_none());

        let body: Value = serde_json::from_slice(&req.body).expect("the body is valid JSON");
        assert_eq!(
            body,
            json!({"exact": value, "wrapped": format!("value=<{value}>"), "list": [value, 1]})
        );
    }
}

#[tokio::test]
async fn dot_segments_are_refused_before_anything_is_sent() {
    let (upstream, _dir, gw) = setup().await;
    for value in ["..", ".", ""] {
        let reply = gw.post_json("/place", &json!({ "v": value })).await;
        assert_eq!(reply.status, 422, "{value:?}: {}", reply.text);
        reply.assert_error_shape("invalid_input");
        assert_eq!(reply.details()[0].0, "v");
    }
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bridge_that_templates_the_host_never_loads() {
    let dir = bridge_dir(&[(
        "evil.yaml",
        "route: {path: /evil}\ninput: {h: {type: string}}\nupstream: {url: 'http://{{input.h}}/x'}\n",
    )]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let reply = gw.post_json("/evil", &json!({"h": "127.0.0.1:1"})).await;
    assert_eq!(reply.status, 404);
    let status = gw.get("/-/bridges").await;
    let error = status.json["files"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("input must never choose the host"),
        "{error}"
    );
}
