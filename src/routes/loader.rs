//! Loading the bridge directory into a new [`Snapshot`], against the previous one.
//!
//! The rules, in the order they apply:
//! - which files are bridges: `*.yaml` / `*.yml` directly in the directory (symlinks followed),
//!   never hidden files or editor leftovers;
//! - a file whose bytes did not change, nor the contents of the files its `${file:…}` read,
//!   keeps its compiled bridge (no re-parse); those files are read again at every reload so a
//!   rotated secret is picked up without touching the bridge file;
//! - a file that fails to load keeps serving its last good version;
//! - files are settled in name order, so when two claim one name or one route the first keeps
//!   it and the second is refused naming both: what is served depends only on the files present.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::bridge::{Bridge, Problem, compile_connection_file, compile_file};
use crate::connection::Connection;
use crate::file::env::{EnvSource, FileRead};
use crate::file::{self, Kind};
use crate::routes::snapshot::{Compiled, FileStatus, Served, ServedConnection, Snapshot};

/// Loads one bridge directory.
#[derive(Clone)]
pub struct Loader {
    dir: PathBuf,
    env: Arc<dyn EnvSource>,
}

impl Loader {
    pub fn new(dir: impl Into<PathBuf>, env: Arc<dyn EnvSource>) -> Self {
        Loader {
            dir: dir.into(),
            env,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Builds the next snapshot. Fails only when the directory itself cannot be listed, in which
    /// case the caller keeps serving `previous`.
    ///
    /// Connections load first, so that each bridge compiles against the connections of the
    /// same load (a connection that fails lends its last good version).
    pub fn load(&self, previous: &Snapshot) -> io::Result<Snapshot> {
        let previous = Previous::index(previous);
        let read: Vec<(String, io::Result<Vec<u8>>)> = bridge_files(&self.dir)?
            .into_iter()
            .map(|name| {
                let bytes = fs::read(self.dir.join(&name));
                (name, bytes)
            })
            .collect();
        let (connections, bridges): (Vec<_>, Vec<_>) = read
            .into_iter()
            .partition(|(name, bytes)| is_connection_file(name, bytes, &previous));
        let mut connection_files: Vec<FileStatus> = connections
            .into_iter()
            .map(|(name, bytes)| self.load_connection(name, bytes, &previous))
            .collect();
        let served_connections = settle_connections(&mut connection_files, &previous, &self.dir);
        let table: HashMap<&str, &Arc<Connection>> = served_connections
            .iter()
            .map(|s| (s.connection.name.as_str(), &s.connection))
            .collect();
        let mut files: Vec<FileStatus> = bridges
            .into_iter()
            .map(|(name, bytes)| self.load_bridge(name, bytes, &previous, &table))
            .collect();
        let served = settle(&mut files, &previous, &self.dir);
        files.extend(connection_files);
        files.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(Snapshot::new(served, served_connections, files))
    }

    fn load_connection(
        &self,
        name: String,
        bytes: io::Result<Vec<u8>>,
        previous: &Previous,
    ) -> FileStatus {
        self.load_file(
            name,
            Kind::Connection,
            bytes,
            previous,
            |_| true,
            |path, text, env| {
                let (compiled, reads) = compile_connection_file(path, text, env);
                (
                    compiled.map(|c| Compiled::Connection(Arc::new(c))),
                    reads,
                    None,
                )
            },
        )
    }

    fn load_bridge(
        &self,
        name: String,
        bytes: io::Result<Vec<u8>>,
        previous: &Previous,
        table: &HashMap<&str, &Arc<Connection>>,
    ) -> FileStatus {
        let lookup = |name: &str| table.get(name).map(|c| Arc::clone(c));
        // A connection it named that is now another (or now there, or gone) re-compiles it.
        let same_connection = |before: &FileStatus| match &before.asked {
            None => true,
            Some((name, got)) => match (got, lookup(name)) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, &b),
                _ => false,
            },
        };
        self.load_file(
            name,
            Kind::Bridge,
            bytes,
            previous,
            same_connection,
            |path, text, env| {
                let mut asked = None;
                let (compiled, reads) = compile_file(path, text, env, &mut |name| {
                    let found = lookup(name);
                    asked = Some((name.to_owned(), found.clone()));
                    found
                });
                (
                    compiled.map(|b| Compiled::Bridge(Arc::new(b))),
                    reads,
                    asked,
                )
            },
        )
    }

