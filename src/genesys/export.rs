//! A bridge as a Genesys *Web Services Data Action*: the action file that imports unchanged
//! (Admin → Integrations → Actions → Import), and the pieces `deploy` sends to the Platform API.
//!
//! The action forwards its whole input as the body (`${input.rawRequest}`) and takes the
//! gateway's flat reply as its result (`${rawResult}`), so the contracts are the only place
//! where the two sides could disagree, and both are generated from the bridge.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::bridge::Bridge;
use crate::file::{InputType, OnError, OutputType};
use crate::genesys::rules::{self, MAX_TIMEOUT_SECONDS};
use crate::stages::auth::InboundAuth;
use crate::stages::map::{FieldSource, Items, OutputField};
use crate::stages::validate::InputField;

pub const DRAFT_04: &str = "http://json-schema.org/draft-04/schema#";

/// Which Genesys credential the integration needs for this bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No inbound auth: any credential type works, and nothing is sent.
    None,
    /// *User Defined*, with credential field `field` (the bridge's `auth.api_key.genesys_field`,
    /// default `apiKey`) placed in `header`.
    UserDefined { header: String, field: String },
    /// *Basic Auth*: Genesys adds the `Authorization` header to every request itself.
    Basic { username: String },
}

impl Credential {
    pub fn of(bridge: &Bridge) -> Self {
        match &bridge.auth {
            None => Credential::None,
            Some(InboundAuth::ApiKey {
                header,
                genesys_field,
                ..
            }) => Credential::UserDefined {
                header: header.to_string(),
                field: genesys_field.clone(),
            },
            Some(InboundAuth::Basic { username, .. }) => Credential::Basic {
                username: username.clone(),
            },
        }
    }

    /// What the operator must create in Genesys, in words. Never holds a secret.
    pub fn instructions(&self) -> String {
        match self {
            Credential::None => "the bridge has no inbound auth: any credential type works (anyone who can reach the gateway can call it)".to_owned(),
            Credential::UserDefined { header, field } => format!(
                "credential type User Defined, with a field named `{field}` holding the bridge's API key; the action sends it as header {header}"
            ),
            Credential::Basic { username } => format!(
                "credential type Basic Auth, user name `{username}`, password = the bridge's password"
            ),
        }
    }
}

/// An exported action, serialized with its top-level keys in the order Genesys exports them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFile {
    pub name: String,
    pub integration_type: &'static str,
    pub action_type: &'static str,
    pub config: Value,
    pub contract: Value,
    pub secure: bool,
}

/// The whole action file, or the Genesys rules the bridge breaks.
pub fn action_file(bridge: &Bridge, base_url: &str) -> Result<ActionFile, Vec<String>> {
    let problems = rules::problems(bridge);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ActionFile {
        name: bridge.name.clone(),
        integration_type: "custom-rest-actions",
        action_type: "custom",
        config: config(bridge, base_url),
        contract: contract(bridge),
        secure: false,
    })
}

/// `config`: the request to the gateway and the response taken as it is.
pub fn config(bridge: &Bridge, base_url: &str) -> Value {
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), "application/json".into());
    headers.insert("Accept".into(), "application/json".into());
    if let Credential::UserDefined { header, field } = Credential::of(bridge) {
        headers.insert(header, format!("${{credentials.{field}}}").into());
    }
    json!({
        "request": {
            "requestUrlTemplate": format!("{}{}", base_url.trim_end_matches('/'), bridge.path),
            "requestType": bridge.method.as_str(),
            "headers": headers,
            "requestTemplate": "${input.rawRequest}",
        },
        "response": {
            "translationMap": {},
            "translationMapDefaults": {},
            "successTemplate": "${rawResult}",
        },
        "timeoutSeconds": timeout_seconds(bridge),
    })
}

/// One second more than the bridge's own timeout, so the gateway's 504 reaches the flow
/// before Genesys gives up; within Genesys' 1–60 s.
pub fn timeout_seconds(bridge: &Bridge) -> u64 {
    (bridge.upstream.timeout.as_secs_f64().ceil() as u64 + 1).clamp(1, MAX_TIMEOUT_SECONDS)
}

pub fn contract(bridge: &Bridge) -> Value {
    json!({
        "input": { "inputSchema": input_schema(bridge) },
        "output": { "successSchema": success_schema(bridge) },
    })
}

/// The input contract as draft-04 JSON Schema: the same rules the gateway enforces.
pub fn input_schema(bridge: &Bridge) -> Value {
    let properties: Map<String, Value> = bridge
        .input
        .fields
        .iter()
        .map(|f| (f.name.clone(), input_property(f)))
        .collect();
    let required: Vec<&str> = bridge
        .input
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    object_schema(bridge, "input", properties, required)
}

