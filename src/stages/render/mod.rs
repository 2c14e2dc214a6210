//! Stage *render*: the validated input placed into the upstream request.
//!
//! The upstream URL is split at load into a fixed origin (scheme, host, port: no template may
//! stand there, so input can never choose the host) and templated path segments and query
//! values, each escaped for its place. Headers refuse line breaks; the JSON body is built as
//! JSON, never spliced as text.

mod body;
mod quoted;
mod target;

pub use quoted::quoted_input_warnings;

use body::{Body, BodyTemplate, FormTemplate};
use target::{UrlParts, compile_query, is_plain_text, keeps_as_is};

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

use crate::file::env::Secrets;
use crate::file::{FieldMap, Text, UpstreamSpec};
use crate::request_id::X_REQUEST_ID;
use crate::stages::fetch::{Origin, TlsProfile, UpstreamRequest};
use crate::stages::upstream_auth::UpstreamAuth;
use crate::stages::validate::{FieldProblem, InputError, ValidInput};
use crate::template::{Placement, TextTemplate};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// What a bridge's call starts from: its connection's settings (SPEC §5.1), or its own inline
/// `auth` and `tls`. Compiled before the bridge's own parts, which win where both speak.
#[derive(Debug, Clone, Default)]
pub struct UpstreamBase {
    /// The connection's name, when there is one.
    pub connection: Option<String>,
    /// `scheme://host[:port][/base/path]` without a trailing `/`: the bridge's URL is a path
    /// under it.
    pub base_url: Option<String>,
    /// Sent on every call unless the bridge sets the same header.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Option<Duration>,
    pub auth: Option<UpstreamAuth>,
    /// Every text of `auth` to mask (as written and as sent).
    pub auth_secrets: Secrets,
    pub tls: Option<Arc<TlsProfile>>,
}

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
    body: Option<Body>,
    /// Outbound credentials, built at load; applied after the bridge's own headers.
    pub auth: Option<UpstreamAuth>,
    /// Every text of `auth` to mask (as written and as sent).
    pub auth_secrets: Secrets,
    pub timeout: Duration,
}

