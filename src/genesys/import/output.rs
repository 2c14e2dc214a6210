//! The response side: translation map, defaults and success template become output fields.

use serde_json::{Map, Value};

use super::request::{Seg, mark, segments, source};
use super::velocity::{self, Piece};
use super::yaml::{Entry, Node, in_source_order, literal};
use super::{Action, Todos};

/// The `output:` entries, and comments that belong to no single field.
pub fn outputs(action: &Action, todos: &mut Todos) -> (Vec<Entry>, Vec<String>) {
    let schema = &action.value["contract"]["output"]["successSchema"];
    let out = Outputs {
        text: action.text.clone(),
        props: schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        required: schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        map: action
            .response("translationMap")
            .as_object()
            .cloned()
            .unwrap_or_default(),
        defaults: action
            .response("translationMapDefaults")
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let Some(template) = action.response("successTemplate").as_str() else {
        let c = todos.at(
            "output",
            "the export has no successTemplate text (a successTemplateUri must be fetched first)",
        );
        return (Vec::new(), vec![c]);
    };
    if template.trim() == "${rawResult}" {
        return out.raw_result(todos);
    }
    out.templated(template, todos)
}

struct Outputs {
    text: String,
    props: Map<String, Value>,
    required: Vec<String>,
    map: Map<String, Value>,
    defaults: Map<String, Value>,
}

impl Outputs {
    /// `${rawResult}`: the upstream's answer is the result, so one output per property.
    fn raw_result(&self, todos: &mut Todos) -> (Vec<Entry>, Vec<String>) {
        let mut entries = Vec::new();
        let mut loose = Vec::new();
        for (name, prop) in in_source_order(&self.props, &self.text) {
            let mut field = vec![Entry::new("path", Node::str(member_path(name)))];
            match typed(prop, &mut field) {
                Ok(()) => entries.push(self.finish(name, prop, field)),
                Err(why) => loose.push(todos.at(&format!("output.{name}"), why)),
            }
        }
        (entries, loose)
    }

    fn templated(&self, template: &str, todos: &mut Todos) -> (Vec<Entry>, Vec<String>) {
        let pieces = velocity::parse(template);
        let parsed: Result<Value, _> = serde_json::from_str(&mark(&pieces));
        let Ok(Value::Object(object)) = parsed else {
            let c = todos.at(
                "output",
                format!("the success template is not a JSON object of references: {template}"),
            );
            return (Vec::new(), vec![c]);
        };
        let mut entries = Vec::new();
        let mut loose = Vec::new();
        let marked = mark(&pieces);
        for (name, value) in in_source_order(&object, &marked) {
            let at = format!("output.{name}");
            match self.field(name, value, &pieces, todos, &at) {
                Ok(entry) => entries.push(entry),
                Err(why) => loose.push(todos.at(&at, why)),
            }
        }
        (entries, loose)
    }

    fn field(
        &self,
        name: &str,
        value: &Value,
        pieces: &[Piece],
        todos: &mut Todos,
        at: &str,
    ) -> Result<Entry, String> {
        let prop = self.props.get(name).cloned().unwrap_or(Value::Null);
        let text = match value {
            Value::String(s) => s,
            Value::Object(_) | Value::Array(_) => {
                return Err(format!(
                    "`{name}` is a nested value in the success template; a bridge reply is flat"
                ));
            }
            constant => {
                let mut field = vec![Entry::new("value", Node::Scalar(literal(constant)))];
                typed(&prop, &mut field).ok();
                return Ok(Entry::new(name, Node::Map(field)));
            }
        };
        let segs = segments(text);
        let piece = match segs.as_slice() {
            [Seg::Bare(i)] => &pieces[*i],
            [] | [Seg::Text(_)] => {
                let mut field = vec![Entry::new(
                    "value",
                    Node::Scalar(literal(&Value::String(text.clone()))),
                )];
                typed(&prop, &mut field).ok();
                return Ok(Entry::new(name, Node::Map(field)));
            }
            _ => {
                return Err(format!(
                    "`{name}` is built from text and references in quotes: {text}"
                ));
            }
        };
        let (var, fallback) = match piece {
            Piece::Var(path) if path.len() == 1 => (path[0].clone(), None),
            Piece::Call { target, args, .. }
                if target == &["successTemplateUtils", "firstFromArray"] =>
            {
                match args.first().map(Vec::as_slice) {
                    Some([Piece::Var(path)]) if path.len() == 1 => {
                        (path[0].clone(), Some(args.get(1)))
                    }
                    _ => return Err(format!("`{}` has no translation", source(piece))),
                }
            }
            other => return Err(format!("`{}` has no translation", source(other))),
        };
        let Some(path) = self.map.get(&var).and_then(Value::as_str) else {
            return Err(format!("`${{{var}}}` is not in the translation map"));
        };
        let mut field = path_source(path);
        if fallback.is_some() {
            let t = prop["type"]
                .as_str()
                .filter(|t| *t != "array")
                .unwrap_or("string");
            field.push(Entry::new("type", Node::str(t)));
        } else {
            typed(&prop, &mut field)?;
        }
        let default = match fallback {
            Some(arg) => arg.map(|a| fallback_default(a)).transpose()?,
            None => match self
                .defaults
                .get(&var)
                .map(|d| default(d, &prop, &mut field))
            {
                Some(Err(why)) => {
                    field[0].comments.push(todos.at(at, why));
                    None
                }
                other => other.transpose()?,
            },
        };
        match default {
            // A null default would reach a typed reply; leaving the field out is the nearest.
            Some(Value::Null) => field[0].comments.push(
                "the export's default was null: the field is left out of the reply instead"
                    .to_owned(),
            ),
            Some(d) => field.push(Entry::new("default", Node::Scalar(literal(&d)))),
            None => {}
        }
        Ok(self.finish(name, &prop, field))
    }
}

/// A translation-map default is JSON text; the usual mistake (`Not Found`, unquoted) is
/// taken as the string the author meant.
fn default(text: &Value, prop: &Value, field: &mut [Entry]) -> Result<Value, String> {
    let text = text.as_str().unwrap_or_default();
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    if prop["type"].as_str() == Some("string") {
        if let Some(first) = field.first_mut() {
            first.comments.push(format!(
                    "the export's default `{text}` was not JSON text (Genesys would have failed on it); taken as a string"
                ));
        }
        return Ok(Value::String(text.to_owned()));
    }
    Err(format!(
        "the default `{text}` is not JSON text and the output is not a string"
    ))
}

impl Outputs {
    fn finish(&self, name: &str, prop: &Value, mut field: Vec<Entry>) -> Entry {
        if self.required.iter().any(|r| r == name) {
            field.push(Entry::new("required", Node::Scalar(Value::Bool(true))));
        }
        if let Some(d) = prop["description"].as_str() {
            field.push(Entry::new("description", Node::str(d)));
        }
        Entry::new(name, Node::Map(field))
    }
}

/// `firstFromArray(x, fallback)`: the fallback is JSON text (`$esc.quote $esc.quote` is `""`).
fn fallback_default(arg: &[Piece]) -> Result<Value, String> {
    let mut text = String::new();
    for p in arg {
        match p {
            Piece::Text(t) => text.push_str(t),
            Piece::Var(path) if path == &["esc", "quote"] => text.push('"'),
            other => {
                return Err(format!(
                    "the firstFromArray fallback `{}` has no translation",
                    source(other)
                ));
            }
        }
    }
    serde_json::from_str(text.trim())
        .map_err(|_| format!("the firstFromArray fallback `{text}` is not JSON text"))
}

/// `$.name`, or `$['name']` when the name is not a plain identifier.
fn member_path(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        format!("$.{name}")
    } else {
        format!("$['{}']", name.replace('\'', "\\'"))
    }
}

