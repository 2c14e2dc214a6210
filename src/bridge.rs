//! The *compile* step: a parsed [`BridgeFile`] becomes a [`Bridge`], the immutable value the
//! request path runs. Everything that can be decided from the file is decided here, once:
//! the route, the input contract, the upstream templates, the JSONPaths, the output types.
//! A file either compiles whole or reports every problem it has.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use http::Method;

use crate::connection::{self, Connection};
use crate::file::env::{EnvSource, FileRead, Secrets};
use crate::file::locate::KeyMap;
use crate::file::{self, BridgeFile, ConnectionFile, Kind, Location, OnError, UpstreamSpec};
use crate::metrics::BridgeMeters;
use crate::stages::auth::InboundAuth;
use crate::stages::map::OutputMapping;
use crate::stages::render::{UpstreamBase, UpstreamTemplate, parse_method, quoted_input_warnings};
use crate::stages::upstream_auth::UpstreamAuth;
use crate::stages::validate::InputContract;

/// One compiled bridge.
#[derive(Debug)]
pub struct Bridge {
    pub name: String,
    pub description: Option<String>,
    pub method: Method,
    pub path: String,
    pub auth: Option<InboundAuth>,
    pub input: InputContract,
    pub upstream: UpstreamTemplate,
    pub output: OutputMapping,
    pub on_error: OnError,
    /// The connection its upstream call starts from, if it names one.
    pub connection: Option<Arc<Connection>>,
    /// What `check` warns about (key-path first, like errors); the bridge loads regardless.
    pub warnings: Vec<String>,
    /// Values from the environment that must never be shown.
    pub secrets: Secrets,
    /// Requests this bridge is answering now (bounded by the server's per-bridge limit).
    pub in_flight: AtomicUsize,
    pub meters: BridgeMeters,
}

/// A problem with one bridge file, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Location { line, column }) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Problem {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_owned(),
            location: None,
            message: message.into(),
        }
    }

    /// Problems found after parsing, each placed at the key its message begins with
    /// (`output.name.path: …`) in `text`, the file's contents.
    pub fn located(
        file: &Path,
        text: &str,
        messages: impl IntoIterator<Item = String>,
    ) -> Vec<Problem> {
        let keys = KeyMap::of(text);
        messages
            .into_iter()
            .map(|message| Problem {
                file: file.to_owned(),
                location: keys.locate(&message),
                message,
            })
            .collect()
    }
}

/// Looks a connection up by name while a bridge compiles (the loader records what was asked).
pub type Connections<'a> = &'a mut dyn FnMut(&str) -> Option<Arc<Connection>>;

/// Parses and compiles the text of one bridge file that names no connection.
pub fn compile_text(
    file: &Path,
    text: &str,
    env: &Arc<dyn EnvSource>,
) -> Result<Bridge, Vec<Problem>> {
    compile_file(file, text, env, &mut |_| None).0
}

/// [`compile_text`] with the connections of the same load, also returning the files its
/// `${file:…}` read (relative to the file's directory), whether or not it compiled: a reload
/// compiles it again when one of them changes.
pub fn compile_file(
    file: &Path,
    text: &str,
    env: &Arc<dyn EnvSource>,
    connections: Connections,
) -> (Result<Bridge, Vec<Problem>>, Vec<FileRead>) {
    let (parsed, mut reads) = file::parse_in::<BridgeFile>(text, env, file.parent());
    if let Ok((parsed, _)) = &parsed {
        let tls = connection::tls_files(parsed.upstream.tls.as_ref(), file.parent());
        reads.extend(tls.iter().map(|p| FileRead::now(p)));
    }
    let compiled = compile_parsed(file, text, parsed, connections);
    if let Ok(bridge) = &compiled {
        for warning in &bridge.warnings {
            tracing::warn!(file = %file.display(), %warning, "bridge warning");
        }
    }
    (compiled, reads)
}

/// Parses and compiles the text of one connection file, also returning the files it read.
pub fn compile_connection_file(
    file: &Path,
    text: &str,
    env: &Arc<dyn EnvSource>,
) -> (Result<Connection, Vec<Problem>>, Vec<FileRead>) {
    let (parsed, mut reads) = file::parse_in::<ConnectionFile>(text, env, file.parent());
    if let Ok((parsed, _)) = &parsed {
        let tls = connection::tls_files(parsed.tls.as_ref(), file.parent());
        reads.extend(tls.iter().map(|p| FileRead::now(p)));
    }
    let compiled = with_expansions(file, text, parsed, |parsed, secrets, _| {
        connection::compile(parsed, stem(file), file.parent(), secrets)
    });
    (compiled, reads)
}

