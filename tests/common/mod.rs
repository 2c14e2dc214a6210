//! Test harness: a real gateway on 127.0.0.1 serving bridge files from a temp directory.
#![allow(dead_code)] // Each test binary uses its own part of the harness.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use bridgeway::file::env::EnvSource;
use bridgeway::{Gateway, Loader, ReloadOptions, Reloader, Settings};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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

/// A gateway serving `yaml` as `fetch-post.yaml` (the shipped bridge or a variant of it), its
/// upstream at `base`. Keep the directory alive as long as the gateway.
pub async fn fetch_post_gateway(
    yaml: &str,
    base: &str,
    settings: Settings,
) -> (TempDir, TestGateway) {
    let dir = bridge_dir(&[("fetch-post.yaml", yaml)]);
    let gw = TestGateway::start_with(dir.path(), &[("JSONPLACEHOLDER_URL", base)], settings).await;
    (dir, gw)
}

pub fn env_map(pairs: &[(&str, &str)]) -> Arc<dyn EnvSource> {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

/// A gateway serving one directory, stopped when dropped.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    pub dir: PathBuf,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    reloader: Option<Reloader>,
}

impl TestGateway {
    pub async fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(dir, env, Settings::default()).await
    }

    pub async fn start_with(dir: &Path, env: &[(&str, &str)], settings: Settings) -> Self {
        let gateway = Gateway::new(Loader::new(dir, env_map(env)), settings);
        gateway.reload().unwrap();
        Self::serve(gateway, dir).await
    }

    /// A gateway that reloads as the real server does: watcher, trigger, periodic rescan off.
    pub async fn start_watching(dir: &Path, env: &[(&str, &str)]) -> Self {
        let gateway = Gateway::new(Loader::new(dir, env_map(env)), Settings::default());
        let options = ReloadOptions {
            rescan_every: None,
            ..ReloadOptions::default()
        };
        let reloader = Reloader::start(gateway.clone(), &options).unwrap();
        let mut gw = Self::serve(gateway, dir).await;
        gw.reloader = Some(reloader);
        let ready = eventually(|| async { gw.get("/-/ready").await.status == 200 }).await;
        assert!(ready, "the first load finishes");
        gw
    }

    async fn serve(gateway: Arc<Gateway>, dir: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(bridgeway::serve(gateway.clone(), listener, async {
            let _ = stopped.await;
        }));
        TestGateway {
            addr,
            gateway,
            dir: dir.to_owned(),
            client: http_client(),
            stop: Some(stop),
            reloader: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::from(request.send().await.expect("the gateway answers")).await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
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

/// An upstream on 127.0.0.1 that answers every request with 200 `{}` and records it.
/// An upstream answering `GET` on each path with its template.
pub async fn upstream_answering(
    answers: Vec<(&str, wiremock::ResponseTemplate)>,
) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    for (p, answer) in answers {
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(p))
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    server
}

pub async fn upstream_answering_ok() -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    server
}

/// A running `bridgeway serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl Server {
    pub async fn start(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_logging_to(dir, extra, env, None).await
    }

    /// Like [`Server::start`], with the server's stderr (its log) written to `log`.
    pub async fn start_logging_to(
        dir: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let port = closed_port().await;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
        cmd.args([
            "serve",
            "--bridges",
            dir.to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = Server {
            child: cmd.spawn().unwrap(),
            base: format!("http://{listen}"),
            client: http_client(),
        };
        let ready = eventually(|| async {
            let r = server
                .client
                .get(format!("{}/-/ready", server.base))
                .send()
                .await;
            r.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "the server starts and loads its bridges");
        server
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "signal delivered");
    }

    pub async fn version(&self, route: &str) -> String {
        let r = self
            .client
            .post(format!("{}{route}", self.base))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        body["version"].as_str().unwrap_or_default().to_owned()
    }
}

impl Server {
    /// The exit status, once the process has exited; `None` if it is still running after `limit`.
    pub async fn wait_exit(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
