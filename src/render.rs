//! Step 2 of the pipeline, *render*: the validated input placed into the upstream request.
//!
//! The upstream URL is split at load into a fixed origin (scheme, host, port: no template may
//! stand there, so input can never choose the host) and templated path segments and query
//! values, each escaped for its place. Headers refuse line breaks; the JSON body is built as
//! JSON, never spliced as text.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use url::{Position, Url};

use crate::bridge_file::{FieldMap, Text, UpstreamSpec};
use crate::env::Secrets;
use crate::fetch::Origin;
use crate::inbound::X_REQUEST_ID;
use crate::template::{Placement, TextTemplate};
use crate::validate::{FieldProblem, ValidInput};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The compiled upstream call of one bridge.
#[derive(Debug, Clone)]
pub struct UpstreamTemplate {
    pub method: Method,
    /// `scheme://host[:port]`, fixed at load and parsed once.
    origin_url: Url,
    origin: Arc<Origin>,
    path: Vec<TextTemplate>,
    query: Vec<(String, TextTemplate)>,
    /// Every path segment and query part renders to text the URL parser would keep as it
    /// is, so the target is sent as rendered.
    plain_url: bool,
    headers: Vec<(HeaderName, TextTemplate)>,
    body: Option<BodyTemplate>,
    pub timeout: Duration,
}

/// The upstream request for one inbound request, ready to send.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    /// The path and query, as sent in the request line.
    pub target: String,
    /// Where `target` is asked for, prepared at load: the connection pool's key.
    pub origin: Arc<Origin>,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Keep the answer's headers; without them the answer is read faster. Set by whoever
    /// knows what reads the answer (the pipeline: the bridge's output).
    pub keep_headers: bool,
}

impl UpstreamTemplate {
    pub fn compile(
        spec: &UpstreamSpec,
        declared: &dyn Fn(&str) -> bool,
    ) -> Result<Self, Vec<String>> {
        let mut errs = Vec::new();
        let method = parse_method(spec.method.as_ref(), "GET")
            .map_err(|e| errs.push(format!("upstream.method: {e}")))
            .ok();
        let url = UrlParts::compile(spec.url.as_str(), declared)
            .map_err(|e| errs.push(format!("upstream.url: {e}")))
            .ok();
        let query = compile_query(&spec.query, declared)
            .map_err(|e| errs.extend(e))
            .ok();
        let headers = compile_headers(&spec.headers, declared)
            .map_err(|e| errs.extend(e))
            .ok();
        let body = spec
            .body
            .as_ref()
            .map(|b| BodyTemplate::compile(&b.0, declared))
            .transpose()
            .map_err(|e| errs.push(format!("upstream.body: {e}")))
            .ok();
        let timeout = parse_timeout(spec.timeout.as_ref())
            .map_err(|e| errs.push(format!("upstream.timeout: {e}")))
            .ok();
        let (Some(method), Some(url), Some(query), Some(headers), Some(body), Some(timeout)) =
            (method, url, query, headers, body, timeout)
        else {
            return Err(errs);
        };
        let mut all_query = url.query;
        all_query.extend(query);
        let plain_url = url.path.iter().all(keeps_as_is)
            && all_query
                .iter()
                .all(|(key, value)| is_plain_text(key) && keeps_as_is(value));
        Ok(UpstreamTemplate {
            plain_url,
            method,
            origin_url: url.origin_url,
            origin: url.origin,
            path: url.path,
            query: all_query,
            headers,
            body,
            timeout,
        })
    }

