//! `/-/metrics` after a known sequence of requests: every counter and histogram count exact.

mod common;

use std::time::Duration;

use common::{TestGateway, bridge_dir};
use serde_json::json;
use wiremock::ResponseTemplate;

fn bridge(route: &str, on_error: &str) -> String {
    format!(
        "route: {{ path: {route} }}\ninput: {{ p: {{ type: string, required: true }} }}\n\
         upstream: {{ url: \"${{UP}}/{{{{input.p}}}}\", timeout: 300ms }}\n\
         output: {{ status: {{ from: status }} }}\non_error: {on_error}\n"
    )
}

#[tokio::test]
async fn counters_and_histograms_match_the_requests_made() {
    let answers = vec![
        ("/ok", ResponseTemplate::new(200).set_body_json(json!({}))),
        (
            "/missing",
            ResponseTemplate::new(404).set_body_json(json!({})),
        ),
        (
            "/broken",
            ResponseTemplate::new(500).set_body_json(json!({})),
        ),
        (
            "/slow",
            ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
        ),
    ];
    let up = common::upstream_answering(answers).await;
    let dir = bridge_dir(&[
        ("a.yaml", &bridge("/a", "status")),
        ("b.yaml", &bridge("/b", "output")),
    ]);
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri())]).await;

    let mut statuses = Vec::new();
    for (route, p) in [
        ("/a", "ok"),
        ("/a", "ok"),
        ("/a", "ok"),
        ("/a", "missing"),
        ("/a", "slow"),
        ("/b", "broken"),
    ] {
        statuses.push(gw.post_json(route, &json!({ "p": p })).await.status);
    }
    statuses.push(gw.post_json("/a", &json!({})).await.status);
    statuses.push(gw.post_json("/nowhere", &json!({})).await.status);
    assert_eq!(statuses, [200, 200, 200, 404, 504, 200, 422, 404]);

    let text = gw.get("/-/metrics").await.text;
    for line in [
        r#"bridgeway_requests_total{bridge="a",status="200"} 3"#,
        r#"bridgeway_requests_total{bridge="a",status="404"} 1"#,
        r#"bridgeway_requests_total{bridge="a",status="504"} 1"#,
        r#"bridgeway_requests_total{bridge="a",status="422"} 1"#,
        r#"bridgeway_requests_total{bridge="b",status="200"} 1"#,
        r#"bridgeway_requests_total{bridge="",status="404"} 1"#,
        r#"bridgeway_upstream_failures_total{bridge="a",kind="status"} 1"#,
        r#"bridgeway_upstream_failures_total{bridge="a",kind="timeout"} 1"#,
        r#"bridgeway_upstream_failures_total{bridge="b",kind="status"} 1"#,
        r#"bridgeway_request_duration_seconds_count{bridge="a"} 6"#,
        r#"bridgeway_request_duration_seconds_count{bridge="b"} 1"#,
        r#"bridgeway_upstream_duration_seconds_count{bridge="a"} 4"#,
        r#"bridgeway_upstream_duration_seconds_count{bridge="b"} 1"#,
        "bridgeway_requests_in_flight 0",
        "bridgeway_bridges_loaded 2",
        r#"bridgeway_reloads_total{result="ok"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let request_lines = text
        .lines()
        .filter(|l| l.starts_with("bridgeway_requests_total{"))
        .count();
    assert_eq!(request_lines, 6, "no other request series:\n{text}");
    let slow_bucket = r#"bridgeway_request_duration_seconds_bucket{le="0.25",bridge="a"} 5"#;
    assert!(
        text.lines().any(|l| l == slow_bucket),
        "the timed-out request is over 250 ms:\n{text}"
    );
}
