//! The operations endpoints under `/-/`, reserved for the gateway: health, readiness, metrics
//! and the bridge status page. Nothing here shows a URL, a header value or a secret.
//!
//! They are served on the public port, or only on the admin port when `--admin-listen` is
//! given (see [`Surface`](super::handler::Surface)).

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::file::Kind;
use crate::metrics::Exposition;
use crate::pipeline::RequestError;
use crate::routes::gateway::Gateway;
use crate::routes::snapshot::Snapshot;
use crate::stages::upstream_auth::UpstreamAuth;

pub const JSON: &str = "application/json";

/// The answer to an operations request.
pub struct OpsAnswer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub allow: Option<String>,
    /// The error code, when the answer is an error body.
    pub code: Option<&'static str>,
}

impl OpsAnswer {
    fn json(status: StatusCode, body: Vec<u8>) -> Self {
        OpsAnswer {
            status,
            body,
            content_type: JSON,
            allow: None,
            code: None,
        }
    }

    fn error(e: RequestError, request_id: &str) -> Self {
        let mut answer = OpsAnswer::json(e.status(), e.to_json(None, request_id));
        answer.code = Some(e.code());
        answer
    }
}

/// Answers an operations path (`/-/…`) from the gateway and the snapshot the request took;
/// `accept` is the request's `Accept` header, which chooses the metrics format.
pub fn answer(
    gateway: &Gateway,
    snapshot: &Snapshot,
    method: &Method,
    path: &str,
    accept: Option<&str>,
    request_id: &str,
) -> OpsAnswer {
    let known = matches!(path, "/-/health" | "/-/ready" | "/-/bridges" | "/-/metrics");
    if !known {
        return OpsAnswer::error(RequestError::NotFound, request_id);
    }
    if method != Method::GET {
        let e = RequestError::MethodNotAllowed {
            allow: "GET".to_owned(),
        };
        let mut answer = OpsAnswer::error(e, request_id);
        answer.allow = Some("GET".to_owned());
        return answer;
    }
    let (status, body) = match path {
        "/-/metrics" => {
            let format = Exposition::negotiate(accept);
            let metrics = gateway.metrics().render(format);
            let mut answer = OpsAnswer::json(StatusCode::OK, metrics.into_bytes());
            answer.content_type = format.content_type();
            return answer;
        }
        // Health stays 200 while draining: the process is fine, only leaving.
        "/-/health" => (StatusCode::OK, json!({"status": "ok"})),
        // Draining first: a gateway told to stop must turn away new traffic even if its first
        // load never finished.
        "/-/ready" if gateway.is_draining() => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining"}),
        ),
        "/-/ready" if snapshot.ready => (StatusCode::OK, json!({"status": "ready"})),
        "/-/ready" => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "loading"}),
        ),
        _ => (StatusCode::OK, bridges_page(snapshot)),
    };
    OpsAnswer::json(status, body.to_string().into_bytes())
}

#[derive(Serialize)]
struct BridgeEntry<'a> {
    name: &'a str,
    file: &'a str,
    method: &'a str,
    path: &'a str,
    hash: &'a str,
    loaded_at: String,
    connection: Option<&'a str>,
}

#[derive(Serialize)]
struct FileEntry<'a> {
    file: &'a str,
    kind: &'static str,
    status: &'static str,
    error: Option<String>,
    bridge: Option<&'a str>,
    connection: Option<&'a str>,
}

/// A connection as the status page shows it: the credential's kind and the token's state,
/// never a credential or a token.
#[derive(Serialize)]
struct ConnectionEntry<'a> {
    name: &'a str,
    file: &'a str,
    base_url: String,
    auth: Option<&'static str>,
    token: Option<TokenEntry>,
}

#[derive(Serialize)]
struct TokenEntry {
    state: &'static str,
    expires_in: Option<u64>,
    error: Option<String>,
}

fn token_entry(auth: Option<&UpstreamAuth>) -> Option<TokenEntry> {
    let view = auth.and_then(UpstreamAuth::tokens)?.view();
    Some(TokenEntry {
        state: view.state,
        expires_in: view.expires_in,
        error: view.error,
    })
}

fn bridges_page(snapshot: &Snapshot) -> serde_json::Value {
    let bridges: Vec<BridgeEntry> = snapshot
        .served
        .iter()
        .map(|s| BridgeEntry {
            name: &s.bridge.name,
            file: &s.file,
            method: s.bridge.method.as_str(),
            path: &s.bridge.path,
            hash: &s.hash,
            loaded_at: humantime::format_rfc3339_seconds(s.loaded_at).to_string(),
            connection: s.bridge.connection.as_ref().map(|c| c.name.as_str()),
        })
        .collect();
    let connections: Vec<ConnectionEntry> = snapshot
        .connections
        .iter()
        .map(|s| {
            let c = &s.connection;
            ConnectionEntry {
                name: &c.name,
                file: &s.file,
                base_url: c.secrets.mask(&c.base_url),
                auth: c.auth_kind(),
                token: token_entry(c.base.auth.as_ref()),
            }
        })
        .collect();
    let files: Vec<FileEntry> = snapshot
        .files
        .iter()
        .map(|f| FileEntry {
            file: &f.file,
            kind: match f.kind {
                Kind::Bridge => "bridge",
                Kind::Connection => "connection",
            },
            status: if f.problems.is_empty() { "ok" } else { "error" },
            error: (!f.problems.is_empty()).then(|| {
                f.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            bridge: f.serving.as_deref().filter(|_| f.kind == Kind::Bridge),
            connection: f.serving.as_deref().filter(|_| f.kind == Kind::Connection),
        })
        .collect();
    json!({ "bridges": bridges, "connections": connections, "files": files })
}