    /// Builds the request for `input`, or says which inputs cannot be placed safely.
    pub fn render(
        &self,
        input: &ValidInput,
        request_id: &str,
    ) -> Result<UpstreamRequest, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let url = self.render_url(input, &mut problems);
        let headers = self.render_headers(input, request_id, &mut problems);
        let body = self.render_body(input, &mut problems);
        match url {
            Some(target) if problems.is_empty() => Ok(UpstreamRequest {
                method: self.method.clone(),
                target,
                origin: self.origin.clone(),
                headers,
                body,
                timeout: self.timeout,
                keep_headers: true,
            }),
            _ => Err(problems),
        }
    }

    /// The request target (path and query). When the URL parser would keep it as it is (see
    /// [`keeps_as_is`]) it is sent as rendered; otherwise it goes through the parser, on the
    /// origin parsed at load, so that the host is never parsed (or IDNA-processed) again.
    fn render_url(&self, input: &ValidInput, problems: &mut Vec<FieldProblem>) -> Option<String> {
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

    fn render_headers(
        &self,
        input: &ValidInput,
        request_id: &str,
        problems: &mut Vec<FieldProblem>,
    ) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 2);
        for (name, value) in &self.headers {
            let text = match value.render(input.context(), Placement::HeaderValue) {
                Ok(text) => text,
                Err(e) => {
                    problems.extend(blame(value, &e));
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            if text.contains(['\r', '\n', '\0']) {
                problems.extend(blame(
                    value,
                    &format!("would put a line break into header {name}"),
                ));
                continue;
            }
            match HeaderValue::from_bytes(text.as_bytes()) {
                Ok(v) => {
                    headers.append(name.clone(), v);
                }
                Err(_) => problems.extend(blame(
                    value,
                    &format!("holds characters not allowed in header {name}"),
                )),
            }
        }
        if self.body.is_some() && !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if !headers.contains_key(X_REQUEST_ID)
            && let Ok(v) = HeaderValue::from_str(request_id)
        {
            headers.insert(X_REQUEST_ID, v);
        }
        headers
    }

    fn render_body(&self, input: &ValidInput, problems: &mut Vec<FieldProblem>) -> Option<Vec<u8>> {
        let body = self.body.as_ref()?;
        let mut out = Vec::with_capacity(256);
        if let Err(problem) = body.write(input, &mut out) {
            problems.push(problem);
        }
        Some(out)
    }
}

fn blame(template: &TextTemplate, message: &str) -> Vec<FieldProblem> {
    let inputs = template.inputs();
    if inputs.is_empty() {
        return vec![FieldProblem::new("", message)];
    }
    inputs
        .iter()
        .map(|name| FieldProblem::new(name, message))
        .collect()
}

fn is_dot_or_empty(segment: &str) -> bool {
    matches!(segment, "" | "." | "..")
}

/// Whether every rendering of a URL path segment or query value is one the URL parser keeps
/// byte for byte: a whole input (percent-encoded, and refused at run time when it would be a
/// dot segment) or a literal of [plain](is_plain_text) text. Handlebars templates may hold
/// literal text the parser would encode.
fn keeps_as_is(template: &TextTemplate) -> bool {
    match template {
        TextTemplate::Literal(text) => is_plain_text(text),
        TextTemplate::Input(_) => true,
        TextTemplate::Handlebars(..) => false,
    }
}

/// Text the URL parser neither percent-encodes (in a path or a query) nor treats as a dot
/// segment.
fn is_plain_text(text: &str) -> bool {
    !matches!(text, "." | "..")
        && !text.to_ascii_lowercase().contains("%2e")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@%".contains(&b))
}

pub fn parse_method(text: Option<&Text>, default: &str) -> Result<Method, String> {
    let raw = text.map_or(default, Text::as_str).to_ascii_uppercase();
    match raw.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            Method::from_bytes(raw.as_bytes()).map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "`{raw}` is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
        )),
    }
}

