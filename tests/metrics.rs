//! `/-/metrics` after a known sequence of requests: every counter and histogram count exact;
//! the format each scraper asks for, read by promtool and by a Prometheus server.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestGateway, bridge_dir};
use serde_json::{Value, json};
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
    let up = crate::support::upstream_answering(answers).await;
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

/// The samples of `text` (either exposition format) whose name and labels are `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_info_and_process_metrics_of_the_real_binary_are_read_at_each_scrape() {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let up = crate::support::upstream_answering_ok().await;
    let dir = bridge_dir(&[("a.yaml", &bridge("/a", "status"))]);
    let server = crate::support::Server::start(dir.path(), &[], &[("UP", &up.uri())]).await;
    let scrape = || async {
        crate::support::http_client()
            .get(format!("{}/-/metrics", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let first = scrape().await;
    let build_info = format!(
        r#"bridgeway_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&first, &build_info), Some(1.0), "{first}");
    for family in [
        "# TYPE bridgeway_build_info gauge",
        "# TYPE process_cpu_seconds counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_start_time_seconds gauge",
    ] {
        assert!(first.lines().any(|l| l == family), "{family} in\n{first}");
    }
    let resident = sample(&first, "process_resident_memory_bytes").unwrap();
    assert!(resident > 1e6 && resident < 1e10, "{resident}");
    assert!(sample(&first, "process_virtual_memory_bytes").unwrap() >= resident);
    let start = sample(&first, "process_start_time_seconds").unwrap();
    // Clock ticks (1/100 s) and the boot time's whole seconds: a second either way.
    assert!(
        start > started - 2.0 && start < started + 60.0,
        "started at {start}, the test at {started}"
    );
    let max_fds = sample(&first, "process_max_fds").unwrap();
    let fds_idle = sample(&first, "process_open_fds").unwrap();
    assert!(
        fds_idle >= 3.0 && fds_idle <= max_fds,
        "{fds_idle} of {max_fds}"
    );
    let cpu_before = sample(&first, "process_cpu_seconds_total").unwrap();

    // Held-open connections are file descriptors of the gateway; some CPU goes on the requests.
    let mut held = Vec::new();
    for _ in 0..20 {
        let addr = server.base.trim_start_matches("http://");
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let client = crate::support::http_client();
    // CPU time counts in clock ticks (10 ms): requests until the count moves, for up to 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut later, mut moved) = (String::new(), false);
    while !moved && Instant::now() < deadline {
        for _ in 0..20 {
            let call = client.post(format!("{}/a", server.base));
            call.json(&json!({ "p": "x" })).send().await.unwrap();
        }
        later = scrape().await;
        let fds = sample(&later, "process_open_fds").is_some_and(|n| n >= fds_idle + 20.0);
        let cpu = sample(&later, "process_cpu_seconds_total").is_some_and(|c| c > cpu_before);
        moved = fds && cpu;
    }
    assert!(
        moved,
        "20 held connections are 20 more descriptors, and requests take CPU time \
         (was {fds_idle} descriptors, {cpu_before} s):\n{later}"
    );
    drop(held);
}

/// A gateway that has answered a few requests, so that every family has samples.
async fn gateway_with_traffic() -> (wiremock::MockServer, tempfile::TempDir, TestGateway) {
    let up = crate::support::upstream_answering(vec![
        ("/ok", ResponseTemplate::new(200).set_body_json(json!({}))),
        (
            "/missing",
            ResponseTemplate::new(404).set_body_json(json!({})),
        ),
    ])
    .await;
    let dir = bridge_dir(&[("a.yaml", &bridge("/a", "status"))]);
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri())]).await;
    for p in ["ok", "ok", "missing"] {
        gw.post_json("/a", &json!({ "p": p })).await;
    }
    (up, dir, gw)
}

async fn metrics_accepting(gw: &TestGateway, accept: Option<&str>) -> crate::support::Reply {
    let request = gw.client.get(gw.url("/-/metrics"));
    gw.send(match accept {
        Some(accept) => request.header("accept", accept),
        None => request,
    })
    .await
}

#[tokio::test]
async fn openmetrics_is_served_as_openmetrics_and_text_when_asked_for() {
    let (_up, _dir, gw) = gateway_with_traffic().await;
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for accept in [None, Some("*/*"), Some(prometheus)] {
        let reply = metrics_accepting(&gw, accept).await;
        assert_eq!(
            reply.headers["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "{accept:?}"
        );
        assert!(reply.text.ends_with("# EOF\n"), "{}", reply.text);
        assert!(reply.text.contains("# TYPE bridgeway_requests counter\n"));
    }
    let reply = metrics_accepting(&gw, Some("text/plain;version=0.0.4")).await;
    assert_eq!(
        reply.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!reply.text.contains("# EOF"), "{}", reply.text);
    assert!(
        reply
            .text
            .contains("# TYPE bridgeway_requests_total counter\nbridgeway_requests_total{"),
        "{}",
        reply.text
    );
}

/// A tool from Debian's `prometheus` package, which `.ci/run` installs. Without it the test is
/// skipped, saying so, except in CI, where its absence fails the test.
fn prometheus_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not on PATH, and CI must run this test: .ci/run installs it from Debian's prometheus package"
        );
        // Straight to stderr: the test harness swallows eprintln! from a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {name} is not on PATH (Debian's prometheus package; see .ci/run)"
        );
    }
    found
}

