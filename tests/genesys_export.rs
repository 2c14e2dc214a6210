//! `export genesys`: the action files, and the promise that the exported input contract and what
//! the gateway enforces are one and the same.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::support::{bridge_dir, env_map};
use bridgeway::bridge::compile_text;
use bridgeway::genesys::export::{input_schema, success_schema};
use bridgeway::stages::intake::Inbound;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The top-level keys of an exported action, in Genesys' order.
const ACTION_KEYS: [&str; 6] = [
    "name",
    "integrationType",
    "actionType",
    "config",
    "contract",
    "secure",
];

fn export(dir: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    export_with_env(dir, out, extra, &[])
}

fn export_with_env(
    dir: &Path,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .envs(env.iter().copied())
        .args([
            "export",
            "genesys",
            "--base-url",
            "https://gw.example.com/",
            "--bridges",
        ])
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("BRIDGEWAY_BRIDGES")
        .output()
        .unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn fetch_post_exports_exactly_this_action() {
    let out = tempfile::tempdir().unwrap();
    let run = export(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bridges")),
        out.path(),
        &["fetch-post"],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let action = read_json(&out.path().join("fetch-post.custom.json"));
    let draft4 = "http://json-schema.org/draft-04/schema#";
    assert_eq!(
        action,
        json!({
            "name": "fetch-post",
            "integrationType": "custom-rest-actions",
            "actionType": "custom",
            "config": {
                "request": {
                    "requestUrlTemplate": "https://gw.example.com/api/v1/fetch-post",
                    "requestType": "POST",
                    "headers": {"Content-Type": "application/json", "Accept": "application/json"},
                    "requestTemplate": "${input.rawRequest}"
                },
                "response": {"translationMap": {}, "translationMapDefaults": {}, "successTemplate": "${rawResult}"},
                "timeoutSeconds": 11
            },
            "contract": {
                "input": {"inputSchema": {
                    "$schema": draft4,
                    "title": "fetch-post input",
                    "description": "Fetch a post by id from JSONPlaceholder",
                    "type": "object",
                    "required": ["user_id"],
                    "properties": {
                        "user_id": {"title": "user_id", "type": "integer", "description": "Post id to fetch", "minimum": 1},
                        "query_text": {"title": "query_text", "type": "string", "description": "Free text, used only for logging"}
                    },
                    "additionalProperties": true
                }},
                "output": {"successSchema": {
                    "$schema": draft4,
                    "title": "fetch-post output",
                    "description": "Fetch a post by id from JSONPlaceholder",
                    "type": "object",
                    "required": ["status_code", "error_message"],
                    "properties": {
                        "status_code": {"title": "status_code", "type": "integer"},
                        "external_id": {"title": "external_id", "type": "integer"},
                        "title": {"title": "title", "type": "string"},
                        "body": {"title": "body", "type": "string"},
                        "error_message": {"title": "error_message", "type": "string"}
                    },
                    "additionalProperties": true
                }}
            },
            "secure": false
        })
    );
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(said.contains("fetch-post: wrote"), "{said}");
    assert!(said.contains("no inbound auth"), "{said}");
}

#[test]
fn every_shipped_bridge_exports_a_valid_action() {
    let out = tempfile::tempdir().unwrap();
    let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bridges"));
    let run = export(shipped, out.path(), &[]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        bridgeway::routes::loader::bridge_files(shipped)
            .unwrap()
            .len()
    );
    for path in files {
        let action = read_json(&path);
        let mut keys: Vec<&str> = action
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        let mut expected = ACTION_KEYS;
        expected.sort();
        assert_eq!(
            keys, expected,
            "exactly the keys of an exported action: {path:?}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let at = |key: &str| text.find(&format!("\n  \"{key}\": ")).unwrap_or(usize::MAX);
        let order = ACTION_KEYS.map(at);
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "in the order Genesys exports them: {path:?}"
        );
        assert!(path.to_str().unwrap().ends_with(".custom.json"));
        let timeout = action["config"]["timeoutSeconds"].as_u64().unwrap();
        assert!((1..=60).contains(&timeout), "{path:?}");
        for schema in [
            &action["contract"]["input"]["inputSchema"],
            &action["contract"]["output"]["successSchema"],
        ] {
            assert!(
                jsonschema::draft4::meta::is_valid(schema),
                "{path:?}: {schema}"
            );
            assert!(
                !schema.to_string().contains("$ref"),
                "Genesys does not support $ref"
            );
        }
        for name in action["contract"]["input"]["inputSchema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(!["orgId", "integrationId", "rawRequest"].contains(&name.as_str()));
        }
    }
}

