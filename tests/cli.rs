//! The real `bridgeway` binary: `check` and `try`.

use std::process::{Command, Output};

use crate::support::{bridge_dir, fetch_post_yaml};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn bridgeway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
    cmd.args(args).env_remove("BRIDGEWAY_BRIDGES");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const GOOD: &str =
    "route: {path: /good}\nupstream: {url: 'http://127.0.0.1:1/x'}\noutput: {s: {from: status}}\n";

#[test]
fn check_prints_every_problem_with_its_file_and_place() {
    let dir = bridge_dir(&[
        ("a-good.yaml", GOOD),
        (
            "b-typo.yaml",
            "route: {path: /typo}\nupstream:\n  url: 'http://h/'\n  timout: 5s\n",
        ),
        (
            "c-jsonpath.yaml",
            "route: {path: /jp}\nupstream: {url: 'http://h/'}\noutput: {t: {path: '$.items['}}\n",
        ),
        (
            "d-template.yaml",
            "route: {path: /tpl}\nupstream: {url: 'http://h/{{input.id'}\n",
        ),
        (
            "e-env.yaml",
            "route: {path: /env}\nupstream:\n  url: '${BRIDGEWAY_TEST_UNSET_VAR}/x'\n",
        ),
        ("f-duplicate.yaml", GOOD),
    ]);
    let out = bridgeway(&["check", "--bridges", dir.path().to_str().unwrap()], &[]);
    let text = stdout(&out);
    let d = dir.path().display();

    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        format!("ok    {d}/a-good.yaml: a-good POST /good"),
        format!("error {d}/b-typo.yaml:4:3: upstream: unknown field `timout`"),
        format!(
            "error {d}/c-jsonpath.yaml:3:29: output.t.path: JSONPath `$.items[` does not parse: at column 9"
        ),
        format!(
            "error {d}/d-template.yaml:2:17: upstream.url: template does not parse: `{{{{input.id` has no closing `}}}}`"
        ),
        format!(
            "error {d}/e-env.yaml:3:8: upstream.url: environment variable BRIDGEWAY_TEST_UNSET_VAR is not set"
        ),
        format!("error {d}/f-duplicate.yaml: conflicts with a-good.yaml: both claim POST /good"),
        "6 file(s), 1 bridge(s) ready, 5 problem(s) in 5 file(s)".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn check_passes_on_a_good_directory_and_on_the_shipped_bridges() {
    let dir = bridge_dir(&[("good.yaml", GOOD)]);
    let out = bridgeway(&["check", "--bridges", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/bridges");
    let out = bridgeway(&["check"], &[("BRIDGEWAY_BRIDGES", shipped)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("fetch-post POST /api/v1/fetch-post"));
}

#[test]
fn check_fails_clearly_on_a_missing_directory() {
    let out = bridgeway(&["check", "--bridges", "/nonexistent/bridges"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the bridge directory /nonexistent/bridges"),
        "{err}"
    );
}

async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/posts/1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 1, "title": "t", "body": "b"})),
        )
        .mount(&server)
        .await;
    server
}

/// Runs `bridgeway try fetch-post` with `yaml` as the bridge, against `server`.
async fn try_fetch_post(
    server: &MockServer,
    yaml: &str,
    input: &str,
    env: &[(&str, &str)],
) -> Output {
    let dir = bridge_dir(&[("fetch-post.yaml", yaml)]);
    let args: Vec<String> = [
        "try",
        "fetch-post",
        "--input",
        input,
        "--bridges",
        dir.path().to_str().unwrap(),
    ]
    .map(str::to_owned)
    .into();
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("JSONPLACEHOLDER_URL".to_owned(), server.uri()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bridgeway(&args, &env)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn try_prints_each_step_and_exits_0_on_success() {
    let server = upstream().await;
    let out = try_fetch_post(
        &server,
        &fetch_post_yaml(),
        r#"{"user_id": 1, "query_text": "hi"}"#,
        &[],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for expected in [
        r#"validate {"query_text":"hi","user_id":1}"#.to_owned(),
        format!("render   GET {}/posts/1", server.uri()),
        "accept: application/json".to_owned(),
        "fetch    200 OK in".to_owned(),
        r#"map      {"status_code":200,"external_id":1,"title":"t","body":"b","error_message":""}"#
            .to_owned(),
        "answer   200".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn try_exits_1_on_an_error_and_masks_secrets() {
    let server = upstream().await;
    let yaml = fetch_post_yaml().replace(
        "    Accept: application/json",
        "    Accept: application/json\n    Authorization: \"Bearer ${UPSTREAM_TOKEN}\"\n    X-Trace: \"t-${UPSTREAM_TOKEN}\"",
    );
    let out = try_fetch_post(
        &server,
        &yaml,
        r#"{"user_id": 2}"#,
        &[("UPSTREAM_TOKEN", "tok-secret-123456")],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("answer   404"), "{text}");
    assert!(text.contains("authorization: ***"), "{text}");
    assert!(text.contains("x-trace: t-***"), "{text}");
    assert!(!text.contains("tok-secret-123456"), "{text}");
}

#[test]
fn try_refuses_invalid_input_with_the_field() {
    let dir = bridge_dir(&[("fetch-post.yaml", &fetch_post_yaml())]);
    let out = bridgeway(
        &[
            "try",
            "fetch-post",
            "--input",
            r#"{"user_id": 0}"#,
            "--bridges",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("validate failed: user_id: must be at least 1"),
        "{}",
        stdout(&out)
    );
}
