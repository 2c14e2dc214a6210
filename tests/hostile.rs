//! Hostile input, each answered with the right status, and the server healthy afterwards.

use std::time::{Duration, Instant};

use crate::support::{TestGateway, bridge_dir, upstream_answering_ok};
use bridgeway::Settings;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BRIDGE: &str = r#"
route: { path: /api/x }
input: { id: { type: integer } }
upstream: { url: "${UP}/x" }
output: { status: { from: status } }
"#;

async fn gateway(settings: Settings) -> (MockServer, tempfile::TempDir, TestGateway) {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[("x.yaml", BRIDGE)]);
    let gw = TestGateway::start_with(dir.path(), &[("UP", &up.uri())], settings).await;
    (up, dir, gw)
}

async fn assert_healthy(gw: &TestGateway) {
    assert_eq!(
        gw.get("/-/health").await.status,
        200,
        "the server is still healthy"
    );
    assert_eq!(
        gw.post_json("/api/x", &json!({"id": 1})).await.status,
        200,
        "and still serving"
    );
}

/// Sends raw bytes and reads the answer until the server closes or 3 s pass.
async fn raw(gw: &TestGateway, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

#[tokio::test]
async fn deep_nesting_is_refused_before_parsing() {
    let (_up, _dir, gw) = gateway(Settings::default()).await;
    let nest = |n: usize| {
        format!(
            "{{\"id\": 1, \"deep\": {}{}}}",
            "[".repeat(n - 1),
            "]".repeat(n - 1)
        )
    };
    for (levels, status) in [(50, 200), (51, 400), (10_000, 400)] {
        let reply = gw
            .send(
                gw.client
                    .post(gw.url("/api/x"))
                    .header("content-type", "application/json")
                    .body(nest(levels)),
            )
            .await;
        assert_eq!(reply.status, status, "{levels} levels: {}", reply.text);
        if status == 400 {
            reply.assert_error_shape("too_deep");
        }
    }
    assert_healthy(&gw).await;
}

#[tokio::test]
async fn odd_json_is_answered_plainly() {
    let (_up, _dir, gw) = gateway(Settings::default()).await;
    for (body, status, code) in [
        (&b"{\"id\": 1e400}"[..], 400, "invalid_json"),
        (
            b"{\"id\": 123456789012345678901234567890}",
            422,
            "invalid_input",
        ),
        (b"{\"id\": \"\xff\xfe\"}", 400, "invalid_json"),
        (b"{\"id\": 1, \"id\": \"two\"}", 422, "invalid_input"),
        (b"\xef\xbb\xbf{\"id\": 1}", 400, "invalid_json"),
    ] {
        let answer = raw(&gw, &post("/api/x", body)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{body:?}: {answer}"
        );
        assert!(
            answer.contains(&format!("\"code\":\"{code}\"")),
            "{body:?}: {answer}"
        );
    }
    assert_healthy(&gw).await;
}

#[tokio::test]
async fn bodies_just_under_and_over_the_limit() {
    let settings = Settings {
        max_body: 1024,
        ..Settings::default()
    };
    let (_up, _dir, gw) = gateway(settings).await;
    let body = |len: usize| {
        let pad = len - "{\"id\": 1, \"p\": \"\"}".len();
        format!("{{\"id\": 1, \"p\": \"{}\"}}", "x".repeat(pad))
    };
    let at = gw
        .send(
            gw.client
                .post(gw.url("/api/x"))
                .header("content-type", "application/json")
                .body(body(1024)),
        )
        .await;
    let over = gw
        .send(
            gw.client
                .post(gw.url("/api/x"))
                .header("content-type", "application/json")
                .body(body(1025)),
        )
        .await;
    assert_eq!(at.status, 200, "{}", at.text);
    assert_eq!(over.status, 413);
    over.assert_error_shape("payload_too_large");
    assert_healthy(&gw).await;
}

#[tokio::test]
async fn odd_paths_reach_no_bridge() {
    let (up, _dir, gw) = gateway(Settings::default()).await;
    for path in [
        "/api/../api/x",
        "/api/%2e%2e/api/x",
        "//api/x",
        "/api%2Fx",
        "/api/x%00",
        "/api/./x",
        "/api/x/",
    ] {
        let answer = raw(&gw, &post(path, b"{\"id\": 1}")).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(
            answer.contains("\"code\":\"not_found\""),
            "{path}: {answer}"
        );
    }
    assert!(
        up.received_requests().await.unwrap().is_empty(),
        "nothing reached the upstream"
    );
    assert_healthy(&gw).await;
}

#[tokio::test]
async fn header_floods_are_refused() {
    let settings = Settings {
        max_headers: 50,
        max_header_bytes: 16 * 1024,
        ..Settings::default()
    };
    let (_up, _dir, gw) = gateway(settings).await;
    let headers = |n: usize| {
        (0..n)
            .map(|i| format!("X-Flood-{i}: {i}\r\n"))
            .collect::<String>()
    };
    let big = |len: usize| format!("X-Big: {}\r\n", "h".repeat(len));
    // Over the limits: a JSON error. Far over them: hyper cuts the request off by itself.
    for (extra, json) in [
        (headers(60), true),
        (big(20 * 1024), true),
        (headers(500), false),
        (big(200 * 1024), false),
    ] {
        let request =
            format!("POST /api/x HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
        let answer = raw(&gw, request.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{}",
            &answer[..answer.len().min(200)]
        );
        assert_eq!(
            answer.contains("\"code\":\"headers_too_large\""),
            json,
            "{}",
            &answer[..answer.len().min(300)]
        );
    }
    assert_healthy(&gw).await;
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off() {
    let settings = Settings {
        header_read_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let (_up, _dir, gw) = gateway(settings).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for chunk in [
        "POST /api/x HTTP/1.1\r\n",
        "Host: x\r\n",
        "X-Slow: 1\r\n",
        "X-Slow: 2\r\n",
        "X-Slow: 3\r\n",
    ] {
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut rest)).await;
    closed |= read.is_ok();
    assert!(closed, "the server closed the connection");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "within about the header timeout"
    );
    assert_healthy(&gw).await;
}

#[tokio::test]
async fn a_busy_bridge_answers_503_with_retry_after_instead_of_queueing() {
    let up = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_millis(600)),
        )
        .mount(&up)
        .await;
    let dir = bridge_dir(&[("x.yaml", BRIDGE)]);
    let settings = Settings {
        max_in_flight_per_bridge: 2,
        ..Settings::default()
    };
    let gw = TestGateway::start_with(dir.path(), &[("UP", &up.uri())], settings).await;
    let body = json!({"id": 1});
    let requests = (0..5).map(|_| gw.post_json("/api/x", &body));
    let replies = futures_util::future::join_all(requests).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        (ok, busy.len()),
        (2, 3),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in busy {
        reply.assert_error_shape("overloaded");
        assert_eq!(reply.headers["retry-after"], "1");
    }
    let again = gw.post_json("/api/x", &json!({"id": 1})).await;
    assert_eq!(again.status, 200, "the places are given back");
}

