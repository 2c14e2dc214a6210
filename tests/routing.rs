//! Routing and the operations endpoints.

use crate::support::{TestGateway, bridge_dir};
use serde_json::json;

fn bridge(name: &str, method: &str, path: &str) -> String {
    format!(
        "name: {name}\nroute: {{ method: {method}, path: {path} }}\nupstream: {{ url: 'http://127.0.0.1:1/' }}\n"
    )
}

#[tokio::test]
async fn an_unknown_path_is_404_and_paths_match_exactly() {
    let dir = bridge_dir(&[("a.yaml", &bridge("a", "POST", "/api/a"))]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    for path in ["/nope", "/api/a/", "/API/a", "/api//a", "/-/nope"] {
        let reply = gw.post_json(path, &json!({})).await;
        assert_eq!(reply.status, 404, "{path}");
        reply.assert_error_shape("not_found");
    }
}

#[tokio::test]
async fn another_method_is_405_with_allow_listing_every_method_on_the_path() {
    let dir = bridge_dir(&[
        ("a.yaml", &bridge("a", "POST", "/api/a")),
        ("b.yaml", &bridge("b", "PUT", "/api/a")),
    ]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let reply = gw.get("/api/a").await;
    assert_eq!(reply.status, 405);
    reply.assert_error_shape("method_not_allowed");
    assert_eq!(reply.headers["allow"], "POST, PUT");
}

#[tokio::test]
async fn health_ready_and_bridges_report_the_state() {
    let dir = bridge_dir(&[
        ("a.yaml", &bridge("a", "POST", "/api/a")),
        (
            "broken.yaml",
            "route: {path: /x}\nupstream: {url: 'http://h/'}\ntimout: 5s\n",
        ),
        (".hidden.yaml", &bridge("hidden", "POST", "/hidden")),
        ("notes.txt", "not a bridge"),
    ]);
    let gw = TestGateway::start(dir.path(), &[]).await;

    let health = gw.get("/-/health").await;
    assert_eq!(
        (health.status, health.json["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = gw.get("/-/ready").await;
    assert_eq!(
        (ready.status, ready.json["status"].as_str()),
        (200, Some("ready"))
    );

    let page = gw.get("/-/bridges").await;
    assert_eq!(page.status, 200);
    let bridges = page.json["bridges"].as_array().unwrap();
    assert_eq!(bridges.len(), 1);
    let a = &bridges[0];
    assert_eq!(
        (a["name"].as_str(), a["file"].as_str()),
        (Some("a"), Some("a.yaml"))
    );
    assert_eq!(
        (a["method"].as_str(), a["path"].as_str()),
        (Some("POST"), Some("/api/a"))
    );
    let expected_hash = sha256_hex(&std::fs::read(dir.path().join("a.yaml")).unwrap());
    assert_eq!(a["hash"], expected_hash.as_str());
    assert!(a["loaded_at"].as_str().unwrap().ends_with('Z'));

    let files = page.json["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["a.yaml", "broken.yaml"],
        "hidden and non-YAML files are not bridges"
    );
    assert_eq!(files[0]["status"], "ok");
    assert_eq!(files[0]["error"], serde_json::Value::Null);
    assert_eq!(files[1]["status"], "error");
    assert!(
        files[1]["error"]
            .as_str()
            .unwrap()
            .contains("broken.yaml:3:1: unknown field `timout`")
    );
}

#[tokio::test]
async fn operations_paths_answer_get_only() {
    let dir = bridge_dir(&[]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let reply = gw.post_json("/-/health", &json!({})).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "GET");
}

#[tokio::test]
async fn a_bridge_cannot_claim_an_operations_path() {
    let dir = bridge_dir(&[("ops.yaml", &bridge("ops", "GET", "/-/health"))]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let page = gw.get("/-/bridges").await;
    assert!(
        page.json["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("reserved")
    );
    assert_eq!(gw.get("/-/health").await.json["status"], "ok");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn metrics_are_openmetrics_text() {
    let dir = bridge_dir(&[("a.yaml", &bridge("a", "POST", "/api/a"))]);
    let gw = TestGateway::start(dir.path(), &[]).await;
    let reply = gw.get("/-/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(
        reply.text.contains("bridgeway_bridges_loaded 1"),
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .contains("bridgeway_reloads_total{result=\"ok\"} 1"),
        "{}",
        reply.text
    );
}