/// Is this file text a connection (`kind: connection`) rather than a bridge?
pub fn is_connection(text: &str) -> bool {
    file::kind_of(text) == Some(Kind::Connection)
}

fn stem(file: &Path) -> &str {
    file.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
}

fn compile_parsed(
    file: &Path,
    text: &str,
    parsed: file::Parsed,
    connections: Connections,
) -> Result<Bridge, Vec<Problem>> {
    with_expansions(file, text, parsed, |parsed, secrets, all| {
        let mut bridge = compile(parsed, stem(file), secrets, file.parent(), connections)?;
        bridge.warnings = bridge.warnings.iter().map(|w| all.mask(w)).collect();
        Ok(bridge)
    })
}

/// Runs `compile` on a parsed file with the secrets it took from the environment (and every
/// value it took, to mask what it says); its problems are placed at their keys in `text`.
fn with_expansions<T, R>(
    file: &Path,
    text: &str,
    parsed: file::Parsed<T>,
    compile: impl FnOnce(T, Secrets, &Secrets) -> Result<R, Vec<String>>,
) -> Result<R, Vec<Problem>> {
    let (parsed, expansions) = parsed.map_err(|errors| {
        errors
            .into_iter()
            .map(|e| Problem {
                file: file.to_owned(),
                location: e.location,
                message: e.message,
            })
            .collect::<Vec<_>>()
    })?;
    let mut secrets = Secrets::default();
    for e in expansions.iter().filter(|e| e.is_secret()) {
        secrets.add(&e.value);
    }
    // A value from the environment never reaches a message, whatever its variable's name.
    let mut all = Secrets::default();
    expansions.iter().for_each(|e| all.add(&e.value));
    compile(parsed, secrets, &all).map_err(|messages| {
        let masked = messages.into_iter().map(|m| all.mask(&m));
        Problem::located(file, text, masked)
    })
}

/// Compiles a parsed file; `stem` names the bridge when the file does not, `dir` is where a
/// relative `tls` path is read from, `connections` finds the connection it names.
pub fn compile(
    file: BridgeFile,
    stem: &str,
    mut secrets: Secrets,
    dir: Option<&Path>,
    connections: Connections,
) -> Result<Bridge, Vec<String>> {
    let mut errs = Vec::new();
    if file.kind != Kind::Bridge {
        errs.push("kind: a bridge file says `kind: bridge` or nothing".to_owned());
    }
    let name = file.name.as_ref().map_or(stem, |n| n.as_str()).to_owned();
    if !file::is_valid_name(&name) {
        errs.push(match file.name {
            Some(_) => format!("name: `{name}` must match [a-z0-9][a-z0-9-]*"),
            None => format!(
                "name `{name}` (taken from the file name; set `name:`) must match [a-z0-9][a-z0-9-]*"
            ),
        });
    }
    let method = parse_method(file.route.method.as_ref(), "POST")
        .map_err(|e| errs.push(format!("route.method: {e}")))
        .ok();
    let path = file.route.path.as_str();
    if let Err(e) = check_route_path(path) {
        errs.push(format!("route.path: {e}"));
    }
    let auth = file
        .auth
        .as_ref()
        .map(InboundAuth::compile)
        .transpose()
        .map_err(|e| errs.push(e))
        .ok()
        .map(|compiled| {
            compiled.map(|(auth, values)| {
                values.iter().for_each(|v| secrets.add(v));
                auth
            })
        });
    let input = InputContract::compile(&file.input)
        .map_err(|e| errs.extend(e))
        .ok();
    let declared = |n: &str| file.input.0.contains_key(n);
    let (connection, base) = match upstream_base(&file.upstream, dir, connections) {
        Ok(found) => found,
        Err(e) => {
            errs.extend(e);
            (None, UpstreamBase::default())
        }
    };
    if let Some(c) = &connection {
        secrets.extend(&c.secrets);
    }
    secrets.extend(&base.auth_secrets);
    let upstream = UpstreamTemplate::compile(&file.upstream, &declared, base)
        .map_err(|e| errs.extend(e))
        .ok();
    let output = OutputMapping::compile(&file.output, &declared)
        .map_err(|e| errs.extend(e))
        .ok();
    let warnings = quoted_input_warnings(&file.upstream, &file.input);
    match (method, auth, input, upstream, output) {
        (Some(method), Some(auth), Some(input), Some(upstream), Some(output))
            if errs.is_empty() =>
        {
            Ok(Bridge {
                name,
                description: file.description.map(|d| d.0),
                method,
                path: path.to_owned(),
                auth,
                input,
                upstream,
                output,
                on_error: file.on_error,
                connection,
                warnings,
                secrets,
                in_flight: AtomicUsize::new(0),
                meters: BridgeMeters::default(),
            })
        }
        _ => Err(errs),
    }
}

