//! Genesys rules a bridge must follow to become a data action. `check` reports them as
//! errors, and `export` refuses a bridge that breaks one.

use http::Method;

use crate::bridge::Bridge;
use crate::stages::map::{FieldSource, Items, OutputField};

/// Input names Genesys keeps for itself.
const RESERVED_INPUTS: [&str; 3] = ["orgId", "integrationId", "rawRequest"];

/// The longest action timeout Genesys allows.
pub const MAX_TIMEOUT_SECONDS: u64 = 60;

/// Everything in `bridge` that Genesys would refuse, one message each.
pub fn problems(bridge: &Bridge) -> Vec<String> {
    keyed_problems(bridge).into_iter().map(|(_, m)| m).collect()
}

/// [`problems`], each with the dotted key path of the key it is about, for placing it in the
/// file.
pub fn keyed_problems(bridge: &Bridge) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for field in &bridge.input.fields {
        let name = field.name.as_str();
        if !is_genesys_input_name(name) {
            problems.push(at(format!("input.{name}"), format!(
                "genesys: input `{name}` must start with a letter and hold only letters, digits, `_` and `-`"
            )));
        }
        if RESERVED_INPUTS.contains(&name) {
            problems.push(at(
                format!("input.{name}"),
                format!("genesys: input name `{name}` is reserved by Genesys"),
            ));
        }
    }
    untyped_outputs(&bridge.output.fields, "", "output.", &mut problems);
    if bridge.upstream.timeout.as_secs_f64() > MAX_TIMEOUT_SECONDS as f64 {
        problems.push(at("upstream.timeout".to_owned(), format!(
            "genesys: upstream.timeout is {}, but a data action may wait at most {MAX_TIMEOUT_SECONDS}s",
            humantime::format_duration(bridge.upstream.timeout)
        )));
    }
    if ![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .contains(&bridge.method)
    {
        problems.push(at("route.method".to_owned(), format!(
            "genesys: route.method {} is not one a data action can send (GET, POST, PUT, PATCH, DELETE)",
            bridge.method
        )));
    }
    if bridge.method == Method::GET && !bridge.input.fields.is_empty() {
        problems.push(at(
            "route.method".to_owned(),
            "genesys: a GET route cannot take inputs from Genesys: a data action sends no body on GET (genesys.md §3.1) and the gateway reads inputs only from the body; use POST".to_owned(),
        ));
    }
    problems
}

/// Path fields without a type, records' fields included (named `list[].field`, keyed
/// `output.list.items.fields.field`).
fn untyped_outputs(
    fields: &[OutputField],
    within: &str,
    key: &str,
    problems: &mut Vec<(String, String)>,
) {
    for field in fields {
        if matches!(field.source, FieldSource::Path(_)) && field.kind.is_none() {
            problems.push(at(format!("{key}{}", field.name), format!(
                "genesys: output `{within}{}` needs a `type`: Genesys needs one for every output, and an untyped value could hold nested arrays, which Genesys refuses",
                field.name
            )));
        }
        if let Some(inner) = field.items.as_ref().and_then(Items::records) {
            let within = format!("{within}{}[].", field.name);
            let key = format!("{key}{}.items.fields.", field.name);
            untyped_outputs(inner, &within, &key, problems);
        }
    }
}

fn at(key: String, message: String) -> (String, String) {
    (key, message)
}

fn is_genesys_input_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
