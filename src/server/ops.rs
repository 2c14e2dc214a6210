//! The operations endpoints under `/-/`, reserved for the gateway: health, readiness, metrics
//! and the bridge status page. Nothing here shows a URL, a header value or a secret.
//!
//! They are served on the public port, or only on the admin port when `--admin-listen` is
//! given (see [`Surface`](super::handler::Surface)).

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::metrics::Exposition;
use crate::pipeline::RequestError;
use crate::routes::gateway::Gateway;
use crate::routes::snapshot::Snapshot;

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
}

#[derive(Serialize)]
struct FileEntry<'a> {
    file: &'a str,
    status: &'static str,
    error: Option<String>,
    bridge: Option<&'a str>,
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
        })
        .collect();
    let files: Vec<FileEntry> = snapshot
        .files
        .iter()
        .map(|f| FileEntry {
            file: &f.file,
            status: if f.problems.is_empty() { "ok" } else { "error" },
            error: (!f.problems.is_empty()).then(|| {
                f.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            bridge: f.serving.as_deref(),
        })
        .collect();
    json!({ "bridges": bridges, "files": files })
}
