//! `${VAR}` expansion of bridge-file strings, and the record of which values came from the
//! environment so they can be masked wherever the gateway prints something.
//!
//! Expansion runs while serde reads each string scalar, after YAML parsing: an expanded value
//! is never parsed as YAML again, so it cannot inject structure, and an error from it still gets
//! the line and column of the scalar from the YAML parser.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Where `${VAR}` values come from: the process environment in production, a map in tests.
pub trait EnvSource: Send + Sync {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// Variables read from env files (`--env-file`), over another source: a value in a file wins,
/// as a flag given on the command line wins over the environment.
pub struct Layered {
    over: HashMap<String, String>,
    under: Arc<dyn EnvSource>,
}

impl Layered {
    pub fn new(over: HashMap<String, String>, under: Arc<dyn EnvSource>) -> Self {
        Layered { over, under }
    }
}

impl EnvSource for Layered {
    fn get(&self, name: &str) -> Option<String> {
        self.over
            .get(name)
            .cloned()
            .or_else(|| self.under.get(name))
    }
}

/// An env file that cannot be used. Never shows a line's text: it may hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("cannot read env file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("env file {path}, line {line}: write NAME=value (quote a value with spaces or `#`)")]
    Line { path: PathBuf, line: usize },
}

/// Reads `NAME=value` lines (dotenv syntax: `#` comments, quotes, `export NAME=value`) without
/// touching the process environment; later lines win.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, EnvFileError> {
    let read_error = |source| EnvFileError::Read {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((name, value)) => {
                vars.insert(name, value);
            }
            Err(dotenvy::Error::LineParse(bad, _)) => {
                // dotenvy hands back the line's text; say which line it is instead.
                let first = bad.lines().next().unwrap_or_default();
                let line = text.lines().position(|l| l == first).map_or(0, |i| i + 1);
                return Err(EnvFileError::Line {
                    path: path.to_owned(),
                    line,
                });
            }
            Err(dotenvy::Error::Io(e)) => return Err(read_error(e)),
            Err(other) => return Err(read_error(std::io::Error::other(other.to_string()))),
        }
    }
    Ok(vars)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("environment variable {0} is not set and has no default")]
    Unset(String),
    #[error("unterminated `${{` (write `$${{` for a literal `${{`)")]
    Unterminated,
    #[error("`{0}` is not a valid environment variable name")]
    BadName(String),
    /// The path only, never the content, and the I/O error's text (which holds no content).
    #[error("cannot read file {path} (from `${{file:…}}`): {reason}")]
    File { path: PathBuf, reason: String },
    #[error("`${{file:}}` needs a path")]
    EmptyFilePath,
}

/// One value taken from the environment or from a file.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// The variable's name, or `file:PATH` as written.
    pub name: String,
    pub value: String,
    /// Set for `${file:PATH}`: the path the value was read from.
    pub file: Option<PathBuf>,
}

impl Expansion {
    /// File contents are always secrets (that is what `${file:}` is for); variables are when
    /// their name says so.
    pub fn is_secret(&self) -> bool {
        self.file.is_some() || looks_secret(&self.name)
    }
}

/// A file a `${file:PATH}` read (or tried to), with a digest of what it held, so a reload can
/// tell whether a bridge must be compiled again although its own bytes did not change. The
/// digest stays in memory and is never shown: a hash of a short secret could be brute-forced.
#[derive(Clone, PartialEq, Eq)]
pub struct FileRead {
    pub path: PathBuf,
    /// `None` when the file could not be read.
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for FileRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRead")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileRead {
    fn of(path: &Path, content: Option<&[u8]>) -> Self {
        FileRead {
            path: path.to_owned(),
            digest: content.map(|c| Sha256::digest(c).into()),
        }
    }

    /// What `path` holds now (or that it cannot be read), for a file read other than through
    /// `${file:…}` (a connection's TLS files).
    pub fn now(path: &Path) -> Self {
        FileRead::of(path, std::fs::read(path).ok().as_deref())
    }

    /// Does the file hold what it held when this was recorded (readable or not alike)?
    pub fn unchanged(&self) -> bool {
        let now = std::fs::read(&self.path).ok();
        *self == FileRead::of(&self.path, now.as_deref())
    }
}

/// Where `${file:PATH}` is resolved and what it read.
#[derive(Debug, Default)]
pub struct Files {
    /// Relative paths are taken from here (the bridge directory); the working directory when
    /// `None`.
    pub base: Option<PathBuf>,
    pub read: Vec<FileRead>,
}

