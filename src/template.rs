//! `{{input.NAME}}` templates: compiled once at load, rendered per request with the escaping
//! that their placement demands.
//!
//! Escaping is a property of *where* a template stands, never of what the author wrote: each
//! [`Placement`] has its own Handlebars registry with its own escape function, and raw
//! `{{{ }}}` / `{{& }}` expressions, which would bypass it, are refused at load. A template
//! that is plain text or exactly one `{{input.NAME}}` (nearly all of them) skips Handlebars
//! at render time but is escaped by the same function.

use std::borrow::Cow;
use std::sync::LazyLock;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Context, Handlebars, RenderContext, Renderable};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Everything but RFC 3986 unreserved characters is percent-encoded, so a value can never
/// leave its path segment or query value (`/`, `?`, `#`, `&`, `=`, `\`, `%` all encoded).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a rendered value lands, which decides how it is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// One URL path segment: percent-encoded.
    PathSegment,
    /// A query parameter value: percent-encoded.
    QueryValue,
    /// A header value: verbatim here; CR/LF are refused by the caller.
    HeaderValue,
    /// A string inside the JSON body: verbatim here; the JSON serializer encodes it.
    BodyText,
}

impl Placement {
    /// Borrows `raw` back when it needs no escaping, the common case.
    fn escape(self, raw: Cow<'_, str>) -> Cow<'_, str> {
        match self {
            Placement::PathSegment | Placement::QueryValue => match raw {
                Cow::Borrowed(text) => utf8_percent_encode(text, COMPONENT).into(),
                Cow::Owned(text) => match utf8_percent_encode(&text, COMPONENT).into() {
                    Cow::Borrowed(_) => Cow::Owned(text),
                    Cow::Owned(encoded) => Cow::Owned(encoded),
                },
            },
            Placement::HeaderValue | Placement::BodyText => raw,
        }
    }

    fn registry(self) -> &'static Handlebars<'static> {
        match self {
            Placement::PathSegment | Placement::QueryValue => &ENCODING,
            Placement::HeaderValue | Placement::BodyText => &VERBATIM,
        }
    }
}

pub fn percent_encode(raw: &str) -> String {
    utf8_percent_encode(raw, COMPONENT).to_string()
}

static ENCODING: LazyLock<Handlebars<'static>> = LazyLock::new(|| registry(percent_encode));
static VERBATIM: LazyLock<Handlebars<'static>> = LazyLock::new(|| registry(handlebars::no_escape));

fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(escape);
    // A helper's text is escaped for its placement afterwards, like any other value.
    hb.register_helper("soql", Box::new(soql));
    hb.register_helper("sosl", Box::new(sosl));
    hb.register_helper("odata", Box::new(odata));
    hb
}

handlebars::handlebars_helper!(soql: |v: Json| soql_literal(&value_text(v)));
handlebars::handlebars_helper!(sosl: |v: Json| sosl_literal(&value_text(v)));
handlebars::handlebars_helper!(odata: |v: Json| odata_literal(&value_text(v)));

/// The helpers that make a value safe inside a query language's string literal.
pub const QUERY_HELPERS: [&str; 3] = ["soql", "sosl", "odata"];

