//! `bridgeway import genesys`: exported data actions (genesys.md §1, or the Platform API action
//! body) become bridge files, and the credentials they use become connection files (SPEC §7).
//!
//! Pure text to text: the caller reads the files and writes what comes back. What cannot be
//! translated with its meaning intact is written as a `# TODO(import):` comment at the spot,
//! listed in [`Report::todos`], and the bridge gets a top-level `TODO(import)` key so that it
//! refuses to load until someone has looked: never a silently different bridge.

mod action;
mod auth;
mod names;
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
        let slug = unique(&mut slugs, names::slug(&action.name));
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
        // Bridges and connections have their own name spaces, but share the directory.
        let mut file = format!("{}.yaml", conn.name);
        if report.written.iter().any(|w| w.file == file) {
            file = format!("{}.connection.yaml", conn.name);
        }
        report.written.push(Written { file, text, env });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An action around `request` (merged into config.request) with inputs `a` (string) and
    /// `n` (integer), `${rawResult}` answering `id`.
    fn action(name: &str, extra: Value) -> Source {
        let mut v = serde_json::json!({
            "name": name,
            "integrationType": "custom-rest-actions",
            "actionType": "custom",
            "config": {
                "request": {"requestUrlTemplate": "https://api.acme.example/x", "requestType": "POST", "headers": {}, "requestTemplate": "${input.rawRequest}"},
                "response": {"translationMap": {}, "translationMapDefaults": {}, "successTemplate": "${rawResult}"}
            },
            "contract": {
                "input": {"inputSchema": {"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "integer"}}}},
                "output": {"successSchema": {"type": "object", "properties": {"id": {"type": "string"}}}}
            },
            "secure": false
        });
        for (k, val) in extra.as_object().unwrap() {
            v["config"]["request"][k] = val.clone();
        }
        Source {
            name: format!("dir/{name}.json"),
            text: v.to_string(),
        }
    }

    fn run(sources: &[Source]) -> Report {
        import(sources, &Options::default())
    }

    fn all_text(r: &Report) -> String {
        r.written.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn literal_dollar_braces_stay_literal() {
        let mut src = action("lit", serde_json::json!({}));
        let mut v: Value = serde_json::from_str(&src.text).unwrap();
        v["contract"]["input"]["inputSchema"]["properties"]["a"]["enum"] =
            serde_json::json!(["${x}"]);
        v["config"]["response"]["translationMap"] = serde_json::json!({"id": "$.id"});
        v["config"]["response"]["translationMapDefaults"] =
            serde_json::json!({"id": "\"${none}\""});
        v["config"]["response"]["successTemplate"] = serde_json::json!("{\"id\": ${id}}");
        src.text = v.to_string();
        let r = run(&[src]);
        let bridge: Value = serde_yaml::from_str(&r.written[0].text).unwrap();
        assert_eq!(bridge["input"]["a"]["enum"], serde_json::json!(["$${x}"]));
        assert_eq!(bridge["output"]["id"]["default"], "$${none}");
    }

    #[test]
    fn a_host_chosen_by_input_is_a_todo() {
        let r = run(&[action(
            "h",
            serde_json::json!({"requestUrlTemplate": "https://${input.a}.acme.example/x"}),
        )]);
        assert_eq!(r.exit_code(), 1);
        assert!(
            r.todos[0].contains("upstream.url: the URL's host is not fixed text"),
            "{:?}",
            r.todos
        );
    }

    #[test]
    fn velocity_directives_in_a_body_are_a_todo_and_no_body() {
        let r = run(&[action(
            "d",
            serde_json::json!({"requestTemplate": "{#if($input.a)\"a\": \"$input.a\"#end}"}),
        )]);
        assert!(
            r.todos[0].contains("upstream.body: the request template is not JSON"),
            "{:?}",
            r.todos
        );
        let text = all_text(&r);
        assert!(text.contains("body: null"), "{text}");
        assert!(
            text.contains("#   {#if($input.a)"),
            "the template is kept in the comment: {text}"
        );
    }

    #[test]
    fn a_literal_authorization_moves_to_the_environment_and_is_never_repeated() {
        let r = run(&[
            action(
                "lit",
                serde_json::json!({"headers": {"Authorization": "Basic YWRtaW46aHVudGVyMg=="}}),
            ),
            action(
                "tpl",
                serde_json::json!({"headers": {"Authorization": "Basic $encoding.base64(\"admin:${input.a}\")"}}),
            ),
        ]);
        let text = all_text(&r);
        assert!(!text.contains("YWRtaW46aHVudGVyMg"), "{text}");
        assert!(!text.contains("admin:"), "{text}");
        assert!(!r.todos.concat().contains("admin:"), "{:?}", r.todos);
        assert!(
            text.contains("Authorization: \"${ACME_AUTHORIZATION}\""),
            "{text}"
        );
        assert_eq!(
            r.todos.len(),
            1,
            "only the templated one needs a hand edit: {:?}",
            r.todos
        );
    }

    #[test]
    fn an_api_key_in_the_query_becomes_the_connection_and_leaves_the_query() {
        let r = run(&[action(
            "q",
            serde_json::json!({"requestUrlTemplate": "https://api.acme.example/w?q=${input.a}&APPID=${credentials.API_Key}", "requestType": "GET"}),
        )]);
        assert_eq!(r.exit_code(), 0, "{:?}", r.todos);
        let conn: Value = serde_yaml::from_str(&r.written[1].text).unwrap();
        assert_eq!(
            conn["auth"]["api_key"],
            serde_json::json!({"query": "APPID", "value": "${ACME_API_KEY}"})
        );
        let bridge: Value = serde_yaml::from_str(&r.written[0].text).unwrap();
        assert_eq!(
            bridge["upstream"]["query"],
            serde_json::json!({"q": "{{input.a}}"})
        );
        assert!(
            bridge["upstream"].get("body").is_none(),
            "GET sends no body"
        );
    }

    #[test]
    fn basic_credentials_become_a_basic_connection() {
        let r = run(&[action(
            "b",
            serde_json::json!({"headers": {"Authorization": "Basic $encoding.base64(\"${credentials.username}:${credentials.password}\")"}}),
        )]);
        assert_eq!(r.exit_code(), 0, "{:?}", r.todos);
        let conn: Value = serde_yaml::from_str(&r.written[1].text).unwrap();
        assert_eq!(
            conn["auth"]["basic"],
            serde_json::json!({"username": "${ACME_USERNAME}", "password": "${ACME_PASSWORD}"})
        );
        assert_eq!(
            r.written[1].env,
            ["ACME_BASE_URL", "ACME_USERNAME", "ACME_PASSWORD"]
        );
    }

    #[test]
    fn the_platform_api_body_imports_too() {
        let mut v: Value = serde_json::from_str(
            &action(
                "p",
                serde_json::json!({"requestUrlTemplate": "/api/v2/users/${input.a}"}),
            )
            .text,
        )
        .unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("integrationType");
        o.remove("actionType");
        o.insert(
            "integrationId".into(),
            "00000000-0000-0000-0000-000000000000".into(),
        );
        o.insert("category".into(), "Platform".into());
        let r = run(&[Source {
            name: "p.json".into(),
            text: v.to_string(),
        }]);
        assert_eq!(r.exit_code(), 0, "{:?}", r.todos);
        assert!(
            r.written[0].text.contains("connection: genesys-cloud"),
            "{}",
            r.written[0].text
        );
    }

    #[test]
    fn a_connection_file_never_overwrites_a_bridge_file() {
        let r = run(&[action(
            "acme",
            serde_json::json!({"headers": {"X-Key": "${credentials.key}"}}),
        )]);
        let files: Vec<&str> = r.written.iter().map(|w| w.file.as_str()).collect();
        assert_eq!(files, ["acme.yaml", "acme.connection.yaml"]);
    }

    #[test]
    fn a_number_quoted_in_the_template_is_a_todo() {
        let r = run(&[action(
            "n",
            serde_json::json!({"requestTemplate": "{\"n\": \"${input.n}\", \"a\": ${input.a}}"}),
        )]);
        assert_eq!(r.todos.len(), 2, "{:?}", r.todos);
        assert!(
            r.todos[0].contains("upstream.body.n: Genesys sent integer input `n` here as a string"),
            "{:?}",
            r.todos
        );
        assert!(
            r.todos[1]
                .contains("upstream.body.a: Genesys placed string input `a` here as raw JSON text"),
            "{:?}",
            r.todos
        );
    }
}
