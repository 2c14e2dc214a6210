//! The request body: JSON built as JSON from a YAML structure, an input standing alone in a
//! string keeping its JSON type; or a form, each value form-encoded. Never spliced as text.

use serde_json::Value;

use super::UpstreamTemplate;
use crate::file::{FieldMap, Text};
use crate::stages::validate::{FieldProblem, ValidInput};
use crate::template::{Placement, TextTemplate};

impl UpstreamTemplate {
    pub(super) fn render_body(
        &self,
        input: &ValidInput,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<Vec<u8>> {
        let body = self.body.as_ref()?;
        let mut out = Vec::with_capacity(256);
        let written = match body {
            Body::Json(json) => json.write(input, &mut out),
            Body::Form(form) => form.write(input, &mut out),
        };
        if let Err(problem) = written {
            problems.push(problem);
        }
        Some(out)
    }
}

/// `upstream.body` or `upstream.form` (never both).
#[derive(Debug, Clone)]
pub(super) enum Body {
    Json(BodyTemplate),
    Form(FormTemplate),
}

impl Body {
    pub(super) fn content_type(&self) -> &'static str {
        match self {
            Body::Json(_) => "application/json",
            Body::Form(_) => "application/x-www-form-urlencoded",
        }
    }
}

/// `upstream.form`: keys form-encoded once at load, values rendered as text and form-encoded
/// per request (`application/x-www-form-urlencoded` as the WHATWG URL standard serializes it,
/// which is what every form parser reads).
#[derive(Debug, Clone)]
pub(super) struct FormTemplate(Vec<(String, TextTemplate)>);

impl FormTemplate {
    pub(super) fn compile(
        form: &FieldMap<Text>,
        declared: &dyn Fn(&str) -> bool,
    ) -> Result<Self, Vec<String>> {
        let mut errs = Vec::new();
        let mut out = Vec::new();
        for (key, value) in &form.0 {
            if key.contains("{{") {
                errs.push(format!(
                    "upstream.form: key `{key}`: keys cannot hold templates"
                ));
                continue;
            }
            match TextTemplate::compile(value.as_str(), declared) {
                Ok(t) => out.push((form_urlencoded::byte_serialize(key.as_bytes()).collect(), t)),
                Err(e) => errs.push(format!("upstream.form.{key}: {e}")),
            }
        }
        if errs.is_empty() {
            Ok(FormTemplate(out))
        } else {
            Err(errs)
        }
    }

    fn write(&self, input: &ValidInput, out: &mut Vec<u8>) -> Result<(), FieldProblem> {
        for (key, value) in &self.0 {
            // A value that is exactly one input not supplied leaves its key out, as in the
            // JSON body: "not set" must not become "set to empty".
            if matches!(value, TextTemplate::Input(name) if input.get(name).is_none()) {
                continue;
            }
            let text = value
                .render(input.context(), Placement::BodyText)
                .map_err(|e| {
                    FieldProblem::new(value.inputs().first().map_or("", String::as_str), e)
                })?;
            if !out.is_empty() {
                out.push(b'&');
            }
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            for part in form_urlencoded::byte_serialize(text.as_bytes()) {
                out.extend_from_slice(part.as_bytes());
            }
        }
        Ok(())
    }
}

/// The JSON body, compiled: constants are serialized once at load.
#[derive(Debug, Clone)]
pub(super) enum BodyTemplate {
    /// Serialized JSON of a subtree with no template in it.
    Literal(Vec<u8>),
    /// Exactly `{{input.NAME}}`: the input's value with its JSON type; left out if not supplied.
    Input(String),
    /// A string with templates in it, rendered as text and JSON-encoded.
    Text(TextTemplate),
    Array(Vec<BodyTemplate>),
    Object(Vec<(Vec<u8>, BodyTemplate)>),
}

impl BodyTemplate {
    pub(super) fn compile(value: &Value, declared: &dyn Fn(&str) -> bool) -> Result<Self, String> {
        let compiled = match value {
            Value::String(s) => match TextTemplate::compile(s, declared)? {
                TextTemplate::Input(name) => BodyTemplate::Input(name),
                TextTemplate::Literal(_) => {
                    BodyTemplate::Literal(serde_json::to_vec(value).map_err(|e| e.to_string())?)
                }
                t => BodyTemplate::Text(t),
            },
            Value::Array(items) => BodyTemplate::Array(
                items
                    .iter()
                    .map(|v| Self::compile(v, declared))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| {
                        if k.contains("{{") {
                            return Err(format!("key `{k}`: keys cannot hold templates"));
                        }
                        let key = serde_json::to_vec(k).map_err(|e| e.to_string())?;
                        Ok((
                            key,
                            Self::compile(v, declared).map_err(|e| format!("{k}: {e}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => BodyTemplate::Literal(serde_json::to_vec(other).map_err(|e| e.to_string())?),
        };
        Ok(compiled)
    }

    /// Is there nothing to send for this node (an input that was not supplied)?
    fn absent(&self, input: &ValidInput) -> bool {
        matches!(self, BodyTemplate::Input(name) if input.get(name).is_none())
    }

    fn write(&self, input: &ValidInput, out: &mut Vec<u8>) -> Result<(), FieldProblem> {
        match self {
            BodyTemplate::Literal(bytes) => out.extend_from_slice(bytes),
            BodyTemplate::Input(name) => match input.get(name) {
                Some(v) => serde_json::to_writer(&mut *out, v)
                    .map_err(|e| FieldProblem::new(name, e.to_string()))?,
                None => out.extend_from_slice(b"null"),
            },
            BodyTemplate::Text(t) => {
                let text = t
                    .render(input.context(), Placement::BodyText)
                    .map_err(|e| {
                        FieldProblem::new(t.inputs().first().map_or("", String::as_str), e)
                    })?;
                serde_json::to_writer(&mut *out, &text)
                    .map_err(|e| FieldProblem::new("", e.to_string()))?;
            }
            BodyTemplate::Array(items) => {
                out.push(b'[');
                let mut first = true;
                for item in items.iter().filter(|i| !i.absent(input)) {
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    item.write(input, out)?;
                }
                out.push(b']');
            }
            BodyTemplate::Object(entries) => {
                out.push(b'{');
                let mut first = true;
                for (key, item) in entries.iter().filter(|(_, i)| !i.absent(input)) {
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    out.extend_from_slice(key);
                    out.push(b':');
                    item.write(input, out)?;
                }
                out.push(b'}');
            }
        }
        Ok(())
    }
}
