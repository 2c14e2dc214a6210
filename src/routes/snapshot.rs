//! The snapshot: everything one request needs, immutable, swapped whole by a reload.
//!
//! A request takes the current snapshot once and keeps it to the end, so a reload never
//! changes a request half-way. Route lookup is one hash lookup by path, then a scan of the
//! (one or two) methods on that path: it does not grow with the number of bridges.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use http::Method;

use crate::bridge::{Bridge, Problem};
use crate::connection::Connection;
use crate::file::Kind;
use crate::file::env::FileRead;
use crate::metrics::NamedCounter;
use crate::stages::upstream_auth::{TokenSource, UpstreamAuth};

/// One bridge being served, and the file it came from.
#[derive(Debug, Clone)]
pub struct Served {
    pub bridge: Arc<Bridge>,
    pub file: String,
    /// SHA-256 of the file's bytes, as `sha256sum` prints it.
    pub hash: String,
    pub loaded_at: SystemTime,
}

/// One connection in use, and the file it came from.
#[derive(Debug, Clone)]
pub struct ServedConnection {
    pub connection: Arc<Connection>,
    pub file: String,
    pub hash: String,
}

/// What a file compiled to.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    Bridge(Arc<Bridge>),
    Connection(Arc<Connection>),
}

/// The state of one file in the bridge directory.
#[derive(Debug, Clone)]
pub struct FileStatus {
    pub file: String,
    /// A bridge or a connection file (by its `kind:`).
    pub kind: Kind,
    pub hash: String,
    /// Empty when the file loaded and is served.
    pub problems: Vec<Problem>,
    /// The name of the bridge (or connection) served from this file (its last good version if
    /// it now fails).
    pub serving: Option<String>,
    /// The file's own compile result, reused while its bytes do not change.
    pub(crate) compiled: Result<Compiled, Vec<Problem>>,
    /// The files its `${file:…}` read, and what they held: when one changes, it is compiled
    /// again although its own bytes did not.
    pub(crate) reads: Vec<FileRead>,
    /// For a bridge: the connection it named and the one it was compiled with; when that name
    /// now finds another, it is compiled again.
    pub(crate) asked: Option<(String, Option<Arc<Connection>>)>,
}

#[derive(Debug, Default)]
struct PathRoutes {
    bridges: Vec<Arc<Bridge>>,
    allow: String,
}

/// What a request path and method lead to.
pub enum Lookup<'a> {
    Found(&'a Arc<Bridge>),
    WrongMethod { allow: &'a str },
    NotFound,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    routes: HashMap<String, PathRoutes>,
    /// Sorted by file name.
    pub served: Vec<Served>,
    /// Sorted by file name.
    pub connections: Vec<ServedConnection>,
    /// Sorted by file name.
    pub files: Vec<FileStatus>,
    /// Has the bridge directory been loaded at least once?
    pub ready: bool,
}

impl Snapshot {
    /// The snapshot before the first load: serves nothing, not ready.
    pub fn empty() -> Self {
        Snapshot::default()
    }

    pub(crate) fn new(
        served: Vec<Served>,
        connections: Vec<ServedConnection>,
        files: Vec<FileStatus>,
    ) -> Self {
        let mut routes: HashMap<String, PathRoutes> = HashMap::new();
        for s in &served {
            routes
                .entry(s.bridge.path.clone())
                .or_default()
                .bridges
                .push(s.bridge.clone());
        }
        for entry in routes.values_mut() {
            let methods: Vec<&str> = entry.bridges.iter().map(|b| b.method.as_str()).collect();
            entry.allow = methods.join(", ");
        }
        Snapshot {
            routes,
            served,
            connections,
            files,
            ready: true,
        }
    }

    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        match self.routes.get(path) {
            None => Lookup::NotFound,
            Some(entry) => match entry.bridges.iter().find(|b| b.method == method) {
                Some(bridge) => Lookup::Found(bridge),
                None => Lookup::WrongMethod {
                    allow: &entry.allow,
                },
            },
        }
    }

    pub fn bridge(&self, name: &str) -> Option<&Arc<Bridge>> {
        self.served
            .iter()
            .map(|s| &s.bridge)
            .find(|b| b.name == name)
    }

    /// Every OAuth2 token cache in use, once each, under the first connection (or, for a
    /// bridge's own `auth`, bridge) that uses it: the connections, then every bridge served,
    /// its last good version included.
    pub fn token_sources(&self) -> Vec<NamedCounter> {
        let connections = self.connections.iter().map(|c| {
            (
                "connection",
                &c.connection.name,
                c.connection.base.auth.as_ref(),
            )
        });
        let bridges = self.served.iter().map(|s| match &s.bridge.connection {
            Some(c) => ("connection", &c.name, c.base.auth.as_ref()),
            None => ("bridge", &s.bridge.name, s.bridge.upstream.auth.as_ref()),
        });
        let mut out: Vec<NamedCounter> = Vec::new();
        let mut seen: Vec<*const TokenSource> = Vec::new();
        for (kind, name, auth) in connections.chain(bridges) {
            if let Some(source) = auth.and_then(UpstreamAuth::tokens)
                && !seen.contains(&Arc::as_ptr(source))
            {
                seen.push(Arc::as_ptr(source));
                out.push((kind, name.clone(), source.clone()));
            }
        }
        out
    }

    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.files.iter().flat_map(|f| &f.problems)
    }
}
