//! `soql`, `sosl` and `odata`: hostile values made safe for the query language's literal, then
//! escaped for their place as usual; every assertion is on what the upstream received. And the
//! warning `check` (and `serve`'s log) gives for an unguarded input between quotes.

use std::process::Command;

use crate::support::{Server, TestGateway, bridge_dir, upstream_answering_ok};
use serde_json::{Value, json};

const BRIDGE: &str = r#"
route: { path: /sf }
input:
  v: { type: string, required: true }
upstream:
  method: POST
  url: "${UP}/services/data/v60.0/query?q=SELECT+Id+FROM+Contact+WHERE+Name+%3D+'{{soql input.v}}'"
  query:
    search: "{{sosl input.v}}"
    $filter: "Name eq '{{odata input.v}}'"
  body:
    soql: "WHERE Name = '{{soql input.v}}'"
    sosl: "{{sosl input.v}}"
    odata: "Name eq '{{odata input.v}}'"
output:
  status: { from: status }
"#;

/// (input, as a SOQL literal, as SOSL search text, as an OData literal), written out by hand.
const CASES: &[(&str, &str, &str, &str)] = &[
    ("O'Brien", r"O\'Brien", r"O\'Brien", "O''Brien"),
    (r"back\slash", r"back\\slash", r"back\\slash", r"back\slash"),
    ("{braces}", "{braces}", r"\{braces\}", "{braces}"),
    ("a+b-c", "a+b-c", r"a\+b\-c", "a+b-c"),
    (
        r#"say "hi""#,
        r#"say \"hi\""#,
        r#"say \"hi\""#,
        r#"say "hi""#,
    ),
    ("ünï 🚀", "ünï 🚀", "ünï 🚀", "ünï 🚀"),
    (
        "x' OR Name != '",
        r"x\' OR Name != \'",
        r"x\' OR Name \!= \'",
        "x'' OR Name != ''",
    ),
    ("tab\there\n", r"tab\there\n", "tab\there\n", "tab\there\n"),
    (
        "?&|!{}[]()^~*:",
        "?&|!{}[]()^~*:",
        r"\?\&\|\!\{\}\[\]\(\)\^\~\*\:",
        "?&|!{}[]()^~*:",
    ),
    ("\u{1}", r"\u0001", "\u{1}", "\u{1}"),
];

#[tokio::test]
async fn each_helper_escapes_for_its_language_then_for_its_place() {
    let upstream = upstream_answering_ok().await;
    let dir = bridge_dir(&[("sf.yaml", BRIDGE)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    for (value, soql, sosl, odata) in CASES {
        upstream.reset().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&upstream)
            .await;
        let reply = gw.post_json("/sf", &json!({ "v": value })).await;
        assert_eq!(reply.status, 200, "{value:?}: {}", reply.text);
        let seen = upstream.received_requests().await.unwrap();
        assert_eq!(seen.len(), 1, "{value:?}");
        let req = &seen[0];
        assert_eq!(req.url.path(), "/services/data/v60.0/query", "{value:?}");
        let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        assert_eq!(
            query,
            [
                (
                    "q".into(),
                    format!("SELECT Id FROM Contact WHERE Name = '{soql}'")
                ),
                ("search".into(), sosl.to_string()),
                ("$filter".into(), format!("Name eq '{odata}'")),
            ],
            "{value:?}"
        );
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "soql": format!("WHERE Name = '{soql}'"),
                "sosl": sosl,
                "odata": format!("Name eq '{odata}'"),
            }),
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn a_plus_sign_arrives_as_a_plus_not_a_space() {
    let upstream = upstream_answering_ok().await;
    let dir = bridge_dir(&[("sf.yaml", BRIDGE)]);
    let gw = TestGateway::start(dir.path(), &[("UP", &upstream.uri())]).await;
    let reply = gw.post_json("/sf", &json!({ "v": "a+b'" })).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let seen = upstream.received_requests().await.unwrap();
    let raw = seen[0].url.query().unwrap();
    // `+` is percent-encoded, so it is never read back as a space; a quote the URL parser
    // encodes (`%27`) decodes to the same text.
    assert_eq!(
        raw,
        "q=SELECT+Id+FROM+Contact+WHERE+Name+%3D+%27a%2Bb%5C%27%27\
         &search=a%5C%2Bb%5C%27&%24filter=Name%20eq%20%27a%2Bb%27%27%27"
    );
}

fn check(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args(["check", "--bridges"])
        .arg(dir)
        .env_remove("BRIDGEWAY_BRIDGES")
        .output()
        .unwrap()
}

fn quoted(route: &str, input: &str, query: &str) -> String {
    format!(
        "route: {{ path: /{route} }}\ninput:\n  v: {input}\nupstream:\n  url: \"http://127.0.0.1:1/q?fixed='{{{{input.v}}}}'\"\n  query:\n    q: \"{query}\"\n"
    )
}

#[test]
fn check_warns_about_an_unguarded_input_between_quotes_and_still_passes() {
    let dir = bridge_dir(&[
        (
            "bare.yaml",
            &quoted("bare", "{ type: string }", "Name = '{{input.v}}'"),
        ),
        (
            "helper.yaml",
            &quoted(
                "helper",
                "{ type: string, pattern: '^[a-z]+$' }",
                "Name = '{{soql input.v}}'",
            ),
        ),
        (
            "enum.yaml",
            &quoted(
                "enum",
                "{ type: string, enum: [a, b] }",
                "Name = \\\"{{input.v}}\\\"",
            ),
        ),
    ]);
    let out = check(dir.path());
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings do not fail check: {said}"
    );
    let warnings: Vec<&str> = said.lines().filter(|l| l.contains(": warning: ")).collect();
    let bare = dir.path().join("bare.yaml");
    assert_eq!(
        warnings.len(),
        2,
        "the URL's query and upstream.query of bare.yaml only: {said}"
    );
    assert!(
        warnings[0].starts_with(&format!(
            "{}: warning: upstream.url: input `v` stands between quotes",
            bare.display()
        )),
        "{said}"
    );
    assert!(
        warnings[1].starts_with(&format!(
            "{}: warning: upstream.query.q: input `v` stands between quotes",
            bare.display()
        )),
        "{said}"
    );
    assert!(warnings[1].contains("{{soql input.v}}"), "{said}");
    assert!(said.contains("3 bridge(s) ready, 0 problem(s)"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_the_warning_at_load() {
    let dir = bridge_dir(&[(
        "bare.yaml",
        &quoted("bare", "{ type: string }", "Name = '{{input.v}}'"),
    )]);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("gateway.log");
    let server = Server::start_logging_to(dir.path(), &[], &[], Some(&log)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("bridge warning") && l.contains("upstream.query.q"))
        .unwrap_or_else(|| panic!("no warning logged: {text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("upstream.query.q: input `v` stands between quotes"),
        "{line}"
    );
    drop(server);
}
