//! `bridgeway import genesys`: exported data actions (genesys.md §1, or the Platform API action
//! body) become bridge files, and the credentials they use become connection files (SPEC §7).
//!
//! Pure text to text: the caller reads the files and writes what comes back. What cannot be
//! translated with its meaning intact is written as a `# TODO(import):` comment at the spot,
//! listed in [`Report::todos`], and the bridge gets a top-level `TODO(import)` key so that it
//! refuses to load until someone has looked: never a silently different bridge.

mod action;
mod auth;
mod output;
mod request;
pub mod velocity;
pub mod yaml;

use indexmap::IndexMap;
use serde_json::Value;

pub use auth::{AuthNeed, env_name};

/// One file to import.
#[derive(Debug, Clone)]
pub struct Source {
    /// How the file is named in messages (its path).
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Routes are `POST <prefix>/<slug>`.
    pub route_prefix: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            route_prefix: "/actions".to_owned(),
        }
    }
}

/// A file to write into the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub file: String,
    pub text: String,
    /// Environment variables the file needs.
    pub env: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub written: Vec<Written>,
    /// `source: key.path: what needs a hand edit`, one per TODO written.
    pub todos: Vec<String>,
    /// Files that are not data actions this importer knows: `source: why`.
    pub refused: Vec<String>,
}

impl Report {
    /// 0 whole, 1 some TODO, 2 some file was not a data action.
    pub fn exit_code(&self) -> u8 {
        if !self.refused.is_empty() {
            2
        } else if !self.todos.is_empty() {
            1
        } else {
            0
        }
    }
}

/// What kind of integration an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// `custom-rest-actions`: any HTTPS endpoint.
    WebServices,
    /// `purecloud-data-actions`: the Genesys Cloud Platform API, with the integration's OAuth client.
    GenesysCloud,
}

/// One parsed action.
#[derive(Debug)]
pub struct Action {
    pub source: String,
    pub name: String,
    pub integration: Integration,
    pub custom_auth: bool,
    pub value: Value,
    /// The file's text, for the order of its keys.
    pub text: String,
}

impl Action {
    pub fn request(&self, key: &str) -> &Value {
        &self.value["config"]["request"][key]
    }
    pub fn response(&self, key: &str) -> &Value {
        &self.value["config"]["response"][key]
    }
}

/// Imports every source; customAuth actions become the oauth2 part of connections.
pub fn import(sources: &[Source], options: &Options) -> Report {
    let mut report = Report::default();
    let mut actions = Vec::new();
    for source in sources {
        match parse_action(source) {
            Ok(action) => actions.push(action),
            Err(why) => report.refused.push(format!("{}: {why}", source.name)),
        }
    }
    let (custom_auth, actions): (Vec<_>, Vec<_>) = actions.into_iter().partition(|a| a.custom_auth);
    let mut connections: IndexMap<String, auth::Connection> = IndexMap::new();
    let mut slugs: IndexMap<String, usize> = IndexMap::new();
    for action in &actions {
        let mut bridge = action::Translation::new(action, options);
        let need = bridge.plan_auth();
        // An export does not say which integration an action belongs to; the custom auth
        // action exported beside it (same directory) is the best evidence there is.
        let beside: Vec<&Action> = custom_auth
            .iter()
            .filter(|ca| directory(&ca.source) == directory(&action.source))
            .collect();
        let conn = need
            .as_ref()
            .map(|(target, need)| auth::connection_for(&mut connections, target, need, &beside));
        bridge.set_connection(conn.map(|c| (c.name.clone(), c.prefix.clone())));
        let slug = unique(&mut slugs, action::slug(&action.name));
        let (text, env, todos) = bridge.render(&slug);
        report.todos.extend(todos);
        report.written.push(Written {
            file: format!("{slug}.yaml"),
            text,
            env,
        });
    }
    for ca in &custom_auth {
        let used = connections
            .values()
            .any(|c| c.custom_auth.as_deref() == Some(ca.source.as_str()));
        if !used {
            auth::orphan_custom_auth(&mut connections, ca);
        }
    }
    for conn in connections.values() {
        let (text, env, todos) = conn.render();
        report.todos.extend(todos);
        report.written.push(Written {
            file: format!("{}.yaml", conn.name),
            text,
            env,
        });
    }
    report
}

fn directory(source: &str) -> &str {
    source.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn unique(seen: &mut IndexMap<String, usize>, slug: String) -> String {
    let n = seen.entry(slug.clone()).or_insert(0);
    *n += 1;
    if *n == 1 { slug } else { format!("{slug}-{n}") }
}

fn parse_action(source: &Source) -> Result<Action, String> {
    let value: Value = serde_json::from_str(&source.text)
        .map_err(|e| format!("not a data action: not JSON ({e})"))?;
    if !value["config"]["request"].is_object() {
        return Err("not a data action: no config.request".to_owned());
    }
    let url = value["config"]["request"]["requestUrlTemplate"]
        .as_str()
        .unwrap_or_default();
    let integration = match value["integrationType"].as_str() {
        Some("custom-rest-actions") => Integration::WebServices,
        Some("purecloud-data-actions") => Integration::GenesysCloud,
        Some(other) => {
            return Err(format!(
                "not a data action this can import: integration type `{other}` (only custom-rest-actions and purecloud-data-actions call an HTTP API a bridge can call)"
            ));
        }
        // The Platform API body has no integrationType: a relative URL is the Platform API.
        None if url.starts_with('/') => Integration::GenesysCloud,
        None => Integration::WebServices,
    };
    Ok(Action {
        source: source.name.clone(),
        name: value["name"].as_str().unwrap_or("action").to_owned(),
        integration,
        custom_auth: value["actionType"].as_str() == Some("customAuth"),
        value,
        text: source.text.clone(),
    })
}

/// Collects the TODOs of one file: the comment to write at the spot, and the line for stderr.
#[derive(Debug, Default)]
pub struct Todos {
    pub source: String,
    pub lines: Vec<String>,
}

impl Todos {
    pub fn new(source: &str) -> Self {
        Todos {
            source: source.to_owned(),
            lines: Vec::new(),
        }
    }

    /// Records a TODO at `path`; returns the comment to write above it.
    pub fn at(&mut self, path: &str, message: impl AsRef<str>) -> String {
        let message = message.as_ref();
        self.lines
            .push(format!("{}: {path}: {message}", self.source));
        format!("TODO(import): {message}")
    }
}
