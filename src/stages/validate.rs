//! Stage *validate*: the inbound flat object checked against the bridge's input contract.
//!
//! The contract is compiled once (regexes built, constraints checked against the field's
//! type) and every problem in a request is reported at once, as one `details` entry each.
//! The checks follow JSON Schema draft-04 semantics, the dialect Genesys uses for the same
//! contract: `pattern` is unanchored, lengths count Unicode characters, `integer` means a JSON
//! number without a fraction.

use handlebars::Context;
use http::StatusCode;
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::file::{FieldMap, InputFieldSpec, InputType};
use crate::stages::intake::Inbound;

/// One input field with its constraints.
#[derive(Debug, Clone)]
pub struct InputField {
    pub name: String,
    pub kind: InputType,
    pub required: bool,
    pub minimum: Option<Number>,
    pub maximum: Option<Number>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<Regex>,
    pub one_of: Option<Vec<Value>>,
    pub description: Option<String>,
}

/// The compiled input contract of one bridge.
#[derive(Debug, Clone, Default)]
pub struct InputContract {
    pub fields: Vec<InputField>,
}

/// One thing wrong with the inbound object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Input that does not meet the contract, or cannot be placed safely into the upstream request
/// (render fails with it too): every problem at once, each a `details` entry of the 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the input does not meet the bridge's input contract")]
pub struct InputError(pub Vec<FieldProblem>);

impl InputError {
    pub fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    pub fn code(&self) -> &'static str {
        "invalid_input"
    }
}

/// The validated input: only declared fields that were supplied, with their JSON types, held
/// as the rendering context `{"input": {...}}` so templates render without copying it.
#[derive(Debug)]
pub struct ValidInput {
    context: Context,
}

