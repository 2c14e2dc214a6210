//! The upstream hop at the byte level: a scripted HTTP/1.1 server on 127.0.0.1 answers exactly
//! what each test writes, so chunking, cut-off answers and closed keep-alive connections are
//! under the test's control rather than a mock server's.

use std::sync::{Arc, Mutex};

use crate::support::{TestGateway, fetch_post_gateway, fetch_post_yaml};
use bridgeway::Settings;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ROUTE: &str = "/api/v1/fetch-post";
const POST: &str = r#"{"userId": 1, "id": 7, "title": "seven", "body": "the body"}"#;

/// What the scripted upstream does with one request.
#[derive(Clone, Copy)]
enum Script {
    /// Answers `POST` with Content-Length and keeps the connection open.
    Whole,
    /// Answers `POST` in chunks of `n` bytes with chunked transfer encoding.
    Chunked(usize),
    /// Answers with chunked encoding, then streams `n` bytes of padding (no Content-Length).
    Endless(usize),
    /// Promises more bytes than it sends, then closes.
    CutOff,
    /// Answers `POST` with Content-Length, then closes the connection without a word.
    WholeThenClose,
    /// Answers `POST` with `Connection: close`, then closes the connection.
    SaysClose,
    /// Sends two interim (1xx) answers, then `Whole`.
    Interim,
    /// Answers `POST` with neither a length nor chunking: the body runs to the close.
    UntilClose,
    /// Gives two different lengths.
    TwoLengths,
    /// Answers the first request on each connection; at the next one, reads it and closes
    /// without a word, as an upstream that timed the idle connection out just then would.
    OnceThenDrop,
    /// Answers `204 No Content`, which has no body whatever its head says.
    NoContent,
    /// Gives the head `Whole` would, without the body: the answer to a `HEAD`.
    HeadOnly,
}

/// A scripted upstream: every request it reads gets `script`; the request heads it saw are kept.
struct Upstream {
    base: String,
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

async fn upstream(script: Script) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0));
    let (h, c) = (heads.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            *c.lock().unwrap() += 1;
            tokio::spawn(serve(stream, script, h.clone()));
        }
    });
    Upstream {
        base,
        heads,
        connections,
    }
}

async fn serve(mut stream: TcpStream, script: Script, heads: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for exchange in 0.. {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&buf[..end]).into_owned());
        buf.drain(..end);
        if matches!(script, Script::OnceThenDrop) && exchange > 0 {
            return;
        }
        let keep_open = answer(&mut stream, script).await;
        if !keep_open {
            return;
        }
    }
}

