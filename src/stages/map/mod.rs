//! Stage *map*: the upstream's answer turned into the flat, typed reply.
//!
//! Each output field takes its value from a JSONPath into the upstream body, the upstream
//! status, an upstream header, the gateway's error message, a constant, or a computed kind
//! (`count`, `exists`, `template`, `join`); a list of records maps one object per element.
//! Then its type is enforced with the few coercions the SPEC allows, and a null never
//! reaches the reply. Constants and defaults are checked and
//! coerced at load, and each field's JSON key is encoded once, so a reply is written straight
//! into one buffer.

mod compile;
pub mod extract;
mod reply;
mod resolve;

use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::{Number, Value};

use crate::file::{FieldMap, InputType, OutputFieldSpec, OutputType};
use crate::json::json_type_name;
use crate::jsonpath::CompiledPath;
use crate::stages::fetch::UpstreamResponse;
use crate::template::TextTemplate;
use extract::Extractor;
use resolve::{View, resolve_all};

#[derive(Debug, Clone)]
pub enum FieldSource {
    Path(CompiledPath),
    Status,
    Error,
    Header(HeaderName),
    Value(Value),
    /// The number of matches (a path naming one array: its length).
    Count(CompiledPath),
    /// Whether the path matches a non-null value.
    Exists(CompiledPath),
    /// Every match as text, joined with the separator.
    Join(CompiledPath, String),
    /// Reply text from `input.*` and the fields above.
    Template(TextTemplate),
}

impl FieldSource {
    /// The JSONPath into the body this source reads, if any.
    pub fn path(&self) -> Option<&CompiledPath> {
        match self {
            FieldSource::Path(p)
            | FieldSource::Count(p)
            | FieldSource::Exists(p)
            | FieldSource::Join(p, _) => Some(p),
            _ => None,
        }
    }
}

/// The elements of an `array` field.
#[derive(Debug, Clone)]
pub enum Items {
    Scalar(InputType),
    /// One object per element, with these fields read relative to it.
    Records(Vec<OutputField>),
}

impl Items {
    pub fn scalar(&self) -> Option<InputType> {
        match self {
            Items::Scalar(t) => Some(*t),
            Items::Records(_) => None,
        }
    }

