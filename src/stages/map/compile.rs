//! Output fields compiled at load: sources, computed kinds, records, and the misuse `check`
//! reports. Every message begins with the dotted key path of the offending key.

use http::HeaderName;
use serde_json::Value;

use super::{FieldSource, Items, OutputField, coerce};
use crate::file::{FieldMap, ItemsSpec, OutputFieldSpec, OutputType};
use crate::jsonpath::{CompiledPath, Step};
use crate::stages::validate::is_field_name;
use crate::template::TextTemplate;

/// What a field may refer to: the declared inputs, and the fields around it in its map.
pub(super) struct Scope<'a> {
    pub declared: &'a dyn Fn(&str) -> bool,
    /// Every field name of this map, in order (top level, or one record's fields).
    pub names: Vec<&'a str>,
    pub in_record: bool,
}

/// Compiles every field of `spec`, whose key path is `prefix` (`output`, or
/// `output.NAME.items.fields`).
pub(super) fn compile_fields(
    prefix: &str,
    spec: &FieldMap<OutputFieldSpec>,
    declared: &dyn Fn(&str) -> bool,
    in_record: bool,
) -> Result<Vec<OutputField>, Vec<String>> {
    let scope = Scope {
        declared,
        names: spec.0.keys().map(String::as_str).collect(),
        in_record,
    };
    let mut errs = Vec::new();
    let mut fields = Vec::with_capacity(spec.0.len());
    for (at, (name, field)) in spec.0.iter().enumerate() {
        match compile_field(&format!("{prefix}.{name}"), name, field, &scope, at) {
            Ok(f) => fields.push(f),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(fields)
    } else {
        Err(errs)
    }
}

fn compile_field(
    key: &str,
    name: &str,
    spec: &OutputFieldSpec,
    scope: &Scope,
    at: usize,
) -> Result<OutputField, Vec<String>> {
    let one = |e: String| vec![format!("{key}: {e}")];
    if !is_field_name(name) {
        return Err(one(
            "output names start with a letter or `_` and hold only letters, digits, `_` and `-`"
                .to_owned(),
        ));
    }
    let mut errs = Vec::new();
    let source = source(key, spec, scope, at)
        .map_err(|e| errs.extend(e))
        .ok();
    let kind = source
        .as_ref()
        .and_then(|s| {
            implied_type(key, s, spec.kind)
                .map_err(|e| errs.push(e))
                .ok()
        })
        .flatten();
    let items = items(key, spec, scope).map_err(|e| errs.extend(e)).ok();
    if let (Some(Some(Items::Records(_))), Some(s)) = (&items, &source)
        && !matches!(s, FieldSource::Path(_))
    {
        errs.push(format!(
            "{key}: a list of records takes its elements from `path`"
        ));
    }
    let max_items = max_items(key, spec)
        .map_err(|e| errs.push(e))
        .ok()
        .flatten();
    let (Some(source), Some(items)) = (source, items) else {
        return Err(errs);
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    let default = default(key, spec, kind, &items)?;
    Ok(OutputField {
        name: name.to_owned(),
        key_json: serde_json::to_vec(name).map_err(|e| one(e.to_string()))?,
        source,
        kind,
        items,
        max_items,
        default,
        required: spec.required,
        description: spec.description.as_ref().map(|d| d.0.clone()),
    })
}

/// Where the value comes from: exactly one of the sources, `join` beside a `path`.
fn source(
    key: &str,
    spec: &OutputFieldSpec,
    scope: &Scope,
    at: usize,
) -> Result<FieldSource, Vec<String>> {
    let given = [
        spec.path.is_some(),
        spec.from.is_some(),
        spec.value.is_some(),
        spec.count.is_some(),
        spec.exists.is_some(),
        spec.template.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(vec![format!(
            "{key}: give exactly one of `path`, `from`, `value`, `count`, `exists` or `template`"
        )]);
    }
    if spec.join.is_some() && spec.path.is_none() {
        return Err(vec![format!("{key}.join: goes beside a `path`")]);
    }
    let at_key = |sub: &str, e: String| vec![format!("{key}.{sub}: {e}")];
    if let Some(path) = &spec.path {
        let path = CompiledPath::compile(path.as_str()).map_err(|e| at_key("path", e))?;
        return Ok(match (&spec.join, path.is_length()) {
            (Some(_), true) => {
                return Err(at_key("join", "cannot join a `.length()`".to_owned()));
            }
            (Some(sep), false) => FieldSource::Join(path, sep.0.clone()),
            (None, true) => FieldSource::Count(path),
            (None, false) => FieldSource::Path(path),
        });
    }
    if let Some(from) = &spec.from {
        return parse_from(from.as_str()).map_err(|e| at_key("from", e));
    }
    if let Some(value) = &spec.value {
        let items = match &spec.items {
            Some(ItemsSpec::Scalar(t)) => Some(*t),
            _ => None,
        };
        return coerce(value.0.clone(), spec.kind, items)
            .map(FieldSource::Value)
            .map_err(|e| at_key("value", e));
    }
    if let Some(path) = &spec.count {
        return counted(path.as_str())
            .map(FieldSource::Count)
            .map_err(|e| at_key("count", e));
    }
    if let Some(path) = &spec.exists {
        let path = CompiledPath::compile(path.as_str()).map_err(|e| at_key("exists", e))?;
        if path.is_length() {
            return Err(at_key(
                "exists",
                "`.length()` counts; `exists` asks whether the path names a value".to_owned(),
            ));
        }
        return Ok(FieldSource::Exists(path));
    }
    let text = spec.template.as_ref().map_or("", |t| t.as_str());
    let outputs = |name: &str| output_ref(scope, at, name);
    TextTemplate::compile_reply(text, scope.declared, &outputs)
        .map(FieldSource::Template)
        .map_err(|e| at_key("template", e))
}

/// A `count:` path: one that can name many values, or one array.
fn counted(source: &str) -> Result<CompiledPath, String> {
    let path = CompiledPath::compile(source)?;
    if path.is_length() {
        return Err(format!(
            "`{source}`: `count` already counts; drop the `.length()`"
        ));
    }
    if let Some([.., Step::Index(_)]) = path.steps() {
        return Err(format!(
            "`{source}` names one element, which cannot be many: count the array \
             (without the index) or its matches (`[*]`)"
        ));
    }
    Ok(path)
}

/// May a reply template of the field at `at` read `output.NAME`?
fn output_ref(scope: &Scope, at: usize, name: &str) -> Result<(), String> {
    let whose = if scope.in_record {
        "this record's fields"
    } else {
        "output fields"
    };
    match scope.names.iter().position(|n| *n == name) {
        Some(i) if i < at => Ok(()),
        Some(i) if i == at => Err(format!("`output.{name}` is this very field")),
        Some(_) => Err(format!(
            "`output.{name}` is defined below this field: a template sees only the {whose} above it"
        )),
        None => Err(format!("`output.{name}` is not one of the {whose}")),
    }
}

/// The type a computed kind gives; a declared type must agree with it.
fn implied_type(
    key: &str,
    source: &FieldSource,
    declared: Option<OutputType>,
) -> Result<Option<OutputType>, String> {
    let (implied, what) = match source {
        FieldSource::Count(_) => (OutputType::Integer, "a count is an integer"),
        FieldSource::Exists(_) => (OutputType::Boolean, "`exists` is a boolean"),
        FieldSource::Template(_) => (OutputType::String, "a template renders a string"),
        FieldSource::Join(..) => (OutputType::String, "a joined value is a string"),
        _ => return Ok(declared),
    };
    match declared {
        Some(d) if d != implied => Err(format!("{key}.type: {what}")),
        _ => Ok(Some(implied)),
    }
}

fn items(key: &str, spec: &OutputFieldSpec, scope: &Scope) -> Result<Option<Items>, Vec<String>> {
    let Some(items) = &spec.items else {
        return Ok(None);
    };
    if spec.kind != Some(OutputType::Array) {
        return Err(vec![format!(
            "{key}.items: `items` applies only to `type: array`"
        )]);
    }
    match items {
        ItemsSpec::Scalar(t) => Ok(Some(Items::Scalar(*t))),
        ItemsSpec::Records(_) if scope.in_record => Err(vec![format!(
            "{key}.items: records do not nest: a record's field is a scalar or an array of scalars"
        )]),
        ItemsSpec::Records(r) if r.fields.0.is_empty() => Err(vec![format!(
            "{key}.items.fields: a record needs at least one field"
        )]),
        ItemsSpec::Records(r) => compile_fields(
            &format!("{key}.items.fields"),
            &r.fields,
            scope.declared,
            true,
        )
        .map(|fields| Some(Items::Records(fields))),
    }
}

fn max_items(key: &str, spec: &OutputFieldSpec) -> Result<Option<usize>, String> {
    match spec.max_items {
        None => Ok(None),
        Some(_) if spec.kind != Some(OutputType::Array) => {
            Err(format!("{key}.max_items: applies only to `type: array`"))
        }
        Some(0) => Err(format!("{key}.max_items: must be at least 1")),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

fn default(
    key: &str,
    spec: &OutputFieldSpec,
    kind: Option<OutputType>,
    items: &Option<Items>,
) -> Result<Option<Value>, Vec<String>> {
    let Some(d) = spec.default.as_ref().map(|d| &d.0) else {
        return Ok(None);
    };
    let fail = |e: String| vec![format!("{key}.default: {e}")];
    match (d, items) {
        (Value::Null, _) => Err(fail(
            "a null never reaches a reply (a Genesys success contract refuses it); \
             leave `default` out to leave the field out"
                .to_owned(),
        )),
        (Value::Array(list), Some(Items::Records(_))) if list.is_empty() => Ok(Some(d.clone())),
        (_, Some(Items::Records(_))) => Err(fail(
            "a list of records takes only `[]` as its default".to_owned(),
        )),
        (d, items) => coerce(d.clone(), kind, items.as_ref().and_then(Items::scalar))
            .map(Some)
            .map_err(fail),
    }
}

fn parse_from(from: &str) -> Result<FieldSource, String> {
    match from {
        "status" => Ok(FieldSource::Status),
        "error" => Ok(FieldSource::Error),
        other => match other.strip_prefix("header:") {
            Some(name) => HeaderName::from_bytes(name.trim().as_bytes())
                .map(FieldSource::Header)
                .map_err(|_| format!("`{name}` is not a valid header name")),
            None => Err(format!(
                "`from: {other}` is not one of `status`, `error` or `header:NAME`"
            )),
        },
    }
}