impl UpstreamTemplate {
    /// `base` holds the credentials, TLS and defaults the bridge's connection (or its own
    /// inline `auth`/`tls`) gives.
    pub fn compile(
        spec: &UpstreamSpec,
        declared: &dyn Fn(&str) -> bool,
        base: UpstreamBase,
    ) -> Result<Self, Vec<String>> {
        let mut errs = Vec::new();
        let method = parse_method(spec.method.as_ref(), "GET")
            .map_err(|e| errs.push(format!("upstream.method: {e}")))
            .ok();
        let url = full_url(spec.url.as_str(), &base)
            .and_then(|url| UrlParts::compile(&url, declared, base.tls.clone()))
            .map_err(|e| errs.push(format!("upstream.url: {e}")))
            .ok();
        let query = compile_query(&spec.query, declared)
            .map_err(|e| errs.extend(e))
            .ok();
        let auth_header = base.auth.as_ref().and_then(UpstreamAuth::header);
        let headers = compile_headers(&spec.headers, declared, auth_header)
            .map(|mut own| {
                let defaults = base.headers.iter().filter(|(name, _)| {
                    !own.iter().any(|(n, _)| n == name) && Some(name) != auth_header
                });
                let defaults: Vec<_> = defaults
                    .map(|(n, v)| (n.clone(), TextTemplate::Literal(text_of(v))))
                    .collect();
                own.splice(0..0, defaults);
                own
            })
            .map_err(|e| errs.extend(e))
            .ok();
        let body = match (&spec.body, &spec.form) {
            (Some(_), Some(_)) => {
                errs.push(
                    "upstream.body and upstream.form exclude each other: keep one".to_owned(),
                );
                None
            }
            (Some(b), None) => BodyTemplate::compile(&b.0, declared)
                .map(|b| Some(Body::Json(b)))
                .map_err(|e| errs.push(format!("upstream.body: {e}")))
                .ok(),
            (None, Some(form)) => FormTemplate::compile(form, declared)
                .map(|f| Some(Body::Form(f)))
                .map_err(|e| errs.extend(e))
                .ok(),
            (None, None) => Some(None),
        };
        let timeout = match &spec.timeout {
            Some(text) => parse_timeout(Some(text))
                .map_err(|e| errs.push(format!("upstream.timeout: {e}")))
                .ok(),
            None => Some(base.timeout.unwrap_or(DEFAULT_TIMEOUT)),
        };
        let (Some(method), Some(url), Some(query), Some(headers), Some(body), Some(timeout)) =
            (method, url, query, headers, body, timeout)
        else {
            return Err(errs);
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        let UpstreamBase {
            auth, auth_secrets, ..
        } = base;
        let mut all_query = url.query;
        all_query.extend(query);
        let plain_url = url.path.iter().all(keeps_as_is)
            && all_query
                .iter()
                .all(|(key, value)| is_plain_text(key) && keeps_as_is(value))
            && auth
                .as_ref()
                .and_then(UpstreamAuth::query_pair)
                .is_none_or(is_plain_text);
        Ok(UpstreamTemplate {
            plain_url,
            method,
            origin_url: url.origin_url,
            origin: url.origin,
            path: url.path,
            query: all_query,
            headers,
            body,
            auth,
            auth_secrets,
            timeout,
        })
    }

    /// Builds the request for `input`, or says which inputs cannot be placed safely.
    pub fn render(
        &self,
        input: &ValidInput,
        request_id: &str,
    ) -> Result<UpstreamRequest, InputError> {
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
            _ => Err(InputError(problems)),
        }
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
        if let Some(body) = &self.body
            && !headers.contains_key(http::header::CONTENT_TYPE)
        {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(body.content_type()),
            );
        }
        if let Some(auth) = &self.auth {
            auth.apply_headers(&mut headers);
        }
        if !headers.contains_key(X_REQUEST_ID)
            && let Ok(v) = HeaderValue::from_str(request_id)
        {
            headers.insert(X_REQUEST_ID, v);
        }
        headers
    }
}

/// The URL to compile: the bridge's own, or with a connection its path under the base URL.
fn full_url(url: &str, base: &UpstreamBase) -> Result<String, String> {
    match (&base.base_url, &base.connection) {
        (Some(base_url), Some(name)) => {
            if !url.starts_with('/') {
                return Err(format!(
                    "with `connection: {name}` give a path beginning with `/`; \
                     the connection's base_url comes before it"
                ));
            }
            Ok(format!("{base_url}{url}"))
        }
        _ => Ok(url.to_owned()),
    }
}

/// A connection's header value as literal template text (checked to be text at load).
fn text_of(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
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

pub fn parse_timeout(text: Option<&Text>) -> Result<Duration, String> {
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

/// `auth_header` is the header `upstream.auth` sets: the bridge may not set it as well, since
/// one of the two would silently win.
fn compile_headers(
    headers: &FieldMap<Text>,
    declared: &dyn Fn(&str) -> bool,
    auth_header: Option<&HeaderName>,
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
        if auth_header == Some(&name) {
            errs.push(format!(
                "upstream.headers.{key}: upstream.auth already sets this header; \
                 remove it from upstream.headers (or remove upstream.auth)"
            ));
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn declared(name: &str) -> bool {
        ["id", "q", "name", "n", "flag"].contains(&name)
    }

    fn template(yaml: &str) -> UpstreamTemplate {
        let spec: UpstreamSpec = serde_yaml::from_str(yaml).unwrap();
        UpstreamTemplate::compile(&spec, &declared, UpstreamBase::default()).unwrap()
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
            let errs =
                UpstreamTemplate::compile(&spec, &declared, UpstreamBase::default()).unwrap_err();
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
            let problems = t.render(&input(bad.clone()), "r").unwrap_err().0;
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
            .unwrap_err()
            .0;
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
        assert!(UpstreamTemplate::compile(&spec, &declared, UpstreamBase::default()).is_err());
    }
}
