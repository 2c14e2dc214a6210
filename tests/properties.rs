//! Property tests over the request path (no network): whatever the input and whatever the
//! upstream answers, the pipeline never panics, the upstream host never changes, headers never
//! gain a line break, a JSON body template always produces valid JSON, reading a body for
//! just what singular paths name answers and refuses exactly as a full parse and walk, and a
//! list of records holds what the library's own query and the SPEC's rules give.

use std::path::Path;
use std::time::Duration;

use crate::support::env_map;
use bridgeway::Bridge;
use bridgeway::bridge::compile_text;
use bridgeway::jsonpath::CompiledPath;
use bridgeway::stages::fetch::UpstreamResponse;
use bridgeway::stages::intake::Inbound;
use bridgeway::stages::map::extract::Extractor;
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

/// An upstream body built as text, so it can hold what no `Value` holds: duplicate keys, lone
/// surrogates, numbers out of range, nesting around serde_json's limit of 128, and, spliced
/// in anywhere, bytes that break it.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    let garbage = prop::collection::vec(
        prop::sample::select(&b"\xff\\\"}],:{[ \n\x00\x01ue1-."[..]),
        1..4,
    );
    let at = any::<prop::sample::Index>();
    (any_json_text(), 0..9u8, at, garbage).prop_map(|(doc, how, at, bytes)| {
        let mut body = doc.into_bytes();
        let at = at.index(body.len() + 1);
        match how {
            0..=5 => {}
            6 | 7 => drop(body.splice(at..at, bytes)),
            _ => body.truncate(at),
        }
        body
    })
}

fn any_json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(&["null", "true", "false", "nul", "True"][..]).prop_map(str::to_owned),
        any_number(),
        any_string(),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        let member = (any_key(), inner.clone()).prop_map(|(k, v)| format!("{k}: {v}"));
        prop_oneof![
            4 => prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            4 => prop::collection::vec(member, 0..5).prop_map(|m| format!("{{{}}}", m.join(", "))),
            1 => (118usize..=128, any::<bool>(), inner).prop_map(|(depth, objects, v)| nest(depth, objects, &v)),
        ]
    })
}

/// `v` inside `depth` arrays, or objects under the key `a`.
fn nest(depth: usize, objects: bool, v: &str) -> String {
    let (open, close) = if objects {
        (r#"{"a":"#, "}")
    } else {
        ("[", "]")
    };
    format!("{}{v}{}", open.repeat(depth), close.repeat(depth))
}

fn any_number() -> impl Strategy<Value = String> {
    let edges: &'static [&str] = &[
        "0",
        "-0",
        "-0.0",
        "1e400",
        "-1e400",
        "1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "4.9e-324",
        "0e99999",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "NaN",
    ];
    prop_oneof![
        prop::sample::select(edges).prop_map(str::to_owned),
        "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?",
    ]
}

/// A JSON string literal, quotes included, from pieces that are each fine, refused by a full
/// parse (lone surrogates, bad escapes, a raw control character), or fine only in pairs.
fn any_string() -> impl Strategy<Value = String> {
    let pieces: &'static [&str] = &[
        "a",
        "q",
        "é",
        "😀",
        "'",
        " ",
        r"\n",
        r"\/",
        r#"\""#,
        r"\\",
        r"\u0041",
        r"\u00e9",
        r"\ud83d\ude00",
        r"\uDBFF\uDFFF",
        r"\ud800",
        r"\udc00",
        r"\ud83d",
        r"\ude00",
        r"\q",
        r"\u12x4",
        "\u{1}",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..4)
        .prop_map(|p| format!("\"{}\"", p.concat()))
}

/// An object key: mostly one the paths name, written plainly or all in `\u` escapes.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(PATH_KEYS).prop_map(|k| serde_json::to_string(k).unwrap()),
        1 => prop::sample::select(PATH_KEYS).prop_map(all_escaped),
        1 => any_string(),
    ]
}

/// `key` as a JSON string literal with every UTF-16 unit a `\u` escape.
fn all_escaped(key: &str) -> String {
    let units: String = key.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
    format!("\"{units}\"")
}

const PATH_KEYS: &[&str] = &["a", "b", "q", "'q'", "\"q\"", "''", "", "0", "😀", "a b"];

/// A singular path, each name written in one of the ways JSONPath allows.
fn any_singular_path() -> impl Strategy<Value = String> {
    let name = (prop::sample::select(PATH_KEYS), 0..3).prop_map(|(k, how)| match how {
        0 if k.chars().all(char::is_alphabetic) && !k.is_empty() => format!(".{k}"),
        1 => format!("['{}']", k.replace('\\', r"\\").replace('\'', r"\'")),
        _ => format!("[{}]", serde_json::to_string(k).unwrap()),
    });
    let step = prop_oneof![name, (-3i64..4).prop_map(|i| format!("[{i}]"))];
    prop::collection::vec(step, 0..5).prop_map(|steps| format!("${}", steps.concat()))
}

/// The first value jsonpath-rust's own query gives on the whole document.
fn library_first(path: &str, doc: &Value) -> Option<Value> {
    let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
    let found = jsonpath_rust::query::js_path_process(&query, doc).unwrap();
    found.into_iter().next().map(|r| r.val.clone())
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
            if let Ok(reply) = bridge.output.reply(&response, &Value::Null) {
                prop_assert!(serde_json::from_slice::<Value>(&reply).is_ok(), "a reply is JSON");
            }
        }
    }

    #[test]
    fn picking_values_agrees_with_a_full_parse(
        body in any_body(),
        paths in prop::collection::vec(any_singular_path(), 1..6),
    ) {
        let compiled: Vec<CompiledPath> = paths.iter().map(|p| CompiledPath::compile(p).unwrap()).collect();
        prop_assert!(compiled.iter().all(CompiledPath::is_singular));
        let picked = Extractor::new(compiled.iter().map(CompiledPath::steps)).extract(&body);
        let full = serde_json::from_slice::<Value>(&body).ok();
        let shown = String::from_utf8_lossy(&body);
        prop_assert_eq!(picked.is_some(), full.is_some(), "refused by one only: {}", shown);
        if let (Some(picked), Some(full)) = (picked, full) {
            for (path, got) in paths.iter().zip(&picked) {
                prop_assert_eq!(got, &library_first(path, &full), "{} in {}", path, shown);
            }
        }
    }
}

