//! The input contract over HTTP: every constraint accepted and refused, every problem reported
//! at once, and bodies that are not a flat JSON object refused with a clear error.

use crate::support::{Reply, TestGateway, bridge_dir};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BRIDGE: &str = r#"
route: { path: /contract }
input:
  id:     { type: integer, required: true, minimum: 1, maximum: 100 }
  ratio:  { type: number, minimum: 0.5, maximum: 1.5 }
  code:   { type: string, min_length: 2, max_length: 4, pattern: "^[A-Z]+$" }
  tier:   { type: string, enum: [gold, silver] }
  vip:    { type: boolean }
upstream:
  url: "${UP}/echo"
output:
  ok: { from: status }
"#;

struct Fixture {
    _upstream: MockServer,
    _dir: tempfile::TempDir,
    gw: TestGateway,
}

async fn fixture() -> Fixture {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&upstream)
        .await;
    let dir = bridge_dir(&[("contract.yaml", BRIDGE)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    Fixture {
        _upstream: upstream,
        _dir: dir,
        gw,
    }
}

async fn post(f: &Fixture, body: Value) -> Reply {
    f.gw.post_json("/contract", &body).await
}

#[tokio::test]
async fn each_constraint_accepts_values_inside_it() {
    let f = fixture().await;
    for body in [
        json!({"id": 1}),
        json!({"id": 100, "ratio": 0.5, "code": "AB", "tier": "gold", "vip": true}),
        json!({"id": 50, "ratio": 1.5, "code": "ABCD", "tier": "silver", "vip": false}),
        json!({"id": 7, "unknown_field": {"nested": [1, 2]}}),
    ] {
        let reply = post(&f, body.clone()).await;
        assert_eq!(reply.status, 200, "{body}: {}", reply.text);
    }
}

#[tokio::test]
async fn each_constraint_refuses_values_outside_it() {
    let f = fixture().await;
    for (body, field, message) in [
        (json!({}), "id", "is required"),
        (json!({"id": 0}), "id", "must be at least 1"),
        (json!({"id": 101}), "id", "must be at most 100"),
        (
            json!({"id": 1.5}),
            "id",
            "expected an integer, got a number with a fraction",
        ),
        (
            json!({"id": "1"}),
            "id",
            "expected an integer, got a string",
        ),
        (
            json!({"id": 1, "ratio": 0.4}),
            "ratio",
            "must be at least 0.5",
        ),
        (json!({"id": 1, "ratio": 2}), "ratio", "must be at most 1.5"),
        (
            json!({"id": 1, "code": "A"}),
            "code",
            "must be at least 2 characters long",
        ),
        (
            json!({"id": 1, "code": "ABCDE"}),
            "code",
            "must be at most 4 characters long",
        ),
        (
            json!({"id": 1, "code": "ab"}),
            "code",
            "must match the pattern ^[A-Z]+$",
        ),
        (
            json!({"id": 1, "tier": "bronze"}),
            "tier",
            r#"must be one of "gold", "silver""#,
        ),
        (
            json!({"id": 1, "vip": "yes"}),
            "vip",
            "expected a boolean, got a string",
        ),
        (json!({"id": null}), "id", "expected an integer, got null"),
    ] {
        let reply = post(&f, body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        reply.assert_error_shape("invalid_input");
        assert_eq!(
            reply.details(),
            [(field.to_owned(), message.to_owned())],
            "{body}"
        );
    }
}

#[tokio::test]
async fn lengths_count_characters_not_bytes() {
    let f = fixture().await;
    let reply = post(&f, json!({"id": 1, "tier": "gold", "code": "ÄÖÜ"})).await;
    // Three characters (six bytes): the length passes, the ASCII-only pattern does not.
    assert_eq!(
        reply.details(),
        [(
            "code".to_owned(),
            "must match the pattern ^[A-Z]+$".to_owned()
        )]
    );
}

#[tokio::test]
async fn several_problems_are_reported_together() {
    let f = fixture().await;
    let reply = post(&f, json!({"id": 0, "code": "x", "tier": "wood", "vip": 1})).await;
    assert_eq!(reply.status, 422);
    let fields: Vec<String> = reply.details().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["id", "code", "code", "tier", "vip"]);
}

#[tokio::test]
async fn an_unrendered_genesys_variable_counts_as_not_supplied() {
    let f = fixture().await;
    let optional = post(&f, json!({"id": 3, "tier": "${input.tier}"})).await;
    let required = post(&f, json!({"id": "${input.id}"})).await;
    assert_eq!(optional.status, 200, "{}", optional.text);
    assert_eq!(
        required.details(),
        [("id".to_owned(), "is required".to_owned())]
    );
}

#[tokio::test]
async fn form_encoded_bodies_are_converted_to_field_types() {
    let f = fixture().await;
    let send = |body: &'static str| {
        f.gw.send(
            f.gw.client
                .post(f.gw.url("/contract"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
    };
    let ok = send("id=5&ratio=1.25&code=AB&vip=true&tier=gold").await;
    let bad = send("id=five&vip=maybe").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.details(),
        [
            ("id".to_owned(), "expected an integer".to_owned()),
            ("vip".to_owned(), "expected true or false".to_owned())
        ]
    );
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_are_400() {
    let f = fixture().await;
    for (body, code) in [
        ("{\"id\": 1,", "invalid_json"),
        ("[{\"id\": 1}]", "not_an_object"),
        ("", "empty_body"),
        ("42", "not_an_object"),
    ] {
        let reply =
            f.gw.send(
                f.gw.client
                    .post(f.gw.url("/contract"))
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(reply.status, 400, "{body:?}: {}", reply.text);
        reply.assert_error_shape(code);
        assert_eq!(reply.json["error"]["bridge"], "contract");
    }
}

#[tokio::test]
async fn a_two_mib_body_is_413_declared_or_chunked() {
    let f = fixture().await;
    let big = format!(
        "{{\"id\": 1, \"pad\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let declared =
        f.gw.send(
            f.gw.client
                .post(f.gw.url("/contract"))
                .header("content-type", "application/json")
                .body(big.clone()),
        )
        .await;
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let chunked =
        f.gw.send(
            f.gw.client
                .post(f.gw.url("/contract"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                ))),
        )
        .await;
    for reply in [declared, chunked] {
        assert_eq!(reply.status, 413);
        reply.assert_error_shape("payload_too_large");
    }
}

#[tokio::test]
async fn text_plain_is_415() {
    let f = fixture().await;
    let reply =
        f.gw.send(
            f.gw.client
                .post(f.gw.url("/contract"))
                .header("content-type", "text/plain")
                .body("{\"id\": 1}"),
        )
        .await;
    assert_eq!(reply.status, 415);
    reply.assert_error_shape("unsupported_media_type");
}
