//! Every shape problem of a file, not only the first.
//!
//! serde stops at the first error, which is all a server needs but leaves an author fixing a
//! file one problem per run. When the whole-file parse fails, the file is read once more as a
//! generic YAML value and each top-level section, then each key inside it, is deserialized on
//! its own into the file's schema ([`super::BridgeFile`] or [`super::ConnectionFile`]), the very one the parse uses, so every message is one the
//! parse itself would give. A probe holds a single key, so the "missing field" errors it
//! causes by leaving out its siblings are ignored. The happy path never comes here.

use serde_path_to_error::Segment;
use serde_yaml::{Mapping, Value};

use super::ParseError;
use super::locate::KeyMap;
use serde::de::DeserializeOwned;

/// A shape problem: the dotted key path it happened at, and serde's message.
struct Found {
    path: String,
    message: String,
}

/// Every shape problem of `text` that serde finds when each section and each key of a
/// section is read alone. Empty when the text is not a YAML mapping (the first error is then
/// all there is). Runs within the caller's `${VAR}` scope.
pub(super) fn every_problem<T: DeserializeOwned>(text: &str) -> Vec<ParseError> {
    let Ok(Value::Mapping(root)) = serde_yaml::from_str::<Value>(text) else {
        return Vec::new();
    };
    let keys = KeyMap::of(text);
    let mut found = Vec::new();
    for (key, value) in &root {
        let Some(name) = key.as_str() else { continue };
        found.extend(section::<T>(name, value));
    }
    found
        .into_iter()
        .map(|f| {
            let message = match f.path.as_str() {
                "" => f.message,
                path => format!("{path}: {}", f.message),
            };
            ParseError {
                location: keys.locate(&message),
                message,
            }
        })
        .collect()
}

/// The problems of one top-level section: each of its keys alone, so that one bad key does
/// not hide the next; the section whole for what only it can tell (a required key missing).
fn section<T: DeserializeOwned>(name: &str, value: &Value) -> Vec<Found> {
    let Some(whole) = probe::<T>(&[(name, value)]) else {
        return Vec::new();
    };
    let Value::Mapping(inner) = value else {
        return vec![whole];
    };
    let mut found: Vec<Found> = inner
        .iter()
        .filter_map(|(k, v)| {
            let mut one = Mapping::new();
            one.insert(k.clone(), v.clone());
            probe::<T>(&[(name, &Value::Mapping(one))])
        })
        .filter(|f| !(f.path == name && f.message.starts_with("missing field")))
        .collect();
    if found.is_empty() || (whole.path == name && whole.message.starts_with("missing field")) {
        found.push(whole);
    }
    found
}

/// Deserializes a file holding only `pairs`; the first problem that is not a top-level
/// "missing field" (the probe leaves out the rest of the file on purpose).
fn probe<T: DeserializeOwned>(pairs: &[(&str, &Value)]) -> Option<Found> {
    let mut root = Mapping::new();
    for (k, v) in pairs {
        root.insert(Value::String((*k).to_owned()), (*v).clone());
    }
    let error = serde_path_to_error::deserialize::<_, T>(Value::Mapping(root)).err()?;
    let mut path = dotted(error.path());
    let message = error.into_inner().to_string();
    // The parse names an unknown key's parent (`upstream: unknown field `timout``); so do we.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next());
    if let Some(parent) = unknown.and_then(|key| path.strip_suffix(key)) {
        path = parent.trim_end_matches('.').to_owned();
    }
    if path.is_empty() && message.starts_with("missing field") {
        return None;
    }
    Some(Found { path, message })
}

/// `upstream.headers.X`, `input.a.enum[0]`; stops at a key that is not a string.
fn dotted(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    out
}
