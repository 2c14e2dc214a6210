//! JSONPath expressions, parsed once at load with jsonpath-rust (RFC 9535).
//!
//! Whether a path names one value or may name many is decided from its shape at load, never
//! from how many results a response happens to give. A singular path (only name and index
//! selectors, the overwhelmingly common `$.title`) is walked directly, which skips the
//! library's per-node path bookkeeping; every other path runs the library's precompiled query.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct CompiledPath {
    source: String,
    kind: Kind,
    /// Written with Genesys' trailing `.length()`: the field counts what the rest names.
    length: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Singular(Vec<Step>),
    Query(Box<JpQuery>),
}

/// One step of a singular path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(i64),
}

impl CompiledPath {
    /// Compiles `source`, also as Genesys writes paths: without the leading `$`
    /// (`['a'][0]`, `a.b`), with `.[` for `[`, and with a trailing `.length()`.
    pub fn compile(source: &str) -> Result<Self, String> {
        let (standard, length) = standard_form(source)?;
        let query = parse_json_path(&standard).map_err(|e| match bracketed_indexes(&standard) {
            Some(fixed) => format!(
                "JSONPath `{source}` does not parse: an array index goes in brackets: write `{fixed}`"
            ),
            None => format!(
                "JSONPath `{source}` does not parse: {}",
                one_line(&e.to_string())
            ),
        })?;
        if let Some(parent) = reads_length(&standard) {
            return Err(format!(
                "JSONPath `{source}` ends in `.length`, which JSONPath reads as a property \
                 named length, not as a count (an array has no such property, so the value \
                 would silently be missing): to count the items write `count: {parent}`; for a \
                 property really named length write `{parent}['length']`"
            ));
        }
        let kind = match singular_steps(&query) {
            Some(steps) => Kind::Singular(steps),
            None => Kind::Query(Box::new(query)),
        };
        Ok(CompiledPath {
            source: source.to_owned(),
            kind,
            length,
        })
    }

    /// Did the path end in `.length()`?
    pub fn is_length(&self) -> bool {
        self.length
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The steps of a singular path; `None` for a path that may name many values.
    pub fn steps(&self) -> Option<&[Step]> {
        match &self.kind {
            Kind::Singular(steps) => Some(steps),
            Kind::Query(_) => None,
        }
    }

    /// Can this path name more than one value (wildcards, slices, filters, `..`)?
    pub fn is_singular(&self) -> bool {
        matches!(self.kind, Kind::Singular(_))
    }

    /// Every value the path names, in document order.
    pub fn select<'a>(&self, doc: &'a Value) -> Vec<&'a Value> {
        match &self.kind {
            Kind::Singular(steps) => walk(steps, doc).into_iter().collect(),
            // A query error here means the document lacks what a filter compares; it names nothing.
            Kind::Query(q) => js_path_process(q, doc)
                .map(|found| found.into_iter().map(|r| r.val).collect())
                .unwrap_or_default(),
        }
    }

    /// The first value the path names.
    pub fn first<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        match &self.kind {
            Kind::Singular(steps) => walk(steps, doc),
            Kind::Query(_) => self.select(doc).into_iter().next(),
        }
    }
}

