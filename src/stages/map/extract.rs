//! The upstream body read for just the values the output's paths name.
//!
//! When every path of a bridge's output is singular (name and index steps, like `$.title`),
//! the paths are merged at load into a tree of the keys and positions they go through. The
//! body is then parsed once against that tree: values on the way are descended into, the
//! values the paths name are built, and everything else is checked and skipped without being
//! built. Building the whole document as a `serde_json::Value` and walking it afterwards cost
//! a fetch-post request more than validating, rendering and writing its reply together (a map
//! per object, a string per key, then a copy of each value taken).
//!
//! The answers are exactly those of parsing everything and walking each path: a duplicate key
//! replaces what its earlier copy gave, a value of the wrong shape on the way names nothing,
//! and a body a full parse refuses is refused, also for a fault in a part nobody reads.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::jsonpath::{Step, walk};

/// The visitor methods for scalars, which keep nothing: a scalar where the paths go on names
/// nothing, and a skipped one is only checked (by the parser, before the visit).
macro_rules! scalars_name_nothing {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

/// The merged paths of one output mapping. Each path has a slot: the index it was given in
/// [`Extractor::new`].
#[derive(Debug, Clone)]
pub struct Extractor {
    root: Node,
    slots: usize,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Slots of every path through or ending at this node, each with its steps from here on.
    /// A node whose value is built whole answers them all by walking that value.
    below: Vec<(usize, Vec<Step>)>,
    /// Build this node's value whole: a path ends here, or a step from here counts from the
    /// end of an array, which is only known once the array is read.
    whole: bool,
    /// Object members on some path, found by a linear scan: a mapping names a handful.
    keys: Vec<(Box<str>, Node)>,
    /// Array positions on some path.
    indices: Vec<(usize, Node)>,
}

impl Extractor {
    /// Merges `paths` (`None` where a field has no path; its slot stays empty).
    pub fn new<'a>(paths: impl IntoIterator<Item = Option<&'a [Step]>>) -> Self {
        let mut root = Node::default();
        let mut slots = 0;
        for (slot, steps) in paths.into_iter().enumerate() {
            slots = slot + 1;
            if let Some(steps) = steps {
                root.insert(slot, steps);
            }
        }
        Extractor { root, slots }
    }

    /// One value (or none) per slot, or `None` if `body` is not JSON.
    pub fn extract(&self, body: &[u8]) -> Option<Vec<Option<Value>>> {
        // The whole body is checked as UTF-8 up front, as a full parse would check it: a
        // skipped string is otherwise only checked for its escapes.
        let text = std::str::from_utf8(body).ok()?;
        let mut found = vec![None; self.slots];
        let mut de = serde_json::Deserializer::from_str(text);
        let seed = NodeSeed {
            node: &self.root,
            found: &mut found,
        };
        seed.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(found)
    }
}

impl Node {
    fn insert(&mut self, slot: usize, steps: &[Step]) {
        self.below.push((slot, steps.to_vec()));
        let Some((first, rest)) = steps.split_first() else {
            self.whole = true;
            return;
        };
        let child = match first {
            Step::Key(key) => match self.keys.iter().position(|(k, _)| **k == **key) {
                Some(i) => &mut self.keys[i].1,
                None => {
                    self.keys.push((key.as_str().into(), Node::default()));
                    &mut self.keys.last_mut().expect("just pushed").1
                }
            },
            Step::Index(i) if *i >= 0 => {
                let i = *i as usize;
                match self.indices.iter().position(|(at, _)| *at == i) {
                    Some(p) => &mut self.indices[p].1,
                    None => {
                        self.indices.push((i, Node::default()));
                        &mut self.indices.last_mut().expect("just pushed").1
                    }
                }
            }
            Step::Index(_) => {
                self.whole = true;
                return;
            }
        };
        child.insert(slot, rest);
    }

    /// What this node's slots hold when its value is `value`.
    fn answer_from(&self, value: Value, found: &mut [Option<Value>]) {
        let mut value = Some(value);
        for (n, (slot, rest)) in self.below.iter().enumerate() {
            let last = n + 1 == self.below.len();
            found[*slot] = match (&value, rest.is_empty(), last) {
                (Some(_), true, true) => value.take(),
                (Some(v), _, _) => walk(rest, v).cloned(),
                (None, _, _) => None,
            };
        }
    }

    fn clear(&self, found: &mut [Option<Value>]) {
        for (slot, _) in &self.below {
            found[*slot] = None;
        }
    }
}

