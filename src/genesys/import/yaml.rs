//! A small YAML writer that can place a comment above any key: serde_yaml cannot, and the
//! importer must put each `# TODO(import):` where the hand edit is needed.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(Value),
    Map(Vec<Entry>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Node,
    /// Comment lines written above the key, without the leading `# `.
    pub comments: Vec<String>,
}

impl Entry {
    pub fn new(key: impl Into<String>, value: Node) -> Self {
        Entry {
            key: key.into(),
            value,
            comments: Vec::new(),
        }
    }

    pub fn with_comments(mut self, comments: Vec<String>) -> Self {
        self.comments.extend(comments);
        self
    }
}

impl Node {
    pub fn str(s: impl Into<String>) -> Self {
        Node::Scalar(Value::String(s.into()))
    }

    /// A JSON value as block YAML, each object's keys in the order `source` (the JSON text
    /// it was parsed from) has them.
    pub fn from_json(value: &Value, source: &str) -> Self {
        match value {
            Value::Object(map) if !map.is_empty() => Node::Map(
                in_source_order(map, source)
                    .into_iter()
                    .map(|(k, v)| Entry::new(k.clone(), Node::from_json(v, source)))
                    .collect(),
            ),
            Value::Array(items) if !items.is_empty() => {
                Node::Seq(items.iter().map(|v| Node::from_json(v, source)).collect())
            }
            other => Node::Scalar(other.clone()),
        }
    }
}

/// A value written as it is: `${` in its strings doubled, so that loading it does not read
/// an environment variable there.
pub fn literal(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("${", "$${")),
        Value::Array(items) => Value::Array(items.iter().map(literal).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), literal(v))).collect())
        }
        other => other.clone(),
    }
}

/// serde_json's map is sorted by key; an export reads best in its author's order, which the
/// text it came from still has (a key found nowhere goes last).
pub fn in_source_order<'a>(
    map: &'a serde_json::Map<String, Value>,
    source: &str,
) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(k, _)| {
        let quoted = Value::String((*k).clone()).to_string();
        source.find(&quoted).unwrap_or(usize::MAX)
    });
    entries
}

/// The document: top-level entries, each preceded by its comments.
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    write_map(&mut out, entries, 0);
    out
}

fn write_map(out: &mut String, entries: &[Entry], indent: usize) {
    for entry in entries {
        for c in &entry.comments {
            push_line(out, indent, &format!("# {c}"));
        }
        let key = scalar(&Value::String(entry.key.clone()));
        match &entry.value {
            Node::Scalar(v) => push_line(out, indent, &format!("{key}: {}", scalar(v))),
            Node::Map(m) if m.is_empty() => push_line(out, indent, &format!("{key}: {{}}")),
            Node::Map(m) if is_short(m) => push_line(out, indent, &format!("{key}: {}", flow(m))),
            Node::Map(m) => {
                push_line(out, indent, &format!("{key}:"));
                write_map(out, m, indent + 2);
            }
            Node::Seq(items) if items.iter().all(|i| matches!(i, Node::Scalar(_))) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Node::Scalar(v) => scalar(v),
                        _ => unreachable!(),
                    })
                    .collect();
                push_line(out, indent, &format!("{key}: [{}]", parts.join(", ")));
            }
            Node::Seq(items) => {
                push_line(out, indent, &format!("{key}:"));
                write_seq(out, items, indent + 2);
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Node], indent: usize) {
    for item in items {
        let mut inner = String::new();
        match item {
            Node::Scalar(v) => inner.push_str(&format!("{}\n", scalar(v))),
            Node::Map(m) => write_map(&mut inner, m, 0),
            Node::Seq(s) => write_seq(&mut inner, s, 0),
        }
        for (i, line) in inner.lines().enumerate() {
            let lead = if i == 0 { "- " } else { "  " };
            push_line(out, indent, &format!("{lead}{line}"));
        }
    }
}

/// A map of a few scalars without comments reads best on one line, `{ type: string }`.
fn is_short(m: &[Entry]) -> bool {
    m.len() <= 4
        && m.iter().all(|e| {
            e.comments.is_empty()
                && matches!(&e.value, Node::Scalar(v) if !v.is_object() && !v.is_array())
        })
        && flow(m).len() <= 90
}

fn flow(m: &[Entry]) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|e| match &e.value {
            Node::Scalar(v) => format!("{}: {}", scalar(&Value::String(e.key.clone())), scalar(v)),
            _ => unreachable!(),
        })
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

fn push_line(out: &mut String, indent: usize, line: &str) {
    out.extend(std::iter::repeat_n(' ', indent));
    out.push_str(line);
    out.push('\n');
}

/// A scalar: plain when that cannot be misread, else JSON (a JSON string is a valid YAML
/// double-quoted scalar, and a JSON array or object valid YAML flow).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if is_plain(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_plain(s: &str) -> bool {
    const WORDS: [&str; 12] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", "nan", "inf",
    ];
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '/' || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_sit_above_their_key_and_output_parses_back() {
        let doc = vec![
            Entry::new("name", Node::str("x")),
            Entry::new(
                "upstream",
                Node::Map(vec![
                    Entry::new("url", Node::str("https://h/${A}/{{input.b}}"))
                        .with_comments(vec!["TODO(import): look".into()]),
                    Entry::new(
                        "body",
                        Node::from_json(
                            &json!({"c": {}, "a": [1, {"b": "yes"}]}),
                            "{\"c\": {}, \"a\"",
                        ),
                    ),
                ]),
            ),
        ];
        let text = render(&doc);
        assert!(text.contains("  # TODO(import): look\n  url: "), "{text}");
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            back["upstream"]["body"],
            json!({"a": [1, {"b": "yes"}], "c": {}})
        );
        assert_eq!(back["upstream"]["url"], "https://h/${A}/{{input.b}}");
    }
}
