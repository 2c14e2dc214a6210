//! Property tests over the request path (no network): whatever the input and whatever the
//! upstream answers, the pipeline never panics, the upstream host never changes, headers never
//! gain a line break, and a JSON body template always produces valid JSON.

mod common;

use std::path::Path;
use std::time::Duration;

use bridgeway::Bridge;
use bridgeway::bridge::compile_text;
use bridgeway::stages::fetch::UpstreamResponse;
use bridgeway::stages::intake::Inbound;
use common::env_map;
use http::{HeaderMap, StatusCode};
use proptest::prelude::*;
use serde_json::{Map, Value};

const BRIDGE: &str = r#"
route: { path: /p }
input:
  s: { type: string }
  n: { type: number }
  i: { type: integer }
  b: { type: boolean }
upstream:
  method: POST
  url: "http://127.0.0.1:18999/a/{{input.s}}/b-{{input.i}}?fixed=1"
  query: { q: "{{input.s}}", n: "{{input.n}}" }
  headers: { X-S: "{{input.s}}", X-Mixed: "pre {{input.s}} {{#if input.b}}yes{{/if}}" }
  body:
    s: "{{input.s}}"
    n: "{{input.n}}"
    text: "<{{input.s}}> {{input.i}}"
    nested: { list: ["{{input.b}}", "{{input.s}}", 3] }
output:
  status: { from: status }
  title: { path: $.title, type: string }
  count: { path: "$.items[*]", type: array }
  first: { path: "$.items[0].v", type: integer, default: 0 }
"#;

fn bridge() -> Bridge {
    compile_text(Path::new("p.yaml"), BRIDGE, &env_map(&[])).unwrap()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::from),
        "[./%?#&=\\\\\r\n \u{0}-\u{1f}ü🚀{}]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Always a string `s` (so most cases get past validation and are rendered), arbitrary or
/// built from the characters that try to escape a URL, a header or a JSON string; the other
/// fields take any JSON, right type or not.
fn any_input() -> impl Strategy<Value = Map<String, Value>> {
    let s = prop_oneof![
        any::<String>(),
        "[./%?#&=\\\\\r\n \u{0}-\u{1f}\"'ü🚀{}]{1,16}"
    ];
    let field = prop_oneof![Just("n"), Just("i"), Just("b"), Just("other")];
    (
        s,
        prop::collection::btree_map(field.prop_map(str::to_owned), any_json(), 0..4),
    )
        .prop_map(|(s, rest)| {
            let mut input: Map<String, Value> = rest.into_iter().collect();
            input.insert("s".to_owned(), Value::String(s));
            input
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn rendering_never_escapes_its_place(input in any_input()) {
        let bridge = bridge();
        let Ok(valid) = bridge.input.validate(Inbound::Json(input)) else { return Ok(()) };
        let Ok(request) = bridge.upstream.render(&valid, "req") else { return Ok(()) };
        let url = url::Url::parse(&request.url()).unwrap();
        prop_assert_eq!(url.host_str(), Some("127.0.0.1"));
        prop_assert_eq!(url.port(), Some(18999));
        prop_assert_eq!(url.scheme(), "http");
        // What is sent is what a URL parser reads back: nothing left for it to re-encode.
        prop_assert_eq!(&url[url::Position::BeforePath..], request.target.as_str());
        let segments: Vec<&str> = url.path_segments().unwrap().collect();
        prop_assert_eq!(segments.len(), 3, "{}", url);
        prop_assert_eq!(segments[0], "a");
        for (name, value) in &request.headers {
            prop_assert!(!value.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n'), "{name}: {value:?}");
        }
        let body: Result<Value, _> = serde_json::from_slice(request.body.as_deref().unwrap_or_default());
        prop_assert!(body.is_ok(), "the body is valid JSON");
    }

    #[test]
    fn mapping_any_upstream_answer_never_panics(body in prop::collection::vec(any::<u8>(), 0..200), json in any_json(), status in 100u16..600) {
        let bridge = bridge();
        for bytes in [body, serde_json::to_vec(&json).unwrap()] {
            let response = UpstreamResponse {
                status: StatusCode::from_u16(status).unwrap(),
                headers: HeaderMap::new(),
                body: bytes.into(),
                elapsed: Duration::from_millis(1),
            };
            if let Ok(reply) = bridge.output.reply(&response) {
                prop_assert!(serde_json::from_slice::<Value>(&reply).is_ok(), "a reply is JSON");
            }
        }
    }
}
