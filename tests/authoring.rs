//! Authoring with the real binary: `check` places every problem at file:line:column and says
//! what to write instead; `--env-file`; `try --show-body`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{Server, bridge_dir, fetch_post_yaml, upstream_answering};
use serde_json::json;
use wiremock::ResponseTemplate;

fn bridgeway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
    cmd.args(args)
        .env_remove("BRIDGEWAY_BRIDGES")
        .env_remove("BRIDGEWAY_ENV_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts that `text` has a line starting with each `file:line:col: message start` and
/// holding the suggestion.
fn assert_lines(text: &str, expected: &[(String, &str)]) {
    for (start, suggestion) in expected {
        let line = text
            .lines()
            .find(|l| l.starts_with(start.as_str()))
            .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{text}"));
        assert!(line.contains(suggestion), "{suggestion:?} not in {line:?}");
    }
}

const MISTAKES: &str = "\
route: {path: /mistakes}
input:
  id: {type: integer}
upstream:
  url: 'http://127.0.0.1:1/cases/{{input.id}}'
  query:
    open: '{{#if input.id}}yes'
output:
  name:
    path: $.results.0.name
    type: string
  open_cases:
    path: $.results[0].open_cases.length
    type: integer
  header: {from: 'headr:X-Total', type: string}
  total: {path: $.total, type: integer, default: many}
";

const UNQUOTED: &str = "\
route: {path: /unquoted}
input:
  id: {type: integer}
upstream:
  url: http://127.0.0.1:1/
  headers:
    X-Id: {{input.id}}
";

const UNTYPED: &str = "\
route: {path: /untyped}
upstream: {url: 'http://127.0.0.1:1/'}
output:
  title: {path: $.title}
";

#[test]
fn check_places_every_problem_and_says_what_to_write() {
    let dir = bridge_dir(&[
        ("mistakes.yaml", MISTAKES),
        ("unquoted.yaml", UNQUOTED),
        ("untyped.yaml", UNTYPED),
    ]);
    let out = bridgeway(&["check", path(dir.path())], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let d = dir.path().display();
    assert_lines(
        &text,
        &[
            (
                format!(
                    "error {d}/mistakes.yaml:7:11: upstream.query.open: template does not parse"
                ),
                "`{{#if}}` is not closed: end the block with `{{/if}}`",
            ),
            (
                format!(
                    "error {d}/mistakes.yaml:10:11: output.name.path: JSONPath `$.results.0.name`"
                ),
                "write `$.results[0].name`",
            ),
            (
                format!("error {d}/mistakes.yaml:13:11: output.open_cases.path: JSONPath"),
                "to count the items write `count: $.results[0].open_cases`",
            ),
            (
                format!("error {d}/mistakes.yaml:15:18: output.header.from: `from: headr:X-Total`"),
                "is not one of `status`, `error` or `header:NAME`",
            ),
            (
                format!("error {d}/mistakes.yaml:16:50: output.total.default: expected an integer"),
                "",
            ),
            (
                format!("error {d}/unquoted.yaml:7:5: upstream.headers.X-Id: invalid type: map"),
                "a value that starts with `{{` must be quoted: write \"{{input.id}}\"",
            ),
            (
                format!("error {d}/untyped.yaml:4:3: genesys: output `title` needs a `type`"),
                "",
            ),
        ],
    );
    assert!(!text.contains("wildcard_selector"), "{text}");
    assert!(!text.contains("helper_block_start"), "{text}");
    assert!(
        text.ends_with("3 file(s), 0 bridge(s) ready, 7 problem(s) in 3 file(s)\n"),
        "{text}"
    );
}

#[test]
fn check_lists_every_shape_problem_of_a_file() {
    let dir = bridge_dir(&[(
        "typos.yaml",
        "route: {path: /typos, methd: GET}\ninput:\n  a: {type: integr}\n  b: {requird: true}\n\
         upstream:\n  url: http://h/\n  timout: 5s\noutput:\n  o: {path: $.o, typ: string}\n",
    )]);
    let out = bridgeway(&["check", path(&dir.path().join("typos.yaml"))], &[]);
    let text = stdout(&out);
    let d = dir.path().display();
    assert_lines(
        &text,
        &[
            (
                format!("error {d}/typos.yaml:1:23: route: unknown field `methd`"),
                "",
            ),
            (
                format!("error {d}/typos.yaml:3:13: input.a.type: unknown variant `integr`"),
                "",
            ),
            (
                format!("error {d}/typos.yaml:4:7: input.b: unknown field `requird`"),
                "",
            ),
            (
                format!("error {d}/typos.yaml:7:3: upstream: unknown field `timout`"),
                "",
            ),
            (
                format!("error {d}/typos.yaml:9:18: output.o: unknown field `typ`"),
                "",
            ),
        ],
    );
    assert!(text.contains("5 problem(s) in 1 file(s)"), "{text}");
}

#[test]
fn check_takes_files_and_directories() {
    let good = "route: {path: /good}\nupstream: {url: 'http://127.0.0.1:1/'}\n";
    let one = bridge_dir(&[("one.yml", good)]);
    let many = bridge_dir(&[
        ("a.yaml", &good.replace("/good", "/a")),
        ("b.yaml", &good.replace("/good", "/b")),
    ]);
    let file = one.path().join("one.yml");
    let out = bridgeway(&["check", path(&file), path(many.path())], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for expected in [
        format!("ok    {}: one POST /good", file.display()),
        format!("ok    {}/a.yaml: a POST /a", many.path().display()),
        format!("ok    {}/b.yaml: b POST /b", many.path().display()),
        "3 file(s), 3 bridge(s) ready, 0 problem(s) in 0 file(s)".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }

    let missing = one.path().join("missing.yaml");
    let out = bridgeway(&["check", path(&file), path(&missing)], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!("error {}: cannot be read", missing.display())),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_into_a_closed_pipe_ends_quietly() {
    // Far more than a pipe holds, so that the writes after the reader is gone fail.
    let fields: String = (0..2000)
        .map(|i| format!("  field{i}: {{type: integr}}\n"))
        .collect();
    let yaml = format!("route: {{path: /x}}\nupstream: {{url: 'http://h/'}}\ninput:\n{fields}");
    let dir = bridge_dir(&[("many.yaml", &yaml)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args(["check", path(dir.path())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -c 100`: read a little, then close.
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("error "));
    assert_eq!(err, "", "nothing on stderr");
    assert_eq!(status.code(), Some(1), "the check's own verdict, no panic");
}

#[test]
fn env_file_gives_check_its_variables_and_names_a_bad_line_without_its_text() {
    let dir = bridge_dir(&[(
        "env.yaml",
        "route: {path: /env}\nupstream:\n  url: '${AUTHORING_BASE_URL}/x'\n  \
         headers: {Authorization: 'Bearer ${AUTHORING_API_TOKEN}'}\n",
    )]);
    let out = bridgeway(&["check", path(dir.path())], &[]);
    let text = stdout(&out);
    assert!(text.contains("AUTHORING_BASE_URL is not set"), "{text}");
    assert!(text.contains("AUTHORING_API_TOKEN is not set"), "{text}");

    let env_file = dir.path().join("ci.env");
    std::fs::write(
        &env_file,
        "# stand-ins for CI\nAUTHORING_BASE_URL=http://127.0.0.1:1\nAUTHORING_API_TOKEN=\"not a secret\"\n",
    )
    .unwrap();
    let out = bridgeway(
        &["check", "--env-file", path(&env_file), path(dir.path())],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = bridgeway(
        &["check", path(dir.path())],
        &[("BRIDGEWAY_ENV_FILE", path(&env_file))],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    std::fs::write(&env_file, "A=1\nAUTHORING_API_TOKEN s3cr3t-value\n").unwrap();
    let out = bridgeway(
        &["check", "--env-file", path(&env_file), path(dir.path())],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[tokio::test]
async fn env_file_serves_and_tries_with_its_values_over_the_environment() {
    let up = upstream_answering(vec![(
        "/posts/1",
        ResponseTemplate::new(200).set_body_json(json!({"id": 1, "title": "t", "body": "b"})),
    )])
    .await;
    let dir = bridge_dir(&[("fetch-post.yaml", &fetch_post_yaml())]);
    let env_file = dir.path().join("local.env");
    std::fs::write(&env_file, format!("JSONPLACEHOLDER_URL={}\n", up.uri())).unwrap();
    // The process environment points elsewhere: the file wins.
    let elsewhere = [("JSONPLACEHOLDER_URL", "http://127.0.0.1:1")];

    let server = Server::start(dir.path(), &["--env-file", path(&env_file)], &elsewhere).await;
    let answer: serde_json::Value = server
        .client
        .post(format!("{}/api/v1/fetch-post", server.base))
        .json(&json!({"user_id": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["title"], "t", "{answer}");

    let (dir_arg, file_arg) = (path(dir.path()).to_owned(), path(&env_file).to_owned());
    let out = tokio::task::spawn_blocking(move || {
        let args = [
            "try",
            "fetch-post",
            "--input",
            r#"{"user_id": 1}"#,
            "--bridges",
            &dir_arg,
            "--env-file",
            &file_arg,
        ];
        bridgeway(&args, &elsewhere)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test]
async fn try_show_body_prints_the_upstream_answer_with_secrets_masked() {
    let up = upstream_answering(vec![(
        "/posts/1",
        ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "title": "t", "body": "b",
            "echo": {"authorization": "Bearer tok-secret-123456"}
        })),
    )])
    .await;
    let yaml = fetch_post_yaml().replace(
        "    Accept: application/json",
        "    Accept: application/json\n    Authorization: \"Bearer ${UPSTREAM_TOKEN}\"",
    );
    let dir = bridge_dir(&[("fetch-post.yaml", &yaml)]);
    let (dir_arg, uri) = (path(dir.path()).to_owned(), up.uri());
    let run = move |show: bool| {
        let mut args = vec![
            "try",
            "fetch-post",
            "--input",
            r#"{"user_id": 1}"#,
            "--bridges",
            &dir_arg,
        ];
        if show {
            args.push("--show-body");
        }
        bridgeway(
            &args,
            &[
                ("JSONPLACEHOLDER_URL", &uri),
                ("UPSTREAM_TOKEN", "tok-secret-123456"),
            ],
        )
    };
    let (plain, shown) = tokio::task::spawn_blocking(move || (run(false), run(true)))
        .await
        .unwrap();
    let text = stdout(&shown);
    assert_eq!(shown.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            r#"body     {"body":"b","echo":{"authorization":"Bearer ***"},"id":1,"title":"t"}"#
        ),
        "{text}"
    );
    assert!(!text.contains("tok-secret-123456"), "{text}");
    assert!(!stdout(&plain).contains("body     "), "{}", stdout(&plain));
}

#[test]
fn try_prints_the_problems_of_a_bridge_that_does_not_load_with_file_and_line() {
    let dir = bridge_dir(&[("mistakes.yaml", MISTAKES)]);
    let out = bridgeway(
        &[
            "try",
            "mistakes",
            "--input",
            "{}",
            "--bridges",
            path(dir.path()),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!(
            "error {}/mistakes.yaml:10:11: output.name.path: JSONPath",
            dir.path().display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn try_into_a_closed_pipe_ends_quietly() {
    let up = upstream_answering(vec![(
        "/posts/1",
        ResponseTemplate::new(200)
            .set_body_json(json!({"id": 1, "title": "t", "body": "b"}))
            .set_delay(std::time::Duration::from_millis(300)),
    )])
    .await;
    let dir = bridge_dir(&[("fetch-post.yaml", &fetch_post_yaml())]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args(["try", "fetch-post", "--input", r#"{"user_id": 1}"#])
        .args(["--bridges", path(dir.path())])
        .env("JSONPLACEHOLDER_URL", up.uri())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the upstream answers and `try` prints the fetch.
    drop(child.stdout.take());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "nothing on stderr"
    );
    assert_eq!(out.status.code(), Some(141));
}