fn parse_timeout(text: Option<&Text>) -> Result<Duration, String> {
    let Some(text) = text else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let d = humantime::parse_duration(text.as_str().trim()).map_err(|e| {
        format!(
            "`{}` is not a duration such as 500ms, 10s or 1m ({e})",
            text.as_str()
        )
    })?;
    if d.is_zero() || d > MAX_TIMEOUT {
        return Err(format!(
            "must be more than 0 and at most {}",
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    Ok(d)
}

/// The URL template taken apart.
struct UrlParts {
    origin_url: Url,
    origin: Arc<Origin>,
    path: Vec<TextTemplate>,
    query: Vec<(String, TextTemplate)>,
}

impl UrlParts {
    fn compile(url: &str, declared: &dyn Fn(&str) -> bool) -> Result<Self, String> {
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
        let origin = Origin::of(&origin_url).map_err(|e| format!("`{origin}`: {e}"))?;
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

fn compile_query(
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

fn compile_headers(
    headers: &FieldMap<Text>,
    declared: &dyn Fn(&str) -> bool,
) -> Result<Vec<(HeaderName, TextTemplate)>, Vec<String>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (key, value) in &headers.0 {
        let name = match HeaderName::from_bytes(key.as_bytes()) {
            Ok(name) => name,
            Err(_) => {
                errs.push(format!(
                    "upstream.headers: `{key}` is not a valid header name"
                ));
                continue;
            }
        };
        let template = match TextTemplate::compile(value.as_str(), declared) {
            Ok(t) => t,
            Err(e) => {
                errs.push(format!("upstream.headers.{key}: {e}"));
                continue;
            }
        };
        if let TextTemplate::Literal(text) = &template
            && HeaderValue::from_str(text).is_err()
        {
            errs.push(format!(
                "upstream.headers.{key}: the value holds characters not allowed in a header"
            ));
            continue;
        }
        out.push((name, template));
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// The JSON body, compiled: constants are serialized once at load.
#[derive(Debug, Clone)]
enum BodyTemplate {
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
    fn compile(value: &Value, declared: &dyn Fn(&str) -> bool) -> Result<Self, String> {
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

/// Header names whose values are credentials whatever they hold.
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || [
        "key",
        "token",
        "secret",
        "auth",
        "password",
        "signature",
        "session",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

impl UpstreamRequest {
    /// The whole URL, for people to read.
    pub fn url(&self) -> String {
        format!("{}{}", self.origin.as_str(), self.target)
    }

    /// A readable account of the request with every credential masked, for `try` and debug logs.
    pub fn describe(&self, secrets: &Secrets) -> String {
        let mut text = format!("{} {}\n", self.method, self.url());
        for (name, value) in &self.headers {
            let shown = if is_sensitive_header(name.as_str()) {
                "***".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            text.push_str(&format!("{name}: {shown}\n"));
        }
        if let Some(body) = &self.body {
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(body));
            text.push('\n');
        }
        secrets.mask(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared(name: &str) -> bool {
        ["id", "q", "name", "n", "flag"].contains(&name)
    }

    fn template(yaml: &str) -> UpstreamTemplate {
        let spec: UpstreamSpec = serde_yaml::from_str(yaml).unwrap();
        UpstreamTemplate::compile(&spec, &declared).unwrap()
    }

    fn input(v: Value) -> ValidInput {
        ValidInput::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn host_cannot_be_templated() {
        for url in [
            "http://{{input.id}}/x",
            "http://h:{{input.id}}/x",
            "{{input.id}}://h/x",
        ] {
            let spec: UpstreamSpec = serde_yaml::from_str(&format!("url: '{url}'")).unwrap();
            let errs = UpstreamTemplate::compile(&spec, &declared).unwrap_err();
            assert!(
                errs[0].contains("never choose the host") || errs[0].contains("http://"),
                "{url}: {errs:?}"
            );
        }
    }

    #[test]
    fn path_values_stay_in_their_segment() {
        let t = template("url: 'http://h:9/posts/{{input.id}}/c'");
        let req = t.render(&input(json!({"id": "a/b?c#d"})), "r").unwrap();
        assert_eq!(req.url().as_str(), "http://h:9/posts/a%2Fb%3Fc%23d/c");
    }

    #[test]
    fn targets_sent_as_rendered_are_what_the_url_parser_would_send() {
        let urls = [
            "http://h/posts/{{input.id}}",
            "http://h:9/posts/{{input.id}}/c?fixed=1&a={{input.q}}&b=",
            "http://h",
            "http://h/",
            "http://h/~u/p;v=1/@x:y/a,b*c!d$e(f)+g",
            "http://h/a b/{{input.id}}",
            "http://h/x/./{{input.id}}/../y",
            "http://h/a%2E/b%2e",
            "http://h/ü/{{input.id}}?q=ü&r=\"x\"",
            "http://h/{{input.id}}?x={{#if input.q}}a b{{/if}}",
            "http://h/p\\q/{{input.id}}",
            "http://h/it's?q='{{input.q}}'",
        ];
        let values = [
            json!({"id": "a/b?c#d", "q": "x&y=z"}),
            json!({"id": 5, "q": "ü %2e"}),
            json!({"id": "x y", "q": ""}),
        ];
        let mut plain = 0;
        for url in urls {
            let mut t = template(&format!("url: {}", json!(url)));
            let short = t.plain_url;
            plain += usize::from(short);
            for v in &values {
                let sent = t.render(&input(v.clone()), "r").unwrap().url();
                t.plain_url = false;
                let parsed = t.render(&input(v.clone()), "r").unwrap().url();
                t.plain_url = short;
                assert_eq!(sent, parsed, "{url} with {v}");
            }
        }
        assert_eq!(plain, 5, "the first five URLs take the short way");
    }

    #[test]
    fn dot_segments_and_empty_segments_are_refused() {
        let t = template("url: 'http://h/posts/{{input.id}}'");
        for bad in [json!({"id": ".."}), json!({"id": "."}), json!({})] {
            let problems = t.render(&input(bad.clone()), "r").unwrap_err();
            assert_eq!(problems[0].field, "id", "{bad}");
        }
    }

    #[test]
    fn query_values_are_encoded_and_empty_ones_left_out() {
        let t =
            template("url: 'http://h/s?fixed=1&a={{input.q}}'\nquery: {b: '{{input.name}}', c: x}");
        let req = t.render(&input(json!({"q": "x&y=z"})), "r").unwrap();
        assert_eq!(req.url().as_str(), "http://h/s?fixed=1&a=x%26y%3Dz&c=x");
    }

    #[test]
    fn header_line_breaks_are_refused_and_empty_headers_left_out() {
        let t = template("url: http://h/\nheaders: {X-Q: '{{input.q}}', X-N: '{{input.name}}'}");
        let problems = t
            .render(&input(json!({"q": "a\r\nX-Evil: 1"})), "r")
            .unwrap_err();
        assert_eq!(problems[0].field, "q");
        let req = t.render(&input(json!({"q": "ok"})), "r").unwrap();
        assert_eq!(req.headers["x-q"], "ok");
        assert!(!req.headers.contains_key("x-n"));
    }

    #[test]
    fn body_keeps_types_and_leaves_out_unsupplied_inputs() {
        let t = template(
            "url: http://h/\nmethod: POST\nbody:\n  id: '{{input.id}}'\n  text: 'hi {{input.q}}'\n  n: '{{input.n}}'\n  fixed: [1, true]\n",
        );
        let req = t
            .render(&input(json!({"id": 5, "q": "\"quote\"\n"})), "r")
            .unwrap();
        let body: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"id": 5, "text": "hi \"quote\"\n", "fixed": [1, true]})
        );
        assert_eq!(req.headers["content-type"], "application/json");
    }

    #[test]
    fn timeouts_parse_and_are_bounded() {
        assert_eq!(
            template("url: http://h/\ntimeout: 500ms").timeout,
            Duration::from_millis(500)
        );
        assert_eq!(
            template("url: http://h/\ntimeout: 1m").timeout,
            Duration::from_secs(60)
        );
        let spec: UpstreamSpec = serde_yaml::from_str("url: http://h/\ntimeout: soon").unwrap();
        assert!(UpstreamTemplate::compile(&spec, &declared).is_err());
    }
}
