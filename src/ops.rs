//! The operations endpoints under `/-/`, reserved for the gateway: health, readiness, metrics
//! and the bridge status page. Nothing here shows a URL, a header value or a secret.

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// Status, body and `Allow` header for an operations path.
pub fn answer(
    snapshot: &Snapshot,
    metrics: &Metrics,
    method: &Method,
    path: &str,
    request_id: &str,
) -> (StatusCode, Vec<u8>, Option<String>) {
    let known = matches!(path, "/-/health" | "/-/ready" | "/-/bridges" | "/-/metrics");
    if !known {
        let e = RequestError::NotFound;
        return (e.status(), e.to_json(None, request_id), None);
    }
    if method != Method::GET {
        let e = RequestError::MethodNotAllowed {
            allow: "GET".to_owned(),
        };
        return (
            e.status(),
            e.to_json(None, request_id),
            Some("GET".to_owned()),
        );
    }
    if path == "/-/metrics" {
        return (StatusCode::OK, metrics.render().into_bytes(), None);
    }
    let (status, body) = match path {
        "/-/health" => (StatusCode::OK, json!({"status": "ok"})),
        "/-/ready" if snapshot.ready => (StatusCode::OK, json!({"status": "ready"})),
        "/-/ready" => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "loading"}),
        ),
        _ => (StatusCode::OK, bridges_page(snapshot)),
    };
    (status, body.to_string().into_bytes(), None)
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