    pub fn records(&self) -> Option<&[OutputField]> {
        match self {
            Items::Records(fields) => Some(fields),
            Items::Scalar(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutputField {
    pub name: String,
    key_json: Vec<u8>,
    pub source: FieldSource,
    /// The declared type, or the one a computed kind gives.
    pub kind: Option<OutputType>,
    pub items: Option<Items>,
    pub max_items: Option<usize>,
    pub default: Option<Value>,
    pub required: bool,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct OutputMapping {
    pub fields: Vec<OutputField>,
    /// Set when every path is singular and no field is a list of records: the body is then
    /// read for just their values.
    extractor: Option<Extractor>,
    /// Some field reads the upstream body / an upstream header (decided at load).
    reads_body: bool,
    reads_headers: bool,
    reads_input: bool,
}

/// Why an upstream answer gave no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("the upstream answered {0}")]
    Status(StatusCode),
    #[error("the upstream answered with a redirect ({0}), which is never followed")]
    Redirect(StatusCode),
    #[error("the upstream answer is not JSON")]
    NotJson,
    #[error("the upstream answer could not be mapped: {0}")]
    Mapping(#[from] MappingError),
}

impl MapError {
    /// An upstream 4xx/5xx is passed on as it is; anything else the gateway could not use is 502.
    pub fn status(&self) -> StatusCode {
        match self {
            MapError::Status(status) => *status,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            MapError::Status(_) => "upstream_status",
            MapError::Redirect(_) => "upstream_redirect",
            MapError::NotJson => "upstream_not_json",
            MapError::Mapping(_) => "mapping_failed",
        }
    }

    /// The `kind` label of `bridgeway_upstream_failures_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            MapError::Status(_) => "status",
            MapError::Redirect(_) => "redirect",
            MapError::NotJson => "invalid_json",
            MapError::Mapping(_) => "mapping",
        }
    }
}

/// What the upstream answered (or, for `on_error: output`, what stands in for it): what the
/// output fields read.
pub struct Source<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: Body,
    /// The gateway's error message; empty on success.
    pub error: &'a str,
    /// The validated input object, which templates read (`null` when there is none).
    pub input: &'a Value,
}

/// The upstream body as the paths read it.
#[derive(Debug)]
pub enum Body {
    /// The whole document.
    Document(Value),
    /// Only what the paths name: one slot per output field, empty for fields without a path.
    Picked(Vec<Option<Value>>),
}

/// A field that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("output field `{field}`: {message}")]
pub struct MappingError {
    pub field: String,
    pub message: String,
}

/// How strictly to map: a success must map exactly; an answer built from an error takes each
/// field's default where its value does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Strict,
    Lenient,
}

/// The mapped reply: one value (or none) per output field, in the file's order.
#[derive(Debug)]
pub struct Output(Vec<Option<Value>>);

impl OutputMapping {
    /// Compiles the `output:` map; templates may read the inputs `declared` accepts.
    pub fn compile(
        spec: &FieldMap<OutputFieldSpec>,
        declared: &dyn Fn(&str) -> bool,
    ) -> Result<Self, Vec<String>> {
        let fields = compile::compile_fields("output", spec, declared, false)?;
        let singular = fields.iter().all(|f| {
            f.items.as_ref().is_none_or(|i| i.records().is_none())
                && f.source.path().is_none_or(CompiledPath::is_singular)
        });
        let extractor = singular.then(|| {
            Extractor::new(
                fields
                    .iter()
                    .map(|f| f.source.path().and_then(CompiledPath::steps)),
            )
        });
        Ok(OutputMapping {
            reads_body: any_field(&fields, &|s| s.path().is_some()),
            reads_headers: any_field(&fields, &|s| matches!(s, FieldSource::Header(_))),
            reads_input: any_field(&fields, &|s| matches!(s, FieldSource::Template(_))),
            fields,
            extractor,
        })
    }

    /// Does any field read the upstream body? If none does, the body need not be JSON.
    pub fn reads_body(&self) -> bool {
        self.reads_body
    }

    /// The upstream body as [`map`](Self::map) reads it; `None` if it is not JSON. An empty
    /// body is `null`, so bridges whose upstream answers 204 still map.
    pub fn read_body(&self, bytes: &[u8]) -> Option<Body> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Some(Body::Document(Value::Null));
        }
        match &self.extractor {
            Some(extractor) => extractor.extract(bytes).map(Body::Picked),
            None => serde_json::from_slice(bytes).ok().map(Body::Document),
        }
    }

    /// Does any field read an upstream header?
    pub fn reads_headers(&self) -> bool {
        self.reads_headers
    }

    /// Does any field read the input (a `template:`)? Only then is the input kept across the
    /// upstream call.
    pub fn reads_input(&self) -> bool {
        self.reads_input
    }

    /// The stage, for an answer that came: the reply body of a 2xx, or why there is none.
    /// `input` is the validated input object, which templates read.
    pub fn reply(&self, response: &UpstreamResponse, input: &Value) -> Result<Vec<u8>, MapError> {
        let status = response.status;
        if status.is_redirection() {
            return Err(MapError::Redirect(status));
        }
        if !status.is_success() {
            return Err(MapError::Status(status));
        }
        let body = if self.reads_body {
            self.read_body(&response.body).ok_or(MapError::NotJson)?
        } else {
            Body::Document(Value::Null)
        };
        let source = Source {
            status: status.as_u16(),
            headers: &response.headers,
            body,
            error: "",
            input,
        };
        let output = self.map(source, Mode::Strict)?;
        Ok(self.to_json(&output))
    }

    /// The reply `on_error: output` gives for a failure: `from: status` is `status` (what the
    /// gateway would otherwise have answered), `from: error` is `message`, and fields take
    /// their defaults where the answer (if any came) lacks them.
    pub fn reply_to_failure(
        &self,
        response: Option<&UpstreamResponse>,
        status: StatusCode,
        message: &str,
        input: &Value,
    ) -> Vec<u8> {
        let body = response
            .and_then(|r| self.read_body(&r.body))
            .unwrap_or(Body::Document(Value::Null));
        let no_headers = HeaderMap::new();
        let source = Source {
            status: status.as_u16(),
            headers: response.map_or(&no_headers, |r| &r.headers),
            body,
            error: message,
            input,
        };
        match self.map(source, Mode::Lenient) {
            Ok(output) => self.to_json(&output),
            Err(_) => b"{}".to_vec(), // Lenient mapping takes defaults instead of failing.
        }
    }

    pub fn map(&self, answer: Source, mode: Mode) -> Result<Output, MappingError> {
        let scope = resolve::Scope {
            status: answer.status,
            headers: answer.headers,
            error: answer.error,
            input: answer.input,
        };
        let mut body = answer.body;
        let mut view = match &mut body {
            Body::Document(doc) => View::Doc(doc),
            Body::Picked(found) => View::Picked(found),
        };
        resolve_all(&self.fields, &scope, &mut view, mode)
            .map(Output)
            .map_err(|(slot, message)| MappingError {
                field: self.fields[slot].name.clone(),
                message,
            })
    }
}