impl ValidInput {
    pub fn new(fields: Map<String, Value>) -> Self {
        let mut root = Map::with_capacity(1);
        root.insert("input".to_owned(), Value::Object(fields));
        ValidInput {
            context: Context::from(Value::Object(root)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields().get(name)
    }

    pub fn fields(&self) -> &Value {
        &self.context.data()["input"]
    }

    pub fn context(&self) -> &Context {
        &self.context
    }
}

impl InputContract {
    pub fn compile(spec: &FieldMap<InputFieldSpec>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut fields = Vec::with_capacity(spec.0.len());
        for (name, field) in &spec.0 {
            match compile_field(name, field) {
                Ok(f) => fields.push(f),
                Err(errs) => {
                    problems.extend(errs.into_iter().map(|e| format!("input.{name}: {e}")))
                }
            }
        }
        if problems.is_empty() {
            Ok(InputContract { fields })
        } else {
            Err(problems)
        }
    }

    pub fn declares(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    /// Checks `inbound` and keeps the declared fields; unknown fields are ignored.
    pub fn validate(&self, inbound: Inbound) -> Result<ValidInput, InputError> {
        let mut problems = Vec::new();
        let mut valid = Map::with_capacity(self.fields.len());
        let mut source = Source::from(inbound);
        for field in &self.fields {
            let value = match source.take(field) {
                Ok(value) => value,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            match value.filter(|(_, v)| !is_unrendered_genesys_variable(v)) {
                None if field.required => {
                    problems.push(FieldProblem::new(&field.name, "is required"))
                }
                None => {}
                Some((name, v)) => {
                    let before = problems.len();
                    field.check(&v, &mut problems);
                    if problems.len() == before {
                        valid.insert(name, v);
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(ValidInput::new(valid))
        } else {
            Err(InputError(problems))
        }
    }
}

/// Genesys sends the literal text `${input.NAME}` for an optional input the flow did not set.
fn is_unrendered_genesys_variable(value: &Value) -> bool {
    matches!(value, Value::String(s) if is_unrendered_genesys_text(s))
}

fn is_unrendered_genesys_text(s: &str) -> bool {
    s.strip_prefix("${input.")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| !name.is_empty() && !name.contains(['{', '}']))
}

enum Source {
    Json(Map<String, Value>),
    Form(Vec<(String, String)>),
}

impl From<Inbound> for Source {
    fn from(inbound: Inbound) -> Self {
        match inbound {
            Inbound::Json(map) => Source::Json(map),
            Inbound::Form(pairs) => Source::Form(pairs),
        }
    }
}

impl Source {
    /// Moves the field's name and value out (no copy); a form value is converted to the
    /// field's type.
    fn take(&mut self, field: &InputField) -> Result<Option<(String, Value)>, FieldProblem> {
        match self {
            Source::Json(map) => Ok(map.remove_entry(&field.name)),
            Source::Form(pairs) => match pairs.iter().rposition(|(k, _)| *k == field.name) {
                None => Ok(None),
                Some(i) => {
                    let (name, text) = pairs.swap_remove(i);
                    convert_form_value(field, text).map(|v| Some((name, v)))
                }
            },
        }
    }
}

fn convert_form_value(field: &InputField, text: String) -> Result<Value, FieldProblem> {
    let wrong = |what: &str| FieldProblem::new(&field.name, format!("expected {what}"));
    match field.kind {
        InputType::String => Ok(Value::String(text)),
        _ if is_unrendered_genesys_text(&text) => Ok(Value::String(text)),
        InputType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong("an integer")),
        InputType::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| wrong("a number")),
        InputType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(wrong("true or false")),
        },
    }
}

impl InputField {
    fn check(&self, value: &Value, problems: &mut Vec<FieldProblem>) {
        if !type_matches(self.kind, value) {
            problems.push(FieldProblem::new(
                &self.name,
                format!(
                    "expected {}, got {}",
                    type_name(self.kind),
                    crate::json::json_type_name(value)
                ),
            ));
            return;
        }
        let mut fail = |message: String| problems.push(FieldProblem::new(&self.name, message));
        if let Value::Number(n) = value {
            if let Some(min) = &self.minimum
                && compare(n, min).is_lt()
            {
                fail(format!("must be at least {min}"));
            }
            if let Some(max) = &self.maximum
                && compare(n, max).is_gt()
            {
                fail(format!("must be at most {max}"));
            }
        }
        if let Value::String(s) = value {
            let len = s.chars().count() as u64;
            if let Some(min) = self.min_length
                && len < min
            {
                fail(format!("must be at least {min} characters long"));
            }
            if let Some(max) = self.max_length
                && len > max
            {
                fail(format!("must be at most {max} characters long"));
            }
            if let Some(re) = &self.pattern
                && !re.is_match(s)
            {
                fail(format!("must match the pattern {}", re.as_str()));
            }
        }
        if let Some(allowed) = &self.one_of
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            fail(format!("must be one of {}", list.join(", ")));
        }
    }
}

fn type_matches(kind: InputType, value: &Value) -> bool {
    match (kind, value) {
        (InputType::String, Value::String(_)) => true,
        (InputType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (InputType::Number, Value::Number(_)) => true,
        (InputType::Boolean, Value::Bool(_)) => true,
        _ => false,
    }
}

/// Orders two JSON numbers exactly when both are integers, by their f64 value otherwise.
fn compare(a: &Number, b: &Number) -> std::cmp::Ordering {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x.cmp(&y),
        (_, _, Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
        }
    }
}

pub fn type_name(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "a string",
        InputType::Integer => "an integer",
        InputType::Number => "a number",
        InputType::Boolean => "a boolean",
    }
}

/// Input names are used as `{{input.NAME}}` and as JSON Schema property names.
pub fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == '-' || c.is_ascii_alphanumeric())
}

