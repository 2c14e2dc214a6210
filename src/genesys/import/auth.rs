//! Credentials: which one an action needs (read from its Authorization header, its other
//! headers and its query), and the connection file that holds it, one per distinct need.

use indexmap::IndexMap;

use super::names::slug;
use super::velocity::{self, Piece};
use super::yaml::{self, Entry, Node};
use super::{Action, Todos};

/// Where an action's requests go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The Genesys Cloud Platform API of the org (`purecloud-data-actions`).
    Genesys,
    /// `scheme://host[:port]`, fixed in the action.
    Origin(String),
    /// A base URL held in a credential field (`${credentials.baseUrl}/…`).
    CredBase(String),
}

impl Target {
    pub fn slug(&self) -> String {
        match self {
            Target::Genesys => "genesys-cloud".to_owned(),
            Target::Origin(origin) => host_slug(origin),
            Target::CredBase(field) => slug(&snake(field)),
        }
    }
}

/// Which credential an action needs; fields are credential field names, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthNeed {
    /// The integration's own OAuth client, against the Platform API.
    Genesys,
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        field: String,
    },
    /// A token written into the export itself; it moves to an environment variable.
    BearerLiteral,
    ApiKeyHeader {
        header: String,
        field: String,
    },
    ApiKeyQuery {
        param: String,
        field: String,
    },
    /// `${authResponse.…}`: a User Defined (OAuth) integration's token.
    OAuth,
}

/// A connection file to write.
#[derive(Debug)]
pub struct Connection {
    pub name: String,
    /// Environment variables of this connection start with this.
    pub prefix: String,
    need: AuthNeed,
    /// The custom auth action its oauth2 came from.
    pub custom_auth: Option<String>,
    entries: Vec<Entry>,
    env: Vec<String>,
    todos: Todos,
}

impl Connection {
    pub fn render(&self) -> (String, Vec<String>, Vec<String>) {
        let mut text = String::from(
            "# Written by `bridgeway import genesys`: the credentials the imported actions used.\n",
        );
        if !self.todos.lines.is_empty() {
            text.push_str(&yaml::render(&[todo_marker(self.todos.lines.len())]));
        }
        text.push_str(&yaml::render(&self.entries));
        (text, self.env.clone(), self.todos.lines.clone())
    }
}

/// The top-level key that keeps a file with TODOs from loading until they are done.
pub fn todo_marker(count: usize) -> Entry {
    Entry::new(
        "TODO(import)",
        Node::str(format!(
            "{count} place(s) below need a hand edit; delete this line when they are done"
        )),
    )
}

/// `zoom` for `https://api.zoom.us`, `graph-microsoft` for `https://graph.microsoft.com`.
fn host_slug(origin: &str) -> String {
    let host = origin.split("://").nth(1).unwrap_or(origin);
    let host = host.split(':').next().unwrap_or(host);
    let mut labels: Vec<&str> = host.split('.').collect();
    if labels.len() > 1 && !labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())) {
        labels.pop();
    }
    if labels.len() > 1 && ["api", "www"].contains(&labels[0]) {
        labels.remove(0);
    }
    slug(&labels.join("-"))
}

/// `clientId` → `CLIENT_ID`, `API_Key` → `API_KEY`.
fn snake(field: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in field.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    out
}

/// The environment variable for credential field `field` of the connection with `prefix`.
pub fn env_name(prefix: &str, field: &str) -> String {
    format!("{prefix}_{}", snake(field))
}

fn env_ref(env: &mut Vec<String>, name: String) -> String {
    let text = format!("${{{name}}}");
    if !env.contains(&name) {
        env.push(name);
    }
    text
}

/// The connection for `need` towards `target`, made on first use.
pub fn connection_for<'a>(
    connections: &'a mut IndexMap<String, Connection>,
    target: &Target,
    need: &AuthNeed,
    custom_auth: &[&Action],
) -> &'a Connection {
    let base = target.slug();
    let mut name = base.clone();
    let mut n = 1;
    while let Some(existing) = connections.get(&name) {
        if &existing.need == need {
            return &connections[&name];
        }
        n += 1;
        name = format!("{base}-{n}");
    }
    let conn = build(name.clone(), target, need, custom_auth);
    connections.insert(name.clone(), conn);
    &connections[&name]
}

