//! Hot reload with real files in a temp directory and the real watcher: every way files change,
//! Kubernetes ConfigMap swaps, and rewrites under continuous load with no failed request.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{TestGateway, eventually, upstream_answering_ok};
use serde_json::json;
use wiremock::MockServer;

/// A bridge on `path` whose reply says which version of the file served it.
fn versioned(path: &str, version: &str) -> String {
    format!(
        "route: {{ path: {path} }}\nupstream: {{ url: \"${{UP}}/x\" }}\noutput:\n  version: {{ value: \"{version}\" }}\n  status: {{ from: status }}\n"
    )
}

struct Fixture {
    _upstream: MockServer,
    dir: tempfile::TempDir,
    gw: TestGateway,
}

async fn fixture(files: &[(&str, String)]) -> Fixture {
    let upstream = upstream_answering_ok().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    let gw = TestGateway::start_watching(dir.path(), &[("UP", &upstream.uri())]).await;
    Fixture {
        _upstream: upstream,
        dir,
        gw,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// The version serving `route`, or the status when it is not a 200.
    async fn version(&self, route: &str) -> Result<String, u16> {
        let reply = self.gw.post_json(route, &json!({})).await;
        match reply.status {
            200 => Ok(reply.json["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned()),
            other => Err(other),
        }
    }

    async fn becomes(&self, route: &str, want: Result<&str, u16>) -> bool {
        eventually(|| async { self.version(route).await.as_deref().map_err(|s| *s) == want }).await
    }

    async fn file_error(&self, file: &str) -> Option<String> {
        self.gw.file_error(file).await
    }
}

/// An editor's atomic save: write a hidden temp file, then rename it over the target.
fn atomic_save(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().unwrap().to_str().unwrap(),
        std::process::id()
    ));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_edit_break_fix_and_delete() {
    let f = fixture(&[]).await;
    assert_eq!(f.version("/a").await, Err(404));

    fs::write(f.path("a.yaml"), versioned("/a", "v1")).unwrap();
    assert!(f.becomes("/a", Ok("v1")).await, "an added file is served");

    fs::write(f.path("a.yaml"), versioned("/a", "v2")).unwrap();
    assert!(
        f.becomes("/a", Ok("v2")).await,
        "an edit changes the behaviour"
    );

    fs::write(
        f.path("a.yaml"),
        versioned("/a", "v3").replace("upstream:", "upstreem:"),
    )
    .unwrap();
    assert!(
        eventually(|| async {
            f.file_error("a.yaml")
                .await
                .is_some_and(|e| e.contains("unknown field `upstreem`"))
        })
        .await,
        "the error shows in /-/bridges"
    );
    assert_eq!(
        f.version("/a").await,
        Ok("v2".to_owned()),
        "the last good version keeps serving"
    );
    let page = f.gw.get("/-/bridges").await;
    assert_eq!(
        page.json["files"][0]["bridge"], "a",
        "and the status page says what still serves"
    );
    let metrics = f.gw.get("/-/metrics").await.text;
    assert!(
        metrics.contains("bridgeway_reloads_total{result=\"partial\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bridgeway_bridge_files_failed 1"),
        "{metrics}"
    );

    fs::write(f.path("a.yaml"), versioned("/a", "v4")).unwrap();
    assert!(f.becomes("/a", Ok("v4")).await, "the fixed file is served");
    assert_eq!(f.file_error("a.yaml").await, None, "and its error clears");

    fs::remove_file(f.path("a.yaml")).unwrap();
    assert!(
        f.becomes("/a", Err(404)).await,
        "a deleted file's bridge is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_a_file_moves_its_bridge() {
    let f = fixture(&[("old-name.yaml", versioned("/r", "v1"))]).await;
    assert_eq!(f.version("/r").await, Ok("v1".to_owned()));

    fs::rename(f.path("old-name.yaml"), f.path("new-name.yaml")).unwrap();
    let moved = eventually(|| async {
        let page = f.gw.get("/-/bridges").await;
        page.json["bridges"][0]["file"] == "new-name.yaml"
            && page.json["bridges"][0]["name"] == "new-name"
    })
    .await;
    assert!(
        moved,
        "the bridge now comes from the new file, named after it"
    );
    assert_eq!(f.version("/r").await, Ok("v1".to_owned()));
    assert_eq!(
        f.gw.get("/-/bridges").await.json["files"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    fs::rename(f.path("new-name.yaml"), f.path("new-name.yaml.bak")).unwrap();
    assert!(
        f.becomes("/r", Err(404)).await,
        "renamed to a non-bridge name: gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_rename_save_is_picked_up() {
    let f = fixture(&[("a.yaml", versioned("/a", "v1"))]).await;
    atomic_save(&f.path("a.yaml"), &versioned("/a", "v2"));
    assert!(f.becomes("/a", Ok("v2")).await);
    atomic_save(&f.path("a.yaml"), &versioned("/a", "v3"));
    assert!(
        f.becomes("/a", Ok("v3")).await,
        "and the next one too: the watch is on the directory"
    );
    let names: Vec<String> = f.gw.get("/-/bridges").await.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.yaml"], "temp files are never bridges");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncate_and_write_in_chunks_save_ends_on_the_whole_file() {
    let f = fixture(&[("a.yaml", versioned("/a", "v1"))]).await;
    let text = versioned("/a", "v2-written-in-chunks");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(f.path("a.yaml"))
        .unwrap();
    for chunk in text.as_bytes().chunks(16) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        // While it is half-written, the gateway serves one whole version or the other.
        let seen = f.version("/a").await;
        assert!(
            matches!(seen.as_deref(), Ok("v1") | Ok("v2-written-in-chunks")),
            "{seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    drop(file);
    assert!(f.becomes("/a", Ok("v2-written-in-chunks")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_writes_ends_on_the_last() {
    let f = fixture(&[("a.yaml", versioned("/a", "v0"))]).await;
    for i in 1..=100 {
        fs::write(f.path("a.yaml"), versioned("/a", &format!("v{i}"))).unwrap();
    }
    assert!(f.becomes("/a", Ok("v100")).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        f.version("/a").await,
        Ok("v100".to_owned()),
        "and stays there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_file_by_name_keeps_a_contested_route_whatever_the_order() {
    let f = fixture(&[("b.yaml", versioned("/x", "from-b"))]).await;
    assert_eq!(f.version("/x").await, Ok("from-b".to_owned()));

    fs::write(f.path("a.yaml"), versioned("/x", "from-a")).unwrap();
    assert!(
        f.becomes("/x", Ok("from-a")).await,
        "a.yaml sorts first, though b.yaml came first"
    );
    let error = f.file_error("b.yaml").await.unwrap();
    assert!(
        error.contains("conflicts with a.yaml") && error.contains("POST /x"),
        "{error}"
    );

    fs::remove_file(f.path("a.yaml")).unwrap();
    assert!(
        f.becomes("/x", Ok("from-b")).await,
        "the route returns to b.yaml"
    );
    assert_eq!(f.file_error("b.yaml").await, None);
}

/// Kubernetes mounts a ConfigMap as `x.yaml -> ..data/x.yaml`, `..data -> ..<timestamp>/`, and
/// updates it by creating a new timestamped directory and renaming a new `..data` link over
/// the old one.
struct ConfigMap<'a> {
    dir: &'a Path,
    generation: usize,
}

impl<'a> ConfigMap<'a> {
    fn create(dir: &'a Path, files: &[(&str, String)]) -> Self {
        let mut map = ConfigMap { dir, generation: 0 };
        map.publish(files);
        for (name, _) in files {
            symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        map
    }

    fn publish(&mut self, files: &[(&str, String)]) {
        self.generation += 1;
        let version_dir = format!(
            "..2026_11_23_22_00_{:02}.{}",
            self.generation,
            1000 + self.generation
        );
        fs::create_dir(self.dir.join(&version_dir)).unwrap();
        for (name, text) in files {
            fs::write(self.dir.join(&version_dir).join(name), text).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        symlink(&version_dir, &tmp).unwrap();
        fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if self.generation > 1 {
            let old = format!(
                "..2026_11_23_22_00_{:02}.{}",
                self.generation - 1,
                1000 + self.generation - 1
            );
            fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_swap_is_picked_up_every_time() {
    let f = fixture(&[]).await;
    let mut map = ConfigMap::create(f.dir.path(), &[("cm.yaml", versioned("/cm", "v1"))]);
    assert!(f.becomes("/cm", Ok("v1")).await);

    map.publish(&[("cm.yaml", versioned("/cm", "v2"))]);
    assert!(
        f.becomes("/cm", Ok("v2")).await,
        "the ..data swap is a change"
    );
    map.publish(&[("cm.yaml", versioned("/cm", "v3"))]);
    assert!(f.becomes("/cm", Ok("v3")).await, "and so is the next one");

    let files = f.gw.get("/-/bridges").await.json["files"].clone();
    assert_eq!(
        files.as_array().unwrap().len(),
        1,
        "..data and ..<timestamp> are not bridges: {files}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_under_continuous_load_fail_no_request() {
    let f = Arc::new(
        fixture(&[
            ("a.yaml", versioned("/a", "a0")),
            ("b.yaml", versioned("/b", "b0")),
        ])
        .await,
    );
    let mut map = ConfigMap::create(f.dir.path(), &[("c.yaml", versioned("/c", "c0"))]);
    assert!(f.becomes("/c", Ok("c0")).await);
    let running = Arc::new(AtomicBool::new(true));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let versions_seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));

    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (f, running, sent, failed, seen) = (
                f.clone(),
                running.clone(),
                sent.clone(),
                failed.clone(),
                versions_seen.clone(),
            );
            tokio::spawn(async move {
                let route = ["/a", "/b", "/c", "/a"][i];
                while running.load(Ordering::Relaxed) {
                    sent.fetch_add(1, Ordering::Relaxed);
                    match f
                        .gw
                        .client
                        .post(f.gw.url(route))
                        .json(&json!({}))
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            seen.lock()
                                .unwrap()
                                .insert(body["version"].as_str().unwrap_or_default().to_owned());
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("{route}: {:?}", other.map(|r| r.status()));
                        }
                    }
                }
            })
        })
        .collect();

    for i in 1..=60 {
        match i % 3 {
            0 => atomic_save(&f.path("a.yaml"), &versioned("/a", &format!("a{i}"))),
            1 => atomic_save(&f.path("b.yaml"), &versioned("/b", &format!("b{i}"))),
            _ => map.publish(&[("c.yaml", versioned("/c", &format!("c{i}")))]),
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        f.becomes("/a", Ok("a60")).await
            && f.becomes("/b", Ok("b58")).await
            && f.becomes("/c", Ok("c59")).await
    );
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let distinct = versions_seen.lock().unwrap().len();
    assert!(sent > 200, "the load ran throughout ({sent} requests)");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests failed during 60 rewrites"
    );
    assert!(
        distinct > 6,
        "reloads happened under load ({distinct} versions seen)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_cannot_be_followed_keeps_its_last_good_version() {
    let f = fixture(&[]).await;
    fs::write(f.path(".target-v1"), versioned("/l", "v1")).unwrap();
    symlink(".target-v1", f.path("l.yaml")).unwrap();
    assert!(
        f.becomes("/l", Ok("v1")).await,
        "a symlinked file is a bridge"
    );

    fs::remove_file(f.path(".target-v1")).unwrap();
    assert!(
        eventually(|| async {
            f.file_error("l.yaml")
                .await
                .is_some_and(|e| e.contains("cannot be read"))
        })
        .await
    );
    assert_eq!(f.version("/l").await, Ok("v1".to_owned()));
}
