//! The bridge file as written: the serde schema of one YAML file, and nothing more.
//!
//! This is the *parse* step. It checks shape only (known keys, value types, no duplicate keys)
//! and expands `${VAR}` in every string; what the values mean is checked in
//! [`crate::bridge`]. Every struct denies unknown keys so that a typo such as `timout:` is an
//! error with a line and column, never a silently ignored setting.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

mod bridge_test;
mod connection;
pub mod env;
pub mod locate;
mod schema;
mod shape;

pub use bridge_test::{
    BridgeTest, Expectation, ExpectedRequest, OneOrMany, RecordedAnswer, ScalarString,
};
pub use schema::json_schema;

pub use connection::{ClientAuth, ConnectionFile, OAuth2Spec, TlsSpec};
use env::{EnvSource, Expansion, FileRead};

/// What a file in the bridge directory declares: its first key `kind:` says (default `bridge`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Bridge,
    Connection,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeFile {
    /// Always `bridge` here (checked when compiled); a connection file parses as [`ConnectionFile`].
    #[serde(default)]
    pub kind: Kind,
    pub name: Option<Text>,
    pub description: Option<Text>,
    pub route: RouteSpec,
    #[serde(default)]
    pub input: FieldMap<InputFieldSpec>,
    pub upstream: UpstreamSpec,
    #[serde(default)]
    pub output: FieldMap<OutputFieldSpec>,
    #[serde(default)]
    pub on_error: OnError,
    pub auth: Option<AuthSpec>,
    /// Run by `bridgeway test`; never compiled into the served bridge.
    #[serde(default)]
    pub tests: Vec<BridgeTest>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub method: Option<Text>,
    pub path: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputFieldSpec {
    #[serde(rename = "type", default = "InputFieldSpec::default_type")]
    pub kind: InputType,
    #[serde(default)]
    pub required: bool,
    pub minimum: Option<serde_json::Number>,
    pub maximum: Option<serde_json::Number>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<Text>,
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<Expanded>>,
    pub description: Option<Text>,
}

impl InputFieldSpec {
    fn default_type() -> InputType {
        InputType::String
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    pub method: Option<Text>,
    pub url: Text,
    #[serde(default)]
    pub headers: FieldMap<Text>,
    #[serde(default)]
    pub query: FieldMap<Text>,
    #[serde(default, deserialize_with = "present")]
    pub body: Option<Expanded>,
    /// Sent as `application/x-www-form-urlencoded`; excludes `body` (checked when compiled).
    pub form: Option<FieldMap<Text>>,
    pub timeout: Option<Text>,
    /// Outbound credentials (gateway → upstream); unrelated to the top-level inbound `auth`.
    pub auth: Option<UpstreamAuthSpec>,
    /// A connection file (by name) giving the base URL, headers, timeout, credentials and TLS.
    pub connection: Option<Text>,
    pub tls: Option<TlsSpec>,
}

/// Outbound credentials: exactly one kind (checked when compiled). Every value is a secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamAuthSpec {
    pub oauth2: Option<OAuth2Spec>,
    pub basic: Option<BasicSpec>,
    pub bearer: Option<Text>,
    pub api_key: Option<UpstreamApiKeySpec>,
}

impl UpstreamAuthSpec {
    /// Every value under `auth`, for masking.
    pub fn values(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Some(o) = &self.oauth2 {
            out.extend(o.values());
        }
        if let Some(b) = &self.basic {
            out.extend([b.username.as_str(), b.password.as_str()]);
        }
        if let Some(t) = &self.bearer {
            out.push(t.as_str());
        }
        if let Some(k) = &self.api_key {
            out.push(k.value.as_str());
        }
        out
    }
}

/// An API key sent upstream: as a header or as a query parameter (exactly one).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamApiKeySpec {
    pub header: Option<Text>,
    pub query: Option<Text>,
    pub value: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputFieldSpec {
    pub path: Option<Text>,
    pub from: Option<Text>,
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Expanded>,
    /// Computed: the number of matches of a JSONPath (an array's length).
    pub count: Option<Text>,
    /// Computed: whether a JSONPath matches a non-null value.
    pub exists: Option<Text>,
    /// Computed: reply text rendered from `input.*` and earlier `output.*`.
    pub template: Option<Text>,
    /// Beside a many-valued `path`: every match joined into one string with this separator.
    pub join: Option<Text>,
    #[serde(rename = "type")]
    pub kind: Option<OutputType>,
    pub items: Option<ItemsSpec>,
    /// Beside `items`: keep only the first N elements.
    pub max_items: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub default: Option<Expanded>,
    #[serde(default)]
    pub required: bool,
    pub description: Option<Text>,
}

/// The elements of an `array` output: a scalar type, or `{ fields: … }` for records.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)] // the schema of what `ItemsVisitor` accepts
pub enum ItemsSpec {
    Scalar(InputType),
    Records(RecordSpec),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    pub fields: FieldMap<OutputFieldSpec>,
}

/// Not `#[serde(untagged)]`: that would trade every inner message (an unknown key deep in a
/// record) for "did not match any variant".
impl<'de> Deserialize<'de> for ItemsSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = ItemsSpec;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar type (string, integer, number, boolean) or `{ fields: … }`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ItemsSpec, E> {
        InputType::deserialize(de::value::StrDeserializer::<E>::new(v)).map(ItemsSpec::Scalar)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ItemsSpec, A::Error> {
        RecordSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(ItemsSpec::Records)
    }
}

/// What a failed upstream call answers: an error status (the default), or 200 with the output
/// fields built from the error so a flow can branch on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Status,
    Output,
}

