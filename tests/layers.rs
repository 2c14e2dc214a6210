//! The layers of `src/` (the table in `src/lib.rs`) import only downward: a module may use its
//! own layer's siblings and anything below, never a layer above. Read from the source itself, so
//! a new import that breaks the layering fails here, not in review.

use std::path::{Path, PathBuf};

/// Each top-level module of the library and its layer.
const LAYERS: &[(&str, u8)] = &[
    ("limits", 0),
    ("request_id", 0),
    ("json", 0),
    ("jsonpath", 0),
    ("template", 0),
    ("metrics", 0),
    ("file", 0),
    ("stages", 1),
    ("connection", 2),
    ("bridge", 2),
    ("pipeline", 3),
    ("routes", 4),
    ("server", 5),
    ("genesys", 5),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named after `crate::` in `text`, outside comments (a doc comment
/// may point up the layers; code may not).
fn imported(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    code.match_indices("crate::")
        .map(|(at, m)| {
            code[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.iter().next().unwrap().to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if matches!(top, "lib" | "main" | "cli") {
            continue; // the crate root and the binary sit on top of everything
        }
        let own = layer(top).unwrap_or_else(|| panic!("{top} is in no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for module in imported(&text) {
            let theirs = layer(&module).unwrap_or_else(|| panic!("{module} is in no layer"));
            if theirs > own {
                wrong.push(format!(
                    "{} (layer {own}) uses crate::{module} (layer {theirs})",
                    relative.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "imports going up:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    assert_eq!(
        imported("use crate::pipeline::Context;\n/// [`crate::server`]\nlet x = crate::json::f();"),
        ["pipeline", "json"]
    );
    assert!(layer("stages") < layer("pipeline"));
}