/// A Genesys JSONPath as a field source (SPEC §6 dialect, written in its plain form).
fn path_source(path: &str) -> Vec<Entry> {
    let path = path.trim();
    let (path, count) = match path.strip_suffix(".length()") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let path = if let Some(rest) = path.strip_prefix("$.[") {
        format!("$[{rest}")
    } else if path.starts_with('$') {
        path.to_owned()
    } else if path.starts_with('[') {
        format!("${path}")
    } else {
        format!("$.{path}")
    };
    vec![Entry::new(
        if count { "count" } else { "path" },
        Node::str(path),
    )]
}

/// Adds `type` (and `items`) from a success-schema property.
fn typed(prop: &Value, field: &mut Vec<Entry>) -> Result<(), String> {
    let kind = prop["type"]
        .as_str()
        .ok_or("the success schema gives no type")?;
    if field.first().is_some_and(|e| e.key == "count") {
        return Ok(());
    }
    match kind {
        "string" | "integer" | "number" | "boolean" => {
            field.push(Entry::new("type", Node::str(kind)));
            Ok(())
        }
        "array" => {
            field.push(Entry::new("type", Node::str("array")));
            let items = &prop["items"];
            match items["type"].as_str() {
                Some(t @ ("string" | "integer" | "number" | "boolean")) => {
                    field.push(Entry::new("items", Node::str(t)));
                    Ok(())
                }
                Some("object") => {
                    field.push(Entry::new("items", Node::Map(vec![Entry::new("fields", record(items)?)])));
                    Ok(())
                }
                None => Ok(()),
                Some(other) => Err(format!("an array of {other} cannot be a Genesys output")),
            }
        }
        "object" => Err("an object output: Genesys flattens it into dotted names, but a bridge reply is flat; name the leaves you need as outputs".to_owned()),
        other => Err(format!("output type `{other}` has no translation")),
    }
}

/// An array of objects as records: one field per scalar property of the element.
fn record(items: &Value) -> Result<Node, String> {
    let props = items["properties"]
        .as_object()
        .ok_or("an array of objects without properties")?;
    let mut fields = Vec::new();
    for (name, prop) in props {
        let mut f = vec![Entry::new("path", Node::str(member_path(name)))];
        typed(prop, &mut f)?;
        if f.iter()
            .any(|e| e.key == "items" && matches!(e.value, Node::Map(_)))
        {
            return Err("records do not nest".to_owned());
        }
        fields.push(Entry::new(name.clone(), Node::Map(f)));
    }
    Ok(Node::Map(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_in_value_position_still_parses_as_json() {
        let t = "{\"firstId\": ${successTemplateUtils.firstFromArray(\"${ids}\", \"$esc.quote $esc.quote\")}}";
        let pieces = velocity::parse(t);
        let marked = mark(&pieces);
        assert!(
            serde_json::from_str::<Value>(&marked).is_ok(),
            "{pieces:?} {marked:?}"
        );
    }

    #[test]
    fn genesys_paths_in_their_plain_form() {
        let p = |s: &str| match &path_source(s)[0] {
            Entry {
                key,
                value: Node::Scalar(Value::String(v)),
                ..
            } => format!("{key} {v}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(p("$.['a'].b"), "path $['a'].b");
        assert_eq!(p("['a'][0]"), "path $['a'][0]");
        assert_eq!(p("a.b"), "path $.a.b");
        assert_eq!(p("$.items.length()"), "count $.items");
    }

    #[test]
    fn the_usual_quote_fallback_is_a_string() {
        let pieces = velocity::parse("$esc.quote $esc.quote");
        assert_eq!(
            fallback_default(&pieces).unwrap(),
            Value::String(" ".into())
        );
    }
}