/// Inbound credentials: exactly one of `api_key` or `basic` (checked when compiled).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub api_key: Option<ApiKeySpec>,
    pub basic: Option<BasicSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    pub header: Text,
    pub value: Text,
    /// The field of the Genesys *User Defined* credential that holds the key (default `apiKey`);
    /// only the exported action uses it.
    pub genesys_field: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicSpec {
    pub username: Text,
    pub password: Text,
}

/// A string from the bridge file with `${VAR}` expanded. YAML numbers and booleans are taken
/// as their text, so `X-Version: 2` needs no quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = d.deserialize_any(ScalarText)?;
        env::expand_in_scope(&raw)
            .map(Text)
            .map_err(de::Error::custom)
    }
}

impl JsonSchema for Text {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Text".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // What `ScalarText` accepts.
        schemars::json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

struct ScalarText;

impl Visitor<'_> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// Any YAML value, as JSON, with `${VAR}` expanded in every string inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Expanded(pub Value);

impl<'de> Deserialize<'de> for Expanded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(d)?;
        expand_strings(&mut value).map_err(de::Error::custom)?;
        Ok(Expanded(value))
    }
}

impl JsonSchema for Expanded {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyValue".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::from(true)
    }
}

fn expand_strings(value: &mut Value) -> Result<(), env::ExpandError> {
    match value {
        Value::String(s) => *s = env::expand_in_scope(s)?,
        Value::Array(items) => items.iter_mut().try_for_each(expand_strings)?,
        Value::Object(map) => map.values_mut().try_for_each(expand_strings)?,
        _ => {}
    }
    Ok(())
}

/// `Some` whenever the key is present, so `default: null` means "null", not "no default".
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Expanded>, D::Error> {
    Expanded::deserialize(d).map(Some)
}

/// A YAML mapping that keeps the file's order and refuses duplicate keys (a later duplicate
/// would otherwise silently replace the first).
#[derive(Debug)]
pub struct FieldMap<V>(pub IndexMap<String, V>);

impl<V> Default for FieldMap<V> {
    fn default() -> Self {
        FieldMap(IndexMap::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for FieldMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldMapVisitor(PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for FieldMap<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<V>();
        // `key:` with nothing after it is an empty mapping (see `visit_unit`).
        schemars::json_schema!({ "type": ["object", "null"], "additionalProperties": value })
    }
}

struct FieldMapVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for FieldMapVisitor<V> {
    type Value = FieldMap<V>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FieldMap::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = IndexMap::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(FieldMap(map))
    }
}

/// Where the YAML parser located a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A bridge file that does not have the right shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub location: Option<Location>,
}

impl ParseError {
    /// The same problem, found by another reading: on one line, saying one thing (each may
    /// name the key path its own way).
    fn same_as(&self, other: &ParseError) -> bool {
        let tail = |m: &str| m.split_once(": ").map_or(m, |(_, t)| t).to_owned();
        let (a, b) = (self.message.as_str(), other.message.as_str());
        self.location.map(|l| l.line) == other.location.map(|l| l.line)
            && (a.ends_with(&tail(b)) || b.ends_with(&tail(a)))
    }
}

/// A parsed file and the values it took from the environment and from files; or every shape
/// problem the file has (at least one).
pub type Parsed<T = BridgeFile> = Result<(T, Vec<Expansion>), Vec<ParseError>>;

