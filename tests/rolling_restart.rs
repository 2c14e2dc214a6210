//! A rolling restart behind a load balancer loses no request.
//!
//! Three gateways run behind a local nginx under continuous load, and are restarted one at a
//! time the way Kubernetes rolls a Deployment: SIGTERM; the readiness probe (here the test,
//! polling `/-/ready` on the admin port) sees 503; the endpoint is taken out of the load
//! balancer (here nginx's upstream list, rewritten and reloaded, as an ingress controller
//! does); the process exits once its drain delay and requests in flight are over; a new one
//! starts on the same address and is put back once its `/-/ready` says 200.
//!
//! nginx is set up so that only the gateway's shutdown sequence can keep requests from
//! failing: `proxy_next_upstream off` (like kube-proxy, which never retries: a refused or
//! reset connection is a failed request), no keep-alive towards the gateways, no passive
//! health checks. The drain delay is what covers the time between the probe failing and the
//! load balancer having stopped sending; the test waits a probe period inside it, so requests
//! keep reaching each draining gateway, and checks that they were answered.
//!
//! nginx is Debian's (`.ci/run` installs it). Without it the test prints SKIPPED and passes,
//! except when `CI` is set, where it fails. Loopback only; everything started is stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Server, bridge_dir, closed_port};
use serde_json::json;
use tempfile::TempDir;

const GATEWAYS: usize = 3;
const LOAD_WORKERS: usize = 3;
/// Long against the 1 s "probe period" and an nginx reload (tens of milliseconds), so that a
/// loaded machine does not turn the margin into failed requests.
const DRAIN_DELAY: &str = "5s";
/// How long the test, as the probe and the endpoints controller, waits after seeing 503
/// before taking the gateway out: traffic keeps arriving while it drains.
const PROBE_PERIOD: Duration = Duration::from_secs(1);

/// The bridge answers which gateway process served it; the upstream takes 50 ms, so that
/// requests are in flight at every moment.
const BRIDGE: &str = "route: { path: /v }\nupstream: { url: \"${UP}/x\" }\noutput: { gateway: { value: \"${GATEWAY}\" } }\n";

/// nginx from PATH or `/usr/sbin` (not on a normal user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|path| path.is_file())
    });
    let found = on_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        sbin.is_file().then_some(sbin)
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed, and CI must run this test: .ci/run installs Debian's nginx"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: nginx is not installed (Debian's nginx package; see .ci/run)"
        );
    }
    found
}

/// An nginx master and its worker, in a process group of their own, stopped when dropped.
struct Nginx {
    child: Child,
    dir: TempDir,
    port: u16,
    gateways: Vec<u16>,
}

