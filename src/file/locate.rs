//! Where each key of a bridge file stands in its text.
//!
//! Problems found after parsing (a JSONPath that does not parse, a template naming an
//! undeclared input, a Genesys rule) are plain messages that begin with the dotted key path of
//! the offending key, `output.name.path: …`. serde keeps no positions once a file is parsed, so
//! the text is read a second time, only when there is a problem to place, with an event parser
//! that reports marks. Anything odd (invalid YAML, complex keys, aliases) leaves the affected
//! keys without a position rather than failing.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::Location;

/// The position of every key of one file, by dotted key path (`upstream.query.q`, sequence
/// items as `enum[0]`).
#[derive(Debug, Default)]
pub struct KeyMap {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

#[derive(Debug)]
struct Entry {
    path: String,
    key: Location,
    value: Location,
    /// The text of a scalar value; `None` for a mapping, a sequence or an alias.
    scalar: Option<String>,
    /// For a scalar written on one line without escapes, how far its text starts from
    /// `value` (past a quote), so that a column within the text is a column within the file.
    verbatim: Option<usize>,
}

/// One open mapping or sequence. `path` is `None` inside a complex key, which no message names.
struct Frame {
    path: Option<String>,
    kind: FrameKind,
}

enum FrameKind {
    Map { key: Key },
    Seq { next: usize },
}

/// Where a mapping is between its keys and values.
enum Key {
    /// The next node is a key.
    Awaiting,
    /// The next node is the value of this key.
    Named(String, Location),
    /// The next node is the value of a complex key (a mapping or sequence used as a key).
    Complex,
}

impl KeyMap {
    /// Reads `text`; a YAML error ends the reading, keeping the keys seen before it.
    pub fn of(text: &str) -> KeyMap {
        let mut map = KeyMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            match event {
                Event::Scalar(value, style, ..) => {
                    let verbatim = verbatim(&value, style, span);
                    map.scalar(&mut stack, value.into_owned(), at(span), verbatim);
                }
                Event::Alias(_) => {
                    map.node(&mut stack, at(span), None, None);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let path = map.node(&mut stack, at(span), None, None);
                    let kind = match event {
                        Event::MappingStart(..) => FrameKind::Map { key: Key::Awaiting },
                        _ => FrameKind::Seq { next: 0 },
                    };
                    stack.push(Frame { path, kind });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        map
    }

    /// A scalar is either the next key of a mapping or a value.
    fn scalar(
        &mut self,
        stack: &mut [Frame],
        value: String,
        at: Location,
        verbatim: Option<usize>,
    ) {
        if let Some(Frame {
            kind: FrameKind::Map {
                key: key @ Key::Awaiting,
            },
            ..
        }) = stack.last_mut()
        {
            *key = Key::Named(value, at);
            return;
        }
        self.node(stack, at, Some(value), verbatim);
    }

    /// Records a value at `at` under the innermost open node; returns its path.
    fn node(
        &mut self,
        stack: &mut [Frame],
        at: Location,
        scalar: Option<String>,
        verbatim: Option<usize>,
    ) -> Option<String> {
        let Some(frame) = stack.last_mut() else {
            return Some(String::new());
        };
        let (path, key_at) = match &mut frame.kind {
            FrameKind::Map { key } => match std::mem::replace(key, Key::Awaiting) {
                Key::Named(name, key_at) => (join(frame.path.as_deref()?, &name), key_at),
                Key::Complex => return None,
                // A mapping or sequence in key position: a complex key, never named by a message.
                Key::Awaiting => {
                    *key = Key::Complex;
                    return None;
                }
            },
            FrameKind::Seq { next } => {
                *next += 1;
                (format!("{}[{}]", frame.path.as_deref()?, *next - 1), at)
            }
        };
        self.index.entry(path.clone()).or_insert(self.entries.len());
        self.entries.push(Entry {
            path: path.clone(),
            key: key_at,
            value: at,
            scalar,
            verbatim,
        });
        Some(path)
    }

    /// The position of the key at `path`, or of its value when that is a scalar.
    pub fn at(&self, path: &str) -> Option<Location> {
        self.get(path).map(Entry::position)
    }

    fn get(&self, path: &str) -> Option<&Entry> {
        self.index.get(path).map(|&i| &self.entries[i])
    }

    /// Where the problem `message` (`KEY.PATH: what is wrong`) stands: the deepest key its
    /// leading key path names, then, within that key, a key or scalar the message quotes in
    /// backticks (`` `minimum` ``, `` `$.a.0` ``).
    pub fn locate(&self, message: &str) -> Option<Location> {
        let mut parts = message.split(": ");
        let Some(mut entry) = self.longest_prefix(parts.next()?) else {
            // `unknown field `extra``: a top-level key, named only in backticks.
            return self.quoted_keys("", message);
        };
        let mut rest = message.split_once(": ").map_or("", |(_, r)| r);
        // `output.x: default: …` names `output.x.default`.
        for part in parts {
            match self.get(&join(&entry.path, part)) {
                Some(deeper) => {
                    entry = deeper;
                    rest = rest.split_once(": ").map_or("", |(_, r)| r);
                }
                None => break,
            }
        }
        Some(
            self.quoted_within(entry, rest)
                .unwrap_or_else(|| entry.inner(rest)),
        )
    }

    /// The entry for `path`, or for its longest parent that the file has.
    fn longest_prefix(&self, path: &str) -> Option<&Entry> {
        let mut path = path.trim();
        loop {
            if let Some(entry) = self.get(path) {
                return Some(entry);
            }
            path = &path[..path.rfind(['.', '['])?];
        }
    }

    /// A key of `parent` that `message` quotes in backticks; with `` `key: value` ``, the value.
    fn quoted_keys(&self, parent: &str, message: &str) -> Option<Location> {
        message.split('`').skip(1).step_by(2).find_map(|q| {
            let (key, value) = q.split_once(": ").unwrap_or((q, ""));
            let child = self.get(&join(parent, key))?;
            Some(match value.is_empty() {
                true => child.key,
                false => child.value,
            })
        })
    }

    fn quoted_within(&self, entry: &Entry, message: &str) -> Option<Location> {
        if let Some(at) = self.quoted_keys(&entry.path, message) {
            return Some(at);
        }
        let inside = |e: &&Entry| {
            e.path
                .strip_prefix(entry.path.as_str())
                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        };
        for q in message.split('`').skip(1).step_by(2) {
            if let Some(found) = self
                .entries
                .iter()
                .filter(inside)
                .find(|e| e.scalar.as_deref() == Some(q))
            {
                return Some(found.inner(message));
            }
        }
        None
    }
}

impl Entry {
    fn position(&self) -> Location {
        match self.scalar {
            Some(_) => self.value,
            None => self.key,
        }
    }

    /// Within the scalar's text, where `message` gives a place in it: a JSONPath's
    /// `at column N`, a one-line template's `at 1:N`.
    fn inner(&self, message: &str) -> Location {
        let number = |s: &str| -> Option<usize> {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok().filter(|n| *n >= 1)
        };
        let column = message
            .split_once("at column ")
            .or_else(|| message.split_once(" at 1:"))
            .and_then(|(_, rest)| number(rest));
        match (self.verbatim, column) {
            (Some(offset), Some(n)) => Location {
                line: self.value.line,
                column: self.value.column + offset + n - 1,
            },
            _ => self.position(),
        }
    }
}

/// How far the text of a one-line scalar written without escapes starts from its first
/// character: 0 when plain, 1 past the quote; `None` when a column in the text is not one in
/// the file.
fn verbatim(value: &str, style: ScalarStyle, span: Span) -> Option<usize> {
    let quotes = match style {
        ScalarStyle::Plain => 0,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => 1,
        _ => return None,
    };
    let one_line = span.start.line() == span.end.line();
    let width = span.end.col().checked_sub(span.start.col())?;
    (one_line && width == value.chars().count() + 2 * quotes).then_some(quotes)
}

fn join(parent: &str, key: &str) -> String {
    match parent {
        "" => key.to_owned(),
        _ => format!("{parent}.{key}"),
    }
}

/// saphyr counts lines from 1 and columns from 0; the YAML parser's messages count both from 1.
fn at(span: Span) -> Location {
    Location {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
route: {path: /x}
input:
  id: {type: integer, minimum: 'a'}
upstream:
  url: 'http://h/'
  query:
    q: \"{{#if input.id}}\"
  headers:
    X.Y: v
output:
  name:
    path: $.results.0.name
    default: 3
  list: {path: '$.a', enum: [x, y]}
";

    fn loc(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    #[test]
    fn a_key_path_points_at_a_scalar_value_or_at_the_key() {
        let map = KeyMap::of(FILE);
        assert_eq!(map.at("route.path"), loc(1, 15));
        assert_eq!(map.at("upstream.query.q"), loc(7, 8));
        assert_eq!(map.at("upstream.headers.X.Y"), loc(9, 10));
        assert_eq!(map.at("output.name"), loc(11, 3));
        assert_eq!(map.at("output.list.enum[1]"), loc(14, 33));
    }

    #[test]
    fn a_message_is_placed_by_its_key_path_and_what_it_quotes() {
        let map = KeyMap::of(FILE);
        let cases = [
            ("upstream.query.q: template does not parse", loc(7, 8)),
            ("output.name: JSONPath `$.results.0.name` bad", loc(12, 11)),
            (
                "output.name: JSONPath `$.results.0.name` does not parse: at column 10: x",
                loc(12, 20),
            ),
            (
                "upstream.query.q: template does not parse at 1:17: x",
                loc(7, 25),
            ),
            (
                "output.list: JSONPath `$.a` does not parse: at column 2",
                loc(14, 18),
            ),
            ("output.name: default: expected a string", loc(13, 14)),
            ("input.id: `minimum` applies only to numbers", loc(3, 23)),
            ("output.name.count.deeper: x", loc(11, 3)),
            ("upstream.headers.X.Y: bad", loc(9, 10)),
            ("nothing.here: x", None),
            ("no key path at all", None),
        ];
        for (message, want) in cases {
            assert_eq!(map.locate(message), want, "{message}");
        }
    }

    proptest::proptest! {
        /// Any text, YAML or not: the locator and the every-problem pass keep to `Option`s.
        #[test]
        fn no_text_makes_the_locator_or_the_parse_panic(
            text in "[a-z:{}\\[\\],'\"&*?#|>\\- \n{{}}$.0-9]{0,80}",
            message in "[a-z.\\[\\]0-9`: ]{0,30}",
        ) {
            let _ = KeyMap::of(&text).locate(&message);
            let env: std::sync::Arc<dyn crate::file::env::EnvSource> =
                std::sync::Arc::new(std::collections::HashMap::new());
            let _ = crate::file::parse(&text, &env);
        }

        /// A bridge file with a few characters changed somewhere, the usual broken file.
        #[test]
        fn a_damaged_file_never_makes_the_parse_panic(
            at in 0..FILE.len(),
            insert in "[a-z:{}\\[\\]'\"&*#\\- \n$.0-9]{1,4}",
        ) {
            let mut text = FILE.to_owned();
            if text.is_char_boundary(at) {
                text.insert_str(at, &insert);
            }
            let env: std::sync::Arc<dyn crate::file::env::EnvSource> =
                std::sync::Arc::new(std::collections::HashMap::new());
            if let Err(errors) = crate::file::parse(&text, &env) {
                assert!(!errors.is_empty());
            }
        }
    }

    #[test]
    fn odd_yaml_gives_what_it_can_and_never_panics() {
        for text in [
            "",
            "[1, 2]",
            "a: [",
            "? [a, b]\n: c\nd: e\n",
            "a: &x {b: 1}\nc: *x\n",
            "{{input.x}}: 1",
            "a:\n  - {b: 1}\n  - c\n",
            "\u{feff}a: 1",
        ] {
            let _ = KeyMap::of(text).locate("a.b: x");
        }
        assert_eq!(KeyMap::of("? [a, b]\n: c\nd: e\n").at("d"), loc(3, 4));
        assert_eq!(KeyMap::of("a:\n  - {b: 1}\n").at("a[0].b"), loc(2, 9));
    }
}
