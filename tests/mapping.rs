//! Output mapping over HTTP: sources, types, coercions, defaults, nulls, first-of-many,
//! arrays, headers, and mapping failures that name the field.

use crate::support::{TestGateway, bridge_dir};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const MAPS: &str = r#"
route: { path: /maps }
upstream: { url: "${UP}/doc" }
output:
  id_int:         { path: $.id, type: integer }
  score_int:      { path: $.score, type: integer }
  price:          { path: $.price, type: number }
  active_text:    { path: $.active, type: string }
  deep_text:      { path: $.nested.deep.v, type: string }
  nothing:        { path: $.nothing, type: string, default: "never used" }
  with_default:   { path: $.missing, type: string, default: "n/a" }
  left_out:       { path: $.missing, type: string }
  first_name:     { path: "$.items[*].name", type: string }
  names:          { path: "$.items[*].name", type: array, items: string }
  qtys:           { path: "$.items[*].qty", type: array, items: integer }
  named_b:        { path: "$.items[?@.name == 'b'].qty", type: array, items: integer }
  tags:           { path: $.tags, type: array }
  untyped:        { path: $.nested.deep }
  total:          { from: "header:x-total", type: integer }
  trace:          { from: "header:X-TRACE" }
  absent_header:  { from: "header:x-none", default: "" }
  constant:       { value: 5, type: string }
  status:         { from: status }
"#;

fn failing(name: &str, field: &str) -> String {
    format!(
        "route: {{ path: /{name} }}\nupstream: {{ url: \"${{UP}}/doc\" }}\noutput:\n  fine: {{ from: status }}\n  {field}\n"
    )
}

async fn setup() -> (MockServer, tempfile::TempDir, TestGateway) {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total", "17")
                .insert_header("x-trace", "abc")
                .set_body_json(json!({
                    "id": "42",
                    "score": 3.0,
                    "price": "12.50",
                    "active": true,
                    "nothing": "never used",
                    "name": "abc",
                    "nested": {"deep": {"v": 7}},
                    "items": [{"name": "a", "qty": 1}, {"name": "b", "qty": "2"}],
                    "tags": ["x", "y"],
                })),
        )
        .mount(&upstream)
        .await;
    let dir = bridge_dir(&[
        ("maps.yaml", MAPS),
        (
            "bad-coercion.yaml",
            &failing("bad-coercion", "name_int: { path: $.name, type: integer }"),
        ),
        (
            "bad-object.yaml",
            &failing("bad-object", "items: { path: $.items, type: string }"),
        ),
        (
            "bad-required.yaml",
            &failing("bad-required", "must: { path: $.absent, required: true }"),
        ),
        (
            "bad-items.yaml",
            &failing(
                "bad-items",
                "names: { path: \"$.items[*].name\", type: array, items: integer }",
            ),
        ),
    ]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    (upstream, dir, gw)
}

#[tokio::test]
async fn every_source_type_and_coercion_maps_as_specified() {
    let (_up, _dir, gw) = setup().await;
    let reply = gw.post_json("/maps", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "id_int": 42,
            "score_int": 3,
            "price": 12.5,
            "active_text": "true",
            "deep_text": "7",
            "nothing": "never used",
            "with_default": "n/a",
            "first_name": "a",
            "names": ["a", "b"],
            "qtys": [1, 2],
            "named_b": [2],
            "tags": ["x", "y"],
            "untyped": {"v": 7},
            "total": 17,
            "trace": "abc",
            "absent_header": "",
            "constant": "5",
            "status": 200,
        })
    );
    assert!(reply.json.get("left_out").is_none());
}

#[tokio::test]
async fn mapping_failures_are_502_naming_the_field() {
    let (_up, _dir, gw) = setup().await;
    for (route, field, why) in [
        ("/bad-coercion", "name_int", "expected an integer"),
        ("/bad-object", "items", "expected a string, got an array"),
        ("/bad-required", "must", "required value is missing"),
        ("/bad-items", "names", "expected an integer"),
    ] {
        let reply = gw.post_json(route, &json!({})).await;
        assert_eq!(reply.status, 502, "{route}: {}", reply.text);
        reply.assert_error_shape("mapping_failed");
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("output field `{field}`")),
            "{route}: {message}"
        );
        assert!(message.contains(why), "{route}: {message}");
    }
}

#[tokio::test]
async fn a_bad_default_or_constant_is_refused_at_load() {
    let dir = bridge_dir(&[(
        "b.yaml",
        "route: {path: /b}\nupstream: {url: 'http://127.0.0.1:1/'}\noutput:\n  n: {path: $.n, type: integer, default: abc}\n  c: {value: [1], type: string}\n",
    )]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let error = gw.get("/-/bridges").await.json["files"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("output.n.default: expected an integer"),
        "{error}"
    );
    assert!(
        error.contains("output.c.value: expected a string, got an array"),
        "{error}"
    );
}