/// The inside of a SOQL string literal: backslash, both quotes and control characters escaped.
pub fn soql_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '\'' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// SOSL search text with every reserved character backslash-escaped.
pub fn sosl_literal(text: &str) -> String {
    const RESERVED: &str = "?&|!{}[]()^~*:\\\"'+-";
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if RESERVED.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The inside of an OData string literal: a quote is doubled.
pub fn odata_literal(text: &str) -> String {
    text.replace('\'', "''")
}

/// A compiled template.
#[derive(Debug, Clone)]
pub enum TextTemplate {
    /// No expression at all.
    Literal(String),
    /// Exactly `{{input.NAME}}`.
    Input(String),
    /// Anything else Handlebars can do within the allowed helpers, with the inputs it reads.
    Handlebars(Box<Template>, Vec<String>),
}

/// Block helpers and expression helpers a bridge template may use. The rest (`each`, `with`,
/// `lookup`, `log`, partials, decorators) either reach outside `input` or make no sense for a
/// flat object.
const BLOCK_HELPERS: [&str; 2] = ["if", "unless"];
const VALUE_HELPERS: [&str; 13] = [
    "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len", "soql", "sosl", "odata",
];

/// Which `output.NAME` a reply template may read: `Err` says why it may not.
pub type OutputRefs<'a> = &'a dyn Fn(&str) -> Result<(), String>;

impl TextTemplate {
    /// Compiles `source`, accepting only references to inputs for which `declared` is true.
    pub fn compile(source: &str, declared: &dyn Fn(&str) -> bool) -> Result<Self, String> {
        Self::compile_refs(source, declared, None)
    }

    /// Compiles reply text, which may also read the `output.NAME`s that `outputs` allows.
    pub fn compile_reply(
        source: &str,
        declared: &dyn Fn(&str) -> bool,
        outputs: OutputRefs,
    ) -> Result<Self, String> {
        Self::compile_refs(source, declared, Some(outputs))
    }

    fn compile_refs(
        source: &str,
        declared: &dyn Fn(&str) -> bool,
        outputs: Option<OutputRefs>,
    ) -> Result<Self, String> {
        if !source.contains("{{") {
            return Ok(TextTemplate::Literal(source.to_owned()));
        }
        let template = Template::compile(source).map_err(|e| {
            if let Some(why) = unbalanced(source) {
                return format!("template does not parse: {why}");
            }
            let at = e
                .pos()
                .map(|(l, c)| format!(" at {l}:{c}"))
                .unwrap_or_default();
            // The parser's reason lists every grammar rule it expected; that helps no author.
            let reason = e.reason().to_string();
            let reason = reason.split(": expected ").next().unwrap_or_default();
            format!("template does not parse{at}: {reason}")
        })?;
        let mut refs = Refs {
            declared,
            outputs,
            names: Vec::new(),
        };
        refs.elements(&template.elements)?;
        Ok(match single_input(&template) {
            Some(name) => TextTemplate::Input(name),
            None if template.elements.iter().all(is_raw) => {
                TextTemplate::Literal(literal_text(&template))
            }
            None => TextTemplate::Handlebars(Box::new(template), refs.names),
        })
    }

    /// The inputs this template reads, for naming them in a 422.
    pub fn inputs(&self) -> &[String] {
        match self {
            TextTemplate::Literal(_) => &[],
            TextTemplate::Input(name) => std::slice::from_ref(name),
            TextTemplate::Handlebars(_, names) => names,
        }
    }

    /// Renders with `ctx`, whose data is `{"input": {...}}`.
    /// Borrows from the template or the input where nothing needs to be built.
    pub fn render<'a>(
        &'a self,
        ctx: &'a Context,
        placement: Placement,
    ) -> Result<Cow<'a, str>, String> {
        match self {
            TextTemplate::Literal(text) => Ok(Cow::Borrowed(text)),
            TextTemplate::Input(name) => Ok(match ctx.data()["input"].get(name) {
                Some(value) => placement.escape(value_text(value)),
                None => Cow::Borrowed(""),
            }),
            TextTemplate::Handlebars(t, _) => t
                .renders(placement.registry(), ctx, &mut RenderContext::new(None))
                .map(Cow::Owned)
                .map_err(|e| format!("template failed to render: {}", e.reason())),
        }
    }
}

/// What is left open in a template that does not parse, said the way an author fixes it: an
/// `{{` without its `}}`, a `{{#if}}` without its `{{/if}}`, a close without its open.
fn unbalanced(source: &str) -> Option<String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            let shown: String = rest[start..].chars().take(30).collect();
            return Some(format!("`{shown}` has no closing `}}}}`"));
        };
        let tag = after[..end].trim_start_matches('~').trim();
        let name = |t: &'static str| tag.strip_prefix(t).map(|n| n.split_whitespace().next());
        if let Some(Some(helper)) = name("#") {
            open.push(helper);
        } else if let Some(Some(helper)) = name("/") {
            match open.pop() {
                Some(o) if o == helper => {}
                Some(o) => {
                    return Some(format!(
                        "`{{{{/{helper}}}}}` closes `{{{{#{o}}}}}`: end it with `{{{{/{o}}}}}` first"
                    ));
                }
                None => return Some(format!("`{{{{/{helper}}}}}` closes no open block")),
            }
        }
        rest = &after[end + 2..];
    }
    open.pop()
        .map(|o| format!("`{{{{#{o}}}}}` is not closed: end the block with `{{{{/{o}}}}}`"))
}

/// How a JSON value reads as text, the way Handlebars prints it.
fn value_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

fn is_raw(element: &TemplateElement) -> bool {
    matches!(
        element,
        TemplateElement::RawString(_) | TemplateElement::Comment(_)
    )
}