/// A bridge's or a connection's name: `[a-z0-9][a-z0-9-]*`, safe in a route, a metric label
/// and a file name.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What a file says it is, by its `kind:` key (a bridge when it has none); `None` when that
/// cannot be read (the text is not YAML, or `kind` holds something else), so that a loader
/// can keep taking a broken file for what it was before.
pub fn kind_of(text: &str) -> Option<Kind> {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(default)]
        kind: Kind,
    }
    serde_yaml::from_str::<Peek>(text).ok().map(|p| p.kind)
}

/// Parses one bridge file, expanding `${VAR}` from `env`, and returns the values it took from
/// the environment alongside. `${file:PATH}` is read relative to the working directory.
pub fn parse(text: &str, env: &Arc<dyn EnvSource>) -> Parsed {
    parse_in(text, env, None).0
}

/// [`parse`] for a file in `base` (the bridge directory, where a relative `${file:PATH}` is
/// read from); also returns every file read, whether or not the parse succeeded, so that a
/// reload can tell when they change.
pub fn parse_in<T: de::DeserializeOwned>(
    text: &str,
    env: &Arc<dyn EnvSource>,
    base: Option<&std::path::Path>,
) -> (Parsed<T>, Vec<FileRead>) {
    let (result, used, files) = env::with_scope(env, base, || serde_yaml::from_str::<T>(text));
    let first = match result {
        Ok(file) => return (Ok((file, used)), files),
        Err(e) => ParseError {
            location: e.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            }),
            message: strip_location(&e.to_string()),
        },
    };
    // The second reading's files are not kept: the first one's are what a reload watches.
    let (more, used, _) = env::with_scope(env, base, || shape::every_problem::<T>(text));
    let mut values = env::Secrets::default();
    used.iter().for_each(|e| values.add(&e.value));
    let mut errors: Vec<ParseError> = more
        .into_iter()
        .map(|e| ParseError {
            message: values.mask(&e.message),
            ..e
        })
        .collect();
    // The second reading names the same problem with a deeper key path; keep the first only
    // where it found something else (a missing top-level key, a duplicate key).
    if !errors.iter().any(|e| e.same_as(&first)) {
        let message = values.mask(&first.message);
        errors.push(ParseError { message, ..first });
    }
    errors.sort_by_key(|e| e.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
    errors.iter_mut().for_each(|e| suggest(e, text));
    (Err(errors), files)
}

/// Adds what to write instead, where the mistake is a common one.
fn suggest(error: &mut ParseError, text: &str) {
    let Some(at) = error.location else { return };
    let Some(line) = text.lines().nth(at.line.saturating_sub(1)) else {
        return;
    };
    let start = line
        .char_indices()
        .nth(at.column.saturating_sub(1))
        .map_or(line.len(), |(i, _)| i);
    let (before, rest) = line.split_at(start);
    // The position is the value's or its key's.
    let (before, rest) = match rest.split_once(": ") {
        Some((key, value)) if !rest.starts_with("{{") => {
            (&line[..start + key.len() + 2], value.trim_start())
        }
        _ => (before, rest),
    };
    // `X: {{input.id}}` is YAML for a mapping inside a mapping, not a template.
    if error.message.contains("invalid type: map") && rest.starts_with("{{") {
        let value = template_value(rest, in_flow(before));
        let quote = if value.contains('"') { '\'' } else { '"' };
        error.message.push_str(&format!(
            "; a value that starts with `{{{{` must be quoted: write {quote}{value}{quote}"
        ));
    }
}

/// Whether `before` leaves a `{…}` or `[…]` open, where `,` and a closing bracket end a value.
fn in_flow(before: &str) -> bool {
    let opened = before.matches(['{', '[']).count();
    let closed = before.matches(['}', ']']).count();
    opened > closed
}

/// The unquoted value that starts `rest`: up to a comment or the end of the line, and in a
/// flow collection up to the `,` or the bracket that closes it.
fn template_value(rest: &str, flow: bool) -> &str {
    let mut value = rest.split(" #").next().unwrap_or(rest).trim_end();
    if flow {
        value = value.split(',').next().unwrap_or(value).trim_end();
        let unbalanced = |v: &str| v.matches(['}', ']']).count() > v.matches(['{', '[']).count();
        while unbalanced(value) && value.ends_with(['}', ']']) {
            value = &value[..value.len() - 1];
        }
    }
    value
}

