//! The warning `check` gives for an input placed bare inside a quoted literal of a query value
//! (`q=Name = '{{input.name}}'`): a quote in the value ends the literal and rewrites the query.
//! Percent-encoding keeps the value inside the URL parameter, not inside the query language.

use crate::file::{FieldMap, InputFieldSpec, UpstreamSpec};

/// One warning per unguarded input between quotes in `upstream.query` values and in the
/// query part of `upstream.url`. An input is guarded by a query-language helper, an `enum`
/// or a `pattern`.
pub fn quoted_input_warnings(
    spec: &UpstreamSpec,
    inputs: &FieldMap<InputFieldSpec>,
) -> Vec<String> {
    let guarded = |name: &str| {
        inputs
            .0
            .get(name)
            .is_some_and(|f| f.one_of.is_some() || f.pattern.is_some())
    };
    let url_query = spec.url.as_str().split_once('?').map(|(_, q)| q);
    let places = url_query
        .into_iter()
        .map(|q| ("upstream.url".to_owned(), q))
        .chain(
            spec.query
                .0
                .iter()
                .map(|(key, value)| (format!("upstream.query.{key}"), value.as_str())),
        );
    let mut warnings = Vec::new();
    for (key, text) in places {
        for name in bare_inputs_in_quotes(text) {
            if !guarded(&name) {
                warnings.push(format!(
                    "{key}: input `{name}` stands between quotes in a query value without \
                     `soql`, `sosl` or `odata` and has no `enum` or `pattern`: a quote in it \
                     can end the literal and change the query (write `{{{{soql input.{name}}}}}` \
                     or the helper of that query language)"
                ));
            }
        }
    }
    warnings
}

/// The inputs written as a bare `{{input.NAME}}` inside a `'…'` or `"…"` literal (quotes
/// also percent-encoded, as `%27` and `%22`).
fn bare_inputs_in_quotes(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut quote: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(inner) = rest.strip_prefix("{{") {
            let Some(end) = inner.find("}}") else { break };
            if quote.is_some()
                && let Some(name) = inner[..end].trim().strip_prefix("input.")
                && !name.is_empty()
                && !name.contains(char::is_whitespace)
            {
                names.push(name.to_owned());
            }
            rest = inner.get(end + 2..).unwrap_or("");
            continue;
        }
        let (mark, len) = match rest.get(..3).map(str::to_ascii_lowercase).as_deref() {
            Some("%27") => (Some('\''), 3),
            Some("%22") => (Some('"'), 3),
            _ => ((c == '\'' || c == '"').then_some(c), c.len_utf8()),
        };
        match (quote, mark) {
            (None, Some(m)) => quote = Some(m),
            (Some(q), Some(m)) if q == m => quote = None,
            _ => {}
        }
        rest = &rest[len..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bare_inputs_inside_quotes_only() {
        for (text, want) in [
            ("SELECT Id FROM C WHERE N = '{{input.n}}'", vec!["n"]),
            ("a = \"{{ input.n }}\" and b = {{input.b}}", vec!["n"]),
            ("x=%27{{input.n}}%27", vec!["n"]),
            ("N = '{{soql input.n}}'", vec![]),
            ("it's {{input.n}}", vec!["n"]),
            ("{{input.n}}", vec![]),
            ("'a' {{input.n}} \"{{input.m}}\"", vec!["m"]),
            ("'unclosed {{input.n", vec![]),
        ] {
            assert_eq!(bare_inputs_in_quotes(text), want, "{text}");
        }
    }
}