/// Parses one value against `node`, filling the slots of the paths through it.
struct NodeSeed<'n, 'f> {
    node: &'n Node,
    found: &'f mut [Option<Value>],
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        if self.node.whole {
            let value = Value::deserialize(de)?;
            self.node.answer_from(value, self.found);
            return Ok(());
        }
        // This value replaces whatever an earlier duplicate key gave these slots.
        self.node.clear(self.found);
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(KeySeed(&self.node.keys))? {
            match child {
                Some(node) => map.next_value_seed(NodeSeed {
                    node,
                    found: &mut *self.found,
                })?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut at = 0;
        loop {
            let child = self.node.indices.iter().find(|(i, _)| *i == at);
            let more = match child {
                Some((_, node)) => seq
                    .next_element_seed(NodeSeed {
                        node,
                        found: &mut *self.found,
                    })?
                    .is_some(),
                None => seq.next_element_seed(Skip)?.is_some(),
            };
            if !more {
                return Ok(());
            }
            at += 1;
        }
    }

    // A scalar where the paths go on names nothing; its slots were cleared already.
    scalars_name_nothing!();
}

/// Reads a value no path goes into, keeping nothing of it.
///
/// Not `IgnoredAny`: serde_json skips that without its recursion limit, without decoding `\u`
/// escapes and without reading numbers, so it passes nesting past 128, lone surrogates and
/// `1e400`, all of which a parse into a `Value` refuses. Going through `deserialize_any` runs
/// the very checks a `Value` parse runs; a string without escapes is still only borrowed.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Keys too: a full parse refuses a lone surrogate in a key.
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    scalars_name_nothing!();
}

/// Reads an object key and finds the member node it names, if any, without keeping the key.
struct KeySeed<'n>(&'n [(Box<str>, Node)]);