/// `source` in RFC 9535 form, and whether it ended in `.length()`.
fn standard_form(source: &str) -> Result<(String, bool), String> {
    let text = source.trim();
    let (text, length) = match text.strip_suffix(".length()") {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let rooted = match text.chars().next() {
        Some('$') => text.to_owned(),
        Some('[' | '.') => format!("${text}"),
        Some(c) if c.is_alphabetic() || c == '_' => format!("$.{text}"),
        _ => {
            return Err(format!(
                "JSONPath `{source}` must start with `$` (for example `$.title`)"
            ));
        }
    };
    Ok((dot_brackets(&rooted), length))
}

/// Jayway (and so Genesys) reads `.[` as `[`; RFC 9535 does not. Quoted names keep theirs.
fn dot_brackets(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut quote: Option<char> = None;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
                continue;
            }
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            // `..[` is the descendant segment and stays.
            (None, '.') if chars.peek() == Some(&'[') && !out.ends_with('.') => continue,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// `$.results.0.name` as `$.results[0].name`, when the path holds a dot before an index.
fn bracketed_indexes(source: &str) -> Option<String> {
    static DOT_INDEX: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\.(-?[0-9]+)([.\[]|$)").unwrap());
    let mut fixed = source.to_owned();
    // Adjacent indexes (`.0.1`) share a dot, so one pass leaves every other one.
    while let std::borrow::Cow::Owned(next) = DOT_INDEX.replace_all(&fixed, "[$1]$2") {
        fixed = next;
    }
    (fixed != source && parse_json_path(&fixed).is_ok()).then_some(fixed)
}

/// The path before a last `.length` step: JavaScript's way to count, which JSONPath reads as a
/// property no array has.
fn reads_length(source: &str) -> Option<&str> {
    source.trim_end().strip_suffix(".length")
}

/// The parser draws a multi-line caret diagram; keep its position and its last word.
fn one_line(message: &str) -> String {
    let column = message
        .split_once("--> ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|pos| pos.split(':').nth(1));
    let reason = message
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("= "));
    match (column, reason) {
        (Some(column), Some(reason)) => format!("at column {column}: {reason}"),
        _ => message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn singular_steps(query: &JpQuery) -> Option<Vec<Step>> {
    query
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Selector(s) => step(s),
            Segment::Selectors(list) if list.len() == 1 => step(&list[0]),
            _ => None,
        })
        .collect()
}

fn step(selector: &Selector) -> Option<Step> {
    match selector {
        // The parser has already taken off the outer quotes and decoded the escapes: quotes
        // left at the ends (`$["'q'"]`) are part of the key.
        Selector::Name(name) => Some(Step::Key(name.clone())),
        Selector::Index(i) => Some(Step::Index(*i)),
        _ => None,
    }
}

pub(crate) fn walk<'a>(steps: &[Step], doc: &'a Value) -> Option<&'a Value> {
    steps.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.as_object()?.get(k),
        Step::Index(i) => {
            let items = v.as_array()?;
            let at = if *i < 0 {
                items.len().checked_sub(i.unsigned_abs() as usize)?
            } else {
                *i as usize
            };
            items.get(at)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mistakes_from_javascript_say_what_to_write() {
        let err = CompiledPath::compile("$.results.0.name").unwrap_err();
        assert!(err.ends_with("write `$.results[0].name`"), "{err}");
        let err = CompiledPath::compile("$.a.0.1").unwrap_err();
        assert!(err.ends_with("write `$.a[0][1]`"), "{err}");
        let err = CompiledPath::compile("$.results[0].open_cases.length").unwrap_err();
        assert!(err.contains("`count: $.results[0].open_cases`"), "{err}");
        let path = CompiledPath::compile("$.results[0]['length']").unwrap();
        assert_eq!(
            path.first(&json!({"results": [{"length": 3}]})),
            Some(&json!(3))
        );
    }

    /// What jsonpath-rust itself selects.
    fn library<'a>(path: &str, doc: &'a Value) -> Vec<&'a Value> {
        let q = parse_json_path(path).unwrap();
        js_path_process(&q, doc)
            .unwrap()
            .into_iter()
            .map(|r| r.val)
            .collect()
    }

    fn doc() -> Value {
        json!({"id": 42, "a b": "spaced", "items": [{"name": "x", "price": 5}, {"name": "y", "price": 20}]})
    }

    #[test]
    fn singular_paths_are_recognised_and_walked() {
        for (path, want) in [
            ("$.id", json!(42)),
            ("$['a b']", json!("spaced")),
            ("$.items[1].name", json!("y")),
            ("$.items[-1].price", json!(20)),
            ("$", doc()),
        ] {
            let p = CompiledPath::compile(path).unwrap();
            assert!(p.is_singular(), "{path}");
            assert_eq!(p.first(&doc()), Some(&want), "{path}");
        }
        assert_eq!(
            CompiledPath::compile("$.nope.deeper")
                .unwrap()
                .first(&doc()),
            None
        );
    }

    #[test]
    fn agrees_with_the_library_on_singular_paths() {
        let doc = doc();
        for path in [
            "$.id",
            "$['a b']",
            "$.items[1].name",
            "$.items[-1].price",
            "$.items[5]",
        ] {
            let ours = CompiledPath::compile(path).unwrap();
            assert_eq!(ours.select(&doc), library(path, &doc), "{path}");
        }
    }

    fn quoted_keys() -> Value {
        json!({
            "q": "plain", "'q'": "in single quotes", "\"q\"": "in double quotes",
            "''": "two single quotes", "\"\"": "two double quotes", "": "empty", "😀": "emoji",
            "lists": {"'q'": [1, 2], "q": [3]},
        })
    }

    #[test]
    fn a_bracketed_name_is_what_stands_between_its_outer_quotes() {
        let doc = quoted_keys();
        for (path, key) in [
            (r#"$["'q'"]"#, "'q'"),
            (r#"$['"q"']"#, "\"q\""),
            (r#"$["''"]"#, "''"),
            (r#"$['""']"#, "\"\""),
            ("$['']", ""),
            (r#"$[""]"#, ""),
            ("$['q']", "q"),
            (r"$['\'q\'']", "'q'"),
            (r#"$["\"q\""]"#, "\"q\""),
            (r"$['\u0071']", "q"),
            (r#"$["\ud83d\ude00"]"#, "😀"),
        ] {
            let p = CompiledPath::compile(path).unwrap();
            assert!(p.is_singular(), "{path}");
            assert_eq!(p.steps(), Some(&[Step::Key(key.to_owned())][..]), "{path}");
            assert_eq!(p.first(&doc), Some(&doc[key]), "{path}");
            assert_eq!(p.select(&doc), library(path, &doc), "{path}");
        }
    }

    #[test]
    fn many_valued_paths_read_quoted_names_as_written() {
        let doc = quoted_keys();
        for (path, want) in [
            (r#"$.lists["'q'"][*]"#, vec![json!(1), json!(2)]),
            (r#"$.lists['q'][*]"#, vec![json!(3)]),
            (
                r#"$["''", '""', "'q'"]"#,
                vec![doc["''"].clone(), doc["\"\""].clone(), doc["'q'"].clone()],
            ),
            (r#"$..["'q'"]"#, vec![doc["'q'"].clone(), json!([1, 2])]),
        ] {
            let p = CompiledPath::compile(path).unwrap();
            assert!(!p.is_singular(), "{path}");
            let got: Vec<Value> = p.select(&doc).into_iter().cloned().collect();
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn many_valued_paths_use_the_query() {
        let p = CompiledPath::compile("$.items[?@.price > 10].name").unwrap();
        assert!(!p.is_singular());
        assert_eq!(p.select(&doc()), [&json!("y")]);
        let all = CompiledPath::compile("$.items[*].name").unwrap();
        assert_eq!(all.first(&doc()), Some(&json!("x")));
    }

    #[test]
    fn genesys_forms_compile_to_their_standard_form() {
        let doc = json!({"a": {"b c": [1, {"d": "x"}]}, "items": [1, 2, 3], "k.[x]": 9});
        for (genesys, standard) in [
            ("['a']['b c'][1]", "$['a']['b c'][1]"),
            ("a.items", "$.a.items"),
            (".a['b c'][0]", "$.a['b c'][0]"),
            ("$.['a'].['b c'][1].d", "$['a']['b c'][1].d"),
            ("$.a.['b c'][*]", "$.a['b c'][*]"),
            ("$..['d']", "$..['d']"),
            ("$['k.[x]']", "$['k.[x]']"),
        ] {
            let g = CompiledPath::compile(genesys).unwrap();
            let s = CompiledPath::compile(standard).unwrap();
            assert_eq!(g.select(&doc), s.select(&doc), "{genesys}");
            assert_eq!(g.is_singular(), s.is_singular(), "{genesys}");
            assert!(!g.is_length());
        }
        let length = CompiledPath::compile("$.items.length()").unwrap();
        assert!(length.is_length());
        assert_eq!(length.first(&doc), Some(&json!([1, 2, 3])));
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "  ", "@.x", "1a"] {
            assert!(
                CompiledPath::compile(bad)
                    .unwrap_err()
                    .contains("must start with `$`"),
                "{bad:?}"
            );
        }
        assert_eq!(
            CompiledPath::compile("$.items[").unwrap_err(),
            "JSONPath `$.items[` does not parse: at column 9: expected selector"
        );
    }
}
