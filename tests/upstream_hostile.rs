//! The upstream hop against an upstream that tries to break it, on both paths: `http://` and
//! `https://` (HTTP/1.1 over TLS, the upstream offering only that by ALPN). The real binary
//! serves every test, with its per-core single-threaded runtimes, as in production.
//!
//! The first promise checked here is the one that matters most: no caller ever receives an
//! answer that was not sent for its own request, whatever the upstream writes unasked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Reply, Server, bridge_dir};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One bridge: `POST /t {"id": N}` → `GET /item/N` → `{"id": $.id, "status": status}`.
const BRIDGE: &str = "route: { path: /t }\n\
    input: { id: { type: integer, required: true } }\n\
    upstream: { url: \"${UP}/item/{{input.id}}\", timeout: 5s }\n\
    output:\n  id: { path: $.id, type: integer }\n  status: { from: status }\n";

/// An id no request asks for: the stray answers carry it.
const STRAY: u64 = 666_666;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Plain,
    Tls,
}

const MODES: [Mode; 2] = [Mode::Plain, Mode::Tls];

/// What the upstream does, in order, for one request it read.
enum Act {
    Write(Vec<u8>),
    Sleep(u64),
    Close,
}

/// One request the upstream read: the `n`-th on its connection, and the id in its path.
struct Asked {
    nth: usize,
    id: u64,
}

type Script = Arc<dyn Fn(&Asked) -> Vec<Act> + Send + Sync>;

fn script(f: impl Fn(&Asked) -> Vec<Act> + Send + Sync + 'static) -> Script {
    Arc::new(f)
}

/// A 200 answer `{"id": id}` with a Content-Length.
fn answer(id: u64) -> Vec<u8> {
    raw_answer("200 OK", &format!("{{\"id\": {id}}}"))
}

fn raw_answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn write(bytes: impl AsRef<[u8]>) -> Act {
    Act::Write(bytes.as_ref().to_vec())
}

/// A scripted upstream on 127.0.0.1, plain or TLS, and a gateway (the real binary) calling it.
struct Rig {
    server: Server,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<u64>>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Rig {
    async fn start(mode: Mode, script: Script) -> Rig {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let certs = tempfile::tempdir().unwrap();
        let acceptor = match mode {
            Mode::Plain => None,
            Mode::Tls => Some(tls_acceptor(certs.path())),
        };
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (script, r) = (script.clone(), r.clone());
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(tcp, script, r).await,
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(tls, script, r).await;
                            }
                        }
                    }
                });
            }
        });
        let scheme = match mode {
            Mode::Plain => "http",
            Mode::Tls => "https",
        };
        let up = format!("{scheme}://localhost:{port}");
        let bridges = bridge_dir(&[("t.yaml", BRIDGE)]);
        let ca = certs.path().join("ca.pem");
        let env = [("UP", up.as_str()), ("SSL_CERT_FILE", ca.to_str().unwrap())];
        // One worker: each worker has its own upstream pool, and these tests are about reusing
        // the one connection a previous request left (with two, a second request may land on
        // the other worker and open a connection of its own).
        let server = Server::start(bridges.path(), &["--workers", "1"], &env).await;
        Rig {
            server,
            connections,
            requests,
            _dirs: vec![certs, bridges],
        }
    }

    async fn call(&self, id: u64) -> Reply {
        let response = self
            .server
            .client
            .post(format!("{}/t", self.server.base))
            .json(&json!({ "id": id }))
            .send()
            .await
            .expect("the gateway answers");
        Reply::from(response).await
    }

    /// Calls with `id` and requires the answer sent for exactly that request.
    async fn call_own(&self, id: u64, mode: Mode) {
        let reply = self.call(id).await;
        assert_eq!(reply.status, 200, "{mode:?}: {}", reply.text);
        assert_eq!(
            reply.json["id"], id,
            "{mode:?}: a caller got another's answer"
        );
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads request heads (the bridge's requests have no body) and acts on each by `script`.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    script: Script,
    seen: Arc<Mutex<Vec<u64>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for nth in 0.. {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let id = head
            .split_whitespace()
            .nth(1)
            .and_then(|path| path.strip_prefix("/item/"))
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        seen.lock().unwrap().push(id);
        for act in script(&Asked { nth, id }) {
            match act {
                Act::Write(bytes) => {
                    if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                        return;
                    }
                }
                Act::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Act::Close => {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
    }
}

/// A TLS acceptor for `localhost` offering only HTTP/1.1, its CA written to `dir/ca.pem`.
fn tls_acceptor(dir: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    bridgeway::stages::fetch::install_crypto_provider();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_answer_written_with_the_first_never_reaches_a_caller() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|asked| vec![write([answer(asked.id), answer(STRAY)].concat())]),
        )
        .await;
        for id in 1..=10 {
            rig.call_own(id, mode).await;
        }
        // Many callers at once, on both workers of the gateway.
        for round in 0..4 {
            let calls = (0..16).map(|i| rig.call_own(100 + round * 16 + i, mode));
            futures_util::future::join_all(calls).await;
        }
        assert_eq!(
            rig.connections(),
            rig.requests.lock().unwrap().len(),
            "{mode:?}: a connection that carried a stray answer is never used again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_written_while_the_connection_is_idle_is_never_delivered() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|asked| {
                vec![
                    write(answer(asked.id)),
                    Act::Sleep(30),
                    write(answer(STRAY)),
                ]
            }),
        )
        .await;
        for id in 1..=5 {
            rig.call_own(id, mode).await;
            // The stray arrives while the connection waits in the pool.
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
        assert_eq!(
            rig.connections(),
            5,
            "{mode:?}: each stray cost its connection"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelined_callers_each_get_their_own_answer() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|asked| vec![write([answer(asked.id), answer(STRAY)].concat())]),
        )
        .await;
        let addr = rig.server.base.trim_start_matches("http://").to_owned();
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut requests = Vec::new();
        for id in [11, 12, 13] {
            let body = format!("{{\"id\": {id}}}");
            requests.extend_from_slice(
                format!(
                    "POST /t HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
        tcp.write_all(&requests).await.unwrap();
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut chunk = [0u8; 4096];
        while seen.matches("\"id\":").count() < 3 && Instant::now() < deadline {
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        let ids: Vec<&str> = seen
            .split("\"id\":")
            .skip(1)
            .map(|rest| rest.split([',', '}']).next().unwrap().trim())
            .collect();
        assert_eq!(ids, ["11", "12", "13"], "{mode:?}: {seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_408_on_a_reused_connection_is_sent_again_on_a_new_one() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|asked| match asked.nth {
                0 => vec![write(answer(asked.id))],
                // The upstream timed the idle connection out just as the request came.
                _ => vec![write(raw_answer("408 Request Timeout", "")), Act::Close],
            }),
        )
        .await;
        rig.call_own(1, mode).await;
        rig.call_own(2, mode).await;
        assert_eq!(rig.connections(), 2, "{mode:?}");
        assert_eq!(*rig.requests.lock().unwrap(), [1, 2, 2], "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_get_dropped_unanswered_on_a_reused_connection_is_sent_again() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|asked| match asked.nth {
                0 => vec![write(answer(asked.id))],
                _ => vec![Act::Close],
            }),
        )
        .await;
        rig.call_own(1, mode).await;
        rig.call_own(2, mode).await;
        assert_eq!(*rig.requests.lock().unwrap(), [1, 2, 2], "{mode:?}");
    }
}