/// Does any field (or any record's field) have a source `test` accepts?
fn any_field(fields: &[OutputField], test: &dyn Fn(&FieldSource) -> bool) -> bool {
    fields.iter().any(|f| {
        test(&f.source)
            || f.items
                .as_ref()
                .and_then(Items::records)
                .is_some_and(|inner| any_field(inner, test))
    })
}

/// Enforces `kind` on `value`, with the coercions the SPEC allows.
pub fn coerce(
    value: Value,
    kind: Option<OutputType>,
    items: Option<InputType>,
) -> Result<Value, String> {
    let Some(kind) = kind else { return Ok(value) };
    let fail = |v: &Value| {
        Err(format!(
            "expected {}, got {}",
            output_type_name(kind),
            json_type_name(v)
        ))
    };
    match (kind, value) {
        (OutputType::String, Value::String(s)) => Ok(Value::String(s)),
        (OutputType::String, v @ (Value::Number(_) | Value::Bool(_))) => {
            Ok(Value::String(v.to_string()))
        }
        (OutputType::Integer, Value::Number(n)) => {
            as_integer(&n).ok_or_else(|| format!("expected an integer, got {n}"))
        }
        (OutputType::Integer, Value::String(s)) => parse_number(&s)
            .as_ref()
            .and_then(as_integer)
            .ok_or_else(|| "expected an integer, got a string that does not hold one".to_owned()),
        (OutputType::Number, Value::Number(n)) => Ok(Value::Number(n)),
        (OutputType::Number, Value::String(s)) => parse_number(&s)
            .map(Value::Number)
            .ok_or_else(|| "expected a number, got a string that does not hold one".to_owned()),
        (OutputType::Boolean, Value::Bool(b)) => Ok(Value::Bool(b)),
        // A null element never reaches a typed reply: it is left out.
        (OutputType::Array, Value::Array(list)) => list
            .into_iter()
            .filter(|item| !item.is_null())
            .map(|item| match item {
                Value::Array(_) => {
                    Err("arrays inside arrays are not allowed in a flat reply".to_owned())
                }
                item => coerce(item, items.map(scalar_output_type), None),
            })
            .collect::<Result<_, _>>()
            .map(Value::Array),
        (_, v) => fail(&v),
    }
}