    /// One file: its previous compile result kept while its bytes, the files it read and
    /// (`still_valid`) what else it depends on are unchanged; otherwise compiled again.
    fn load_file(
        &self,
        name: String,
        kind: Kind,
        bytes: io::Result<Vec<u8>>,
        previous: &Previous,
        still_valid: impl Fn(&FileStatus) -> bool,
        compile: impl FnOnce(&Path, &str, &Arc<dyn EnvSource>) -> Outcome,
    ) -> FileStatus {
        let path = self.dir.join(&name);
        let (hash, (compiled, reads, asked)) = match bytes {
            Err(e) => (
                String::new(),
                (
                    Err(vec![Problem::new(&path, format!("cannot be read: {e}"))]),
                    Vec::new(),
                    None,
                ),
            ),
            Ok(bytes) => {
                let hash = sha256_hex(&bytes);
                let unchanged = previous.files.get(name.as_str()).filter(|f| {
                    f.hash == hash && f.reads.iter().all(FileRead::unchanged) && still_valid(f)
                });
                let outcome = match unchanged {
                    Some(f) => (f.compiled.clone(), f.reads.clone(), f.asked.clone()),
                    None => match std::str::from_utf8(&bytes) {
                        Ok(text) => compile(&path, text, &self.env),
                        Err(_) => (
                            Err(vec![Problem::new(&path, "is not UTF-8 text")]),
                            Vec::new(),
                            None,
                        ),
                    },
                };
                (hash, outcome)
            }
        };
        FileStatus {
            problems: compiled.as_ref().err().cloned().unwrap_or_default(),
            file: name,
            kind,
            hash,
            serving: None,
            compiled,
            reads,
            asked,
        }
    }
}

/// A compile result, the files it read, and the connection a bridge asked for.
type Outcome = (
    Result<Compiled, Vec<Problem>>,
    Vec<FileRead>,
    Option<(String, Option<Arc<Connection>>)>,
);

/// A connection file by its `kind:`. One whose kind cannot be read now (a syntax error, a
/// moment unreadable) stays what it was, so that a broken connection still lends its last good
/// version to its bridges instead of being taken for a broken bridge.
fn is_connection_file(name: &str, bytes: &io::Result<Vec<u8>>, previous: &Previous) -> bool {
    let was = || {
        previous
            .files
            .get(name)
            .is_some_and(|f| f.kind == Kind::Connection)
    };
    match bytes
        .as_ref()
        .ok()
        .and_then(|b| std::str::from_utf8(b).ok())
    {
        Some(text) => match file::kind_of(text) {
            Some(kind) => kind == Kind::Connection,
            None => was(),
        },
        None => was(),
    }
}

/// Decides which connection each connection file serves, in file-name order: a failing file
/// lends its last good version, and of two with one name the first keeps it.
fn settle_connections(
    files: &mut [FileStatus],
    previous: &Previous,
    dir: &Path,
) -> Vec<ServedConnection> {
    let mut served: Vec<ServedConnection> = Vec::new();
    for status in files.iter_mut() {
        let fresh = match &status.compiled {
            Ok(Compiled::Connection(c)) => Some(c.clone()),
            _ => None,
        };
        let last_good = previous
            .connections
            .get(status.file.as_str())
            .map(|s| s.connection.clone());
        for candidate in fresh.into_iter().chain(last_good) {
            if let Some(owner) = served.iter().find(|s| s.connection.name == candidate.name) {
                let message = format!(
                    "conflicts with {}: both name the connection `{}`; {} sorts first and keeps it",
                    owner.file, candidate.name, owner.file
                );
                if !status.problems.iter().any(|p| p.message == message) {
                    status
                        .problems
                        .push(Problem::new(&dir.join(&status.file), message));
                }
                continue;
            }
            status.serving = Some(candidate.name.clone());
            served.push(ServedConnection {
                connection: candidate,
                file: status.file.clone(),
                hash: status.hash.clone(),
            });
            break;
        }
    }
    served
}

