//! The request target (path and query) of the upstream URL: a fixed origin and templated path segments and query values, each escaped
//! for its place.

use std::sync::Arc;

use url::{Position, Url};

use super::{UpstreamTemplate, blame};
use crate::file::{FieldMap, Text};
use crate::stages::fetch::{Origin, TlsProfile};
use crate::stages::validate::{FieldProblem, ValidInput};
use crate::template::{Placement, TextTemplate};

impl UpstreamTemplate {
    /// The request target (path and query). When the URL parser would keep it as it is (see
    /// [`keeps_as_is`]) it is sent as rendered; otherwise it goes through the parser, on the
    /// origin parsed at load, so that the host is never parsed (or IDNA-processed) again.
    pub(super) fn render_url(
        &self,
        input: &ValidInput,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<String> {
        let ctx = input.context();
        let mut path = String::with_capacity(64);
        for segment in &self.path {
            path.push('/');
            match segment.render(ctx, Placement::PathSegment) {
                Ok(text)
                    if is_dot_or_empty(&text) && !matches!(segment, TextTemplate::Literal(_)) =>
                {
                    problems.extend(blame(
                        segment,
                        "would make an empty, `.` or `..` URL path segment, which URL parsers remove",
                    ));
                }
                Ok(text) => path.push_str(&text),
                Err(e) => problems.extend(blame(segment, &e)),
            }
        }
        let mut query = String::new();
        for (key, value) in &self.query {
            match value.render(ctx, Placement::QueryValue) {
                Ok(text) if text.is_empty() && !matches!(value, TextTemplate::Literal(_)) => {}
                Ok(text) => {
                    if !query.is_empty() {
                        query.push('&');
                    }
                    query.push_str(key);
                    query.push('=');
                    query.push_str(&text);
                }
                Err(e) => problems.extend(blame(value, &e)),
            }
        }
        if let Some(pair) = self.auth.as_ref().and_then(|a| a.query_pair()) {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(pair);
        }
        if self.plain_url {
            if path.is_empty() {
                path.push('/');
            }
            if !query.is_empty() {
                path.push('?');
                path.push_str(&query);
            }
            return Some(path);
        }
        let mut url = self.origin_url.clone();
        url.set_path(if path.is_empty() { "/" } else { &path });
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        if !self.same_origin(&url) {
            problems.push(FieldProblem::new(
                "",
                "the upstream URL could not be built safely",
            ));
            return None;
        }
        Some(url[Position::BeforePath..Position::AfterQuery].to_owned())
    }

    /// Defence in depth: whatever the path holds, the origin must be the one fixed at load.
    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.origin_url.scheme()
            && url.host() == self.origin_url.host()
            && url.port_or_known_default() == self.origin_url.port_or_known_default()
    }
}

fn is_dot_or_empty(segment: &str) -> bool {
    matches!(segment, "" | "." | "..")
}

/// Whether every rendering of a URL path segment or query value is one the URL parser keeps
/// byte for byte: a whole input (percent-encoded, and refused at run time when it would be a
/// dot segment) or a literal of [plain](is_plain_text) text. Handlebars templates may hold
/// literal text the parser would encode.
pub(super) fn keeps_as_is(template: &TextTemplate) -> bool {
    match template {
        TextTemplate::Literal(text) => is_plain_text(text),
        TextTemplate::Input(_) => true,
        TextTemplate::Handlebars(..) => false,
    }
}

/// Text the URL parser neither percent-encodes (in a path or a query) nor treats as a dot
/// segment.
pub(super) fn is_plain_text(text: &str) -> bool {
    !matches!(text, "." | "..")
        && !text.to_ascii_lowercase().contains("%2e")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@%".contains(&b))
}

/// The URL template taken apart.
pub(super) struct UrlParts {
    pub(super) origin_url: Url,
    pub(super) origin: Arc<Origin>,
    pub(super) path: Vec<TextTemplate>,
    pub(super) query: Vec<(String, TextTemplate)>,
}

impl UrlParts {
    pub(super) fn compile(
        url: &str,
        declared: &dyn Fn(&str) -> bool,
        tls: Option<Arc<TlsProfile>>,
    ) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("must start with http:// or https://")?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if scheme.contains("{{") || authority.contains("{{") {
            return Err(
                "scheme, host and port cannot hold templates: input must never choose the host"
                    .to_owned(),
            );
        }
        if authority.contains('@') {
            return Err(
                "credentials in the URL are not allowed; send them in upstream.headers".to_owned(),
            );
        }
        let origin = format!("{scheme}://{authority}");
        let origin_url = Url::parse(&origin)
            .map_err(|e| format!("`{origin}` is not a valid URL origin: {e}"))?;
        if !matches!(origin_url.scheme(), "http" | "https") || origin_url.host().is_none() {
            return Err("must start with http:// or https:// and name a host".to_owned());
        }
        let mut origin = Origin::of(&origin_url).map_err(|e| format!("`{origin}`: {e}"))?;
        if let Some(tls) = tls {
            if origin_url.scheme() != "https" {
                return Err("`tls` is set but the URL is not https://".to_owned());
            }
            origin = origin.with_tls(tls);
        }
        if split_outside_templates(tail, '#').len() > 1 {
            return Err("a fragment (`#…`) is never sent upstream; remove it".to_owned());
        }
        let (path, query) = match split_outside_templates(tail, '?').as_slice() {
            [path] => (*path, ""),
            [path, query] => (*path, *query),
            _ => return Err("holds more than one `?`".to_owned()),
        };
        let compile = |part: &str| TextTemplate::compile(part, declared);
        let path = match path {
            "" | "/" => Vec::new(),
            p => split_outside_templates(p.strip_prefix('/').unwrap_or(p), '/')
                .into_iter()
                .map(compile)
                .collect::<Result<_, _>>()?,
        };
        let query = split_outside_templates(query, '&')
            .into_iter()
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if key.contains("{{") {
                    return Err("query parameter names cannot hold templates".to_owned());
                }
                Ok((key.to_owned(), compile(value)?))
            })
            .collect::<Result<_, String>>()?;
        Ok(UrlParts {
            origin_url,
            origin: Arc::new(origin),
            path,
            query,
        })
    }
}

/// Splits at `sep` where it stands outside `{{ … }}`, so `{{#if …}}` and `{{/if}}` stay whole.
fn split_outside_templates(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if s[i..].starts_with("{{") {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with("}}") && depth > 0 {
            depth -= 1;
            i += 2;
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            if c == sep && depth == 0 {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            i += c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

pub(super) fn compile_query(
    query: &FieldMap<Text>,
    declared: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, TextTemplate)>, Vec<String>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (key, value) in &query.0 {
        match TextTemplate::compile(value.as_str(), declared) {
            Ok(t) => out.push((crate::template::percent_encode(key), t)),
            Err(e) => errs.push(format!("upstream.query.{key}: {e}")),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}