/// serde_yaml appends " at line L column C" to its messages; the location is kept separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(pos) => message[..pos].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse_with(text: &str, pairs: &[(&str, &str)]) -> Result<BridgeFile, ParseError> {
        parse_all(text, pairs).map_err(|mut e| e.remove(0))
    }

    fn parse_all(text: &str, pairs: &[(&str, &str)]) -> Result<BridgeFile, Vec<ParseError>> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env: Arc<dyn EnvSource> = Arc::new(env);
        parse(text, &env).map(|(f, _)| f)
    }

    const MINIMAL: &str = "route: {path: /x}\nupstream: {url: 'http://h/'}\n";

    #[test]
    fn a_typo_is_an_error_with_line_and_column() {
        let err = parse_with(
            "route: {path: /x}\nupstream:\n  url: http://h/\n  timout: 5s\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.message.contains("unknown field `timout`"),
            "{}",
            err.message
        );
        assert_eq!(err.location.map(|l| l.line), Some(4));
    }

    #[test]
    fn every_shape_problem_of_a_file_is_listed_in_file_order() {
        let text = "route: {path: /x, methd: GET}\ninput:\n  a: {type: integr}\n  b: {requird: true}\n\
                    upstream:\n  url: http://h/\n  timout: 5s\n  headers:\n    X: {{input.a}}\n\
                    output:\n  o: {path: $.o, typ: string}\nextra: 1\n";
        let errors = parse_all(text, &[]).unwrap_err();
        let got: Vec<(Option<usize>, &str)> = errors
            .iter()
            .map(|e| (e.location.map(|l| l.line), e.message.as_str()))
            .collect();
        let want = [
            (1, "route: unknown field `methd`"),
            (3, "input.a.type: unknown variant `integr`"),
            (4, "input.b: unknown field `requird`"),
            (7, "upstream: unknown field `timout`"),
            (9, "upstream.headers.X: invalid type: map"),
            (11, "output.o: unknown field `typ`"),
            (12, "unknown field `extra`"),
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for ((line, message), (want_line, want_message)) in got.iter().zip(want) {
            assert_eq!(*line, Some(want_line), "{got:#?}");
            assert!(message.starts_with(want_message), "{got:#?}");
        }
        assert!(
            got[4].1.ends_with("must be quoted: write \"{{input.a}}\""),
            "{}",
            got[4].1
        );
    }

    #[test]
    fn an_unquoted_template_is_quoted_whole_in_the_suggestion() {
        for (value, want) in [
            ("url: {{input.a}}/x # the id", "\"{{input.a}}/x\""),
            (
                "query: {q: {{input.a}} and more}",
                "\"{{input.a}} and more\"",
            ),
            ("body: {b: {{input.a}}, c: 1}", "\"{{input.a}}\""),
            ("headers: {X: {{input.a}}-\"q\"}", "'{{input.a}}-\"q\"'"),
        ] {
            let url = match value.starts_with("url") {
                true => "",
                false => "  url: http://h/\n",
            };
            let text =
                format!("route: {{path: /x}}\ninput: {{a: {{}}}}\nupstream:\n{url}  {value}\n");
            let errors = parse_all(&text, &[]).unwrap_err();
            let message = &errors[0].message;
            assert!(
                message.ends_with(&format!("must be quoted: write {want}")),
                "{value}: {message}"
            );
        }
    }

    #[test]
    fn duplicate_input_fields_are_refused() {
        let text = format!("{MINIMAL}input:\n  a: {{type: string}}\n  a: {{type: integer}}\n");
        let err = parse_with(&text, &[]).unwrap_err();
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }

    #[test]
    fn env_values_are_expanded_but_never_parsed_as_yaml() {
        let text = "route: {path: /x}\nupstream: {url: '${U}'}\n";
        let file = parse_with(text, &[("U", "http://h/\nroute: evil")]).unwrap();
        assert_eq!(file.upstream.url.0, "http://h/\nroute: evil");
        assert_eq!(file.route.path.0, "/x");
    }

    #[test]
    fn unset_variable_names_the_variable_and_where() {
        let err = parse_with("route: {path: /x}\nupstream: {url: '${NOPE}'}\n", &[]).unwrap_err();
        assert!(err.message.contains("NOPE"), "{}", err.message);
        assert_eq!(err.location.map(|l| l.line), Some(2));
    }

    #[test]
    fn explicit_null_default_is_kept_apart_from_no_default() {
        let text =
            format!("{MINIMAL}output:\n  a: {{path: $.a, default: null}}\n  b: {{path: $.b}}\n");
        let file = parse_with(&text, &[]).unwrap();
        assert_eq!(file.output.0["a"].default, Some(Expanded(Value::Null)));
        assert_eq!(file.output.0["b"].default, None);
    }
}