/// Decides what each file serves, in file-name order, and records conflicts on the loser.
fn settle(files: &mut [FileStatus], previous: &Previous, dir: &Path) -> Vec<Served> {
    let now = SystemTime::now();
    let mut served: Vec<Served> = Vec::with_capacity(files.len());
    let mut names: HashMap<String, String> = HashMap::new();
    let mut routes: HashMap<(String, String), String> = HashMap::new();
    for status in files.iter_mut() {
        let fresh = match &status.compiled {
            Ok(Compiled::Bridge(b)) => Some(Served {
                bridge: b.clone(),
                file: status.file.clone(),
                hash: status.hash.clone(),
                loaded_at: previous.load_time(&status.file, b).unwrap_or(now),
            }),
            _ => None,
        };
        let last_good = previous
            .served
            .get(status.file.as_str())
            .map(|s| (*s).clone());
        for candidate in fresh.into_iter().chain(last_good) {
            let bridge = &candidate.bridge;
            let route = (bridge.method.to_string(), bridge.path.clone());
            let clash = names
                .get(&bridge.name)
                .map(|owner| (owner, format!("both name the bridge `{}`", bridge.name)))
                .or_else(|| {
                    routes
                        .get(&route)
                        .map(|owner| (owner, format!("both claim {} {}", route.0, route.1)))
                });
            if let Some((owner, what)) = clash {
                let message =
                    format!("conflicts with {owner}: {what}; {owner} sorts first and keeps it");
                if !status.problems.iter().any(|p| p.message == message) {
                    status
                        .problems
                        .push(Problem::new(&dir.join(&status.file), message));
                }
                continue;
            }
            names.insert(bridge.name.clone(), status.file.clone());
            routes.insert(route, status.file.clone());
            status.serving = Some(bridge.name.clone());
            served.push(candidate);
            break;
        }
    }
    served
}

/// The previous snapshot, indexed by file name, so a reload stays linear in the file count.
struct Previous<'a> {
    files: HashMap<&'a str, &'a FileStatus>,
    served: HashMap<&'a str, &'a Served>,
    connections: HashMap<&'a str, &'a ServedConnection>,
}

impl<'a> Previous<'a> {
    fn index(snapshot: &'a Snapshot) -> Self {
        Previous {
            files: snapshot
                .files
                .iter()
                .map(|f| (f.file.as_str(), f))
                .collect(),
            served: snapshot
                .served
                .iter()
                .map(|s| (s.file.as_str(), s))
                .collect(),
            connections: snapshot
                .connections
                .iter()
                .map(|s| (s.file.as_str(), s))
                .collect(),
        }
    }

    /// When this very compiled bridge was first loaded, if it is the one being served. The
    /// same bytes compiled again (a `${file:…}` changed) are a new version.
    fn load_time(&self, file: &str, bridge: &Arc<Bridge>) -> Option<SystemTime> {
        self.served
            .get(file)
            .filter(|s| Arc::ptr_eq(&s.bridge, bridge))
            .map(|s| s.loaded_at)
    }
}

/// The bridge files in `dir`, sorted by name.
pub fn bridge_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if is_bridge_file_name(&name) && !is_directory(&entry) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// A link counts wherever it points. One that cannot be followed right now (a ConfigMap swap
/// caught half-way) is listed anyway: it then fails to read and keeps its last good version,
/// rather than vanishing as if it had been deleted.
fn is_directory(entry: &fs::DirEntry) -> bool {
    match entry.file_type() {
        Ok(t) if t.is_symlink() => fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
        Ok(t) => t.is_dir(),
        Err(_) => false,
    }
}

/// `*.yaml` / `*.yml`, not hidden, not an editor's backup, swap or lock file.
pub fn is_bridge_file_name(name: &str) -> bool {
    let hidden = name.starts_with('.');
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml && !hidden && name.len() > ".yml".len()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_yaml_files_are_bridges() {
        for name in ["a.yaml", "b.yml", "fetch-post.yaml"] {
            assert!(is_bridge_file_name(name), "{name}");
        }
        for name in [
            ".a.yaml",
            ".#a.yaml",
            "a.yaml~",
            "a.yaml.swp",
            ".a.yaml.swp",
            "..data",
            "a.json",
            "4913",
            ".yaml",
        ] {
            assert!(!is_bridge_file_name(name), "{name}");
        }
    }
}