/// A number without a fraction as a JSON integer (`3.0` becomes `3`).
fn as_integer(n: &Number) -> Option<Value> {
    if n.is_i64() || n.is_u64() {
        return Some(Value::Number(n.clone()));
    }
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it an f64 is not an exact integer
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < EXACT).then(|| Value::from(f as i64))
}

fn parse_number(text: &str) -> Option<Number> {
    let text = text.trim();
    match text.parse::<i64>() {
        Ok(i) => Some(Number::from(i)),
        Err(_) => text.parse::<f64>().ok().and_then(Number::from_f64),
    }
}

pub fn scalar_output_type(t: InputType) -> OutputType {
    match t {
        InputType::String => OutputType::String,
        InputType::Integer => OutputType::Integer,
        InputType::Number => OutputType::Number,
        InputType::Boolean => OutputType::Boolean,
    }
}

fn output_type_name(kind: OutputType) -> &'static str {
    match kind {
        OutputType::String => "a string",
        OutputType::Integer => "an integer",
        OutputType::Number => "a number",
        OutputType::Boolean => "a boolean",
        OutputType::Array => "an array",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coercions_the_spec_allows() {
        use OutputType::*;
        for (value, kind, want) in [
            (json!(7), String, json!("7")),
            (json!(true), String, json!("true")),
            (json!("42"), Integer, json!(42)),
            (json!(" 42 "), Integer, json!(42)),
            (json!(3.0), Integer, json!(3)),
            (json!("2.5"), Number, json!(2.5)),
            (json!("7"), Number, json!(7)),
        ] {
            assert_eq!(
                coerce(value.clone(), Some(kind), None),
                Ok(want),
                "{value} as {kind:?}"
            );
        }
    }

    fn mapping(yaml: &str) -> OutputMapping {
        let spec: FieldMap<OutputFieldSpec> = serde_yaml::from_str(yaml).unwrap();
        OutputMapping::compile(&spec, &|_| true).unwrap()
    }

    fn mapped(mapping: &OutputMapping, body: &[u8]) -> Value {
        let headers = HeaderMap::new();
        let answer = Source {
            status: 200,
            headers: &headers,
            body: mapping.read_body(body).unwrap(),
            error: "",
            input: &Value::Null,
        };
        let output = mapping.map(answer, Mode::Strict).unwrap();
        serde_json::from_slice(&mapping.to_json(&output)).unwrap()
    }

    #[test]
    fn quoted_bracketed_names_read_the_same_key_on_both_body_paths() {
        let singular = "
single:
  path: $[\"'q'\"]
pair:
  path: $[\"''\"]
reversed:
  path: $['\"q\"']
";
        let body = br#"{"q": "plain", "'q'": "single", "''": "pair", "\"q\"": "reversed"}"#;
        let mut want = json!({"single": "single", "pair": "pair", "reversed": "reversed"});
        let picked = mapping(singular);
        assert!(picked.extractor.is_some(), "read through the extractor");
        assert_eq!(mapped(&picked, body), want);
        let whole = mapping(&format!("{singular}many:\n  path: $[\"'q'\", 'q']\n"));
        assert!(whole.extractor.is_none(), "read through a full parse");
        want["many"] = json!(["single", "plain"]);
        assert_eq!(mapped(&whole, body), want);
    }

    #[test]
    fn coercions_that_do_not_fit_fail() {
        use OutputType::*;
        for (value, kind) in [
            (json!({"a": 1}), String),
            (json!(3.5), Integer),
            (json!("x"), Integer),
            (json!("x"), Number),
            (json!("true"), Boolean),
            (json!(1), Array),
            (json!([[1]]), Array),
        ] {
            assert!(
                coerce(value.clone(), Some(kind), None).is_err(),
                "{value} as {kind:?}"
            );
        }
        assert!(coerce(json!(["1", "x"]), Some(Array), Some(InputType::Integer)).is_err());
        assert_eq!(
            coerce(json!(["1", 2]), Some(Array), Some(InputType::Integer)),
            Ok(json!([1, 2]))
        );
    }
}