fn literal_text(template: &Template) -> String {
    template
        .elements
        .iter()
        .filter_map(|e| match e {
            TemplateElement::RawString(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

fn single_input(template: &Template) -> Option<String> {
    let [TemplateElement::Expression(h)] = template.elements.as_slice() else {
        return None;
    };
    if !h.params.is_empty() || !h.hash.is_empty() {
        return None;
    }
    input_name(&h.name).map(str::to_owned)
}

fn input_name(param: &Parameter) -> Option<&str> {
    raw_name(param)?.strip_prefix("input.")
}

fn output_name(param: &Parameter) -> Option<&str> {
    raw_name(param)?.strip_prefix("output.")
}

fn raw_name(param: &Parameter) -> Option<&str> {
    match param {
        Parameter::Path(handlebars::Path::Relative((_, raw))) => Some(raw.as_str()),
        Parameter::Name(raw) => Some(raw.as_str()),
        _ => None,
    }
}

/// Walks a template's AST, refusing what bridge templates may not do and collecting the
/// inputs it reads.
struct Refs<'a> {
    declared: &'a dyn Fn(&str) -> bool,
    outputs: Option<OutputRefs<'a>>,
    names: Vec<String>,
}

impl Refs<'_> {
    fn elements(&mut self, elements: &[TemplateElement]) -> Result<(), String> {
        elements.iter().try_for_each(|element| match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => Ok(()),
            TemplateElement::HtmlExpression(_) => {
                Err("`{{{ }}}` and `{{& }}` would skip escaping and are not allowed".to_owned())
            }
            TemplateElement::Expression(h) => self.helper(h, false),
            TemplateElement::HelperBlock(h) => {
                self.helper(h, true)?;
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    self.elements(&inner.elements)?;
                }
                Ok(())
            }
            _ => Err("partials and decorators are not supported in bridge templates".to_owned()),
        })
    }

    fn helper(&mut self, h: &HelperTemplate, block: bool) -> Result<(), String> {
        let helper = match &h.name {
            Parameter::Name(n)
                if BLOCK_HELPERS.contains(&n.as_str()) || VALUE_HELPERS.contains(&n.as_str()) =>
            {
                Some(n.as_str())
            }
            _ => None,
        };
        match helper {
            Some(name) if block != BLOCK_HELPERS.contains(&name) => {
                let how = if block {
                    "as a block"
                } else {
                    "without a block"
                };
                Err(format!("helper `{name}` cannot be used {how}"))
            }
            Some(_) => h
                .params
                .iter()
                .chain(h.hash.values())
                .try_for_each(|p| self.param(p)),
            None if block => Err(format!(
                "block helper `{}` is not allowed (only {})",
                param_text(&h.name),
                BLOCK_HELPERS.join(", ")
            )),
            None if !h.params.is_empty() || !h.hash.is_empty() => Err(format!(
                "helper `{}` is not allowed (only {})",
                param_text(&h.name),
                VALUE_HELPERS.join(", ")
            )),
            None => self.param(&h.name),
        }
    }

    fn param(&mut self, p: &Parameter) -> Result<(), String> {
        match p {
            Parameter::Literal(_) => Ok(()),
            Parameter::Subexpression(sub) => match sub.element.as_ref() {
                TemplateElement::Expression(h) => self.helper(h, false),
                _ => Err("unsupported subexpression".to_owned()),
            },
            other if self.outputs.is_some() && output_name(other).is_some() => {
                let name = output_name(other).unwrap_or_default();
                self.outputs.map_or(Ok(()), |allowed| allowed(name))
            }
            other => match input_name(other) {
                Some(name) if (self.declared)(name) => {
                    if !self.names.iter().any(|n| n == name) {
                        self.names.push(name.to_owned());
                    }
                    Ok(())
                }
                Some(name) => Err(format!(
                    "`{{{{input.{name}}}}}` refers to an input that is not declared under `input:`"
                )),
                None => Err(format!(
                    "unknown variable `{}`: inputs are written `{{{{input.NAME}}}}`",
                    param_text(other)
                )),
            },
        }
    }
}

