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
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

mod connection;
pub mod env;

pub use connection::{ClientAuth, ConnectionFile, OAuth2Spec, TlsSpec};
use env::{EnvSource, Expansion, FileRead};

/// What a file in the bridge directory declares: its first key `kind:` says (default `bridge`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Bridge,
    Connection,
}

#[derive(Debug, Deserialize)]
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub method: Option<Text>,
    pub path: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamApiKeySpec {
    pub header: Option<Text>,
    pub query: Option<Text>,
    pub value: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
}

#[derive(Debug, Deserialize)]
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
#[derive(Debug)]
pub enum ItemsSpec {
    Scalar(InputType),
    Records(RecordSpec),
}

#[derive(Debug, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Status,
    Output,
}

/// Inbound credentials: exactly one of `api_key` or `basic` (checked when compiled).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub api_key: Option<ApiKeySpec>,
    pub basic: Option<BasicSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    pub header: Text,
    pub value: Text,
    /// The field of the Genesys *User Defined* credential that holds the key (default `apiKey`);
    /// only the exported action uses it.
    pub genesys_field: Option<Text>,
}

#[derive(Debug, Deserialize)]
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

/// A parsed file and the values it took from the environment and from files.
pub type Parsed<T = BridgeFile> = Result<(T, Vec<Expansion>), ParseError>;

/// What a file says it is, by its `kind:` key (a bridge when it has none). A file whose `kind`
/// cannot be read is taken for a bridge, whose full parse then reports the problem.
pub fn kind_of(text: &str) -> Kind {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(default)]
        kind: Kind,
    }
    serde_yaml::from_str::<Peek>(text).map_or(Kind::Bridge, |p| p.kind)
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
    (into_parsed(result, used), files)
}

fn into_parsed<T>(result: Result<T, serde_yaml::Error>, used: Vec<Expansion>) -> Parsed<T> {
    match result {
        Ok(file) => Ok((file, used)),
        Err(e) => Err(ParseError {
            location: e.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            }),
            message: strip_location(&e.to_string()),
        }),
    }
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
