//! Names made from what an export says: file names, connection names.

/// `Get On Queue Agent Counts - Exported 2024-01-01 @ 10:00` → `get-on-queue-agent-counts`.
pub fn slug(name: &str) -> String {
    let name = name.split(" - Exported ").next().unwrap_or(name);
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "action".to_owned()
    } else {
        out
    }
}