/// Headers and half a body, then nothing: a caller that stalls mid-body.
async fn stall_mid_body(gw: &TestGateway, chunked: bool) -> TcpStream {
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"id\"\r\n"
    } else {
        "Content-Length: 9\r\n\r\n{\"id\""
    };
    let request =
        format!("POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}");
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

#[tokio::test]
async fn callers_stalled_mid_body_hold_no_places_and_get_408() {
    let settings = Settings {
        max_in_flight_per_bridge: 4,
        body_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let (_up, _dir, gw) = gateway(settings).await;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..4 {
        stalled.push(stall_mid_body(&gw, i % 2 == 0).await);
    }
    let in_flight = || gw.gateway.metrics().in_flight.get();
    assert!(
        crate::support::eventually(|| async { in_flight() == 4 }).await,
        "the four stalled requests reached the handler"
    );

    let whole = gw.post_json("/api/x", &json!({"id": 1})).await;
    assert_eq!(
        whole.status, 200,
        "a whole body is answered: {}",
        whole.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "without waiting for the stalled ones"
    );

    for mut tcp in stalled {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer));
        assert!(
            read.await.is_ok(),
            "the connection is closed after the answer"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.contains("content-type: application/json"),
            "{answer}"
        );
        assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    }
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(3)).contains(&waited),
        "answered at the deadline: {waited:?}"
    );
    assert_healthy(&gw).await;
}
