//! TLS termination: the right certificate, a renewed one picked up without a restart, HTTP/2 by
//! ALPN, and plain HTTP on the TLS port refused cleanly.

use std::path::Path;
use std::time::Duration;

use crate::support::{bridge_dir, env_map, upstream_answering_ok};
use bridgeway::server::tls::{TlsFiles, acceptor};
use bridgeway::{Gateway, Loader, Settings};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BRIDGE: &str =
    "route: { path: /t }\nupstream: { url: \"${UP}/x\" }\noutput: { status: { from: status } }\n";

struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    /// A leaf for 127.0.0.1 and localhost, written as PEM; returns its DER.
    fn issue(&self, dir: &Path) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let leaf = params.signed_by(&key, &self.0).unwrap();
        // Written to temp names and renamed, as certificate tools do.
        std::fs::write(dir.join("cert.tmp"), leaf.pem() + &self.0.pem()).unwrap();
        std::fs::write(dir.join("key.tmp"), key.serialize_pem()).unwrap();
        std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
        std::fs::rename(dir.join("key.tmp"), dir.join("key.pem")).unwrap();
        leaf.der().to_vec()
    }

    fn client(&self) -> reqwest::Client {
        bridgeway::stages::fetch::install_crypto_provider();
        let root = reqwest::Certificate::from_der(self.0.der()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([root])
            .tls_info(true)
            .no_proxy()
            .build()
            .unwrap()
    }
}

async fn tls_gateway(certs: &Path, bridges: &Path, up: &str) -> std::net::SocketAddr {
    let files = TlsFiles {
        cert: certs.join("cert.pem"),
        key: certs.join("key.pem"),
    };
    let gateway = Gateway::with_tls(
        Loader::new(bridges, env_map(&[("UP", up)])),
        Settings::default(),
        Some(acceptor(files).unwrap()),
    );
    gateway.reload().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bridgeway::serve(
        gateway,
        listener,
        bridgeway::server::Surface::All,
        std::future::pending(),
    ));
    addr
}

async fn served_certificate(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
) -> (Vec<u8>, reqwest::Version, u16) {
    let response = client
        .post(format!("https://127.0.0.1:{}/t", addr.port()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .cloned()
        .unwrap();
    (
        info.peer_certificate().unwrap().to_vec(),
        response.version(),
        response.status().as_u16(),
    )
}

/// A CA; a certificate directory holding a certificate it issued (also returned); a bridge
/// directory serving `BRIDGE`.
fn issued() -> (Ca, tempfile::TempDir, Vec<u8>, tempfile::TempDir) {
    let (ca, certs) = (Ca::new(), tempfile::tempdir().unwrap());
    let cert = ca.issue(certs.path());
    (ca, certs, cert, bridge_dir(&[("t.yaml", BRIDGE)]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_certificate_and_picks_up_a_renewed_one() {
    let up = upstream_answering_ok().await;
    let (ca, certs, first, bridges) = issued();
    let addr = tls_gateway(certs.path(), bridges.path(), &up.uri()).await;

    let (seen, version, status) = served_certificate(&ca.client(), addr).await;
    assert_eq!(status, 200);
    assert_eq!(seen, first, "the configured certificate");
    assert_eq!(version, reqwest::Version::HTTP_2, "HTTP/2 by ALPN");

    let second = ca.issue(certs.path());
    assert_ne!(first, second);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (seen, _, status) = served_certificate(&ca.client(), addr).await;
    assert_eq!(status, 200);
    assert_eq!(
        seen, second,
        "a new connection gets the renewed certificate, no restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_the_tls_port_fails_cleanly() {
    let up = upstream_answering_ok().await;
    let (ca, certs, _, bridges) = issued();
    let addr = tls_gateway(certs.path(), bridges.path(), &up.uri()).await;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is closed, not left hanging");
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "no plain-HTTP answer"
    );

    let (_, _, status) = served_certificate(&ca.client(), addr).await;
    assert_eq!(status, 200, "and TLS clients are still served");
}

#[test]
fn a_missing_or_wrong_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert: dir.path().join("none.pem"),
        key: dir.path().join("none.key"),
    };
    let err = acceptor(files).err().unwrap().to_string();
    assert!(err.contains("none.pem"), "{err}");
    std::fs::write(dir.path().join("cert.pem"), "not a pem").unwrap();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("none.key"),
    };
    let err = acceptor(files).err().unwrap().to_string();
    assert!(err.contains("cert.pem: holds no certificate"), "{err}");
}

/// The gateway's own upstream hop over TLS: the real binary trusts the roots the system gives it
/// (here `SSL_CERT_FILE`, as on a machine with a private CA), speaks HTTP/2 when the upstream
/// offers it by ALPN, and refuses an upstream whose certificate it cannot verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_an_https_upstream_and_verifies_its_certificate() {
    let up = upstream_answering_ok().await;
    let (ca, certs, _, inner) = issued();
    std::fs::write(certs.path().join("ca.pem"), ca.0.pem()).unwrap();
    let tls_upstream = tls_gateway(certs.path(), inner.path(), &up.uri()).await;
    let outer = bridge_dir(&[(
        "outer.yaml",
        "route: { path: /outer }\n\
         upstream: { method: POST, url: \"${UP}/t\", body: { asked: yes } }\n\
         output: { status: { from: status }, inner: { path: $.status, type: integer } }\n",
    )]);
    let https = format!("https://localhost:{}", tls_upstream.port());
    let ca_file = certs.path().join("ca.pem");

    let trusting = gateway_trusting(outer.path(), &https, &ca_file).await;
    let reply = call_outer(&trusting).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json, json!({"status": 200, "inner": 200}));
    // The upstream offers HTTP/2: concurrent calls go out over it.
    let calls = (0..8).map(|_| {
        trusting
            .client
            .post(format!("{}/outer", trusting.base))
            .json(&json!({}))
            .send()
    });
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let seen = up.received_requests().await.unwrap();
    assert_eq!(seen.len(), 9, "the TLS upstream passed every call on");

    let stranger = tempfile::tempdir().unwrap();
    let other_ca = Ca::new();
    std::fs::write(stranger.path().join("ca.pem"), other_ca.0.pem()).unwrap();
    let doubting = gateway_trusting(outer.path(), &https, &stranger.path().join("ca.pem")).await;
    let reply = call_outer(&doubting).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    reply.assert_error_shape("upstream_unreachable");
    assert_eq!(
        up.received_requests().await.unwrap().len(),
        9,
        "nothing got through"
    );
}

/// The real binary serving `bridges`, with `UP` set to `upstream` and only `ca` trusted.
async fn gateway_trusting(bridges: &Path, upstream: &str, ca: &Path) -> crate::support::Server {
    let ca = ca.to_str().unwrap();
    crate::support::Server::start(bridges, &[], &[("UP", upstream), ("SSL_CERT_FILE", ca)]).await
}

async fn call_outer(server: &crate::support::Server) -> crate::support::Reply {
    let response = server
        .client
        .post(format!("{}/outer", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    crate::support::Reply::from(response).await
}