impl Nginx {
    async fn start(binary: &Path, gateways: Vec<u16>) -> Self {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let port = closed_port().await;
        let all = vec![true; gateways.len()];
        std::fs::write(
            dir.path().join("nginx.conf"),
            config(dir.path(), port, &gateways, &all),
        )
        .unwrap();
        let prefix = dir.path().to_str().unwrap();
        let child = Command::new(binary)
            .args(["-p", prefix, "-c", &format!("{prefix}/nginx.conf")])
            .args(["-e", &format!("{prefix}/error.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that stopping it reaches its worker too.
            .process_group(0)
            .spawn()
            .unwrap();
        let nginx = Nginx {
            child,
            dir,
            port,
            gateways,
        };
        let up = crate::support::eventually(|| async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "nginx listens:\n{}", nginx.error_log());
        nginx
    }

    /// Puts the gateways marked `up` in service and the others out, and returns once nginx has
    /// started its new worker (the old one stops taking connections right after).
    async fn route(&self, up: &[bool]) {
        let config = config(self.dir.path(), self.port, &self.gateways, up);
        std::fs::write(self.dir.path().join("nginx.conf"), config).unwrap();
        let started = |log: &str| log.matches("start worker process").count();
        let before = started(&self.error_log());
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(rc, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while started(&self.error_log()) <= before {
            assert!(
                Instant::now() < deadline,
                "nginx did not reload:\n{}",
                self.error_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v", self.port)
    }
}

/// nginx's configuration: listening on `port`, the `gateways` marked `up[i]` in service.
fn config(dir: &Path, port: u16, gateways: &[u16], up: &[bool]) -> String {
    let dir = dir.display();
    let servers: String = gateways
        .iter()
        .zip(up)
        .map(|(port, up)| {
            let down = if *up { "" } else { " down" };
            format!("        server 127.0.0.1:{port} max_fails=0{down};\n")
        })
        .collect();
    // Run as root (a CI container), nginx would hand its worker to `nobody`, which cannot
    // enter this private temp directory.
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\n{user}\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log notice;\nevents {{ worker_connections 1024; }}\n\
         http {{\n\
             access_log {dir}/access.log;\n\
             client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
             keepalive_timeout 0;\n\
             upstream gateways {{\n{servers}    }}\n\
             server {{\n\
                 listen 127.0.0.1:{port};\n\
                 location / {{\n\
                     proxy_pass http://gateways;\n\
                     proxy_next_upstream off;\n\
                     proxy_connect_timeout 5s;\n\
                     proxy_read_timeout 30s;\n\
                 }}\n\
             }}\n\
         }}\n"
    )
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) on the process group this test started; SIGTERM is nginx's fast
        // shutdown, which stops its workers too.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// One answer the load saw: when it was sent, and which gateway generation answered, or why
/// it failed.
#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    result: Result<String, String>,
}

/// One gateway slot: its addresses and the process now serving it.
struct Slot {
    listen: String,
    admin: String,
    server: Server,
}

/// Returns once `name` has answered a request of the load; fails after 30 s.
async fn answered_by(answers: &Mutex<Vec<Answer>>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = answers
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.result.as_deref() == Ok(name));
        if seen {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start_gateway(listen: &str, admin: &str, dir: &Path, up: &str, name: &str) -> Server {
    Server::start_on(
        listen,
        dir,
        &[
            "--workers",
            "1",
            "--admin-listen",
            admin,
            "--drain-delay",
            DRAIN_DELAY,
            "--shutdown-grace",
            "10s",
        ],
        &[("UP", up), ("GATEWAY", name)],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_three_gateways_one_at_a_time_under_load_fails_no_request() {
    let Some(nginx_binary) = nginx_binary() else {
        return;
    };
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&upstream)
        .await;
    let dir = bridge_dir(&[("v.yaml", BRIDGE)]);

    let mut slots = Vec::new();
    for i in 0..GATEWAYS {
        let listen = format!("127.0.0.1:{}", closed_port().await);
        let admin = format!("127.0.0.1:{}", closed_port().await);
        let server = start_gateway(
            &listen,
            &admin,
            dir.path(),
            &upstream.uri(),
            &format!("g{i}.1"),
        )
        .await;
        slots.push(Slot {
            listen,
            admin,
            server,
        });
    }
    let ports = slots
        .iter()
        .map(|s| s.listen.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    let nginx = Nginx::start(&nginx_binary, ports).await;

    // The load: each worker sends one request after the other, each on a new connection to
    // nginx (a client's own keep-alive races are not what is tested here).
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..LOAD_WORKERS)
        .map(|_| {
            let (answers, stop, url) = (answers.clone(), stop.clone(), nginx.url());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(0)
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = Instant::now();
                    let result = match client.post(&url).json(&json!({})).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let text = r.text().await.unwrap_or_default();
                            let body: serde_json::Value =
                                serde_json::from_str(&text).unwrap_or_default();
                            match (status, body["gateway"].as_str()) {
                                (200, Some(g)) => Ok(g.to_owned()),
                                _ => Err(format!("{status} {text}")),
                            }
                        }
                        Err(e) => Err(format!("{e:?}")),
                    };
                    answers.lock().unwrap().push(Answer { sent, result });
                }
            })
        })
        .collect();
    for i in 0..GATEWAYS {
        answered_by(&answers, &format!("g{i}.1")).await;
    }

    let mut in_service = vec![true; GATEWAYS];
    let mut drains = Vec::new();
    for i in 0..GATEWAYS {
        let slot = &mut slots[i];
        let signalled = Instant::now();
        slot.server.signal(libc::SIGTERM);
        // The readiness probe fails...
        let probe = format!("http://{}/-/ready", slot.admin);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = slot.server.client.get(&probe).send().await;
            if r.is_ok_and(|r| r.status() == 503) {
                break;
            }
            assert!(Instant::now() < deadline, "g{i} never reported draining");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // ...and after a probe period the endpoint is taken out.
        tokio::time::sleep(PROBE_PERIOD).await;
        in_service[i] = false;
        nginx.route(&in_service).await;
        let routed_away = signalled.elapsed();

        let exit = slot
            .server
            .wait_exit(Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("g{i} did not exit"));
        assert_eq!(exit.code(), Some(0), "g{i}");
        drains.push((format!("g{i}.1"), signalled, routed_away));

        let name = format!("g{i}.2");
        slot.server = start_gateway(
            &slot.listen,
            &slot.admin,
            dir.path(),
            &upstream.uri(),
            &name,
        )
        .await;
        in_service[i] = true;
        nginx.route(&in_service).await;
        answered_by(&answers, &name).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in load {
        worker.await.unwrap();
    }

    let answers = answers.lock().unwrap().clone();
    let failed: Vec<&Answer> = answers.iter().filter(|a| a.result.is_err()).collect();
    let served_while_draining: usize = drains
        .iter()
        .map(|(name, signalled, _)| {
            answers
                .iter()
                .filter(|a| a.sent > *signalled && a.result.as_deref() == Ok(name.as_str()))
                .count()
        })
        .sum();
    let _ = writeln!(
        std::io::stderr(),
        "rolling restart: {} requests, {} failed, {} answered by draining gateways; \
         SIGTERM to out of nginx: {:?}",
        answers.len(),
        failed.len(),
        served_while_draining,
        drains.iter().map(|d| d.2).collect::<Vec<_>>(),
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}\nnginx:\n{}",
        failed.len(),
        answers.len(),
        failed.iter().take(10).collect::<Vec<_>>(),
        nginx.error_log()
    );
    assert!(
        served_while_draining > 0,
        "requests sent after SIGTERM were answered by the draining gateway"
    );
}
