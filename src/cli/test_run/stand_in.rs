//! The stand-in upstream of `bridgeway test`: a plain-HTTP server on a loopback port that gives
//! a test's recorded answers in order and keeps every request it receives. The test client
//! sends every origin here (see `Client::with_stand_in`), so the bridge's own URL, host header
//! and path reach it unchanged.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bridgeway::file::RecordedAnswer;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Script {
    answers: Vec<RecordedAnswer>,
    received: Vec<Received>,
}

pub struct StandIn {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl StandIn {
    /// Listens on 127.0.0.1 (a free port) and serves until the runtime ends.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let script = Arc::new(Mutex::new(Script::default()));
        tokio::spawn(accept(listener, script.clone()));
        Ok(StandIn { addr, script })
    }

    /// Starts a test: these answers, nothing received yet.
    pub fn load(&self, answers: Vec<RecordedAnswer>) {
        *self.lock() = Script {
            answers,
            received: Vec::new(),
        };
    }

    /// What the stand-in received since [`StandIn::load`].
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The access token the stand-in token endpoint gives (`Authorization: Bearer` it upstream).
pub const TEST_TOKEN: &str = "bridgeway-test-token";

/// A stand-in OAuth2 token endpoint on 127.0.0.1: every request gets [`TEST_TOKEN`], valid for
/// an hour, so bridges with `oauth2` credentials run their tests without the real one.
pub async fn token_endpoint() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|_| async {
                    let body = serde_json::json!({
                        "access_token": TEST_TOKEN,
                        "token_type": "Bearer",
                        "expires_in": 3600,
                    });
                    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn accept(listener: TcpListener, script: Arc<Mutex<Script>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let script = script.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, script.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    request: http::Request<Incoming>,
    script: Arc<Mutex<Script>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
    script.received.push(received);
    let call = script.received.len();
    Ok(match script.answers.get(call - 1) {
        Some(recorded) => respond(recorded),
        // The runner reports the extra call; this answer only has to be recognisable.
        None => plain(
            StatusCode::NOT_IMPLEMENTED,
            format!("no recorded answer for call {call}"),
        ),
    })
}

fn respond(recorded: &RecordedAnswer) -> Response<Full<Bytes>> {
    let (body, json) = match &recorded.body {
        None => (Bytes::new(), false),
        Some(serde_json::Value::String(text)) => (Bytes::from(text.clone()), false),
        Some(value) => (Bytes::from(value.to_string()), true),
    };
    let status = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK);
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in &recorded.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value.0),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    if json && !response.headers().contains_key(CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}
