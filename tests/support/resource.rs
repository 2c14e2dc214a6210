//! A resource server on 127.0.0.1 for the OAuth2 tests: it accepts a request only with a
//! bearer token the real authorization server issued (asked of that server, as an API checks
//! a token), can be told to refuse tokens (401), and records every `Authorization` it saw.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;

use super::oauth2::AuthServer;

/// Which tokens the server refuses with 401, though issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refuse {
    Nothing,
    /// The first N distinct tokens it is shown (as if they had been revoked).
    FirstTokens(usize),
    Everything,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each request's method, path and `Authorization` header (or "").
    requests: Vec<(String, String, String)>,
    distinct: Vec<String>,
    bodies: Vec<Bytes>,
}

pub struct ResourceServer {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    refuse: Arc<Mutex<Refuse>>,
}

impl ResourceServer {
    /// Answers `{"ok": true, "method", "path", "token_number"}` (the token's index in the order
    /// `auth` issued them) to a valid token; 401 otherwise.
    pub async fn start(auth: Arc<AuthServer>, refuse: Refuse) -> ResourceServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let refuse = Arc::new(Mutex::new(refuse));
        let (s, r) = (seen.clone(), refuse.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, refuse, auth) = (s.clone(), r.clone(), auth.clone());
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let (seen, refuse, auth) = (seen.clone(), refuse.clone(), auth.clone());
                    async move { Ok::<_, Infallible>(answer(request, &seen, &refuse, &auth).await) }
                });
                tokio::spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ResourceServer { url, seen, refuse }
    }

    pub fn refuse(&self, refuse: Refuse) {
        *self.refuse.lock().unwrap() = refuse;
    }

    /// Every request so far: method, path, Authorization.
    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().requests.clone()
    }

    pub fn bodies(&self) -> Vec<Bytes> {
        self.seen.lock().unwrap().bodies.clone()
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    seen: &Mutex<Seen>,
    refuse: &Mutex<Refuse>,
    auth: &AuthServer,
) -> hyper::Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let token = authorization
        .strip_prefix("Bearer ")
        .unwrap_or_default()
        .to_owned();
    let refused = {
        let mut seen = seen.lock().unwrap();
        seen.requests
            .push((method.clone(), path.clone(), authorization));
        seen.bodies.push(body);
        if !token.is_empty() && !seen.distinct.contains(&token) {
            seen.distinct.push(token.clone());
        }
        let rank = seen.distinct.iter().position(|t| *t == token);
        match *refuse.lock().unwrap() {
            Refuse::Nothing => false,
            Refuse::Everything => true,
            Refuse::FirstTokens(n) => rank.is_some_and(|r| r < n),
        }
    };
    let issued = auth.stats().await.issued;
    let number = issued.iter().position(|t| *t == token);
    let (status, body) = match number {
        Some(n) if !refused => (
            200,
            json!({"ok": true, "method": method, "path": path, "token_number": n}),
        ),
        _ => (401, json!({"error": "invalid_token"})),
    };
    hyper::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