#[test]
fn credentials_map_to_genesys_credential_types() {
    let dir = bridge_dir(&[
        (
            "keyed.yaml",
            "route: {path: /k}\nauth: {api_key: {header: X-API-Key, value: '${K}'}}\nupstream: {url: 'http://h/'}\n",
        ),
        (
            "basic.yaml",
            "route: {path: /b}\nauth: {basic: {username: genesys, password: '${P}'}}\nupstream: {url: 'http://h/'}\n",
        ),
    ]);
    let out = tempfile::tempdir().unwrap();
    let secrets = [
        ("K", "key-value-never-printed"),
        ("P", "password-never-printed"),
    ];
    let run = export_with_env(dir.path(), out.path(), &[], &secrets);
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert!(
        said.contains("credential type User Defined, with a field named `apiKey`"),
        "{said}"
    );
    assert!(
        said.contains("credential type Basic Auth, user name `genesys`"),
        "{said}"
    );
    let keyed = read_json(&out.path().join("keyed.custom.json"));
    assert_eq!(
        keyed["config"]["request"]["headers"]["x-api-key"],
        "${credentials.apiKey}"
    );
    let basic = read_json(&out.path().join("basic.custom.json"));
    assert!(
        basic["config"]["request"]["headers"]
            .get("authorization")
            .is_none(),
        "Genesys adds Basic itself"
    );
    let everything = format!(
        "{said}{}{keyed}{basic}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !everything.contains("never-printed"),
        "secrets stay out of exports and output"
    );
}

#[test]
fn genesys_rules_block_export_and_fail_check() {
    let dir = bridge_dir(&[(
        "bad.yaml",
        "route: {path: /bad}\ninput:\n  rawRequest: {type: string}\n  _private: {type: string}\n\
         upstream: {url: 'http://h/', timeout: 90s}\noutput:\n  anything: {path: $.x}\n",
    )]);
    let out = tempfile::tempdir().unwrap();
    let run = export(dir.path(), out.path(), &[]);
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    for expected in [
        "input name `rawRequest` is reserved",
        "input `_private` must start with a letter",
        "output `anything` needs a `type`",
        "a data action may wait at most 60s",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    assert!(!out.path().join("bad.custom.json").exists());

    let check = Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args(["check", "--bridges"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&check.stdout)
            .contains("genesys: input name `rawRequest` is reserved")
    );
}

/// A contract using every constraint, for the agreement test.
const CONTRACT: &str = r#"
route: { path: /contract }
input:
  id:    { type: integer, required: true, minimum: -3, maximum: 40 }
  ratio: { type: number, minimum: 0.5, maximum: 2.5 }
  code:  { type: string, min_length: 2, max_length: 5, pattern: "^[a-z]+[0-9]?$" }
  tier:  { type: string, enum: [gold, silver, "über"] }
  level: { type: integer, enum: [1, 2, 3] }
  vip:   { type: boolean }
  note:  { type: string, required: true }
upstream: { url: "http://127.0.0.1:1/" }
"#;

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-10i64..50).prop_map(Value::from),
        (-5.0f64..5.0).prop_map(|f| json!((f * 4.0).round() / 4.0)),
        "[a-z]{0,7}[0-9]?".prop_map(Value::from),
        "[A-Za-zü0-9 ]{0,8}".prop_map(Value::from),
        prop::sample::select(vec!["gold", "silver", "über", "bronze", ""]).prop_map(Value::from),
        Just(json!([1, 2])),
        Just(json!({"nested": 1})),
    ]
}

