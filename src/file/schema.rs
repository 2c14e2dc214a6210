//! The JSON Schema (draft 2020-12) of the files in a bridge directory, generated from the very
//! serde types that parse them, so an editor's view of a file cannot drift from the gateway's.

use serde_json::Value;

use super::BridgeFile;

/// The schema `bridgeway schema` prints and `schema/bridgeway.schema.json` holds.
pub fn json_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<BridgeFile>();
    schema.insert("title".into(), "bridgeway bridge file".into());
    schema.to_value()
}
