//! Shared by the benches: a directory of realistic bridge files.

use std::path::Path;

/// A fetch-post-like bridge, distinct per `i` and `version`.
pub fn bridge_text(i: usize, version: usize) -> String {
    format!(
        r#"description: Bridge {i}, version {version}
route: {{ method: POST, path: /api/v1/bridge-{i} }}
input:
  user_id:    {{ type: integer, required: true, minimum: 1 }}
  query_text: {{ type: string, max_length: 200 }}
upstream:
  method: GET
  url: "http://127.0.0.1:18081/posts/{{{{input.user_id}}}}"
  headers: {{ Accept: application/json, X-Version: "{version}" }}
  timeout: 2s
output:
  status_code:   {{ from: status }}
  external_id:   {{ path: $.id, type: integer }}
  title:         {{ path: $.title, type: string }}
  body:          {{ path: $.body, type: string }}
  error_message: {{ value: "" }}
"#
    )
}

pub fn write_bridges(dir: &Path, count: usize, version: usize) {
    for i in 0..count {
        std::fs::write(
            dir.join(format!("bridge-{i:05}.yaml")),
            bridge_text(i, version),
        )
        .unwrap();
    }
}