/// The answer of a chunked body `chunks` (written as given, after the head).
fn chunked(chunks: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{chunks}"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_size_near_2_64_is_too_large_at_once() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|_| {
                let mut acts = vec![write(chunked("5\r\n{\"id\"\r\nFFFFFFFFFFFFFFFD\r\n"))];
                // Then more than the cap, for as long as the gateway reads.
                acts.extend((0..200).map(|_| write(vec![b' '; 64 * 1024])));
                acts
            }),
        )
        .await;
        let started = Instant::now();
        let reply = rig.call(1).await;
        assert_eq!(reply.status, 502, "{mode:?}: {}", reply.text);
        reply.assert_error_shape("upstream_too_large");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{mode:?}: refused on reading the size, not at the 5 s timeout"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_answers_cut_short_or_with_endless_trailers_are_refused() {
    let whole = "9\r\n{\"id\": 7}\r\n";
    let bodies = [
        // A size line with no digits would end the body early: a cut-off answer passing as whole.
        format!("{whole}\r\n\r\n"),
        format!("{whole} \r\n\r\n"),
        format!("{whole};x\r\n\r\n"),
        // The trailer section is bounded however it is split into lines.
        format!(
            "{whole}0\r\n{}\r\n",
            "x-trailer: 0123456789abcdef\r\n".repeat(1000)
        ),
    ];
    for mode in MODES {
        for body in &bodies {
            let sent = body.clone();
            let rig = Rig::start(mode, script(move |_| vec![write(chunked(&sent))])).await;
            let reply = rig.call(7).await;
            assert_eq!(reply.status, 502, "{mode:?} {body:.40?}: {}", reply.text);
            reply.assert_error_shape("upstream_failed");
        }
        // And the same answer, properly ended, is fine.
        let rig = Rig::start(
            mode,
            script(move |_| vec![write(chunked(&format!("{whole}0\r\n\r\n")))]),
        )
        .await;
        rig.call_own(7, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statuses_a_caller_cannot_be_given_are_502() {
    for mode in MODES {
        for status in ["101 Switching Protocols", "600 Beyond", "999 Way Beyond"] {
            let rig = Rig::start(
                mode,
                script(move |_| {
                    let head =
                        format!("HTTP/1.1 {status}\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n");
                    vec![write(head), Act::Sleep(6000)]
                }),
            )
            .await;
            let reply = rig.call(1).await;
            assert_eq!(reply.status, 502, "{mode:?} {status}: {}", reply.text);
            reply.assert_error_shape("upstream_failed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_with_both_a_length_and_chunking_does_not_keep_its_connection() {
    for mode in MODES {
        let rig = Rig::start(
            mode,
            script(|asked| {
                let body = format!("{{\"id\": {}}}", asked.id);
                let head =
                    "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n";
                vec![write(format!(
                    "{head}{:x}\r\n{body}\r\n0\r\n\r\n",
                    body.len()
                ))]
            }),
        )
        .await;
        for id in 1..=3 {
            rig.call_own(id, mode).await;
        }
        assert_eq!(
            rig.connections(),
            3,
            "{mode:?}: the chunking framed it, and each connection ended"
        );
    }
}