fn build(name: String, target: &Target, need: &AuthNeed, custom_auth: &[&Action]) -> Connection {
    let prefix = name.to_ascii_uppercase().replace('-', "_");
    let mut env = Vec::new();
    let mut todos = Todos::new(&format!("{name}.yaml"));
    let base_url = match target {
        Target::Genesys => env_ref(&mut env, "GENESYS_CLOUD_API_BASE_URL".into()),
        Target::Origin(origin) => {
            let var = format!("{prefix}_BASE_URL");
            env.push(var.clone());
            format!("${{{var}:-{origin}}}")
        }
        Target::CredBase(field) => env_ref(&mut env, env_name(&prefix, field)),
    };
    let mut base = Entry::new("base_url", Node::str(base_url));
    if *target == Target::Genesys {
        base.comments.push(
            "https://api.<region domain>, e.g. https://api.mypurecloud.ie (genesys.md §7.4)".into(),
        );
    }
    let auth = auth_entry(need, &prefix, &mut env, &mut todos, custom_auth);
    let entries = vec![
        Entry::new("kind", Node::str("connection")),
        Entry::new("name", Node::str(name.clone())),
        base,
        auth,
    ];
    let custom_auth = match (need, custom_auth) {
        (AuthNeed::OAuth, [ca]) => Some(ca.source.clone()),
        _ => None,
    };
    Connection {
        name,
        prefix,
        need: need.clone(),
        custom_auth,
        entries,
        env,
        todos,
    }
}

fn auth_entry(
    need: &AuthNeed,
    prefix: &str,
    env: &mut Vec<String>,
    todos: &mut Todos,
    custom_auth: &[&Action],
) -> Entry {
    let mut var = |field: &str| Node::str(env_ref(env, env_name(prefix, field)));
    let kind = match need {
        AuthNeed::Basic { username, password } => Entry::new(
            "basic",
            Node::Map(vec![
                Entry::new("username", var(username)),
                Entry::new("password", var(password)),
            ]),
        ),
        AuthNeed::Bearer { field } => Entry::new("bearer", var(field)),
        AuthNeed::BearerLiteral => Entry::new("bearer", var("token")).with_comments(vec![
            "the export carried this token in its Authorization header; set it in the environment instead".into(),
        ]),
        AuthNeed::ApiKeyHeader { header, field } => Entry::new(
            "api_key",
            Node::Map(vec![
                Entry::new("header", Node::str(header.clone())),
                Entry::new("value", var(field)),
            ]),
        ),
        AuthNeed::ApiKeyQuery { param, field } => Entry::new(
            "api_key",
            Node::Map(vec![
                Entry::new("query", Node::str(param.clone())),
                Entry::new("value", var(field)),
            ]),
        ),
        AuthNeed::Genesys => Entry::new(
            "oauth2",
            Node::Map(vec![
                Entry::new(
                    "token_url",
                    Node::str(format!(
                        "{}/oauth/token",
                        env_ref(env, "GENESYS_CLOUD_LOGIN_BASE_URL".into())
                    )),
                )
                .with_comments(vec!["https://login.<region domain>: an OAuth client (client credentials) with the roles the actions need".into()]),
                Entry::new("client_id", Node::str(env_ref(env, "GENESYS_CLOUD_CLIENT_ID".into()))),
                Entry::new(
                    "client_secret",
                    Node::str(env_ref(env, "GENESYS_CLOUD_CLIENT_SECRET".into())),
                ),
            ]),
        ),
        AuthNeed::OAuth => oauth2(prefix, env, todos, custom_auth),
    };
    Entry::new("auth", Node::Map(vec![kind]))
}