impl Files {
    fn read(&mut self, raw: &str, used: &mut Vec<Expansion>) -> Result<String, ExpandError> {
        if raw.is_empty() {
            return Err(ExpandError::EmptyFilePath);
        }
        let path = match &self.base {
            Some(base) if Path::new(raw).is_relative() => base.join(raw),
            _ => PathBuf::from(raw),
        };
        let result = std::fs::read(&path);
        self.read
            .push(FileRead::of(&path, result.as_ref().ok().map(Vec::as_slice)));
        let bytes = result.map_err(|e| ExpandError::File {
            path: path.clone(),
            reason: e.kind().to_string(),
        })?;
        let mut text = String::from_utf8(bytes).map_err(|_| ExpandError::File {
            path: path.clone(),
            reason: "not UTF-8 text".to_owned(),
        })?;
        // Files written by editors and `echo` end in a newline that is no part of the secret.
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        used.push(Expansion {
            name: format!("file:{raw}"),
            value: text.clone(),
            file: Some(path),
        });
        Ok(text)
    }
}

/// Expands `${VAR}`, `${VAR:-default}` and the escape `$${` in `s`.
///
/// `:-` takes the default when VAR is unset *or empty*, as in the shell. Every value read
/// from the environment is pushed onto `used`.
pub fn expand(
    s: &str,
    env: &dyn EnvSource,
    used: &mut Vec<Expansion>,
) -> Result<String, ExpandError> {
    expand_with(s, env, &mut Files::default(), used)
}

