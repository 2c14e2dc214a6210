//! Each field's value from an answer: what its path finds, the computed kinds, records, and
//! the null rule (a null never reaches the reply: the field takes its default or is left out).

use std::borrow::Cow;

use handlebars::Context;
use http::HeaderMap;
use serde_json::{Map, Value};

use super::{FieldSource, Items, Mode, OutputField, coerce};
use crate::json::json_type_name;
use crate::jsonpath::CompiledPath;
use crate::template::Placement;

/// What every field of one answer reads besides the body.
pub(super) struct Scope<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub error: &'a str,
    /// The validated input object (`null` when there is none), for templates.
    pub input: &'a Value,
}

/// The body as one map's paths read it: a whole document (or one record's element), or the
/// values the extractor picked, one slot per field.
pub(super) enum View<'v> {
    Doc(&'v Value),
    Picked(&'v mut [Option<Value>]),
}

/// What a path found: one value (singular paths), or every match.
enum Found<'a> {
    One(Option<Cow<'a, Value>>),
    Many(Vec<&'a Value>),
}

/// The values of `fields`, in order; a failing field fails the map (strict) or takes its
/// default (lenient).
pub(super) fn resolve_all(
    fields: &[OutputField],
    scope: &Scope,
    view: &mut View,
    mode: Mode,
) -> Result<Vec<Option<Value>>, (usize, String)> {
    let mut values: Vec<Option<Value>> = Vec::with_capacity(fields.len());
    for (slot, field) in fields.iter().enumerate() {
        let above = (&fields[..slot], values.as_slice());
        let value = match (field.resolve(scope, view, slot, mode, above), mode) {
            (Ok(v), _) => v,
            (Err(_), Mode::Lenient) => field.default.clone(),
            (Err(message), Mode::Strict) => return Err((slot, message)),
        };
        values.push(value);
    }
    Ok(values)
}

impl OutputField {
    /// The field's value; `None` leaves it out of the reply.
    fn resolve(
        &self,
        scope: &Scope,
        view: &mut View,
        slot: usize,
        mode: Mode,
        above: (&[OutputField], &[Option<Value>]),
    ) -> Result<Option<Value>, String> {
        let raw = match &self.source {
            FieldSource::Path(path) => match &self.items {
                Some(Items::Records(fields)) => {
                    return self.records(path, fields, scope, view, mode);
                }
                _ => self.path_value(path, view, slot),
            },
            FieldSource::Status => Some(Value::from(scope.status)),
            FieldSource::Error => Some(Value::String(scope.error.to_owned())),
            FieldSource::Header(name) => scope
                .headers
                .get(name)
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())),
            FieldSource::Value(v) => Some(v.clone()),
            FieldSource::Count(path) => Some(Value::from(count(find(path, view, slot)))),
            FieldSource::Exists(path) => Some(Value::Bool(exists(find(path, view, slot)))),
            FieldSource::Join(path, separator) => join(find(path, view, slot), separator)?,
            FieldSource::Template(template) => {
                let ctx = template_context(scope.input, above);
                let text = template.render(&ctx, Placement::BodyText)?;
                Some(Value::String(text.into_owned()))
            }
        };
        self.finish(raw)
    }

    /// The null rule, the default, `required`, the type, and `max_items`.
    fn finish(&self, raw: Option<Value>) -> Result<Option<Value>, String> {
        match raw {
            None | Some(Value::Null) => match (&self.default, self.required) {
                (Some(d), _) => Ok(Some(d.clone())),
                (None, true) if raw.is_some() => Err("required value is null".to_owned()),
                (None, true) => Err("required value is missing".to_owned()),
                (None, false) => Ok(None),
            },
            Some(v) => {
                let mut v = coerce(v, self.kind, self.items.as_ref().and_then(Items::scalar))?;
                if let (Value::Array(list), Some(max)) = (&mut v, self.max_items) {
                    list.truncate(max);
                }
                Ok(Some(v))
            }
        }
    }

    fn path_value(&self, path: &CompiledPath, view: &mut View, slot: usize) -> Option<Value> {
        match find(path, view, slot) {
            Found::One(v) => v.map(Cow::into_owned),
            // A many-valued path gathers all its matches unless a scalar type asks for the first.
            Found::Many(all) if self.collects() => {
                (!all.is_empty()).then(|| Value::Array(all.into_iter().cloned().collect()))
            }
            Found::Many(all) => all.first().map(|v| (*v).clone()),
        }
    }

    fn collects(&self) -> bool {
        matches!(self.kind, None | Some(crate::file::OutputType::Array))
    }

    /// One object per element the path names (nulls left out), at most `max_items`.
    fn records(
        &self,
        path: &CompiledPath,
        fields: &[OutputField],
        scope: &Scope,
        view: &mut View,
        mode: Mode,
    ) -> Result<Option<Value>, String> {
        let View::Doc(doc) = view else {
            unreachable!("a mapping with records reads the whole document (decided at load)")
        };
        let elements: Vec<&Value> = if path.is_singular() {
            match path.first(doc) {
                None | Some(Value::Null) => return self.finish(None),
                Some(Value::Array(list)) => list.iter().collect(),
                Some(other) => {
                    return Err(format!(
                        "expected an array of records, got {}",
                        json_type_name(other)
                    ));
                }
            }
        } else {
            match path.select(doc) {
                all if all.is_empty() => return self.finish(None),
                all => all,
            }
        };
        let limit = self.max_items.unwrap_or(usize::MAX);
        let mut records = Vec::new();
        // `at` is the element's place among the matches, so an error points into the answer.
        for (at, element) in elements
            .into_iter()
            .enumerate()
            .filter(|(_, e)| !e.is_null())
        {
            if records.len() == limit {
                break;
            }
            let values = resolve_all(fields, scope, &mut View::Doc(element), mode).map_err(
                |(slot, message)| format!("record {at}, field `{}`: {message}", fields[slot].name),
            )?;
            let record: Map<String, Value> = fields
                .iter()
                .zip(values)
                .filter_map(|(f, v)| Some((f.name.clone(), v?)))
                .collect();
            records.push(Value::Object(record));
        }
        Ok(Some(Value::Array(records)))
    }
}