/// The oauth2 block of a User Defined (OAuth) integration, from its custom auth action when
/// exactly one was imported.
fn oauth2(
    prefix: &str,
    env: &mut Vec<String>,
    todos: &mut Todos,
    custom_auth: &[&Action],
) -> Entry {
    let [ca] = custom_auth else {
        let why = if custom_auth.is_empty() {
            "the token endpoint: no custom auth action (*.customAuth.json) was exported beside this action (same directory); fill in its URL and client credentials"
        } else {
            "the token endpoint: several custom auth actions were exported beside this action, and the export does not say which integration it belongs to"
        };
        let token_url = env_ref(env, format!("{prefix}_TOKEN_URL"));
        let fields = vec![
            Entry::new("token_url", Node::str(token_url))
                .with_comments(vec![todos.at("auth.oauth2.token_url", why)]),
            Entry::new(
                "client_id",
                Node::str(env_ref(env, format!("{prefix}_CLIENT_ID"))),
            ),
            Entry::new(
                "client_secret",
                Node::str(env_ref(env, format!("{prefix}_CLIENT_SECRET"))),
            ),
        ];
        return Entry::new("oauth2", Node::Map(fields));
    };
    Entry::new(
        "oauth2",
        Node::Map(from_custom_auth(ca, prefix, env, todos)),
    )
    .with_comments(vec![format!(
        "from the custom auth action \"{}\" ({})",
        ca.name, ca.source
    )])
}

fn from_custom_auth(
    ca: &Action,
    prefix: &str,
    env: &mut Vec<String>,
    todos: &mut Todos,
) -> Vec<Entry> {
    let url = ca
        .request("requestUrlTemplate")
        .as_str()
        .unwrap_or_default();
    let mut token_url = Entry::new("token_url", Node::str(""));
    match credentials_only(&velocity::parse(url), prefix, env) {
        Some(text) => token_url.value = Node::str(text),
        None => token_url.comments.push(todos.at(
            "auth.oauth2.token_url",
            "the custom auth action's URL uses more than credentials and text; write the token URL",
        )),
    }
    let mut entries = vec![token_url];
    let mut basic = None;
    for (name, value) in ca.request("headers").as_object().into_iter().flatten() {
        let lower = name.to_ascii_lowercase();
        if lower == "content-type" || lower == "accept" {
            continue;
        }
        if lower == "authorization" {
            let pieces = velocity::parse(value.as_str().unwrap_or_default());
            if let Some(AuthNeed::Basic { username, password }) = basic_need(&pieces) {
                basic = Some((username, password));
                continue;
            }
        }
        let message = format!(
            "the custom auth action also sent header `{name}`; an oauth2 connection sends a standard client-credentials request (set grant_type/params if the endpoint needs more)"
        );
        entries[0].comments.push(todos.at("auth.oauth2", message));
    }
    let (id, secret) = match basic {
        Some((u, p)) => (
            env_ref(env, env_name(prefix, &u)),
            env_ref(env, env_name(prefix, &p)),
        ),
        None => {
            entries[0].comments.push(todos.at(
                "auth.oauth2.client_id",
                "the custom auth action sent no Basic client credentials; set client_id/client_secret (and client_auth: body if it sent them in the body)",
            ));
            (
                env_ref(env, format!("{prefix}_CLIENT_ID")),
                env_ref(env, format!("{prefix}_CLIENT_SECRET")),
            )
        }
    };
    entries.push(Entry::new("client_id", Node::str(id)));
    entries.push(Entry::new("client_secret", Node::str(secret)));
    let body = ca
        .request("requestTemplate")
        .as_str()
        .unwrap_or_default()
        .trim();
    let no_inputs = ca.value["contract"]["input"]["inputSchema"]["properties"]
        .as_object()
        .is_none_or(|p| p.is_empty());
    if !(body.is_empty() || body == "${input.rawRequest}" && no_inputs) {
        entries[0].comments.push(todos.at(
            "auth.oauth2",
            "the custom auth action sent its own request body; check that the token request needs nothing more (scope, params)",
        ));
    }
    if ca
        .request("requestType")
        .as_str()
        .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
    {
        entries[0].comments.push(todos.at(
            "auth.oauth2",
            "the custom auth action did not POST; an oauth2 token request is a POST",
        ));
    }
    entries
}