fn any_input() -> impl Strategy<Value = Value> {
    let fields = [
        "id", "ratio", "code", "tier", "level", "vip", "note", "extra",
    ];
    prop::collection::vec(prop::option::of(any_value()), fields.len()).prop_map(move |values| {
        let map: Map<String, Value> = fields
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some((name.to_string(), value?)))
            .collect();
        Value::Object(map)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_gateway_and_the_exported_schema_accept_the_same_inputs(input in any_input()) {
        let bridge = compile_text(Path::new("contract.yaml"), CONTRACT, &env_map(&[])).unwrap();
        let schema = input_schema(&bridge);
        let validator = jsonschema::draft4::new(&schema).unwrap();
        let by_schema = validator.is_valid(&input);
        let by_gateway = bridge.input.validate(Inbound::Json(input.as_object().unwrap().clone())).is_ok();
        prop_assert_eq!(by_gateway, by_schema, "input {}", input);
    }
}

#[test]
fn the_agreement_test_sees_both_outcomes() {
    // Guard against a generator that only ever produces one answer.
    let bridge = compile_text(Path::new("contract.yaml"), CONTRACT, &env_map(&[])).unwrap();
    let bridge = Arc::new(bridge);
    let ok = json!({"id": 3, "note": "x", "code": "ab1", "tier": "über", "level": 2, "ratio": 2.5});
    let bad = json!({"id": 3.5, "note": "x"});
    for (input, want) in [(ok, true), (bad, false)] {
        let schema_says = jsonschema::draft4::new(&input_schema(&bridge))
            .unwrap()
            .is_valid(&input);
        let gateway_says = bridge
            .input
            .validate(Inbound::Json(input.as_object().unwrap().clone()))
            .is_ok();
        assert_eq!((schema_says, gateway_says), (want, want), "{input}");
    }
}

#[test]
fn outputs_marked_required_are_required_in_the_success_schema() {
    let bridge = |on_error: &str| {
        let text = format!(
            "route: {{ path: /r }}\n{on_error}upstream: {{ url: \"http://127.0.0.1:9/x\" }}\n\
             output:\n  id: {{ path: $.id, type: integer, required: true }}\n  \
             name: {{ path: $.name, type: string }}\n  status: {{ from: status }}\n"
        );
        compile_text(Path::new("r.yaml"), &text, &env_map(&[])).unwrap()
    };
    let required = |b| success_schema(&b)["required"].clone();
    // A success without `id` is a 502, so every 200 carries it.
    assert_eq!(required(bridge("")), json!(["id", "status"]));
    // With `on_error: output` a failure answers 200 without it: Genesys must not demand it.
    assert_eq!(required(bridge("on_error: output\n")), json!(["status"]));
}

fn check(dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .envs(env.iter().copied())
        .args(["check", "--bridges"])
        .arg(dir)
        .env_remove("BRIDGEWAY_BRIDGES")
        .output()
        .unwrap()
}

#[test]
fn a_bridge_names_its_user_defined_credential_field() {
    let dir = bridge_dir(&[(
        "crm.yaml",
        "route: {path: /c}\nauth: {api_key: {header: X-CRM-Key, value: '${K}', genesys_field: crmKey}}\nupstream: {url: 'http://h/'}\n",
    )]);
    let out = tempfile::tempdir().unwrap();
    let run = export_with_env(dir.path(), out.path(), &[], &[("K", "never-printed")]);
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert!(
        said.contains("with a field named `crmKey`"),
        "the operator is told which field to create: {said}"
    );
    let action = read_json(&out.path().join("crm.custom.json"));
    assert_eq!(
        action["config"]["request"]["headers"]["x-crm-key"],
        "${credentials.crmKey}"
    );
}

#[test]
fn a_credential_field_velocity_cannot_name_is_refused_at_its_key() {
    let dir = bridge_dir(&[(
        "crm.yaml",
        "route: {path: /c}\nauth: {api_key: {header: X-K, value: '${K}', genesys_field: 'crm key'}}\nupstream: {url: 'http://h/'}\n",
    )]);
    let run = check(dir.path(), &[("K", "never-printed")]);
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("auth.api_key.genesys_field: `crm key`"),
        "{said}"
    );
    assert!(!said.contains("never-printed"), "{said}");
}

