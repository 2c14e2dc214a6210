//! The JSON Schema (draft 2020-12) of the files in a bridge directory, generated from the very
//! serde types that parse them, so an editor's view of a file cannot drift from the gateway's.

use serde_json::{Value, json};

use super::{BridgeFile, ConnectionFile};

/// The schema `bridgeway schema` prints and `schema/bridgeway.schema.json` holds: a bridge file
/// or a connection file, told apart by `kind`.
pub fn json_schema() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let bridge = generator.subschema_for::<BridgeFile>();
    let connection = generator.subschema_for::<ConnectionFile>();
    let meta = generator.settings().meta_schema.clone();
    let mut defs = generator.take_definitions(true);
    // Both types share one `Kind` (the loader reads it first to choose the type); each file
    // kind admits only its own value, which makes exactly one branch of `oneOf` match.
    for (def, kind) in [("BridgeFile", "bridge"), ("ConnectionFile", "connection")] {
        if let Some(property) = defs
            .get_mut(def)
            .and_then(|d| d.pointer_mut("/properties/kind"))
        {
            *property = json!({ "const": kind });
        }
    }
    json!({
        "$schema": meta,
        "title": "bridgeway bridge or connection file",
        "oneOf": [bridge, connection],
        "$defs": defs,
    })
}