/// Text and `${credentials.X}` only (as environment references), else `None`.
fn credentials_only(pieces: &[Piece], prefix: &str, env: &mut Vec<String>) -> Option<String> {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(&t.replace("${", "$${")),
            p => out.push_str(&env_ref(env, env_name(prefix, p.is_var("credentials")?))),
        }
    }
    Some(out)
}

/// `Basic $encoding.base64("${credentials.A}:${credentials.B}")`.
pub fn basic_need(pieces: &[Piece]) -> Option<AuthNeed> {
    let [Piece::Text(scheme), Piece::Call { target, args, .. }] = pieces else {
        return None;
    };
    if !scheme.trim().eq_ignore_ascii_case("basic") || target != &["encoding", "base64"] {
        return None;
    }
    let [arg] = args.as_slice() else { return None };
    match arg.as_slice() {
        [user, Piece::Text(colon), pass] if colon == ":" => Some(AuthNeed::Basic {
            username: user.is_var("credentials")?.to_owned(),
            password: pass.is_var("credentials")?.to_owned(),
        }),
        _ => None,
    }
}

/// What an Authorization header value asks for, when its meaning is clear.
pub fn authorization_need(pieces: &[Piece]) -> Option<AuthNeed> {
    if let Some(need) = basic_need(pieces) {
        return Some(need);
    }
    let token = |p: &Piece| p.is_var("authResponse") == Some("access_token");
    match pieces {
        [Piece::Text(scheme), p]
            if scheme.trim().eq_ignore_ascii_case("bearer") && scheme.ends_with(' ') =>
        {
            if token(p) {
                Some(AuthNeed::OAuth)
            } else {
                p.is_var("credentials").map(|f| AuthNeed::Bearer {
                    field: f.to_owned(),
                })
            }
        }
        [t, Piece::Text(space), p]
            if space == " " && t.is_var("authResponse") == Some("token_type") && token(p) =>
        {
            Some(AuthNeed::OAuth)
        }
        [Piece::Text(all)] if all.len() > 7 && all[..7].eq_ignore_ascii_case("bearer ") => {
            Some(AuthNeed::BearerLiteral)
        }
        _ => None,
    }
}

/// A custom auth action imported without any action of its integration: a connection with
/// its token endpoint, and a base URL to fill in.
pub fn orphan_custom_auth(connections: &mut IndexMap<String, Connection>, ca: &Action) {
    let name = slug(&ca.name);
    if connections.contains_key(&name) {
        return;
    }
    let mut conn = build(
        name.clone(),
        &Target::CredBase("baseUrl".into()),
        &AuthNeed::OAuth,
        &[ca],
    );
    let comment = conn.todos.at(
        "base_url",
        "the API these credentials are for: no action using them was imported",
    );
    if let Some(base) = conn.entries.iter_mut().find(|e| e.key == "base_url") {
        base.comments.push(comment);
    }
    connections.insert(name, conn);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables() {
        assert_eq!(host_slug("https://api.zoom.us"), "zoom");
        assert_eq!(host_slug("https://graph.microsoft.com"), "graph-microsoft");
        assert_eq!(host_slug("http://127.0.0.1:8080"), "127-0-0-1");
        assert_eq!(env_name("ZOOM", "clientId"), "ZOOM_CLIENT_ID");
        assert_eq!(env_name("OWM", "API_Key"), "OWM_API_KEY");
    }

    #[test]
    fn authorization_headers_people_write() {
        let need = |s: &str| authorization_need(&velocity::parse(s));
        assert_eq!(
            need("Basic $encoding.base64(\"${credentials.user}:${credentials.pass}\")"),
            Some(AuthNeed::Basic {
                username: "user".into(),
                password: "pass".into()
            })
        );
        assert_eq!(
            need("bearer ${authResponse.access_token}"),
            Some(AuthNeed::OAuth)
        );
        assert_eq!(
            need("${authResponse.token_type} ${authResponse.access_token}"),
            Some(AuthNeed::OAuth)
        );
        assert_eq!(
            need("Bearer ${credentials.token}"),
            Some(AuthNeed::Bearer {
                field: "token".into()
            })
        );
        assert_eq!(need("Bearer abc-123"), Some(AuthNeed::BearerLiteral));
        assert_eq!(need("Token ${input.x}"), None);
    }
}