fn find<'a>(path: &CompiledPath, view: &'a mut View, slot: usize) -> Found<'a> {
    match view {
        View::Picked(found) => {
            Found::One(found.get_mut(slot).and_then(Option::take).map(Cow::Owned))
        }
        View::Doc(doc) if path.is_singular() => Found::One(path.first(doc).map(Cow::Borrowed)),
        View::Doc(doc) => Found::Many(path.select(doc)),
    }
}

/// The number of matches; a path naming one array counts its elements, and one naming
/// nothing (or null) counts none.
fn count(found: Found) -> usize {
    match found {
        Found::One(None) => 0,
        Found::One(Some(v)) => match v.as_ref() {
            Value::Null => 0,
            Value::Array(list) => list.len(),
            _ => 1,
        },
        Found::Many(all) => all.len(),
    }
}

fn exists(found: Found) -> bool {
    match found {
        Found::One(v) => v.is_some_and(|v| !v.is_null()),
        Found::Many(all) => all.iter().any(|v| !v.is_null()),
    }
}

/// Every match (an array's elements) as text, nulls left out; nothing when none is left.
fn join(found: Found, separator: &str) -> Result<Option<Value>, String> {
    let parts: Vec<&Value> = match &found {
        Found::One(None) => return Ok(None),
        Found::One(Some(v)) => match v.as_ref() {
            Value::Array(list) => list.iter().collect(),
            v => vec![v],
        },
        Found::Many(all) => all.clone(),
    };
    let mut texts = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Value::Null => {}
            Value::String(s) => texts.push(Cow::Borrowed(s.as_str())),
            Value::Number(_) | Value::Bool(_) => texts.push(Cow::Owned(part.to_string())),
            other => {
                return Err(format!(
                    "cannot join {}: only strings, numbers and booleans join",
                    json_type_name(other)
                ));
            }
        }
    }
    Ok((!texts.is_empty()).then(|| Value::String(texts.join(separator))))
}

/// `{"input": …, "output": {the fields above, after their defaults}}`.
fn template_context(
    input: &Value,
    (fields, values): (&[OutputField], &[Option<Value>]),
) -> Context {
    let output: Map<String, Value> = fields
        .iter()
        .zip(values)
        .filter_map(|(f, v)| Some((f.name.clone(), v.clone()?)))
        .collect();
    let mut root = Map::with_capacity(2);
    root.insert("input".to_owned(), input.clone());
    root.insert("output".to_owned(), Value::Object(output));
    Context::from(Value::Object(root))
}