fn param_text(p: &Parameter) -> String {
    match p {
        Parameter::Name(n) => n.clone(),
        Parameter::Path(handlebars::Path::Relative((_, raw))) => raw.clone(),
        Parameter::Path(handlebars::Path::Local((_, name, _))) => format!("@{name}"),
        Parameter::Literal(v) => v.to_string(),
        _ => "(…)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared(name: &str) -> bool {
        ["id", "name", "flag"].contains(&name)
    }

    fn compile(src: &str) -> Result<TextTemplate, String> {
        TextTemplate::compile(src, &declared)
    }

    fn ctx(input: Value) -> Context {
        Context::from(json!({ "input": input }))
    }

    #[test]
    fn a_template_that_does_not_parse_says_what_to_write() {
        for (source, want) in [
            (
                "{{#if input.id}}x",
                "`{{#if}}` is not closed: end the block with `{{/if}}`",
            ),
            ("a {{input.id", "`{{input.id` has no closing `}}`"),
            ("{{/if}}", "`{{/if}}` closes no open block"),
            (
                "{{#if input.id}}{{#unless input.flag}}{{/if}}",
                "`{{/if}}` closes `{{#unless}}`: end it with `{{/unless}}` first",
            ),
        ] {
            let err = compile(source).unwrap_err();
            assert_eq!(err, format!("template does not parse: {want}"), "{source}");
        }
        let err = compile("{{input.id input.}}").unwrap_err();
        assert!(!err.contains("expected"), "{err}");
    }

    #[test]
    fn plain_and_single_input_templates_take_the_fast_path() {
        assert!(matches!(compile("abc").unwrap(), TextTemplate::Literal(s) if s == "abc"));
        assert!(matches!(compile("{{input.id}}").unwrap(), TextTemplate::Input(n) if n == "id"));
        assert!(matches!(
            compile("x-{{input.id}}").unwrap(),
            TextTemplate::Handlebars(..)
        ));
    }

    #[test]
    fn escaping_follows_placement_on_both_paths() {
        let c = ctx(json!({"name": "a b/../c?d#e%", "id": 7}));
        let fast = compile("{{input.name}}").unwrap();
        let slow = compile("n={{input.name}}").unwrap();
        assert_eq!(
            fast.render(&c, Placement::PathSegment).unwrap(),
            "a%20b%2F..%2Fc%3Fd%23e%25"
        );
        assert_eq!(
            slow.render(&c, Placement::QueryValue).unwrap(),
            "n=a%20b%2F..%2Fc%3Fd%23e%25"
        );
        assert_eq!(
            slow.render(&c, Placement::HeaderValue).unwrap(),
            "n=a b/../c?d#e%"
        );
        assert_eq!(
            compile("{{input.id}}")
                .unwrap()
                .render(&c, Placement::BodyText)
                .unwrap(),
            "7"
        );
    }

    #[test]
    fn unsupplied_inputs_render_empty() {
        let c = ctx(json!({}));
        assert_eq!(
            compile("{{input.id}}")
                .unwrap()
                .render(&c, Placement::HeaderValue)
                .unwrap(),
            ""
        );
        assert_eq!(
            compile("{{#if input.flag}}yes{{else}}no{{/if}}")
                .unwrap()
                .render(&c, Placement::BodyText)
                .unwrap(),
            "no"
        );
    }

    #[test]
    fn raw_expressions_unknown_variables_and_other_helpers_are_refused() {
        for (src, expect) in [
            ("{{{input.id}}}", "skip escaping"),
            ("{{& input.id}}", "skip escaping"),
            ("{{input.nope}}", "not declared"),
            ("{{id}}", "unknown variable"),
            ("{{#each input.id}}x{{/each}}", "not allowed"),
            ("{{lookup input 'id'}}", "not allowed"),
            ("{{> partial}}", "partials"),
            ("{{#if (eq input.nope 1)}}x{{/if}}", "not declared"),
            ("{{input.id", "does not parse"),
        ] {
            let err = compile(src).unwrap_err();
            assert!(err.contains(expect), "{src}: {err}");
        }
    }

    #[test]
    fn templates_know_which_inputs_they_read() {
        let t = compile("{{input.name}}-{{#if input.flag}}{{input.name}}{{/if}}").unwrap();
        assert_eq!(t.inputs(), ["name", "flag"]);
    }

    #[test]
    fn allowed_helpers_work() {
        let t = compile("{{#if (eq input.name \"x\")}}X{{else}}{{input.name}}{{/if}}").unwrap();
        assert_eq!(
            t.render(&ctx(json!({"name": "x"})), Placement::BodyText)
                .unwrap(),
            "X"
        );
        assert_eq!(
            t.render(&ctx(json!({"name": "y"})), Placement::BodyText)
                .unwrap(),
            "y"
        );
    }
}