#[tokio::test]
async fn promtool_lints_the_text_format_clean() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let (_up, _dir, gw) = gateway_with_traffic().await;
    let text = metrics_accepting(&gw, Some("text/plain;version=0.0.4"))
        .await
        .text;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A counter whose samples sit under no `# HELP` of their name shows as "no help text".
    assert!(out.status.success(), "promtool: {said}\n{text}");
    assert_eq!(said.trim(), "", "no lint problems:\n{text}");
}

/// A Prometheus server scraping one target every 250 ms, killed when dropped.
struct Prometheus {
    child: Child,
    api: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    async fn scraping(binary: &Path, target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global: {{ scrape_interval: 250ms, scrape_timeout: 200ms }}\n\
             scrape_configs:\n  - job_name: bridgeway\n    metrics_path: /-/metrics\n    \
             static_configs: [ {{ targets: [\"{target}\"] }} ]\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let listen = format!("127.0.0.1:{}", crate::support::closed_port().await);
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus {
            child,
            api: format!("http://{listen}/api/v1"),
            dir,
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let response = crate::support::http_client()
            .get(format!("{}/{path}?{query}", self.api))
            .send()
            .await
            .ok()?;
        response
            .json::<Value>()
            .await
            .ok()
            .map(|v| v["data"].clone())
    }

    /// The metric types Prometheus recorded for the target, once it has scraped it.
    async fn target_metadata(&self) -> HashMap<String, String> {
        let job = [("match_target", r#"{job="bridgeway"}"#)];
        let data = self.get("targets/metadata", &job).await;
        data.and_then(|d| d.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                Some((
                    m["metric"].as_str()?.to_owned(),
                    m["type"].as_str()?.to_owned(),
                ))
            })
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_openmetrics_with_counters_typed() {
    let Some(binary) = prometheus_tool("prometheus") else {
        return;
    };
    let (_up, _dir, gw) = gateway_with_traffic().await;
    let prometheus = Prometheus::scraping(&binary, gw.addr).await;
    // Prometheus hands new targets to its scrapers every 5 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut types = HashMap::new();
    while Instant::now() < deadline && types.len() < 8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        types = prometheus.target_metadata().await;
    }
    let targets = prometheus.get("targets", &[]).await.unwrap_or_default();
    let target = &targets["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}\n{}", prometheus.log());
    assert_eq!(target["lastError"], "", "{target}");
    for (metric, kind) in [
        ("bridgeway_requests", "counter"),
        ("bridgeway_upstream_failures", "counter"),
        ("bridgeway_reloads", "counter"),
        ("bridgeway_request_duration_seconds", "histogram"),
        ("bridgeway_requests_in_flight", "gauge"),
        ("bridgeway_bridges_loaded", "gauge"),
    ] {
        assert_eq!(
            types.get(metric).map(String::as_str),
            Some(kind),
            "{metric}: {types:?}"
        );
    }
    let query = [(
        "query",
        r#"bridgeway_requests_total{bridge="a",status="200"}"#,
    )];
    let result = prometheus.get("query", &query).await.unwrap_or_default();
    assert_eq!(result["result"][0]["value"][1], "2", "{result}");
}