/// The reply as draft-04 JSON Schema. `required` lists the fields the gateway always sends: a
/// constant, one with a default, and one marked `required` (a success without it is a 502) —
/// unless `on_error: output` answers 200 without it when the upstream failed.
pub fn success_schema(bridge: &Bridge) -> Value {
    let properties: Map<String, Value> = bridge
        .output
        .fields
        .iter()
        .map(|f| (f.name.clone(), output_property(f, bridge.on_error)))
        .collect();
    let required: Vec<&str> = bridge
        .output
        .fields
        .iter()
        .filter(|f| always_present(f) || (f.required && bridge.on_error == OnError::Status))
        .map(|f| f.name.as_str())
        .collect();
    object_schema(bridge, "output", properties, required)
}

fn object_schema(
    bridge: &Bridge,
    side: &str,
    properties: Map<String, Value>,
    required: Vec<&str>,
) -> Value {
    let mut schema = Map::new();
    schema.insert("$schema".into(), DRAFT_04.into());
    schema.insert("title".into(), format!("{} {side}", bridge.name).into());
    if let Some(d) = &bridge.description {
        schema.insert("description".into(), d.clone().into());
    }
    open_object(schema, properties, required)
}

/// `schema` completed as an open object with `properties`, of which `required` must be there.
fn open_object(
    mut schema: Map<String, Value>,
    properties: Map<String, Value>,
    required: Vec<&str>,
) -> Value {
    schema.insert("type".into(), "object".into());
    // draft-04 requires a non-empty `required` array when it is present.
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("properties".into(), Value::Object(properties));
    schema.insert("additionalProperties".into(), true.into());
    Value::Object(schema)
}

fn input_property(field: &InputField) -> Value {
    let mut p = Map::new();
    p.insert("title".into(), field.name.clone().into());
    p.insert("type".into(), scalar_type_name(field.kind).into());
    if let Some(d) = &field.description {
        p.insert("description".into(), d.clone().into());
    }
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            p.insert(key.into(), v);
        }
    };
    put("minimum", field.minimum.clone().map(Value::Number));
    put("maximum", field.maximum.clone().map(Value::Number));
    put("minLength", field.min_length.map(Value::from));
    put("maxLength", field.max_length.map(Value::from));
    put("pattern", field.pattern.as_ref().map(|r| r.as_str().into()));
    put("enum", field.one_of.clone().map(Value::Array));
    Value::Object(p)
}

fn output_property(field: &OutputField, on_error: OnError) -> Value {
    let mut p = Map::new();
    p.insert("title".into(), field.name.clone().into());
    match output_type(field) {
        Some(OutputType::Array) => {
            p.insert("type".into(), "array".into());
            match &field.items {
                Some(Items::Scalar(items)) => {
                    p.insert("items".into(), json!({ "type": scalar_type_name(*items) }));
                }
                Some(Items::Records(fields)) => {
                    p.insert("items".into(), record_schema(fields, on_error));
                }
                None => {}
            }
        }
        Some(kind) => {
            p.insert("type".into(), output_type_name(kind).into());
        }
        None => {}
    }
    if let Some(d) = &field.description {
        p.insert("description".into(), d.clone().into());
    }
    Value::Object(p)
}

/// One record: an object with a property per field; `required` as for the reply itself
/// (a record field is always there when it is a constant, has a default or is `required`,
/// unless `on_error: output` builds records from an error body).
fn record_schema(fields: &[OutputField], on_error: OnError) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.clone(), output_property(f, on_error)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| always_present(f) || (f.required && on_error == OnError::Status))
        .map(|f| f.name.as_str())
        .collect();
    open_object(Map::new(), properties, required)
}

/// The declared type, or the one the source implies.
fn output_type(field: &OutputField) -> Option<OutputType> {
    field.kind.or(match &field.source {
        FieldSource::Status => Some(OutputType::Integer),
        FieldSource::Error | FieldSource::Header(_) => Some(OutputType::String),
        FieldSource::Value(Value::String(_)) => Some(OutputType::String),
        FieldSource::Value(Value::Bool(_)) => Some(OutputType::Boolean),
        FieldSource::Value(Value::Number(n)) if n.is_f64() => Some(OutputType::Number),
        FieldSource::Value(Value::Number(_)) => Some(OutputType::Integer),
        FieldSource::Value(Value::Array(_)) => Some(OutputType::Array),
        _ => None,
    })
}

fn always_present(field: &OutputField) -> bool {
    let constant = match &field.source {
        FieldSource::Value(v) => !v.is_null(),
        source => matches!(
            source,
            FieldSource::Status
                | FieldSource::Error
                | FieldSource::Count(_)
                | FieldSource::Exists(_)
                | FieldSource::Template(_)
        ),
    };
    constant || field.default.as_ref().is_some_and(|d| !d.is_null())
}

fn scalar_type_name(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "string",
        InputType::Integer => "integer",
        InputType::Number => "number",
        InputType::Boolean => "boolean",
    }
}

fn output_type_name(kind: OutputType) -> &'static str {
    match kind {
        OutputType::String => "string",
        OutputType::Integer => "integer",
        OutputType::Number => "number",
        OutputType::Boolean => "boolean",
        OutputType::Array => "array",
    }
}
