//! The real `bridgeway serve` process: signals and start-up.

use std::time::Duration;

use crate::support::{Server, eventually, http_client, upstream_answering_ok};
use serde_json::json;

fn versioned(version: &str) -> String {
    format!(
        "route: {{ path: /v }}\nupstream: {{ url: \"${{UP}}/x\" }}\noutput: {{ version: {{ value: \"{version}\" }} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_when_nothing_else_would() {
    let up = upstream_answering_ok().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.yaml"), versioned("v1")).unwrap();
    let server = Server::start(
        dir.path(),
        &["--no-watch", "--rescan-interval", "0"],
        &[("UP", &up.uri())],
    )
    .await;
    assert_eq!(server.version("/v").await, "v1");

    std::fs::write(dir.path().join("v.yaml"), versioned("v2")).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        server.version("/v").await,
        "v1",
        "without a watcher nothing reloads on its own"
    );

    server.signal(libc::SIGHUP);
    assert!(
        eventually(|| async { server.version("/v").await == "v2" }).await,
        "SIGHUP reloads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_at_start_up_does_not_stop_the_server() {
    let up = upstream_answering_ok().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), versioned("good")).unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "route: [unclosed\n").unwrap();
    let server = Server::start(dir.path(), &[], &[("UP", &up.uri())]).await;
    assert_eq!(server.version("/v").await, "good");
    let page: serde_json::Value = server
        .client
        .get(format!("{}/-/bridges", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["files"][0]["file"], "bad.yaml");
    assert_eq!(page["files"][0]["status"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_share_the_port_and_stop_cleanly_on_sigterm() {
    let up = upstream_answering_ok().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.yaml"), versioned("w")).unwrap();
    let mut server = Server::start(dir.path(), &["--workers", "3"], &[("UP", &up.uri())]).await;

    // Separate connections, so the kernel spreads them over the workers' listeners.
    let requests = (0..60).map(|_| {
        let url = format!("{}/v", server.base);
        async move {
            let client = http_client();
            let r = client.post(url).json(&json!({})).send().await.unwrap();
            r.status().as_u16()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the server stops after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_after_sigterm_and_new_connections_are_refused() {
    let up = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&up)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.yaml"), versioned("slow")).unwrap();
    let mut server = Server::start(dir.path(), &["--workers", "2"], &[("UP", &up.uri())]).await;

    let url = format!("{}/v", server.base);
    let in_flight = tokio::spawn(async move {
        let r = http_client()
            .post(url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let addr = server.base.trim_start_matches("http://").to_owned();
    let refused = tokio::net::TcpStream::connect(&addr).await;
    assert!(refused.is_err(), "no new connections once shutting down");
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the request in flight completes: {body}");
    assert!(body.contains("\"version\":\"slow\""), "{body}");

    let exit = server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the server exits once drained");
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_timeout_flag_answers_a_stalled_body_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = upstream_answering_ok().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.yaml"), versioned("b")).unwrap();
    let server = Server::start(
        dir.path(),
        &["--body-timeout", "300ms"],
        &[("UP", &up.uri())],
    )
    .await;

    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = "POST /v HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"a\"";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "answered and closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(answer.contains("within 300ms"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// Runs `bridgeway serve --listen ADDR`, which is expected to refuse to start: its exit status
/// and what it printed on stderr.
async fn serve_refused(dir: &std::path::Path, listen: &str) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args([
            "serve",
            "--bridges",
            dir.to_str().unwrap(),
            "--listen",
            listen,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status, stderr);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("a second serve on {listen} started instead of refusing");
}

fn assert_refused_in_use((status, stderr): (std::process::ExitStatus, String), listen: &str) {
    assert!(!status.success(), "exits non-zero: {status:?}\n{stderr}");
    assert!(stderr.contains(listen), "names the address: {stderr}");
    assert!(
        stderr.contains("already in use"),
        "says it is in use: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_address_refuses_to_start() {
    let up = upstream_answering_ok().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.yaml"), versioned("first")).unwrap();
    let first = Server::start(dir.path(), &["--workers", "2"], &[("UP", &up.uri())]).await;
    let listen = first.base.trim_start_matches("http://").to_owned();

    let other = tempfile::tempdir().unwrap();
    assert_refused_in_use(serve_refused(other.path(), &listen).await, &listen);
    for _ in 0..20 {
        assert_eq!(
            first.version("/v").await,
            "first",
            "the first keeps the port alone"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_an_address_another_program_listens_on() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = holder.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    assert_refused_in_use(serve_refused(dir.path(), &listen).await, &listen);
}