impl<'de, 'n> DeserializeSeed<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de, 'n> Visitor<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|(k, _)| **k == *key).map(|(_, n)| n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonpath::CompiledPath;

    const PATHS: &[&str] = &[
        "$",
        "$.id",
        "$.title",
        "$.user.name",
        "$.user",
        "$.user.tags[1]",
        "$.user.tags[-1]",
        "$.items[0].sku",
        "$.items[2]",
        "$['odd key']",
        "$.missing.deeper",
        "$[0]",
        "$[1].id",
    ];

    const DOCS: &[&str] = &[
        r#"{"id": 7, "title": "x", "user": {"name": "ann", "tags": ["a", "b", "c"]}}"#,
        r#"{"id": 1, "id": 2, "user": {"name": "first"}, "user": {"tags": []}}"#,
        r#"{"user": "not an object", "items": {"0": {"sku": 1}}, "title": null}"#,
        r#"{"items": [{"sku": "s0"}, 5, {"deep": [1, {"x": null}]}], "odd key": 1.5e3}"#,
        r#"{"ti\u0074le": "escaped key", "id": -0.0, "big": 18446744073709551615}"#,
        r#"[{"id": 1}, {"id": 2}, 3]"#,
        r#""just a string""#,
        "null",
        "  {} ",
    ];

    fn compiled(paths: &[&str]) -> Vec<CompiledPath> {
        paths
            .iter()
            .map(|p| CompiledPath::compile(p).unwrap())
            .collect()
    }

    fn extractor(paths: &[CompiledPath]) -> Extractor {
        Extractor::new(paths.iter().map(|p| p.steps()))
    }

    #[test]
    fn gives_what_a_full_parse_and_walk_gives() {
        let paths = compiled(PATHS);
        let together = extractor(&paths);
        for doc in DOCS {
            let full: Value = serde_json::from_str(doc).unwrap();
            let want: Vec<Option<Value>> = paths.iter().map(|p| p.first(&full).cloned()).collect();
            assert_eq!(together.extract(doc.as_bytes()).unwrap(), want, "{doc}");
            // Each path alone too: a tree of one path takes other turns than the merged one.
            for (path, want) in paths.iter().zip(&want) {
                let alone = extractor(std::slice::from_ref(path));
                let got = alone.extract(doc.as_bytes()).unwrap();
                assert_eq!(&got[0], want, "{} in {doc}", path.as_str());
            }
        }
    }

    #[test]
    fn refuses_a_body_that_is_not_json_also_where_no_path_goes() {
        let only_id = extractor(&compiled(&["$.id"]));
        assert_eq!(
            only_id.extract(br#"{"id": 1, "x": "y"}"#),
            Some(vec![Some(1.into())])
        );
        for bad in [
            &br#"{"id": 1, "skipped": [1, }"#[..],
            br#"{"id": 1, "skipped": "\q"}"#,
            b"{\"id\": 1, \"skipped\": \"\xff\"}",
            br#"{"id": 1} trailing"#,
            br#"{"id": 1"#,
            b"",
        ] {
            assert!(
                serde_json::from_slice::<Value>(bad).is_err(),
                "the case itself is not JSON"
            );
            assert_eq!(
                only_id.extract(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// What a full parse and a walk of each path give: `None` where the parse refuses.
    fn full_parse_and_walk(paths: &[CompiledPath], body: &str) -> Option<Vec<Option<Value>>> {
        let full: Value = serde_json::from_slice(body.as_bytes()).ok()?;
        Some(paths.iter().map(|p| p.first(&full).cloned()).collect())
    }

    /// `[[…1…]]` with `depth` brackets.
    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    /// The deepest nesting a full parse takes, counting every bracket from the top.
    const DEEPEST: usize = 127;

    fn skipped_at_depth(depth: usize) -> String {
        format!(r#"{{"id": 1, "skipped": {}}}"#, nested(depth - 1))
    }

    #[test]
    fn refuses_in_skipped_parts_what_a_full_parse_refuses() {
        let paths = compiled(&["$.id", "$.read[0]"]);
        let e = extractor(&paths);
        let mut bodies: Vec<String> = [
            r#"{"id": 1, "skipped": "\ud800"}"#,
            r#"{"id": 1, "skipped": "\udc00"}"#,
            r#"{"id": 1, "skipped": "\ud800\u0041"}"#,
            r#"{"id": 1, "skipped": "\ud800\ud800"}"#,
            r#"{"id": 1, "skipped": "tail \ud83d"}"#,
            r#"{"id": 1, "\ud800": 0}"#,
            r#"{"id": 1, "skipped": {"\udfff": 0}}"#,
            r#"{"id": 1, "read": [0, "\ud800"]}"#,
            r#"{"id": 1, "skipped": 1e400}"#,
            r#"{"id": 1, "skipped": [-1e400]}"#,
            r#"{"id": 1, "skipped": {"n": 18e307}}"#,
            r#"{"id": 1, "read": [0, 1e400]}"#,
        ]
        .map(str::to_owned)
        .into();
        bodies.push(skipped_at_depth(DEEPEST + 1));
        bodies.push(format!(
            r#"{{"id": 1, "read": [0, {}]}}"#,
            nested(DEEPEST - 1)
        ));
        bodies.push(format!(
            r#"{{"skipped": [{{"k": {}}}]}}"#,
            nested(DEEPEST - 2)
        ));
        for body in &bodies {
            assert_eq!(full_parse_and_walk(&paths, body), None, "{body}");
            assert_eq!(e.extract(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn takes_the_neighbours_a_full_parse_takes() {
        let paths = compiled(&["$.id", "$.read[0]"]);
        let e = extractor(&paths);
        for body in [
            r#"{"id": 1, "skipped": "\ud83d\ude00 \u0041 \/"}"#.to_owned(),
            r#"{"id": 1, "\ud83d\ude00": 0, "skipped": [1e-400, -0, 1e308, -0.0]}"#.to_owned(),
            r#"{"id": 1, "skipped": 18446744073709551616, "read": [-1e-400]}"#.to_owned(),
            skipped_at_depth(DEEPEST),
            format!(r#"{{"id": 1, "read": [0, {}]}}"#, nested(DEEPEST - 2)),
        ] {
            let want = full_parse_and_walk(&paths, &body);
            assert!(want.is_some(), "{body}");
            assert_eq!(e.extract(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn quoted_bracketed_names_pick_the_key_between_the_outer_quotes() {
        let paths = compiled(&[r#"$["'q'"]"#, r#"$["''"]"#, r#"$['"q"']"#, "$['']"]);
        let body = br#"{"q": 1, "'q'": 2, "''": 3, "\"q\"": 4, "": 5}"#;
        let want = [2, 3, 4, 5].map(|n| Some(Value::from(n)));
        assert_eq!(extractor(&paths).extract(body), Some(want.into()));
    }

    #[test]
    fn fields_without_a_path_keep_an_empty_slot() {
        let id = CompiledPath::compile("$.id").unwrap();
        let e = Extractor::new([None, id.steps(), None]);
        assert_eq!(
            e.extract(br#"{"id": 3}"#),
            Some(vec![None, Some(3.into()), None])
        );
    }
}
