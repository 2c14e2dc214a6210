//! Test harness, split by what it starts: [`gateway`] an in-process gateway on 127.0.0.1,
//! [`binary`] the real `bridgeway` binary, [`upstream`] recording upstreams (wiremock),
//! [`oauth2`] a real OAuth2 authorization server, [`h1_pair`] our HTTP/1.1 exchange beside
//! hyper's client. Shared here: bridge directories, replies, waiting.
#![allow(dead_code)] // Not every helper is used by every topic.

pub mod binary;
pub mod gateway;
pub mod h1_pair;
pub mod oauth2;
pub mod resource;
pub mod upstream;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bridgeway::file::env::EnvSource;
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;

pub use binary::Server;
pub use gateway::{TestGateway, fetch_post_gateway};
pub use upstream::{upstream_answering, upstream_answering_ok};

/// The repository's own fetch-post bridge, as shipped.
pub fn fetch_post_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bridges/fetch-post.yaml"))
        .unwrap()
}

/// A temp directory holding the given bridge files.
pub fn bridge_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

pub fn env_map(pairs: &[(&str, &str)]) -> Arc<dyn EnvSource> {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The `(field, message)` pairs of a 422.
    pub fn details(&self) -> Vec<(String, String)> {
        self.json["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|p| {
                        (
                            p["field"].as_str().unwrap_or("").to_owned(),
                            p["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every error body has one shape and says which request it belongs to.
    pub fn assert_error_shape(&self, code: &str) {
        assert_eq!(self.error_code(), code, "{}", self.text);
        assert_eq!(self.headers["content-type"], "application/json");
        assert!(
            self.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(
            self.json["error"]["request_id"].as_str(),
            self.headers["x-request-id"].to_str().ok()
        );
    }
}

/// A loopback port with nothing listening on it.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `check` every 20 ms for up to 5 s; true as soon as it holds.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// A plain HTTP client for talking to the gateway (reqwest here is built on ring, like the gateway).
pub fn http_client() -> reqwest::Client {
    bridgeway::stages::fetch::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}
