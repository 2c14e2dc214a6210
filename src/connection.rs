//! The *compile* step for connection files (SPEC §5.1): a parsed [`ConnectionFile`] becomes a
//! [`Connection`], the base URL, default headers and timeout, credentials and TLS that every
//! bridge naming it starts from. A bridge is compiled against the connections of the same load,
//! so a changed connection re-compiles the bridges that use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use crate::file::env::Secrets;
use crate::file::{ConnectionFile, TlsSpec};
use crate::stages::fetch::TlsProfile;
use crate::stages::render::{UpstreamBase, parse_timeout};
use crate::stages::upstream_auth::UpstreamAuth;

/// One compiled connection.
#[derive(Debug)]
pub struct Connection {
    pub name: String,
    pub description: Option<String>,
    /// As written, once expanded, without a trailing `/`.
    pub base_url: String,
    /// What its bridges start from.
    pub base: UpstreamBase,
    /// Values from the environment and `auth` that must never be shown.
    pub secrets: Secrets,
}

impl Connection {
    /// The credential kind, as `/-/bridges` shows it.
    pub fn auth_kind(&self) -> Option<&'static str> {
        self.base.auth.as_ref().map(UpstreamAuth::kind)
    }
}

/// Compiles a parsed connection file; `stem` names it when the file does not, `dir` is where
/// relative `tls` paths are read from.
pub fn compile(
    file: ConnectionFile,
    stem: &str,
    dir: Option<&Path>,
    mut secrets: Secrets,
) -> Result<Connection, Vec<String>> {
    let mut errs = Vec::new();
    let name = file.name.as_ref().map_or(stem, |n| n.as_str()).to_owned();
    if !crate::file::is_valid_name(&name) {
        errs.push(format!("name: `{name}` must match [a-z0-9][a-z0-9-]*"));
    }
    let base_url = check_base_url(file.base_url.as_str())
        .map_err(|e| errs.push(format!("base_url: {e}")))
        .ok();
    let timeout = file
        .timeout
        .as_ref()
        .map(|t| parse_timeout(Some(t)))
        .transpose()
        .map_err(|e| errs.push(format!("timeout: {e}")))
        .ok();
    let tls = match &file.tls {
        Some(t) => load_tls(t, dir).map_err(|e| errs.push(e)).ok(),
        None => Some(None),
    };
    let auth = match (&file.auth, &tls) {
        (Some(spec), Some(tls)) => UpstreamAuth::compile(spec, tls.as_ref())
            .map(Some)
            .map_err(|e| errs.push(format!("auth: {e}")))
            .ok(),
        _ => Some(None),
    };
    let auth_header = match &auth {
        Some(Some((a, _))) => a.header().cloned(),
        _ => None,
    };
    let headers = compile_headers(&file, auth_header.as_ref())
        .map_err(|e| errs.extend(e))
        .ok();
    match (base_url, timeout, tls, auth, headers) {
        (Some(base_url), Some(timeout), Some(tls), Some(auth), Some(headers))
            if errs.is_empty() =>
        {
            let (auth, auth_secrets) = auth.map_or((None, Secrets::default()), |(a, s)| {
                (Some(a), s.into_iter().collect::<Secrets>())
            });
            secrets.extend(&auth_secrets);
            Ok(Connection {
                description: file.description.map(|d| d.0),
                base: UpstreamBase {
                    connection: Some(name.clone()),
                    base_url: Some(base_url.clone()),
                    headers,
                    timeout,
                    auth,
                    auth_secrets,
                    tls,
                },
                name,
                base_url,
                secrets,
            })
        }
        _ => Err(errs),
    }
}

/// `scheme://host[:port][/base/path]`: fixed text (no template, query, fragment or user
/// info), returned without a trailing `/` so that a bridge's `/path` follows it.
fn check_base_url(text: &str) -> Result<String, String> {
    if text.contains("{{") {
        return Err("cannot hold templates: it is fixed at load".to_owned());
    }
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must start with http:// or https:// and name a host".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("cannot hold a query or a fragment; put them in the bridges".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed; use `auth`".to_owned());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn compile_headers(
    file: &ConnectionFile,
    auth_header: Option<&HeaderName>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Vec<String>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (key, value) in &file.headers.0 {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            errs.push(format!("headers.{key}: not a valid header name"));
            continue;
        };
        if Some(&name) == auth_header {
            errs.push(format!(
                "headers.{key}: `auth` already sets this header; remove one of them"
            ));
            continue;
        }
        match HeaderValue::from_str(value.as_str()) {
            Ok(v) if !value.as_str().contains(['\r', '\n']) => out.push((name, v)),
            _ => errs.push(format!(
                "headers.{key}: the value holds characters not allowed in a header"
            )),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// The files `tls` names, as paths (relative ones under `dir`): CA, certificate, key.
fn tls_paths(spec: &TlsSpec, dir: Option<&Path>) -> [Option<PathBuf>; 3] {
    let path = |t: &Option<crate::file::Text>| -> Option<PathBuf> {
        t.as_ref().map(|t| match dir {
            Some(dir) => dir.join(t.as_str()),
            None => PathBuf::from(t.as_str()),
        })
    };
    [
        path(&spec.ca_file),
        path(&spec.client_cert),
        path(&spec.client_key),
    ]
}

/// The files `tls` reads, so that a reload compiles the file again when one of them changes
/// (a renewed client certificate, a rotated CA) although the file itself did not.
pub fn tls_files(spec: Option<&TlsSpec>, dir: Option<&Path>) -> Vec<PathBuf> {
    spec.map(|s| tls_paths(s, dir).into_iter().flatten().collect())
        .unwrap_or_default()
}

/// Loads `tls` (paths relative to `dir`); the problem says which key and file.
pub fn load_tls(spec: &TlsSpec, dir: Option<&Path>) -> Result<Option<Arc<TlsProfile>>, String> {
    let [ca, cert, key] = tls_paths(spec, dir);
    if ca.is_none() && cert.is_none() && key.is_none() {
        return Ok(None);
    }
    TlsProfile::load(ca.as_deref(), cert.as_deref(), key.as_deref())
        .map(|p| Some(Arc::new(p)))
        .map_err(|e| e.to_string())
}
