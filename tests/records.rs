//! Lists of records, computed fields, the null rule and Genesys' JSONPath forms, over HTTP
//! against a loopback upstream that answers as a CRM (Salesforce's query API) does.

use crate::support::{TestGateway, bridge_dir};
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CONTACTS: &str = r#"
route: { path: /contacts }
input:
  case: { type: string, required: true, pattern: "^[a-z-]+$" }
  phone: { type: string }
upstream:
  url: "${UP}/{{input.case}}/query"
output:
  total:    { count: "$.records[*]" }
  reported: { path: $.totalSize, type: integer }
  found:    { exists: "$.records[0]" }
  contacts:
    path: "$.records[*]"
    type: array
    default: []
    items:
      fields:
        id:      { path: $.Id, type: string, required: true }
        name:    { path: $.Name, type: string }
        email:   { path: $.Email, type: string, default: "" }
        phone:   { path: $.Phone, type: string }
        account: { path: $.Account.Name, type: string, default: "none" }
        score:   { path: $.Score__c, type: integer }
        tags:    { path: $.Tags, type: array, items: string }
        label:   { template: "{{output.name}} ({{output.account}})" }
  names:    { path: "$.records[*].Name", type: string, join: ", " }
  summary:  { template: "{{output.total}} contact(s) for {{input.phone}}" }
"#;

const FIRST_TWO: &str = r#"
route: { path: /first-two }
input:
  case: { type: string, required: true, pattern: "^[a-z-]+$" }
upstream:
  url: "${UP}/{{input.case}}/query"
output:
  contacts:
    path: $.records
    type: array
    max_items: 2
    items:
      fields:
        id: { path: $.Id, type: string, required: true }
"#;

fn record(id: &str, name: &str, email: Value, account: Value, score: Value) -> Value {
    json!({
        "attributes": {"type": "Contact", "url": format!("/services/data/v60.0/sobjects/Contact/{id}")},
        "Id": id, "Name": name, "Email": email, "Phone": "+44 20 7946 0000",
        "Account": account, "Score__c": score, "Tags": ["vip", null, "emea"],
    })
}

pub fn answers() -> Vec<(&'static str, Value)> {
    let several = vec![
        record(
            "003A",
            "Ann Lee",
            json!("ann@example.com"),
            json!({"Name": "Acme"}),
            json!(87),
        ),
        record(
            "003B",
            "Bob Stone",
            json!("bob@example.com"),
            json!({"Name": "Globex"}),
            json!("12"),
        ),
        record(
            "003C",
            "Cy Twombly",
            json!("cy@example.com"),
            json!({"Name": "Initech"}),
            json!(3.0),
        ),
    ];
    // Phone, Score__c and Tags missing; Email and Account null.
    let gaps = json!({"attributes": {"type": "Contact"}, "Id": "003D", "Name": "Di Gap", "Email": null, "Account": null});
    vec![
        (
            "several",
            json!({"totalSize": 3, "done": true, "records": several}),
        ),
        ("none", json!({"totalSize": 0, "done": true, "records": []})),
        (
            "gaps",
            json!({"totalSize": 2, "done": true, "records": [null, gaps]}),
        ),
        (
            "no-id",
            json!({"totalSize": 1, "done": true, "records": [{"Name": "Nameless"}]}),
        ),
        ("absent", json!({"done": true})),
    ]
}

