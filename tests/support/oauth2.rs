//! A real OAuth2 authorization server for integration tests: tests/oauth2-server (the
//! oidc-provider package on Node.js), one process per `AuthServer`, on an ephemeral 127.0.0.1
//! port, killed when the `AuthServer` is dropped.
//!
//! Include it with `#[path = "support/oauth2.rs"] mod oauth2;`. It needs Node.js and
//! `tests/oauth2-server/install.sh` run once.
#![allow(dead_code)] // Each test binary uses its own part of the harness.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::oneshot;

/// A client id and secret from tests/oauth2-server/clients.json.
#[derive(Clone, Copy, Debug)]
pub struct ClientCreds {
    pub id: &'static str,
    pub secret: &'static str,
}

/// Registered for client_secret_basic.
pub const BASIC_CLIENT: ClientCreds = ClientCreds {
    id: "basic-client",
    secret: "basic-secret",
};
/// Registered for client_secret_post.
pub const POST_CLIENT: ClientCreds = ClientCreds {
    id: "post-client",
    secret: "post-secret",
};
/// client_secret_basic with a secret that form-encoding changes (RFC 6749 §2.3.1).
pub const ODD_CLIENT: ClientCreds = ClientCreds {
    id: "odd-client",
    secret: "s3cr3t:with/odd+chars%",
};
/// Allowed the authorization_code grant only, not client_credentials.
pub const CODE_CLIENT: ClientCreds = ClientCreds {
    id: "code-client",
    secret: "code-secret",
};

/// How to start the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Access token lifetime in seconds (`expires_in`).
    pub ttl_secs: u64,
    /// Client metadata (a JSON array, as in clients.json) in place of clients.json.
    pub clients: Option<serde_json::Value>,
    /// The scopes the server knows, space-separated; None keeps the server's `api read write`.
    pub scopes: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ttl_secs: 300,
            clients: None,
            scopes: None,
        }
    }
}

impl Options {
    /// The defaults with this token lifetime.
    pub fn ttl(secs: u64) -> Self {
        Options {
            ttl_secs: secs,
            ..Options::default()
        }
    }
}

/// `GET /_test/stats`.
#[derive(Clone, Debug, Deserialize)]
pub struct Stats {
    /// Every POST to the token endpoint, answered with a token or not.
    pub token_requests: u64,
    /// The access tokens issued, in order.
    pub issued: Vec<String>,
    /// The client authentication each token request used: `client_secret_basic`,
    /// `client_secret_post` or `none`.
    pub auth_methods: Vec<String>,
    /// The most token requests in flight at once.
    pub concurrent_max: u64,
}

pub struct AuthServer {
    child: Child,
    base: String,
    http: reqwest::Client,
    stderr: Arc<Mutex<String>>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(20);

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth2-server")
}

/// Installs the server's packages once per test run if they are missing, so that `cargo test`
/// stays one command (CI installs them beforehand with the same script).
fn install(dir: &Path) {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        if dir.join("node_modules/oidc-provider").is_dir() {
            return Ok(());
        }
        let status = Command::new("bash")
            .arg(dir.join("install.sh"))
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        status
            .success()
            .then_some(())
            .ok_or(format!("exited {status}"))
    });
    if let Err(e) = installed {
        panic!(
            "the OAuth2 test server could not be installed by tests/oauth2-server/install.sh: {e}"
        );
    }
}

impl AuthServer {
    /// Starts a server and waits for its READY line.
    pub async fn start(options: Options) -> AuthServer {
        let dir = server_dir();
        install(&dir);
        let mut command = Command::new("node");
        command
            .arg(dir.join("server.mjs"))
            .args(["--port", "0", "--ttl", &options.ttl_secs.to_string()])
            .env_remove("OAUTH2_PORT")
            .env_remove("OAUTH2_TTL")
            .env_remove("OAUTH2_SCOPES")
            .env_remove("OAUTH2_CLIENTS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(scopes) = &options.scopes {
            command.args(["--scopes", scopes]);
        }
        if let Some(clients) = &options.clients {
            command.env("OAUTH2_CLIENTS", clients.to_string());
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start `node` for the OAuth2 test server ({e}): is Node.js installed?")
        });

        // stdout: the READY line, then drained so the server never blocks on a full pipe.
        let (ready_tx, ready_rx) = oneshot::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("READY ")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        // stderr: kept for the panic message should the server fail.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let addr = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(addr)) => addr,
            outcome => {
                let _ = child.kill();
                let status = child.wait().ok();
                // Let the stderr thread take the last of it.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let why = if outcome.is_err() {
                    format!("no READY line within {READY_TIMEOUT:?}")
                } else {
                    format!("it exited ({status:?}) without a READY line")
                };
                panic!(
                    "the OAuth2 test server did not start: {why}. If node_modules is missing or \
                     stale, run tests/oauth2-server/install.sh. Its stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };

        bridgeway::stages::fetch::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        AuthServer {
            child,
            base: format!("http://{addr}"),
            http,
            stderr,
        }
    }

    /// `http://127.0.0.1:PORT`, the issuer.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// What the server printed on stderr so far (oidc-provider's warnings, errors).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub async fn stats(&self) -> Stats {
        let response = self
            .http
            .get(format!("{}/_test/stats", self.base))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET /_test/stats: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Each later token request waits `ms` before it is answered (0: no wait).
    pub async fn delay(&self, ms: u64) {
        self.control(&format!("delay?ms={ms}")).await;
    }

    /// Every later token request gets `status` and `{"error": error}` until `reset`.
    pub async fn fail(&self, status: u16, error: &str) {
        let error: String = form_urlencoded::byte_serialize(error.as_bytes()).collect();
        self.control(&format!("fail?status={status}&error={error}"))
            .await;
    }

    /// Clears `delay` and `fail`; the stats keep counting.
    pub async fn reset(&self) {
        self.control("reset").await;
    }

    async fn control(&self, path: &str) {
        let url = format!("{}/_test/{path}", self.base);
        let response = self.http.post(&url).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "POST {url}: {}",
            response.status()
        );
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