const RECORDS: &str = r#"
route: { path: /r }
upstream: { url: "http://127.0.0.1:18999/r" }
output:
  rows:
    path: "$.items[*]"
    type: array
    max_items: 3
    items:
      fields:
        a: { path: $.a }
        s: { path: $.b, type: string, default: "-" }
        n: { count: "$.c[*]" }
        e: { exists: $.a }
"#;

/// Every value jsonpath-rust's own query gives on the whole document.
fn library_all<'a>(path: &str, doc: &'a Value) -> Vec<&'a Value> {
    let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
    let found = jsonpath_rust::query::js_path_process(&query, doc).unwrap_or_default();
    found.into_iter().map(|r| r.val).collect()
}

/// What the SPEC says RECORDS gives for `doc`, worked out with the library directly:
/// `Err` when a record's `s` cannot be a string.
fn expected_rows(doc: &Value) -> Result<Option<Value>, ()> {
    // Matches that are all null still make a (then empty) list, as for a scalar array.
    let matches = library_all("$.items[*]", doc);
    if matches.is_empty() {
        return Ok(None);
    }
    let elements = matches.into_iter().filter(|e| !e.is_null());
    let mut rows = Vec::new();
    for element in elements.take(3) {
        let mut row = Map::new();
        let a = library_first("$.a", element).filter(|a| !a.is_null());
        if let Some(a) = &a {
            row.insert("a".into(), a.clone());
        }
        let s = match library_first("$.b", element) {
            None | Some(Value::Null) => Value::from("-"),
            Some(Value::String(s)) => Value::String(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Value::String(v.to_string()),
            Some(_) => return Err(()),
        };
        row.insert("s".into(), s);
        row.insert("n".into(), library_all("$.c[*]", element).len().into());
        row.insert("e".into(), a.is_some().into());
        rows.push(Value::Object(row));
    }
    Ok(Some(Value::Array(rows)))
}

/// Documents with a list of records in them, shaped like what RECORDS reads, or anything.
fn any_records_doc() -> impl Strategy<Value = Value> {
    let element = prop_oneof![
        4 => (prop::option::of(any_json()), prop::option::of(any_json()), prop::option::of(any_json()))
            .prop_map(|(a, b, c)| {
                let mut m = Map::new();
                for (k, v) in [("a", a), ("b", b), ("c", c)] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            }),
        1 => any_json(),
    ];
    let items = prop_oneof![
        4 => prop::collection::vec(element.clone(), 0..6).prop_map(Value::Array),
        1 => prop::collection::btree_map("[a-z]{1,2}", element, 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => any_json(),
    ];
    prop_oneof![
        4 => items.prop_map(|items| serde_json::json!({ "items": items })),
        1 => any_json(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn records_map_as_the_spec_says(doc in any_records_doc()) {
        let bridge = compile_text(Path::new("r.yaml"), RECORDS, &env_map(&[])).unwrap();
        let response = UpstreamResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&doc).unwrap().into(),
            elapsed: Duration::from_millis(1),
        };
        let reply = bridge.output.reply(&response, &Value::Null);
        match expected_rows(&doc) {
            Err(()) => prop_assert!(reply.is_err(), "{} gave {:?}", doc, reply),
            Ok(rows) => {
                let reply: Value = serde_json::from_slice(&reply.unwrap()).unwrap();
                prop_assert_eq!(reply.get("rows"), rows.as_ref(), "{}", doc);
            }
        }
    }
}

/// Computed kinds on singular paths: read by the extractor alone.
const SINGULAR_COMPUTED: &str = r#"
route: { path: /s }
upstream: { url: "http://127.0.0.1:18999/s" }
output:
  n:  { count: $.a }
  l:  { path: $.a.length() }
  e:  { exists: "$.a[0]" }
  j:  { path: $.a, join: "," }
  s:  { path: "$.b", type: string, default: "-" }
  xs: { path: $.a, type: array, items: string, max_items: 2 }
"#;

fn reply_of(bridge: &Bridge, body: &[u8]) -> Option<Value> {
    let response = UpstreamResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: body.to_vec().into(),
        elapsed: Duration::from_millis(1),
    };
    let reply = bridge.output.reply(&response, &Value::Null).ok()?;
    let mut reply: Value = serde_json::from_slice(&reply).unwrap();
    reply.as_object_mut()?.remove("force");
    Some(reply)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn computed_fields_read_the_same_through_the_extractor_and_a_full_parse(body in any_body()) {
        let picked = compile_text(Path::new("s.yaml"), SINGULAR_COMPUTED, &env_map(&[])).unwrap();
        // A many-valued path makes the same mapping parse the whole body.
        let whole_text = format!("{SINGULAR_COMPUTED}  force: {{ path: \"$..zz\", type: array }}\n");
        let whole = compile_text(Path::new("s.yaml"), &whole_text, &env_map(&[])).unwrap();
        let shown = String::from_utf8_lossy(&body);
        prop_assert_eq!(reply_of(&picked, &body), reply_of(&whole, &body), "{}", shown);
    }
}