async fn setup() -> (MockServer, tempfile::TempDir, TestGateway) {
    let upstream = MockServer::start().await;
    for (case, body) in answers() {
        Mock::given(path(format!("/{case}/query")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&upstream)
            .await;
    }
    let dir = bridge_dir(&[("contacts.yaml", CONTACTS), ("first-two.yaml", FIRST_TWO)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    (upstream, dir, gw)
}

#[tokio::test]
async fn several_matches_become_one_record_each_in_the_files_order() {
    let (_up, _dir, gw) = setup().await;
    let reply = gw
        .post_json("/contacts", &json!({"case": "several", "phone": "+44"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let contact = |id: &str, name: &str, email: &str, account: &str, score: i64| {
        json!({"id": id, "name": name, "email": email, "phone": "+44 20 7946 0000",
               "account": account, "score": score, "tags": ["vip", "emea"],
               "label": format!("{name} ({account})")})
    };
    assert_eq!(
        reply.json,
        json!({
            "total": 3,
            "reported": 3,
            "found": true,
            "contacts": [
                contact("003A", "Ann Lee", "ann@example.com", "Acme", 87),
                contact("003B", "Bob Stone", "bob@example.com", "Globex", 12),
                contact("003C", "Cy Twombly", "cy@example.com", "Initech", 3),
            ],
            "names": "Ann Lee, Bob Stone, Cy Twombly",
            "summary": "3 contact(s) for +44",
        })
    );
    let first = reply.text.find(r#"{"id":"003A","name":"Ann Lee","email""#);
    assert!(
        first.is_some(),
        "record fields in the file's order: {}",
        reply.text
    );
}

#[tokio::test]
async fn no_match_gives_the_default_list_and_computed_fields_that_say_so() {
    let (_up, _dir, gw) = setup().await;
    for case in ["none", "absent"] {
        let reply = gw
            .post_json("/contacts", &json!({"case": case, "phone": "+1"}))
            .await;
        assert_eq!(reply.status, 200, "{case}: {}", reply.text);
        let mut want = json!({
            "total": 0,
            "found": false,
            "contacts": [],
            "summary": "0 contact(s) for +1",
        });
        if case == "none" {
            want["reported"] = json!(0);
        }
        assert_eq!(
            reply.json, want,
            "{case}: nothing to join leaves `names` out"
        );
    }
    // Without a default, a list that matched nothing is left out, as any other field.
    let reply = gw.post_json("/first-two", &json!({"case": "absent"})).await;
    assert_eq!((reply.status, reply.json), (200, json!({})));
    let reply = gw.post_json("/first-two", &json!({"case": "none"})).await;
    assert_eq!(
        reply.json,
        json!({"contacts": []}),
        "an empty array is a value"
    );
}

#[tokio::test]
async fn missing_and_null_record_fields_take_defaults_or_are_left_out() {
    let (_up, _dir, gw) = setup().await;
    let reply = gw.post_json("/contacts", &json!({"case": "gaps"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "total": 2,
            "reported": 2,
            "found": false,
            "contacts": [
                {"id": "003D", "name": "Di Gap", "email": "", "account": "none", "label": "Di Gap (none)"}
            ],
            "names": "Di Gap",
            "summary": "2 contact(s) for ",
        }),
        "the null element is left out; null Email and Account take their defaults"
    );
    assert!(!reply.text.contains("null"), "{}", reply.text);
}

#[tokio::test]
async fn a_record_without_its_required_field_is_a_mapping_error_naming_it() {
    let (_up, _dir, gw) = setup().await;
    let reply = gw.post_json("/contacts", &json!({"case": "no-id"})).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("mapping_failed");
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(
        message
            .contains("output field `contacts`: record 0, field `id`: required value is missing"),
        "{message}"
    );
}

#[tokio::test]
async fn max_items_keeps_the_first_n() {
    let (_up, _dir, gw) = setup().await;
    let reply = gw
        .post_json("/first-two", &json!({"case": "several"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({"contacts": [{"id": "003A"}, {"id": "003B"}]})
    );
}

const COMPUTED: &str = r#"
route: { path: /computed }
input:
  who: { type: string }
upstream:
  url: "${UP}/doc"
output:
  n_matches:   { count: "$.items[*]" }
  n_array:     { count: $.items }
  n_length:    { path: $.items.length() }
  n_filtered:  { count: "$.items[?@.qty > 1]" }
  has_items:   { exists: "$.items[0]" }
  has_null:    { exists: $.nothing }
  has_any_sku: { exists: "$.items[*].sku" }
  skus:        { path: "$.items[*].sku", type: string, join: "|" }
  tag_list:    { path: $.tags, join: ", " }
  skus_or:     { path: "$.items[*].sku", join: "|", default: "no skus" }
  first_sku:   { path: "$.items[0].sku", type: string, default: "?" }
  line:        { template: "{{input.who}}: {{n_or_none output.n_matches}}{{output.first_sku}} of {{output.n_array}}" }
"#;

/// `n_or_none` is not a helper: the template above would not load. Used only to prove it.
fn computed_bridge() -> String {
    COMPUTED.replace("{{n_or_none output.n_matches}}", "{{output.n_matches}} ")
}

#[tokio::test]
async fn computed_fields_on_matching_and_non_matching_answers() {
    let upstream = MockServer::start().await;
    let dir = bridge_dir(&[("computed.yaml", &computed_bridge())]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    let answer = |body: Value| {
        Mock::given(path("/doc")).respond_with(ResponseTemplate::new(200).set_body_json(body))
    };

    answer(json!({
        "items": [{"sku": "A-1", "qty": 1}, {"sku": null, "qty": 2}, {"sku": 7, "qty": 3}],
        "tags": ["red", "blue"],
        "nothing": null,
    }))
    .mount(&upstream)
    .await;
    let reply = gw.post_json("/computed", &json!({"who": "Ann"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "n_matches": 3, "n_array": 3, "n_length": 3, "n_filtered": 2,
            "has_items": true, "has_null": false, "has_any_sku": true,
            "skus": "A-1|7", "tag_list": "red, blue", "skus_or": "A-1|7", "first_sku": "A-1",
            "line": "Ann: 3 A-1 of 3",
        })
    );

    upstream.reset().await;
    answer(json!({"items": [], "tags": null}))
        .mount(&upstream)
        .await;
    let reply = gw.post_json("/computed", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "n_matches": 0, "n_array": 0, "n_length": 0, "n_filtered": 0,
            "has_items": false, "has_null": false, "has_any_sku": false,
            "skus_or": "no skus", "first_sku": "?",
            "line": ": 0 ? of 0",
        }),
        "nothing to join leaves `skus` and `tag_list` out; the template sees defaults"
    );
}

#[tokio::test]
async fn misuse_of_computed_fields_and_records_is_refused_at_load_by_key_path() {
    let bad = r#"
route: { path: /bad }
input: { who: { type: string } }
upstream: { url: "http://127.0.0.1:1/" }
output:
  one:    { count: "$.items[0]" }
  twice:  { count: $.items.length() }
  early:  { template: "{{output.late}}" }
  late:   { value: x }
  ghost:  { template: "{{output.nobody}} {{input.who}}" }
  flag:   { exists: $.x, type: string }
  joined: { value: a, join: "," }
  empty:  { path: "$.r[*]", type: array, items: { fields: {} } }
  nested:
    path: "$.r[*]"
    type: array
    items:
      fields:
        inner: { path: "$.s[*]", type: array, items: { fields: { x: { path: $.x } } } }
        bad:   { count: "$.s[1]" }
  capped: { path: $.x, type: string, max_items: 2 }
  nulled: { path: $.x, type: string, default: null }
  listed: { path: "$.r[*]", type: array, default: [1], items: { fields: { x: { path: $.x } } } }
  counted: { count: "$.r[*]", items: { fields: { x: { path: $.x } } }, type: array }
"#;
    let dir = bridge_dir(&[("bad.yaml", bad)]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let error = gw.get("/-/bridges").await.json["files"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    for expected in [
        "output.one.count: `$.items[0]` names one element, which cannot be many",
        "output.twice.count: `$.items.length()`: `count` already counts",
        "output.early.template: `output.late` is defined below this field",
        "output.ghost.template: `output.nobody` is not one of the output fields",
        "output.flag.type: `exists` is a boolean",
        "output.joined.join: goes beside a `path`",
        "output.empty.items.fields: a record needs at least one field",
        "output.nested.items.fields.inner.items: records do not nest",
        "output.nested.items.fields.bad.count: `$.s[1]` names one element",
        "output.capped.max_items: applies only to `type: array`",
        "output.nulled.default: a null never reaches a reply",
        "output.listed.default: a list of records takes only `[]`",
        "output.counted: a list of records takes its elements from `path`",
    ] {
        assert!(error.contains(expected), "missing {expected:?} in {error}");
    }
}

#[tokio::test]
async fn a_template_may_only_use_known_helpers() {
    let dir = bridge_dir(&[("t.yaml", COMPUTED)]);
    let gw = TestGateway::start(dir.path(), &[("UP", "http://127.0.0.1:1")]).await;
    let error = gw.get("/-/bridges").await.json["files"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("output.line.template: helper `n_or_none` is not allowed"),
        "{error}"
    );
}

const NULLS: &str = r#"
route: { path: /nulls }
upstream: { url: "${UP}/doc" }
output:
  with_default: { path: $.a, type: string, default: "n/a" }
  left_out:     { path: $.a, type: string }
  untyped:      { path: $.a }
  numbers:      { path: $.list, type: array, items: integer }
  anything:     { path: $.list, type: array }
  firsts:       { path: "$.rows[*].v", type: array, items: string }
  rows:
    path: $.rows
    type: array
    items:
      fields:
        v: { path: $.v, type: string }
        w: { path: $.w, type: integer, default: 0 }
"#;

#[tokio::test]
async fn a_null_never_reaches_the_reply() {
    let upstream = MockServer::start().await;
    Mock::given(path("/doc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "a": null,
            "list": [1, null, "2", null],
            "rows": [{"v": null, "w": null}, null, {"v": "x", "w": 5}],
            "must": null,
        })))
        .mount(&upstream)
        .await;
    let required = "route: { path: /required }\nupstream: { url: \"${UP}/doc\" }\noutput:\n  must: { path: $.must, type: string, required: true }\n";
    let dir = bridge_dir(&[("nulls.yaml", NULLS), ("required.yaml", required)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;

    let reply = gw.post_json("/nulls", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "with_default": "n/a",
            "numbers": [1, 2],
            "anything": [1, "2"],
            "firsts": ["x"],
            "rows": [{"w": 0}, {"v": "x", "w": 5}],
        })
    );
    assert!(!reply.text.contains("null"), "{}", reply.text);

    let reply = gw.post_json("/required", &json!({})).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("output field `must`: required value is null"),
        "{message}"
    );
}

const PATH_FORMS: &str = r#"
route: { path: /forms }
upstream: { url: "${UP}/doc" }
output:
  std_bracket:  { path: "$['data']['first name']", type: string }
  gen_bracket:  { path: "['data']['first name']", type: string }
  std_dot:      { path: "$['data'].list[1]", type: integer }
  gen_dot:      { path: "$.['data'].['list'][1]", type: integer }
  gen_bare:     { path: "data.list[1]", type: integer }
  std_many:     { path: "$.data.list[*]", type: array, items: integer }
  gen_many:     { path: "$.data.['list'][*]", type: array, items: integer }
  std_count:    { count: $.data.list }
  gen_length:   { path: $.data.list.length() }
  gen_bare_len: { path: "['data']['list'].length()", type: integer }
"#;

#[tokio::test]
async fn genesys_path_forms_give_the_value_of_their_standard_form() {
    let upstream = MockServer::start().await;
    Mock::given(path("/doc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"first name": "Ann", "list": [4, 5, 6]}
        })))
        .mount(&upstream)
        .await;
    let dir = bridge_dir(&[("forms.yaml", PATH_FORMS)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    let reply = gw.post_json("/forms", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let r = &reply.json;
    assert_eq!(r["std_bracket"], "Ann");
    assert_eq!(r["gen_bracket"], r["std_bracket"]);
    assert_eq!(r["std_dot"], 5);
    assert_eq!(r["gen_dot"], r["std_dot"]);
    assert_eq!(r["gen_bare"], r["std_dot"]);
    assert_eq!(r["std_many"], json!([4, 5, 6]));
    assert_eq!(r["gen_many"], r["std_many"]);
    assert_eq!(r["std_count"], 3);
    assert_eq!(r["gen_length"], r["std_count"]);
    assert_eq!(r["gen_bare_len"], r["std_count"]);
}