/// [`expand`], also replacing `${file:PATH}` by the content of that file (one trailing newline
/// removed), read through `files`.
pub fn expand_with(
    s: &str,
    env: &dyn EnvSource,
    files: &mut Files,
    used: &mut Vec<Expansion>,
) -> Result<String, ExpandError> {
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(ExpandError::Unterminated)?;
            let expr = &tail[..end];
            match expr.strip_prefix("file:") {
                Some(path) => out.push_str(&files.read(path, used)?),
                None => out.push_str(&lookup(expr, env, used)?),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(
    expr: &str,
    env: &dyn EnvSource,
    used: &mut Vec<Expansion>,
) -> Result<String, ExpandError> {
    let (name, default) = match expr.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (expr, None),
    };
    if !is_var_name(name) {
        return Err(ExpandError::BadName(name.to_owned()));
    }
    let value = env.get(name);
    match (value, default) {
        (Some(v), Some(d)) if v.is_empty() => Ok(d.to_owned()),
        (Some(v), _) => {
            used.push(Expansion {
                name: name.to_owned(),
                value: v.clone(),
                file: None,
            });
            Ok(v)
        }
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) => Err(ExpandError::Unset(name.to_owned())),
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Does a variable's name say it holds a credential? Such values are masked in every output.
pub fn looks_secret(name: &str) -> bool {
    const WORDS: [&str; 11] = [
        "KEY",
        "SECRET",
        "TOKEN",
        "PASS",
        "PWD",
        "CRED",
        "AUTH",
        "PRIVATE",
        "SESSION",
        "COOKIE",
        "SIGNATURE",
    ];
    let upper = name.to_ascii_uppercase();
    WORDS.iter().any(|w| upper.contains(w))
}

struct Scope {
    env: Arc<dyn EnvSource>,
    files: Files,
    used: Vec<Expansion>,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `f` (a serde deserialization) with `env` as the source for [`expand_in_scope`], and
/// returns what it expanded and which files it read (`${file:}` relative to `base`).
/// Deserialize impls cannot take arguments, hence the scope.
pub(crate) fn with_scope<R>(
    env: &Arc<dyn EnvSource>,
    base: Option<&Path>,
    f: impl FnOnce() -> R,
) -> (R, Vec<Expansion>, Vec<FileRead>) {
    let previous = SCOPE.with(|s| {
        s.borrow_mut().replace(Scope {
            env: env.clone(),
            files: Files {
                base: base.map(Path::to_owned),
                read: Vec::new(),
            },
            used: Vec::new(),
        })
    });
    let result = f();
    let scope = SCOPE.with(|s| std::mem::replace(&mut *s.borrow_mut(), previous));
    match scope {
        Some(scope) => (result, scope.used, scope.files.read),
        None => (result, Vec::new(), Vec::new()),
    }
}

/// Expands `s` with the environment of the enclosing [`with_scope`] (the process environment
/// outside one).
pub(crate) fn expand_in_scope(s: &str) -> Result<String, ExpandError> {
    SCOPE.with(|cell| match cell.borrow_mut().as_mut() {
        Some(scope) => {
            let env = scope.env.clone();
            expand_with(s, env.as_ref(), &mut scope.files, &mut scope.used)
        }
        None => expand(s, &ProcessEnv, &mut Vec::new()),
    })
}

/// Values that must never be printed: replaced by `***` wherever the gateway shows text that
/// could contain them (errors, `try`, status pages).
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    // Never the values: a `{:?}` of anything holding secrets must not print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl FromIterator<String> for Secrets {
    fn from_iter<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut secrets = Secrets::default();
        values.into_iter().for_each(|v| secrets.add(&v));
        secrets
    }
}

impl Secrets {
    /// Shorter values are not masked: they would garble every message and guard nothing.
    const MIN_LEN: usize = 4;

    pub fn add(&mut self, value: &str) {
        if value.len() >= Self::MIN_LEN && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_owned());
            // Longest first, so a secret containing another is masked whole.
            self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Adds every value of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        other.0.iter().for_each(|v| self.add(v));
    }

    pub fn mask(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |acc, secret| {
            acc.replace(secret.as_str(), "***")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(s: &str, e: &HashMap<String, String>) -> Result<String, ExpandError> {
        expand(s, e, &mut Vec::new())
    }

    #[test]
    fn expands_set_unset_empty_and_escaped() {
        let e = env(&[("HOST", "h.example"), ("EMPTY", "")]);
        assert_eq!(run("https://${HOST}/x", &e).unwrap(), "https://h.example/x");
        assert_eq!(run("${MISSING:-d}", &e).unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}", &e).unwrap(), "d");
        assert_eq!(run("[${EMPTY}]", &e).unwrap(), "[]");
        assert_eq!(run("$${HOST} costs $5", &e).unwrap(), "${HOST} costs $5");
        assert_eq!(run("${MISSING:-a:-b}", &e).unwrap(), "a:-b");
    }

    #[test]
    fn reports_unset_unterminated_and_bad_names() {
        let e = env(&[]);
        assert_eq!(
            run("${API_KEY}", &e),
            Err(ExpandError::Unset("API_KEY".into()))
        );
        assert_eq!(run("${API_KEY", &e), Err(ExpandError::Unterminated));
        assert_eq!(run("${1X}", &e), Err(ExpandError::BadName("1X".into())));
    }

    #[test]
    fn records_only_values_taken_from_the_environment() {
        let e = env(&[("KEY", "s3cret")]);
        let mut used = Vec::new();
        expand("${KEY} ${OTHER:-x}", &e, &mut used).unwrap();
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].value, "s3cret");
    }

    #[test]
    fn file_values_are_read_relative_to_the_base_trimmed_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("two"), "a\n\n").unwrap();
        let mut files = Files {
            base: Some(dir.path().to_owned()),
            read: Vec::new(),
        };
        let mut used = Vec::new();
        let e = env(&[]);
        let out = expand_with("[${file:pw}][${file:two}]", &e, &mut files, &mut used).unwrap();
        assert_eq!(out, "[s3cret][a\n]", "one trailing newline only");
        assert!(used.iter().all(Expansion::is_secret));
        assert_eq!(files.read.len(), 2);
        assert!(files.read.iter().all(FileRead::unchanged));
        std::fs::write(dir.path().join("pw"), "rotated").unwrap();
        assert!(!files.read[0].unchanged());

        let err = expand_with("${file:nope}", &e, &mut files, &mut used).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("nope"), "{message}");
        assert!(files.read.last().unwrap().unchanged(), "still unreadable");
    }

    #[test]
    fn masks_longest_secret_first() {
        let mut s = Secrets::default();
        s.add("abcd");
        s.add("abcdefgh");
        s.add("ab");
        assert_eq!(s.mask("x abcdefgh y abcd ab"), "x *** y *** ab");
    }
}

#[cfg(test)]
mod env_file_tests {
    use super::*;

    #[test]
    fn an_env_file_is_read_without_touching_the_environment_and_wins_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ci.env");
        std::fs::write(
            &path,
            "# CI stand-ins\nAPI_TOKEN=from-file\nexport BASE_URL=\"http://h:1/a b\"\nEMPTY=\n",
        )
        .unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(std::env::var("API_TOKEN").ok(), None);
        let under: HashMap<String, String> = [("API_TOKEN", "from-env"), ("ONLY_ENV", "e")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let env = Layered::new(vars, Arc::new(under));
        assert_eq!(env.get("API_TOKEN").as_deref(), Some("from-file"));
        assert_eq!(env.get("BASE_URL").as_deref(), Some("http://h:1/a b"));
        assert_eq!(env.get("EMPTY").as_deref(), Some(""));
        assert_eq!(env.get("ONLY_ENV").as_deref(), Some("e"));
        assert_eq!(env.get("NOPE"), None);
    }

    #[test]
    fn a_bad_line_is_named_by_number_never_by_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.env");
        std::fs::write(&path, "A=1\nSECRET s3cr3t\n").unwrap();
        let err = read_env_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
