//! What an operator reads in the real binary's log (stderr): each request line carries its
//! error code and, for a 422, the names of the fields at fault (never their values); each
//! reload line names the files that changed, were removed or fail; the periodic rescan that
//! finds nothing new stays at debug level.

use std::path::Path;
use std::time::Duration;

use crate::support::{Server, bridge_dir, upstream_answering_ok};
use serde_json::{Value, json};

const CONTRACT: &str = r#"
route: { path: /c }
input:
  user_id: { type: integer, required: true, minimum: 1 }
  email:   { type: string, required: true }
  note:    { type: string }
upstream: { url: "${UP}/x" }
output: { ok: { value: yes } }
"#;

fn versioned(route: &str, version: &str) -> String {
    format!(
        "route: {{ path: {route} }}\nupstream: {{ url: \"${{UP}}/x\" }}\noutput: {{ version: {{ value: \"{version}\" }} }}\n"
    )
}

/// The JSON log lines written so far.
fn json_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn loaded_lines(log: &Path) -> Vec<Value> {
    json_lines(log)
        .into_iter()
        .filter(|l| l["fields"]["message"] == "bridges loaded")
        .collect()
}

/// Polls the log every 50 ms for up to 15 s until `check` holds for its lines.
async fn log_shows(log: &Path, check: impl Fn(&[Value]) -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if check(&json_lines(log)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_lines_carry_the_error_code_and_the_fields_at_fault_but_no_value() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[("c.yaml", CONTRACT)]);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("gateway.log");
    let server = Server::start_logging_to(dir.path(), &[], &[("UP", &up.uri())], Some(&log)).await;
    let post = |path: &str, body: Value| {
        let request = server
            .client
            .post(format!("{}{path}", server.base))
            .header(
                "x-request-id",
                format!("req-{path}-{}", body.to_string().len()),
            )
            .json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Two fields at fault: user_id (too small; its value must not be logged) and email
    // (missing); note is fine and its value must not be logged either.
    let bad = json!({"user_id": -987654, "note": "private-note-text"});
    assert_eq!(post("/c", bad).await, 422);
    assert_eq!(post("/nowhere", json!({})).await, 404);
    let good = json!({"user_id": 5, "email": "someone@example.com"});
    assert_eq!(post("/c", good).await, 200);

    // Each line is written before its answer is sent: the log is complete now.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = |needle: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.contains(" request ") && l.contains(" method=POST "))
            .filter(|l| l.contains(needle))
            .collect()
    };
    let invalid = lines("status=422");
    assert_eq!(invalid.len(), 1, "{text}");
    assert!(
        invalid[0].contains(r#"error="invalid_input""#)
            && invalid[0].contains(r#"fields="user_id,email""#),
        "{}",
        invalid[0]
    );
    let missing = lines("status=404");
    assert_eq!(missing.len(), 1, "{text}");
    assert!(
        missing[0].contains(r#"error="not_found""#),
        "{}",
        missing[0]
    );
    assert!(!missing[0].contains("fields="), "{}", missing[0]);
    let ok = lines("status=200");
    assert_eq!(ok.len(), 1, "{text}");
    assert!(
        !ok[0].contains("error=") && !ok[0].contains("fields="),
        "{}",
        ok[0]
    );
    for value in ["987654", "private-note-text", "someone@example.com"] {
        assert!(!text.contains(value), "{value} in the log:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_line_names_the_files_changed_removed_and_failing() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[
        ("keep.yaml", &versioned("/keep", "k")),
        ("old.yaml", &versioned("/old", "o")),
        ("v.yaml", &versioned("/v", "1")),
    ]);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("gateway.log");
    let server = Server::start_logging_to(
        dir.path(),
        &[
            "--no-watch",
            "--rescan-interval",
            "0",
            "--log-format",
            "json",
        ],
        &[("UP", &up.uri())],
        Some(&log),
    )
    .await;
    let first = loaded_lines(&log);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        first[0]["fields"]["changed"], "keep.yaml,old.yaml,v.yaml",
        "the first load names every file it read"
    );

    // All at once, then one reload: SIGHUP, as the watcher is off.
    std::fs::write(dir.path().join("v.yaml"), versioned("/v", "2")).unwrap();
    std::fs::write(dir.path().join("new.yaml"), versioned("/new", "n")).unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "route: [unclosed\n").unwrap();
    std::fs::remove_file(dir.path().join("old.yaml")).unwrap();
    server.signal(libc::SIGHUP);
    assert!(
        log_shows(&log, |lines| lines
            .iter()
            .filter(|l| l["fields"]["message"] == "bridges loaded")
            .count()
            == 2)
        .await,
        "the reload is logged"
    );
    let reload = loaded_lines(&log).pop().unwrap();
    let fields = &reload["fields"];
    assert_eq!(reload["level"], "INFO", "{reload}");
    assert_eq!(fields["changed"], "bad.yaml,new.yaml,v.yaml", "{reload}");
    assert_eq!(fields["removed"], "old.yaml", "{reload}");
    assert_eq!(fields["failed"], "bad.yaml", "{reload}");
    assert_eq!(fields["bridges"], 3, "{reload}");
    let problem = json_lines(&log)
        .into_iter()
        .find(|l| l["fields"]["message"] == "bridge file not loaded")
        .expect("the failing file's problem is logged");
    assert!(
        problem["fields"]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("bad.yaml")),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescan_that_finds_nothing_new_logs_at_debug_and_a_change_at_info() {
    let up = upstream_answering_ok().await;
    let dir = bridge_dir(&[("v.yaml", &versioned("/v", "1"))]);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("gateway.log");
    let server = Server::start_logging_to(
        dir.path(),
        &[
            "--no-watch",
            "--rescan-interval",
            "200ms",
            "--log-format",
            "json",
        ],
        &[("UP", &up.uri()), ("RUST_LOG", "info,bridgeway=debug")],
        Some(&log),
    )
    .await;
    let level_of = |l: &Value| l["level"].as_str().unwrap_or_default().to_owned();
    assert!(
        log_shows(&log, |lines| lines
            .iter()
            .filter(|l| l["fields"]["message"] == "bridges loaded" && level_of(l) == "DEBUG")
            .count()
            >= 2)
        .await,
        "unchanged rescans are logged at debug"
    );
    let loaded = loaded_lines(&log);
    assert_eq!(
        level_of(&loaded[0]),
        "INFO",
        "the first load: {}",
        loaded[0]
    );
    assert!(
        loaded[1..].iter().all(|l| level_of(l) == "DEBUG"),
        "nothing changed, nothing at info: {loaded:?}"
    );

    std::fs::write(dir.path().join("v.yaml"), versioned("/v", "2")).unwrap();
    assert!(
        // The first load's line, and now the change's.
        log_shows(&log, |lines| lines
            .iter()
            .filter(|l| {
                l["fields"]["message"] == "bridges loaded"
                    && level_of(l) == "INFO"
                    && l["fields"]["changed"] == "v.yaml"
            })
            .count()
            >= 2)
        .await,
        "the rescan that finds the change logs it at info"
    );
    // A rescan may have caught the file half-written; the next one reads it whole.
    assert!(crate::support::eventually(|| async { server.version("/v").await == "2" }).await);
}