/// Genesys sends no body on GET, and the gateway reads inputs only from the body: a GET bridge
/// with inputs would never receive them from a flow, so `check` and `export` refuse it.
#[test]
fn a_get_route_with_inputs_is_not_a_genesys_action() {
    let dir = bridge_dir(&[
        (
            "get-with-input.yaml",
            "route: {method: GET, path: /g}\ninput: {id: {type: string}}\nupstream: {url: 'http://h/{{input.id}}'}\n",
        ),
        (
            "get-without-input.yaml",
            "route: {method: GET, path: /n}\nupstream: {url: 'http://h/now'}\n",
        ),
    ]);
    let run = check(dir.path(), &[]);
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("get-with-input.yaml:1:17: genesys: a GET route cannot take inputs"),
        "{said}"
    );
    assert!(
        said.contains("get-without-input.yaml: get-without-input GET /n"),
        "{said}"
    );

    let out = tempfile::tempdir().unwrap();
    let run = export(dir.path(), out.path(), &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(!out.path().join("get-with-input.custom.json").exists());
    let action = read_json(&out.path().join("get-without-input.custom.json"));
    assert_eq!(action["config"]["request"]["requestType"], "GET");
}

/// A list of records exports as an array of objects, and every reply the gateway gives for
/// the CRM answers of the records tests satisfies the exported success schema.
#[tokio::test]
async fn records_export_as_arrays_of_objects_that_the_replies_satisfy() {
    use crate::records::{CONTACTS, answers};
    use crate::support::TestGateway;
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let upstream = MockServer::start().await;
    for (case, body) in answers() {
        Mock::given(path(format!("/{case}/query")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&upstream)
            .await;
    }
    let env = [("UP", upstream.uri())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bridge = compile_text(Path::new("contacts.yaml"), CONTACTS, &env_map(&env)).unwrap();
    assert!(bridgeway::genesys::rules::problems(&bridge).is_empty());
    let schema = success_schema(&bridge);
    assert!(jsonschema::draft4::meta::is_valid(&schema), "{schema}");
    let string = |name: &str| json!({"title": name, "type": "string"});
    assert_eq!(
        schema["properties"]["contacts"],
        json!({
            "title": "contacts",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "email", "account", "label"],
                "properties": {
                    "id": string("id"),
                    "name": string("name"),
                    "email": string("email"),
                    "phone": string("phone"),
                    "account": string("account"),
                    "score": {"title": "score", "type": "integer"},
                    "tags": {"title": "tags", "type": "array", "items": {"type": "string"}},
                    "label": string("label"),
                },
                "additionalProperties": true,
            },
        })
    );
    assert_eq!(
        schema["required"],
        json!(["total", "found", "contacts", "summary"])
    );
    assert_eq!(schema["properties"]["total"]["type"], "integer");
    assert_eq!(schema["properties"]["found"]["type"], "boolean");
    assert_eq!(schema["properties"]["names"]["type"], "string");

    let validator = jsonschema::draft4::new(&schema).unwrap();
    let dir = bridge_dir(&[("contacts.yaml", CONTACTS)]);
    let gw = TestGateway::start(dir.path(), &env).await;
    for case in ["several", "none", "gaps", "absent"] {
        let reply = gw
            .post_json("/contacts", &json!({"case": case, "phone": "+1"}))
            .await;
        assert_eq!(reply.status, 200, "{case}: {}", reply.text);
        let errors: Vec<String> = validator
            .iter_errors(&reply.json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{case}: {errors:?} in {}", reply.json);
    }
}
