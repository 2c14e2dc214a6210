//! The `tests:` of a bridge file: recorded upstream answers and what the bridge must make of
//! them. Read by `bridgeway test` only; `serve` parses them (so a typo is still an error) and
//! never compiles them. Values are plain YAML: `${VAR}` is not expanded in a test.

use std::fmt;
use std::marker::PhantomData;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One test of a bridge.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeTest {
    /// Shown in the report; unique within the bridge.
    pub name: String,
    /// The inbound JSON object.
    #[serde(default = "empty_object")]
    #[schemars(schema_with = "object_schema")]
    pub input: Value,
    /// The stand-in upstream's answer, or a list of answers, one per call, in order.
    #[serde(default)]
    pub upstream: OneOrMany<RecordedAnswer>,
    /// What must come out.
    #[serde(default)]
    pub expect: Expectation,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object" })
}

/// An answer the stand-in upstream gives.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordedAnswer {
    /// Default 200.
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub headers: IndexMap<String, ScalarString>,
    /// Sent as JSON (with `Content-Type: application/json` unless `headers` names one); a
    /// string is sent as it is, so a test can answer with text that is not JSON.
    pub body: Option<Value>,
}

fn ok() -> u16 {
    200
}

/// What a test asserts; every key given must match, the others are not looked at.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The gateway's status.
    pub status: Option<u16>,
    /// Keys of the reply (at any depth of objects) and their values; others are ignored.
    #[schemars(schema_with = "optional_object_schema")]
    pub output: Option<Value>,
    /// The request the upstream received (or a list, one per call, in order).
    #[serde(default)]
    pub request: OneOrMany<ExpectedRequest>,
}

fn optional_object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["object", "null"] })
}

/// What the upstream must have received.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRequest {
    pub method: Option<String>,
    /// The path, without the query.
    pub path: Option<String>,
    /// Query parameters, decoded; each given must be there with this value.
    pub query: Option<IndexMap<String, ScalarString>>,
    /// Headers (names in any case); each given must be there with this value.
    pub headers: Option<IndexMap<String, ScalarString>>,
    /// The whole body: JSON compared as JSON, a form body as an object of its fields, a string
    /// as the raw text.
    pub body: Option<Value>,
}

/// A string; YAML numbers and booleans are taken as their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(ScalarString(s)),
            v @ (Value::Number(_) | Value::Bool(_)) => Ok(ScalarString(v.to_string())),
            _ => Err(de::Error::custom("expected a string, number or boolean")),
        }
    }
}

impl JsonSchema for ScalarString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// One value, or a list of them.
#[derive(Debug, Clone)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Each item is read from the YAML itself (not from a copy), so its errors keep their
        // line and column.
        d.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}

struct OneOrManyVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping or a list of mappings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(OneOrMany::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OneOrMany(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|one| OneOrMany(vec![one]))
    }
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = generator.subschema_for::<T>();
        schemars::json_schema!({ "anyOf": [one, { "type": "array", "items": one }] })
    }
}
