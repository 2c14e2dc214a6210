//! `bridgeway test`: the `tests:` of bridge files, run by the real binary against its stand-in
//! upstream, and `serve` leaving them alone.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{Server, bridge_dir, fetch_post_yaml, upstream_answering_ok};

fn bridgeway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
    cmd.args(args)
        .env_remove("BRIDGEWAY_BRIDGES")
        .env_remove("BRIDGEWAY_ENV_FILE")
        .env_remove("JSONPLACEHOLDER_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn test_in(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut args = vec!["test", "--bridges", dir.to_str().unwrap()];
    args.extend(extra);
    let out = bridgeway(&args, env);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// An upstream on a host that does not exist, over https: only the stand-in can answer it.
const LOOKUP: &str = r#"
name: lookup
route: { path: /lookup }
input:
  id:    { type: integer, required: true }
  q:     { type: string }
upstream:
  method: POST
  url: "https://api.example.invalid/v2/items/{{input.id}}"
  query: { q: "{{input.q}}", fixed: yes }
  headers: { Accept: application/json, X-Version: 2 }
  body: { id: "{{input.id}}", note: "from {{input.q}}" }
output:
  status: { from: status }
  title:  { path: $.title, type: string }
  tags:   { path: "$.tags", type: array, items: string }
"#;

fn lookup_with(tests: &str) -> String {
    format!("{LOOKUP}tests:\n{tests}")
}

const MATCHING: &str = r#"
  - name: item found
    input: { id: 7, q: "a b" }
    upstream:
      status: 200
      body: { title: "Seven", tags: [x, y] }
    expect:
      request:
        method: POST
        path: /v2/items/7
        query: { q: "a b", fixed: "yes" }
        headers: { host: api.example.invalid, accept: application/json, x-version: 2 }
        body: { id: 7, note: "from a b" }
      status: 200
      output: { status: 200, title: "Seven", tags: [x, y] }
"#;

#[test]
fn the_shipped_bridges_pass_their_own_tests() {
    let bridges = Path::new(env!("CARGO_MANIFEST_DIR")).join("bridges");
    let (code, text) = test_in(&bridges, &[], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok    fetch-post: post found ("), "{text}");
    assert!(text.contains("3 test(s), 3 passed, 0 failed"), "{text}");
}

#[test]
fn every_example_passes_its_tests_with_the_stand_in_token_endpoint() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let env_file = examples.join("test.env");
    let mut ran = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let (code, text) = test_in(&dir, &["--env-file", env_file.to_str().unwrap()], &[]);
        assert_eq!(code, Some(0), "{}: {text}", dir.display());
        assert!(
            !text.contains("no tests") && text.contains(" 0 failed"),
            "{text}"
        );
        ran += 1;
    }
    assert_eq!(ran, 5);
    // The OAuth2 ones expect `Authorization: Bearer bridgeway-test-token` upstream: the token
    // came from the stand-in, not from the vendor's token endpoint.
    let salesforce = examples.join("salesforce/sf-contact-by-phone.yaml");
    let text = std::fs::read_to_string(salesforce).unwrap();
    assert!(text.contains("Authorization: Bearer bridgeway-test-token"));
}

#[test]
fn a_test_whose_request_and_output_match_passes_whatever_host_the_bridge_names() {
    let dir = bridge_dir(&[("lookup.yaml", &lookup_with(MATCHING))]);
    let (code, text) = test_in(dir.path(), &[], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok    lookup: item found ("), "{text}");
    assert!(text.contains("1 test(s), 1 passed, 0 failed"), "{text}");
}

#[test]
fn a_failing_test_prints_a_diff_naming_each_field_and_exits_1() {
    let tests = r#"
  - name: wrong title
    input: { id: 7 }
    upstream: { body: { title: "Seven", tags: [] } }
    expect:
      status: 200
      output: { title: "Eight", tags: [x], missing: 1 }
  - name: passes
    input: { id: 7 }
    upstream: { body: { title: "Seven" } }
    expect: { output: { title: "Seven" } }
  - name: wrong status
    input: { id: 7 }
    upstream: { status: 503, body: { message: down } }
    expect: { status: 200 }
"#;
    let dir = bridge_dir(&[("lookup.yaml", &lookup_with(tests))]);
    let (code, text) = test_in(dir.path(), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    for line in [
        "FAIL  lookup: wrong title (",
        r#"        output.title: expected "Eight", got "Seven""#,
        r#"        output.tags: expected ["x"], got []"#,
        "        output.missing: expected 1, got nothing",
        "ok    lookup: passes (",
        "FAIL  lookup: wrong status (",
        "        status: expected 200, got 503 (upstream_status: ",
        "3 test(s), 1 passed, 2 failed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn request_expectations_name_every_part_that_differs() {
    let tests = r#"
  - name: sent elsewhere
    input: { id: 7, q: "a b" }
    upstream: { body: {} }
    expect:
      request:
        method: GET
        path: /v2/items/8
        query: { q: "a+b", page: 1 }
        headers: { X-Version: 3, X-Absent: here }
        body: { id: "7" }
"#;
    let dir = bridge_dir(&[("lookup.yaml", &lookup_with(tests))]);
    let (code, text) = test_in(dir.path(), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    for line in [
        "request.method: expected GET, got POST",
        r#"request.path: expected "/v2/items/8", got "/v2/items/7""#,
        r#"request.query.q: expected "a+b", got "a b""#,
        r#"request.query.page: expected "1", got nothing"#,
        r#"request.headers.X-Version: expected "3", got "2""#,
        r#"request.headers.X-Absent: expected "here", got nothing"#,
        r#"request.body: expected {"id":"7"}, got {"id":7,"note":"from a b"}"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn answers_are_served_one_per_call_and_calls_must_match_them() {
    let tests = r#"
  - name: two answers for one call
    input: { id: 1 }
    upstream: [ { body: { title: first } }, { body: { title: second } } ]
    expect: { output: { title: first } }
  - name: no answer recorded
    input: { id: 1 }
    expect: { request: { path: /v2/items/1 } }
  - name: bad input makes no call
    input: { id: "seven" }
    expect: { status: 422, output: { error: { code: invalid_input } } }
"#;
    let dir = bridge_dir(&[("lookup.yaml", &lookup_with(tests))]);
    let (code, text) = test_in(dir.path(), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    for line in [
        "FAIL  lookup: two answers for one call (",
        "        upstream: the test recorded 2 answer(s), the bridge made 1 call(s)",
        "FAIL  lookup: no answer recorded (",
        "        upstream: the test recorded 0 answer(s), the bridge made 1 call(s)",
        "ok    lookup: bad input makes no call (",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The request expectation held: the path the stand-in saw was the bridge's.
    assert!(!text.contains("request.path"), "{text}");
}

#[test]
fn an_oauth2_connection_gets_a_stand_in_token_and_a_401_to_a_cached_one_is_retried() {
    let connection = r#"
kind: connection
name: crm
base_url: https://crm.example.invalid/api
auth:
  oauth2:
    token_url: https://login.example.invalid/oauth2/token
    client_id: id
    client_secret: "${CRM_SECRET}"
"#;
    let bridge = r#"
route: { path: /account }
input: { id: { type: string, required: true } }
upstream: { connection: crm, url: "/accounts/{{input.id}}" }
output: { name: { path: $.name, type: string } }
tests:
  - name: a first call fetches the token
    input: { id: a0 }
    upstream: { body: { name: Acme } }
    expect: { status: 200, output: { name: Acme } }
  - name: the upstream refuses the cached token
    input: { id: a1 }
    upstream: [ { status: 401, body: {} }, { body: { name: Acme } } ]
    expect:
      request:
        - { path: /api/accounts/a1, headers: { authorization: Bearer bridgeway-test-token } }
        - { path: /api/accounts/a1, headers: { authorization: Bearer bridgeway-test-token } }
      status: 200
      output: { name: Acme }
  - name: the upstream refuses the cached token
    input: { id: a1 }
    upstream: { body: { name: Acme } }
"#;
    let dir = bridge_dir(&[("crm.yaml", connection), ("account.yaml", bridge)]);
    let (code, text) = test_in(dir.path(), &[], &[("CRM_SECRET", "s3cret-value")]);
    assert_eq!(code, Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ok    account: a first call fetches the token ("),
        "{text}"
    );
    assert!(
        lines[1].starts_with("ok    account: the upstream refuses the cached token ("),
        "{text}"
    );
    assert!(
        lines[2].starts_with("FAIL  account: the upstream refuses the cached token ("),
        "{text}"
    );
    assert_eq!(
        lines[3], "        name: an earlier test of this bridge has the same name",
        "{text}"
    );
    assert!(!text.contains("s3cret-value"), "{text}");
}

#[test]
fn junit_xml_lists_every_test_and_its_failure() {
    let tests = r#"
  - name: passes
    input: { id: 7 }
    upstream: { body: { title: "Seven" } }
    expect: { output: { title: "Seven" } }
  - name: "fails <here> & there"
    input: { id: 7 }
    upstream: { body: { title: "Seven" } }
    expect: { output: { title: "Six" } }
"#;
    let dir = bridge_dir(&[
        ("lookup.yaml", &lookup_with(tests)),
        (
            "other.yaml",
            &lookup_with(MATCHING)
                .replace("name: lookup", "name: other")
                .replace("/lookup", "/other"),
        ),
    ]);
    let report = dir.path().join("report.xml");
    let (code, text) = test_in(dir.path(), &["--junit", report.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{text}");

    let xml = std::fs::read_to_string(&report).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["lookup", "other"]);
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3);
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attribute("name"), Some("fails <here> & there"));
    let failure = failed[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        failure
            .text()
            .unwrap()
            .contains(r#"output.title: expected "Six", got "Seven""#),
        "{xml}"
    );
}

#[test]
fn names_select_bridges_and_an_unknown_name_fails() {
    let dir = bridge_dir(&[
        ("lookup.yaml", &lookup_with(MATCHING)),
        (
            "broken.yaml",
            "route: {path: /b}\nupstream: {url: 'http://h/', timout: 1s}\n",
        ),
    ]);
    // A file that does not load fails the run of the whole directory...
    let (code, text) = test_in(dir.path(), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("broken.yaml:2:"), "{text}");
    // ...but not a run of named bridges that do load.
    let (code, text) = test_in(dir.path(), &["lookup"], &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = test_in(dir.path(), &["lookup", "nope"], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no bridge named `nope`"), "{text}");
}

#[test]
fn a_typo_inside_tests_is_a_load_error_with_its_line() {
    let tests = "  - name: t\n    input: {}\n    expect: { stauts: 200 }\n";
    let yaml = lookup_with(tests);
    let line = 1 + yaml.lines().position(|l| l.contains("stauts")).unwrap();
    let dir = bridge_dir(&[("lookup.yaml", &yaml)]);
    let out = bridgeway(&["check", "--bridges", dir.path().to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let expected = format!("lookup.yaml:{line}:15: tests[0].expect: unknown field `stauts`");
    assert!(text.contains(&expected), "{expected} in:\n{text}");
}

#[test]
fn env_file_values_expand_and_secrets_stay_masked_in_diffs() {
    let bridge = r#"
route: { path: /secret }
upstream:
  url: "${SECRET_BASE}/x"
  auth: { bearer: "${API_TOKEN}" }
output: { ok: { from: status } }
tests:
  - name: wrong authorization expected
    upstream: { body: {} }
    expect: { request: { headers: { Authorization: "Bearer guess" } } }
"#;
    let dir = bridge_dir(&[("secret.yaml", bridge)]);
    let env_file = dir.path().join("test.env");
    std::fs::write(
        &env_file,
        "# for the tests\nSECRET_BASE=https://vault.example.invalid\nexport API_TOKEN=\"tok-never-printed\"\n",
    )
    .unwrap();
    let (code, text) = test_in(dir.path(), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("SECRET_BASE"),
        "without the file the variable is unset: {text}"
    );

    let (code, text) = test_in(dir.path(), &["--env-file", env_file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            r#"request.headers.Authorization: expected "Bearer guess", got "Bearer ***""#
        ),
        "{text}"
    );
    assert!(!text.contains("tok-never-printed"), "{text}");
}

#[tokio::test]
async fn serve_ignores_tests() {
    let upstream = upstream_answering_ok().await;
    // A test that would fail, and one that names no real upstream: neither matters to serve.
    let yaml = fetch_post_yaml().replace(
        "title: \"sunt aut facere\", error",
        "title: \"nope\", error",
    );
    let dir = bridge_dir(&[("fetch-post.yaml", &yaml)]);
    let server = Server::start(dir.path(), &[], &[("JSONPLACEHOLDER_URL", &upstream.uri())]).await;
    let r = server
        .client
        .post(format!("{}/api/v1/fetch-post", server.base))
        .json(&serde_json::json!({"user_id": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let received = upstream.received_requests().await.unwrap();
    assert_eq!(
        received.len(),
        1,
        "only the real request reached the upstream"
    );
    assert_eq!(received[0].url.path(), "/posts/3");
    let page: serde_json::Value = server
        .client
        .get(format!("{}/-/bridges", server.ops))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["files"][0]["status"], "ok", "{page}");
}
