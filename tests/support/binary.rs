//! The real `bridgeway serve` binary, started on a free loopback port.

use std::process::{Child, Command, Stdio};

use super::{closed_port, eventually, http_client};

/// A running `bridgeway serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Where `/-/…` is served: the admin address when `--admin-listen` was given, else `base`.
    pub ops: String,
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
        let listen = format!("127.0.0.1:{}", closed_port().await);
        Self::start_on(&listen, dir, extra, env, log).await
    }

    /// Like [`Server::start_logging_to`], listening on `listen`, and waiting until `/-/ready`
    /// answers 200 (on the admin port if `extra` has `--admin-listen`).
    pub async fn start_on(
        listen: &str,
        dir: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let admin = extra
            .iter()
            .position(|a| *a == "--admin-listen")
            .and_then(|i| extra.get(i + 1))
            .map(|a| a.to_string())
            .or_else(|| {
                extra
                    .iter()
                    .find_map(|a| a.strip_prefix("--admin-listen="))
                    .map(str::to_owned)
            });
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
        cmd.args([
            "serve",
            "--bridges",
            dir.to_str().unwrap(),
            "--listen",
            listen,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(match log {
            // Appended, so that a restarted server's log follows its predecessor's.
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => Stdio::null(),
        });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = Server {
            child: cmd.spawn().unwrap(),
            base: format!("http://{listen}"),
            ops: format!("http://{}", admin.as_deref().unwrap_or(listen)),
            client: http_client(),
        };
        let ready = eventually(|| async {
            let r = server
                .client
                .get(format!("{}/-/ready", server.ops))
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

/// Runs the real binary with `args` and `env` (BRIDGEWAY_BRIDGES unset), returning what it
/// printed, stdout then stderr.
pub fn run_cli(args: &[impl AsRef<std::ffi::OsStr>], env: &[(String, String)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridgeway"));
    cmd.args(args).env_remove("BRIDGEWAY_BRIDGES");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
