//! The shutdown sequence (SPEC §9): on SIGTERM `/-/ready` answers 503 at once while requests
//! are still served for `--drain-delay`; then the gateway stops accepting and lets requests in
//! flight finish. The bounds are generous and one-sided (never "within N ms"), so a loaded
//! machine slows these tests down without failing them.

use std::time::{Duration, Instant};

use crate::support::{Server, TestGateway, eventually, upstream_answering_ok};
use serde_json::json;

fn versioned(version: &str) -> String {
    format!(
        "route: {{ path: /v }}\nupstream: {{ url: \"${{UP}}/x\" }}\noutput: {{ version: {{ value: \"{version}\" }} }}\n"
    )
}

#[tokio::test]
async fn a_draining_gateway_is_not_ready_but_still_serves_and_closes_keep_alive() {
    let up = upstream_answering_ok().await;
    let dir = crate::support::bridge_dir(&[("v.yaml", &versioned("d"))]);
    let gw = TestGateway::start(dir.path(), &[("UP", &up.uri())]).await;
    let before = gw.post_json("/v", &json!({})).await;
    assert_eq!(before.status, 200);
    assert!(
        before.headers.get("connection").is_none(),
        "keep-alive before draining: {:?}",
        before.headers
    );

    gw.gateway.start_draining();
    let ready = gw.get("/-/ready").await;
    assert_eq!(
        (ready.status, ready.json["status"].as_str()),
        (503, Some("draining"))
    );
    assert_eq!(
        gw.get("/-/health").await.status,
        200,
        "alive while draining"
    );
    let during = gw.post_json("/v", &json!({})).await;
    assert_eq!(during.status, 200, "{}", during.text);
    assert_eq!(during.json["version"], "d");
    assert_eq!(
        during.headers["connection"], "close",
        "a keep-alive client is told to reconnect (elsewhere)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_ready_is_503_requests_are_served_for_the_drain_delay_then_it_exits() {
    // Long enough that the checks below fit inside it on a loaded machine; the test only
    // asserts that the process did not exit *before* it.
    const DRAIN: Duration = Duration::from_secs(5);
    let up = upstream_answering_ok().await;
    let dir = crate::support::bridge_dir(&[("v.yaml", &versioned("drain"))]);
    let mut server = Server::start(
        dir.path(),
        &[
            "--workers",
            "2",
            "--drain-delay",
            "5s",
            "--shutdown-grace",
            "5s",
        ],
        &[("UP", &up.uri())],
    )
    .await;
    assert_eq!(server.version("/v").await, "drain");

    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    let ready_url = format!("{}/-/ready", server.base);
    let not_ready = eventually(|| async {
        let r = server.client.get(&ready_url).send().await;
        r.is_ok_and(|r| r.status() == 503)
    })
    .await;
    assert!(not_ready, "/-/ready answers 503 once SIGTERM arrives");
    let ready: serde_json::Value = server
        .client
        .get(&ready_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "draining");

    // A new connection, as a load balancer that has not heard yet would open.
    let fresh = crate::support::http_client();
    let answer = fresh
        .post(format!("{}/v", server.base))
        .json(&json!({}))
        .send()
        .await
        .expect("still accepting during the drain delay");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["connection"], "close");
    assert!(
        signalled.elapsed() < DRAIN,
        "the checks ran within the drain delay ({:?}); the machine is too slow for this test",
        signalled.elapsed()
    );

    let exit = server
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the server exits after the drain delay");
    assert_eq!(exit.code(), Some(0));
    assert!(
        signalled.elapsed() >= DRAIN,
        "kept serving for the whole drain delay, exited after {:?}",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_delay_early() {
    let up = upstream_answering_ok().await;
    let dir = crate::support::bridge_dir(&[("v.yaml", &versioned("again"))]);
    let mut server =
        Server::start(dir.path(), &["--drain-delay", "10m"], &[("UP", &up.uri())]).await;
    server.signal(libc::SIGTERM);
    let ready_url = format!("{}/-/ready", server.base);
    assert!(
        eventually(|| async {
            let r = server.client.get(&ready_url).send().await;
            r.is_ok_and(|r| r.status() == 503)
        })
        .await,
        "draining"
    );
    server.signal(libc::SIGINT);
    let exit = server
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("a second signal stops the drain; ten minutes were not waited");
    assert_eq!(exit.code(), Some(0));
}
