//! What editors, shells and `man` read: `bridgeway schema` (and the committed copy of it),
//! `bridgeway completions`, `bridgeway man`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn bridgeway(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bridgeway"))
        .args(args)
        .output()
        .expect("the binary runs");
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed_schema() -> Value {
    let text = std::fs::read_to_string(root().join("schema/bridgeway.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&committed_schema()).expect("the schema compiles")
}

/// Every bridge and connection file in the repository: `bridges/`, `examples/` (a directory per
/// vendor), and the files the Kubernetes ConfigMap carries; each with where it comes from.
fn shipped_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("bridges"), root().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path.display().to_string(), text));
            }
        }
    }
    let configmap = root().join("deploy/kubernetes/configmap-bridges.yaml");
    let configmap = yaml(&std::fs::read_to_string(configmap).unwrap());
    for (key, text) in configmap["data"].as_object().unwrap() {
        files.push((
            format!("ConfigMap {key}"),
            text.as_str().unwrap().to_owned(),
        ));
    }
    files
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

#[test]
fn the_committed_schema_is_the_one_the_binary_prints() {
    let (code, printed) = bridgeway(&["schema"]);
    assert_eq!(code, Some(0));
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        printed,
        committed_schema(),
        "schema/bridgeway.schema.json is stale: run `cargo run -- schema > schema/bridgeway.schema.json`"
    );
    assert_eq!(
        printed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(jsonschema::draft202012::meta::is_valid(&printed));
}

#[test]
fn every_bridge_and_connection_file_in_the_repository_is_valid_under_the_schema() {
    let validator = validator();
    let files = shipped_files();
    let kinds = |k: &str| files.iter().filter(|(_, t)| yaml(t)["kind"] == k).count();
    assert!(
        files.len() >= 10 && kinds("connection") >= 5,
        "{} files",
        files.len()
    );
    for (file, text) in &files {
        let value = yaml(text);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
}

#[test]
fn the_configmap_carries_the_shipped_fetch_post_as_it_is() {
    let (_, text) = shipped_files()
        .into_iter()
        .find(|(f, _)| f == "ConfigMap fetch-post.yaml")
        .unwrap();
    let shipped = std::fs::read_to_string(root().join("bridges/fetch-post.yaml")).unwrap();
    assert_eq!(text, shipped);
}

#[test]
fn the_schema_rejects_a_typo_as_the_gateway_does() {
    let validator = validator();
    let good = "route: {path: /x}\nupstream:\n  url: http://h/\n  timeout: 5s\n";
    assert!(validator.is_valid(&yaml(good)));
    for typo in [
        good.replace("timeout", "timout"),
        format!("{good}tests:\n  - name: t\n    expect: {{ stauts: 200 }}\n"),
        format!("{good}output:\n  a: {{ pth: $.a }}\n"),
    ] {
        assert!(!validator.is_valid(&yaml(&typo)), "accepted:\n{typo}");
    }
    // Records: `items` is a scalar type or `{ fields: … }`, and a typo inside a record is caught.
    let records = format!(
        "{good}output:\n  rows:\n    path: $.r[*]\n    type: array\n    items: {{ fields: {{ id: {{ path: $.id }} }} }}\n"
    );
    assert!(validator.is_valid(&yaml(&records)), "{records}");
    assert!(!validator.is_valid(&yaml(&records.replace("{ path: $.id }", "{ pth: $.id }"))));
    assert!(!validator.is_valid(&yaml(&records.replace("{ fields:", "{ feilds:"))));
    // What the parser accepts besides strings: numbers and booleans as text, an empty mapping.
    let loose = format!("{good}  headers: {{ X-Version: 2, X-Flag: true }}\n  query:\n");
    assert!(validator.is_valid(&yaml(&loose)), "{loose}");
    assert!(
        !validator.is_valid(&yaml("upstream: {url: http://h/}\n")),
        "route is required"
    );
}

#[test]
fn the_schema_tells_connection_files_from_bridge_files_by_kind() {
    let validator = validator();
    let connection = "kind: connection\nbase_url: https://h\nauth: { bearer: t }\n";
    assert!(validator.is_valid(&yaml(connection)));
    for wrong in [
        connection.replace("base_url", "base_ulr"),
        format!("{connection}route: {{path: /x}}\n"),
        "kind: bridge\nbase_url: https://h\n".to_owned(),
        "kind: other\nroute: {path: /x}\nupstream: {url: http://h/}\n".to_owned(),
    ] {
        assert!(!validator.is_valid(&yaml(&wrong)), "accepted:\n{wrong}");
    }
    let bridge = "kind: bridge\nroute: {path: /x}\nupstream: {connection: c, url: /y}\n";
    assert!(validator.is_valid(&yaml(bridge)));
}

#[test]
fn bash_completion_offers_the_subcommands() {
    let (code, script) = bridgeway(&["completions", "bash"]);
    assert_eq!(code, Some(0));
    assert!(script.contains("complete -F _bridgeway"), "{script}");
    for sub in [
        "serve", "check", "try", "test", "schema", "export", "genesys",
    ] {
        assert!(script.contains(sub), "{sub} missing");
    }
    assert!(script.contains("--junit"));
    let (code, zsh) = bridgeway(&["completions", "zsh"]);
    assert_eq!(code, Some(0));
    assert!(zsh.starts_with("#compdef bridgeway"), "{zsh}");
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let (code, page) = bridgeway(&["man"]);
    assert_eq!(code, Some(0));
    assert!(page.contains("\n.TH bridgeway 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    for sub in ["serve", "check", "try", "test", "schema", "completions"] {
        assert!(
            page.contains(&format!("bridgeway\\-{sub}")),
            "{sub} missing:\n{page}"
        );
    }
}