fn compile_field(name: &str, spec: &InputFieldSpec) -> Result<InputField, Vec<String>> {
    let mut errs = Vec::new();
    if !is_field_name(name) {
        errs.push(
            "input names start with a letter or `_` and hold only letters, digits, `_` and `-`"
                .to_owned(),
        );
    }
    let numeric = matches!(spec.kind, InputType::Integer | InputType::Number);
    if !numeric && (spec.minimum.is_some() || spec.maximum.is_some()) {
        errs.push("`minimum` and `maximum` apply only to integer and number fields".to_owned());
    }
    let textual = spec.kind == InputType::String;
    if !textual
        && (spec.min_length.is_some() || spec.max_length.is_some() || spec.pattern.is_some())
    {
        errs.push(
            "`min_length`, `max_length` and `pattern` apply only to string fields".to_owned(),
        );
    }
    if let (Some(min), Some(max)) = (&spec.minimum, &spec.maximum)
        && compare(min, max).is_gt()
    {
        errs.push("`minimum` is greater than `maximum`".to_owned());
    }
    if let (Some(min), Some(max)) = (spec.min_length, spec.max_length)
        && min > max
    {
        errs.push("`min_length` is greater than `max_length`".to_owned());
    }
    let pattern = spec
        .pattern
        .as_ref()
        .and_then(|p| match Regex::new(p.as_str()) {
            Ok(re) => Some(re),
            Err(e) => {
                errs.push(format!("`pattern` is not a valid regular expression: {e}"));
                None
            }
        });
    let one_of = spec.one_of.as_ref().map(|values| {
        let values: Vec<Value> = values.iter().map(|v| v.0.clone()).collect();
        if values.is_empty() {
            errs.push("`enum` needs at least one value".to_owned());
        }
        if let Some(bad) = values.iter().find(|v| !type_matches(spec.kind, v)) {
            errs.push(format!(
                "`enum` value {bad} is not {}",
                type_name(spec.kind)
            ));
        }
        values
    });
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(InputField {
        name: name.to_owned(),
        kind: spec.kind,
        required: spec.required,
        minimum: spec.minimum.clone(),
        maximum: spec.maximum.clone(),
        min_length: spec.min_length,
        max_length: spec.max_length,
        pattern,
        one_of,
        description: spec.description.as_ref().map(|d| d.0.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract(yaml: &str) -> InputContract {
        let spec: FieldMap<InputFieldSpec> = serde_yaml::from_str(yaml).unwrap();
        InputContract::compile(&spec).unwrap()
    }

    fn json_in(v: Value) -> Inbound {
        Inbound::Json(v.as_object().unwrap().clone())
    }

    #[test]
    fn reports_every_problem_at_once() {
        let c = contract(
            "id: {type: integer, required: true, minimum: 1}\n\
             name: {type: string, max_length: 3, pattern: '^[a-z]+$'}\n\
             kind: {enum: [a, b]}\n",
        );
        let problems = c
            .validate(json_in(json!({"name": "ABCD", "kind": "c"})))
            .unwrap_err()
            .0;
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["id", "name", "name", "kind"]);
    }

    #[test]
    fn integer_means_no_fraction() {
        let c = contract("n: {type: integer}\n");
        assert!(c.validate(json_in(json!({"n": 3}))).is_ok());
        assert!(c.validate(json_in(json!({"n": 3.5}))).is_err());
        assert!(c.validate(json_in(json!({"n": "3"}))).is_err());
    }

    #[test]
    fn form_values_are_converted_to_field_types() {
        let c = contract("n: {type: integer}\nf: {type: boolean}\nx: {type: number}\n");
        let form = vec![
            ("n".to_owned(), "42".to_owned()),
            ("f".to_owned(), "TRUE".to_owned()),
            ("x".to_owned(), "2.5".to_owned()),
        ];
        let valid = c.validate(Inbound::Form(form)).unwrap();
        assert_eq!(valid.fields(), &json!({"n": 42, "f": true, "x": 2.5}));
        let bad = c
            .validate(Inbound::Form(vec![("n".into(), "4x".into())]))
            .unwrap_err()
            .0;
        assert_eq!(bad[0].message, "expected an integer");
    }

    #[test]
    fn unrendered_genesys_variable_counts_as_not_supplied() {
        let c = contract("q: {type: string}\nn: {type: integer, required: true}\n");
        let problems = c
            .validate(json_in(json!({"q": "${input.q}", "n": "${input.n}"})))
            .unwrap_err()
            .0;
        assert_eq!(problems, [FieldProblem::new("n", "is required")]);
    }

    #[test]
    fn constraints_on_the_wrong_type_are_refused_at_load() {
        let spec: FieldMap<InputFieldSpec> =
            serde_yaml::from_str("n: {type: integer, pattern: x}\ns: {minimum: 1}\n").unwrap();
        let errs = InputContract::compile(&spec).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
