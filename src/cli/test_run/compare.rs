//! What a test expected against what happened, as one readable line per difference, each
//! beginning with the key it is about (`status`, `output.title`, `request.path`, …).

use bridgeway::file::{ExpectedRequest, ScalarString};
use indexmap::IndexMap;
use serde_json::Value;

use super::stand_in::Received;

/// `expected`'s keys, at any depth of objects, against `actual`; other keys are ignored.
pub fn subset(at: &str, expected: &Value, actual: Option<&Value>, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Some(Value::Object(got))) => {
            for (key, value) in want {
                subset(&format!("{at}.{key}"), value, got.get(key), out);
            }
        }
        (want, Some(got)) if same(want, got) => {}
        (want, got) => out.push(format!(
            "{at}: expected {}, got {}",
            want,
            got.map_or("nothing".to_owned(), Value::to_string)
        )),
    }
}

/// JSON equality, except that numbers compare by value (`1` is `1.0`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// One expected request against the one received.
pub fn request(at: &str, want: &ExpectedRequest, got: &Received, out: &mut Vec<String>) {
    if let Some(method) = &want.method
        && !method.eq_ignore_ascii_case(&got.method)
    {
        out.push(format!(
            "{at}.method: expected {method}, got {}",
            got.method
        ));
    }
    if let Some(path) = &want.path
        && *path != got.path
    {
        out.push(format!("{at}.path: expected {path:?}, got {:?}", got.path));
    }
    if let Some(query) = &want.query {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(got.query.as_deref().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        pairs_match(&format!("{at}.query"), query, lookup, out);
    }
    if let Some(headers) = &want.headers {
        pairs_match(&format!("{at}.headers"), headers, |n| got.header(n), out);
    }
    if let Some(body) = &want.body {
        request_body(&format!("{at}.body"), body, got, out);
    }
}

fn pairs_match<'a>(
    at: &str,
    want: &IndexMap<String, ScalarString>,
    got: impl Fn(&str) -> Option<&'a str>,
    out: &mut Vec<String>,
) {
    for (name, value) in want {
        match got(name) {
            Some(v) if v == value.0 => {}
            Some(v) => out.push(format!("{at}.{name}: expected {:?}, got {v:?}", value.0)),
            None => out.push(format!("{at}.{name}: expected {:?}, got nothing", value.0)),
        }
    }
}

fn request_body(at: &str, want: &Value, got: &Received, out: &mut Vec<String>) {
    let text = String::from_utf8_lossy(&got.body);
    if let Value::String(raw) = want {
        if *raw != text {
            out.push(format!("{at}: expected {raw:?}, got {text:?}"));
        }
        return;
    }
    let form = got
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let (want, got) = if form {
        let fields = form_urlencoded::parse(&got.body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        (as_text(want), Value::Object(fields))
    } else {
        match serde_json::from_slice::<Value>(&got.body) {
            Ok(json) => (want.clone(), json),
            Err(_) => {
                out.push(format!(
                    "{at}: expected {want}, got text that is not JSON: {text:?}"
                ));
                return;
            }
        }
    };
    if !same(&want, &got) {
        out.push(format!("{at}: expected {want}, got {got}"));
    }
}

/// A form body's fields are text: `{id: 1}` in a test means `id=1`.
fn as_text(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => Value::String(s.clone()),
                        other => Value::String(other.to_string()),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_difference_names_the_field_and_both_values() {
        let mut out = Vec::new();
        let reply = json!({"title": "x", "id": 1.0, "extra": true});
        subset(
            "output",
            &json!({"title": "t", "id": 1, "gone": 2}),
            Some(&reply),
            &mut out,
        );
        assert_eq!(
            out,
            // In key order: test values are plain JSON objects.
            [
                "output.gone: expected 2, got nothing",
                r#"output.title: expected "t", got "x""#,
            ]
        );
    }
}