/// Writes one answer; false when the connection is to be closed afterwards.
async fn answer(stream: &mut TcpStream, script: Script) -> bool {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n";
    let whole = format!("{head}content-length: {}\r\n\r\n{POST}", POST.len());
    match script {
        Script::Interim => {
            let interim =
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n";
            let _ = stream.write_all(interim.as_bytes()).await;
            let _ = stream.flush().await;
            let _ = stream.write_all(whole.as_bytes()).await;
            true
        }
        Script::NoContent => {
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            true
        }
        Script::HeadOnly => {
            let text = format!("{head}content-length: {}\r\n\r\n", POST.len());
            let _ = stream.write_all(text.as_bytes()).await;
            true
        }
        Script::OnceThenDrop => {
            let _ = stream.write_all(whole.as_bytes()).await;
            true
        }
        Script::UntilClose => {
            let _ = stream
                .write_all(format!("{head}\r\n{POST}").as_bytes())
                .await;
            false
        }
        Script::TwoLengths => {
            let text = format!("{head}content-length: 5\r\ncontent-length: 6\r\n\r\n{POST}");
            let _ = stream.write_all(text.as_bytes()).await;
            false
        }
        Script::Whole | Script::WholeThenClose => {
            let _ = stream.write_all(whole.as_bytes()).await;
            matches!(script, Script::Whole)
        }
        Script::Chunked(n) => {
            let _ = stream
                .write_all(format!("{head}transfer-encoding: chunked\r\n\r\n").as_bytes())
                .await;
            for piece in POST.as_bytes().chunks(n) {
                let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                frame.extend_from_slice(piece);
                frame.extend_from_slice(b"\r\n");
                let _ = stream.write_all(&frame).await;
                let _ = stream.flush().await;
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
            true
        }
        Script::Endless(n) => {
            let _ = stream
                .write_all(format!("{head}transfer-encoding: chunked\r\n\r\n").as_bytes())
                .await;
            let piece = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < n {
                let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                frame.extend_from_slice(&piece);
                frame.extend_from_slice(b"\r\n");
                if stream.write_all(&frame).await.is_err() {
                    return false;
                }
                sent += piece.len();
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
            false
        }
        Script::SaysClose => {
            let text = format!(
                "{head}connection: close\r\ncontent-length: {}\r\n\r\n{POST}",
                POST.len()
            );
            let _ = stream.write_all(text.as_bytes()).await;
            false
        }
        Script::CutOff => {
            let text = format!("{head}content-length: 1000\r\n\r\n{{\"id\": 7, \"ti");
            let _ = stream.write_all(text.as_bytes()).await;
            false
        }
    }
}

async fn gateway(base: &str, settings: Settings) -> (tempfile::TempDir, TestGateway) {
    fetch_post_gateway(&fetch_post_yaml(), base, settings).await
}

/// One fetch-post call through a fresh gateway to an upstream following `script`.
async fn one_call(script: Script, settings: Settings) -> (Upstream, crate::support::Reply) {
    let up = upstream(script).await;
    let (_dir, gw) = gateway(&up.base, settings).await;
    let reply = gw.post_json(ROUTE, &json!({"user_id": 7})).await;
    (up, reply)
}

/// `n` fetch-post calls one after another, each of which must answer 200.
async fn calls_ok(gw: &TestGateway, n: usize) -> Vec<crate::support::Reply> {
    let mut replies = Vec::with_capacity(n);
    for i in 0..n {
        let reply = gw.post_json(ROUTE, &json!({"user_id": 7})).await;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.text);
        replies.push(reply);
    }
    replies
}

#[tokio::test]
async fn an_answer_split_into_many_chunks_is_reassembled() {
    for size in [1, 7, 1000] {
        let (_up, reply) = one_call(Script::Chunked(size), Settings::default()).await;

        assert_eq!(reply.status, 200, "chunks of {size}: {}", reply.text);
        assert_eq!(reply.json["external_id"], 7, "chunks of {size}");
        assert_eq!(reply.json["title"], "seven", "chunks of {size}");
        assert_eq!(reply.json["body"], "the body", "chunks of {size}");
    }
}

#[tokio::test]
async fn a_chunked_answer_over_the_cap_is_refused_without_reading_it_all() {
    let settings = Settings {
        max_upstream_body: 256 * 1024,
        ..Settings::default()
    };
    let (_up, reply) = one_call(Script::Endless(64 * 1024 * 1024), settings).await;

    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_too_large");
}

#[tokio::test]
async fn an_answer_that_breaks_off_or_cannot_be_framed_is_a_502() {
    for script in [Script::CutOff, Script::TwoLengths] {
        let (_up, reply) = one_call(script, Settings::default()).await;

        assert_eq!(reply.status, 502, "{}", reply.text);
        reply.assert_error_shape("upstream_failed");
    }
}

#[tokio::test]
async fn connections_are_kept_alive_and_a_closed_one_is_replaced() {
    let kept = upstream(Script::Whole).await;
    let (_dir, gw) = gateway(&kept.base, Settings::default()).await;
    calls_ok(&gw, 5).await;
    assert_eq!(
        *kept.connections.lock().unwrap(),
        1,
        "sequential requests share one pooled connection"
    );

    let closing = upstream(Script::WholeThenClose).await;
    let (_dir2, gw) = gateway(&closing.base, Settings::default()).await;
    for _ in 0..5 {
        let reply = gw.post_json(ROUTE, &json!({"user_id": 7})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        // Give the pool time to see the close, as an idle connection would in production.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(*closing.connections.lock().unwrap(), 5);
}

#[tokio::test]
async fn an_upstream_that_says_connection_close_is_never_reused() {
    let up = upstream(Script::SaysClose).await;
    let (_dir, gw) = gateway(&up.base, Settings::default()).await;
    calls_ok(&gw, 20).await;
    assert_eq!(*up.connections.lock().unwrap(), 20);
}

#[tokio::test]
async fn the_request_line_and_headers_are_what_the_bridge_says() {
    let (up, reply) = one_call(Script::Whole, Settings::default()).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    let heads = up.heads.lock().unwrap();
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("get /posts/7 http/1.1\r\n"), "{head}");
    let authority = up.base.trim_start_matches("http://");
    assert!(
        head.contains(&format!("\r\nhost: {authority}\r\n")),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "\r\nuser-agent: bridgeway/{}\r\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{head}"
    );
    assert!(
        !head.contains("content-length"),
        "a GET carries no body: {head}"
    );
}

#[tokio::test]
async fn interim_answers_are_skipped_for_the_real_one() {
    let (_up, reply) = one_call(Script::Interim, Settings::default()).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["title"], "seven");
}

#[tokio::test]
async fn a_body_without_length_runs_to_the_close_and_its_connection_is_not_reused() {
    let up = upstream(Script::UntilClose).await;
    let (_dir, gw) = gateway(&up.base, Settings::default()).await;
    for reply in calls_ok(&gw, 3).await {
        assert_eq!(reply.json["body"], "the body");
    }
    assert_eq!(*up.connections.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_get_the_upstream_dropped_on_an_idle_connection_goes_again_on_a_new_one() {
    let up = upstream(Script::OnceThenDrop).await;
    let (_dir, gw) = gateway(&up.base, Settings::default()).await;
    calls_ok(&gw, 3).await;
    // Each later request met a dropped connection first, then went out on a new one.
    assert_eq!(*up.connections.lock().unwrap(), 3);
    assert_eq!(up.heads.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_post_the_upstream_dropped_is_not_sent_twice() {
    let up = upstream(Script::OnceThenDrop).await;
    let yaml = fetch_post_yaml().replace("method: GET", "method: POST");
    let (_dir, gw) = fetch_post_gateway(&yaml, &up.base, Settings::default()).await;

    let first = gw.post_json(ROUTE, &json!({"user_id": 7})).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = gw.post_json(ROUTE, &json!({"user_id": 7})).await;

    assert_eq!(second.status, 502, "{}", second.text);
    second.assert_error_shape("upstream_failed");
    let heads = up.heads.lock().unwrap();
    assert_eq!(heads.len(), 2, "the second POST went out once: {heads:?}");
    assert!(
        heads[1].starts_with("POST /posts/7 HTTP/1.1\r\n"),
        "{}",
        heads[1]
    );
}

#[tokio::test]
async fn answers_that_have_no_body_are_not_waited_for() {
    // Were the gateway to wait for a body here, the bridge's 10 s timeout would answer 504.
    let up = upstream(Script::NoContent).await;
    let (_dir, gw) = gateway(&up.base, Settings::default()).await;
    for reply in calls_ok(&gw, 2).await {
        assert_eq!(reply.json["status_code"], 204, "{}", reply.text);
    }
    assert_eq!(
        *up.connections.lock().unwrap(),
        1,
        "a 204 leaves the connection usable"
    );

    let up = upstream(Script::HeadOnly).await;
    let yaml = fetch_post_yaml()
        .replace("method: GET", "method: HEAD")
        .replace("path: $.id, type: integer", "from: status");
    let (_dir, gw) = fetch_post_gateway(&yaml, &up.base, Settings::default()).await;
    for reply in calls_ok(&gw, 2).await {
        assert_eq!(reply.json["status_code"], 200, "{}", reply.text);
    }
    assert_eq!(*up.connections.lock().unwrap(), 1);
    assert!(up.heads.lock().unwrap()[0].starts_with("HEAD /posts/7 HTTP/1.1"));
}