/// What the bridge's call starts from: its connection's settings, or its own inline `auth`
/// and `tls` (which a bridge with a connection may not have).
fn upstream_base(
    spec: &UpstreamSpec,
    dir: Option<&Path>,
    connections: Connections,
) -> Result<(Option<Arc<Connection>>, UpstreamBase), Vec<String>> {
    if let Some(name) = &spec.connection {
        let mut errs = Vec::new();
        for (set, key) in [(spec.auth.is_some(), "auth"), (spec.tls.is_some(), "tls")] {
            if set {
                errs.push(format!(
                    "upstream.{key}: the connection `{}` gives the {key} settings; \
                     remove upstream.{key} (or the connection)",
                    name.as_str()
                ));
            }
        }
        let found = connections(name.as_str());
        if found.is_none() {
            errs.push(format!(
                "upstream.connection: no connection named `{}` is loaded (a file with \
                 `kind: connection` and that name, or that file name, in the bridge directory)",
                name.as_str()
            ));
        }
        return match found {
            Some(c) if errs.is_empty() => {
                let base = c.base.clone();
                Ok((Some(c), base))
            }
            _ => Err(errs),
        };
    }
    let tls = match &spec.tls {
        Some(t) => connection::load_tls(t, dir).map_err(|e| vec![format!("upstream.{e}")])?,
        None => None,
    };
    let auth = spec
        .auth
        .as_ref()
        .map(|a| UpstreamAuth::compile(a, tls.as_ref()))
        .transpose()
        .map_err(|e| vec![format!("upstream.auth: {e}")])?;
    let (auth, auth_secrets) = auth.map_or((None, Secrets::default()), |(a, s)| {
        (Some(a), s.into_iter().collect::<Secrets>())
    });
    Ok((
        None,
        UpstreamBase {
            auth,
            auth_secrets,
            tls,
            ..UpstreamBase::default()
        },
    ))
}

/// Paths match exactly, so they are kept to plain, already-normalised URL paths.
fn check_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must start with `/`"));
    }
    if path == "/-" || path.starts_with("/-/") {
        return Err(
            "paths under `/-/` are reserved for the gateway's operations endpoints".to_owned(),
        );
    }
    if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("`{path}` holds an empty, `.` or `..` segment"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~!$&'()*+,;=:@%".contains(c);
    match path.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!(
            "`{path}` holds `{c}`, which is not allowed in a route path"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Arc<dyn EnvSource> {
        Arc::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    fn compile_str(text: &str, pairs: &[(&str, &str)]) -> Result<Bridge, Vec<Problem>> {
        compile_text(Path::new("bridges/t.yaml"), text, &env(pairs))
    }

    #[test]
    fn reports_every_problem_of_a_file() {
        let problems = compile_str(
            "name: Bad_Name\nroute: {path: /-/x}\ninput: {a: {type: integer, pattern: x}}\n\
             upstream: {url: 'http://h/{{input.b}}'}\noutput: {o: {path: '$.items['}}\n",
            &[],
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 5, "{text:#?}");
        let at: Vec<_> = problems
            .iter()
            .map(|p| p.location.map(|l| (l.line, l.column)))
            .collect();
        let want = [(1, 7), (2, 15), (3, 28), (4, 17), (5, 29)];
        assert_eq!(at, want.map(Some), "{text:#?}");
    }

    #[test]
    fn secrets_from_the_environment_never_reach_a_message() {
        let problems = compile_str(
            "route: {path: /x}\nupstream: {url: 'http://h/', headers: {'${HEADER_NAME}': v}}\n",
            &[("HEADER_NAME", "bad header s3cr3t-value")],
        )
        .unwrap_err();
        assert!(
            !problems[0].message.contains("s3cr3t"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn auth_values_and_secret_named_variables_are_secrets() {
        let bridge = compile_str(
            "route: {path: /x}\nauth: {api_key: {header: X-Key, value: '${INBOUND}'}}\n\
             upstream: {url: 'http://h/', headers: {Authorization: 'Bearer ${UPSTREAM_TOKEN}'}}\n",
            &[
                ("INBOUND", "inbound-value"),
                ("UPSTREAM_TOKEN", "upstream-value"),
            ],
        )
        .unwrap();
        assert_eq!(
            bridge.secrets.mask("inbound-value upstream-value"),
            "*** ***"
        );
        assert_eq!(bridge.name, "t");
        assert_eq!(bridge.method, Method::POST);
    }
}
