//! `--admin-listen`: the operations endpoints move to their own address, and the public port
//! answers `/-/…` like any path no bridge serves (404), so metrics and bridge state never
//! reach the callers' side. Without the flag, one port serves both.

use std::time::Duration;

use crate::support::{Reply, Server, bridge_dir, closed_port, upstream_answering_ok};
use serde_json::json;

const OPS: [&str; 4] = ["/-/health", "/-/ready", "/-/metrics", "/-/bridges"];

fn bridge() -> String {
    "route: { path: /v }\nupstream: { url: \"${UP}/x\" }\noutput: { ok: { value: yes } }\n"
        .to_owned()
}

async fn get(server: &Server, url: String) -> Reply {
    Reply::from(server.client.get(url).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_admin_listen_the_ops_paths_are_served_there_and_not_on_the_public_port() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[("v.yaml", &bridge())]);
    let admin = format!("127.0.0.1:{}", closed_port().await);
    let server = Server::start(
        dir.path(),
        &["--workers", "2", "--admin-listen", &admin],
        &[("UP", &up.uri())],
    )
    .await;
    assert_eq!(server.ops, format!("http://{admin}"));

    let call = server
        .client
        .post(format!("{}/v", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200, "bridges are served on the public port");

    for path in OPS {
        let public = get(&server, format!("{}{path}", server.base)).await;
        assert_eq!(
            public.status, 404,
            "{path} on the public port: {}",
            public.text
        );
        public.assert_error_shape("not_found");
        assert!(
            !public.text.contains("bridgeway_") && !public.text.contains("v.yaml"),
            "{path}: nothing of the gateway's state on the public port: {}",
            public.text
        );
    }

    for path in OPS {
        let ops = get(&server, format!("{}{path}", server.ops)).await;
        assert_eq!(ops.status, 200, "{path} on the admin port: {}", ops.text);
    }
    let metrics = get(&server, format!("{}/-/metrics", server.ops)).await.text;
    for line in [
        r#"bridgeway_requests_total{bridge="v",status="200"} 1"#,
        // The four /-/ paths asked on the public port were paths no bridge serves there.
        r#"bridgeway_requests_total{bridge="",status="404"} 4"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let page = get(&server, format!("{}/-/bridges", server.ops)).await;
    assert_eq!(page.json["bridges"][0]["name"], "v");

    let no_bridges = Reply::from(
        server
            .client
            .post(format!("{}/v", server.ops))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(no_bridges.status, 404, "the admin port serves no bridge");
    no_bridges.assert_error_shape("not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_admin_listen_the_public_port_serves_the_ops_paths() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[("v.yaml", &bridge())]);
    let server = Server::start(dir.path(), &[], &[("UP", &up.uri())]).await;
    assert_eq!(server.ops, server.base);
    for path in OPS {
        let reply = get(&server, format!("{}{path}", server.base)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_address_in_use_stops_start_up_with_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = holder.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", closed_port().await);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args(["serve", "--bridges", dir.path().to_str().unwrap()])
        .args(["--listen", &listen, "--admin-listen", &admin])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started although its admin address is taken");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&admin), "names the address: {stderr}");
    assert!(
        stderr.contains("already in use") && stderr.contains("--admin-listen"),
        "says which flag to change: {stderr}"
    );
    assert!(
        std::net::TcpStream::connect(&listen).is_err(),
        "nothing listens on the public port either"
    );
}
