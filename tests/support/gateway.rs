//! A gateway in this process, serving one bridge directory on an ephemeral 127.0.0.1 port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bridgeway::{Gateway, Loader, ReloadOptions, Reloader, Settings};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Reply, bridge_dir, env_map, eventually, http_client};

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
        tokio::spawn(bridgeway::serve(
            gateway.clone(),
            listener,
            bridgeway::server::Surface::All,
            async {
                let _ = stopped.await;
            },
        ));
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

    /// What `/-/bridges` says is wrong with `file`, if anything.
    pub async fn file_error(&self, file: &str) -> Option<String> {
        let page = self.get("/-/bridges").await;
        page.json["files"]
            .as_array()?
            .iter()
            .find(|f| f["file"] == file)?["error"]
            .as_str()
            .map(str::to_owned)
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
