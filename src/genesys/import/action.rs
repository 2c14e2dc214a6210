//! One action as one bridge file.

use serde_json::{Map, Value};

use super::auth::{self, AuthNeed, Target};
use super::request::{self, Ctx, sources};
use super::velocity::{self, Piece};
use super::yaml::{self, Entry, Node};
use super::{Action, Integration, Options, Todos, output};

pub struct Translation<'a> {
    action: &'a Action,
    options: &'a Options,
    ctx: Ctx,
    url: Vec<Piece>,
    target: Option<Target>,
    target_problem: Option<String>,
    need: Option<AuthNeed>,
    connection: Option<String>,
}

impl<'a> Translation<'a> {
    pub fn new(action: &'a Action, options: &'a Options) -> Self {
        let inputs = action.value["contract"]["input"]["inputSchema"]["properties"]
            .as_object()
            .map(|p| {
                yaml::in_source_order(p, &action.text)
                    .into_iter()
                    .map(|(k, v)| (k.clone(), input_type(v).unwrap_or("string").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let url = velocity::parse(
            action
                .request("requestUrlTemplate")
                .as_str()
                .unwrap_or_default(),
        );
        Translation {
            action,
            options,
            ctx: Ctx {
                inputs,
                prefix: String::new(),
                env: Vec::new(),
                todos: Todos::new(&action.source),
            },
            url,
            target: None,
            target_problem: None,
            need: None,
            connection: None,
        }
    }

    fn headers(&self) -> Vec<(String, String)> {
        self.action
            .request("headers")
            .as_object()
            .map(|h| yaml::in_source_order(h, &self.action.text))
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    /// Where the requests go and which credential they carry (none: `None`).
    pub fn plan_auth(&mut self) -> Option<(Target, AuthNeed)> {
        match request::split_target(self.action.integration, &self.url) {
            Ok((target, _)) => self.target = Some(target),
            Err(why) => self.target_problem = Some(why),
        }
        let target = self.target.clone()?;
        self.ctx.prefix = env_prefix(&target);
        self.need = if self.action.integration == Integration::GenesysCloud {
            Some(AuthNeed::Genesys)
        } else {
            self.find_need()
        };
        Some((target, self.need.clone()?))
    }

    fn find_need(&self) -> Option<AuthNeed> {
        for (name, value) in self.headers() {
            if name.eq_ignore_ascii_case("authorization") {
                return auth::authorization_need(&velocity::parse(&value));
            }
        }
        for (name, value) in self.headers() {
            if let [p] = velocity::parse(&value).as_slice()
                && let Some(field) = p.is_var("credentials")
            {
                return Some(AuthNeed::ApiKeyHeader {
                    header: name,
                    field: field.to_owned(),
                });
            }
        }
        let (_, rest) = request::split_target(self.action.integration, &self.url).ok()?;
        let (_, query) = request::split_query(&rest).ok()?;
        query.iter().find_map(|(k, v)| match v.as_slice() {
            [p] => p.is_var("credentials").map(|f| AuthNeed::ApiKeyQuery {
                param: k.clone(),
                field: f.to_owned(),
            }),
            _ => None,
        })
    }

    /// The connection chosen for this action's credential, and its variable prefix.
    pub fn set_connection(&mut self, conn: Option<(String, String)>) {
        if let Some((name, prefix)) = conn {
            self.connection = Some(name);
            self.ctx.prefix = prefix;
        }
    }

    /// The bridge file, the variables it needs, and its TODO lines.
    pub fn render(mut self, slug: &str) -> (String, Vec<String>, Vec<String>) {
        let mut entries = vec![Entry::new("name", Node::str(slug))];
        let name = self
            .action
            .name
            .split(" - Exported ")
            .next()
            .unwrap_or_default();
        let description = self.action.value["contract"]["input"]["inputSchema"]["description"]
            .as_str()
            .map(|d| format!("{name}: {d}"))
            .unwrap_or_else(|| name.to_owned());
        entries.push(Entry::new("description", Node::str(description)));
        entries.push(Entry::new(
            "route",
            Node::Map(vec![
                Entry::new("method", Node::str("POST")),
                Entry::new(
                    "path",
                    Node::str(format!(
                        "{}/{slug}",
                        self.options.route_prefix.trim_end_matches('/')
                    )),
                ),
            ]),
        ));
        let input = self.input();
        if !input.is_empty() {
            entries.push(Entry::new("input", Node::Map(input)));
        }
        let upstream = self.upstream();
        entries.push(Entry::new("upstream", Node::Map(upstream)));
        let (outputs, loose) = output::outputs(self.action, &mut self.ctx.todos);
        if !outputs.is_empty() || !loose.is_empty() {
            entries.push(Entry::new("output", Node::Map(outputs)).with_comments(loose));
        }
        let mut text = format!(
            "# Imported by `bridgeway import genesys` from the data action \"{}\" ({}).\n",
            self.action.name, self.action.source
        );
        if self.action.value["secure"].as_bool() == Some(true) {
            text.push_str("# The action was marked secure: keep log_bodies off for this bridge.\n");
        }
        if !self.ctx.todos.lines.is_empty() {
            text.push_str(&yaml::render(&[auth::todo_marker(
                self.ctx.todos.lines.len(),
            )]));
        }
        text.push_str(&yaml::render(&entries));
        (text, self.ctx.env, self.ctx.todos.lines)
    }

    fn input(&mut self) -> Vec<Entry> {
        let schema = &self.action.value["contract"]["input"]["inputSchema"];
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        let props = schema["properties"].as_object();
        let props = props.map(|p| yaml::in_source_order(p, &self.action.text));
        for (name, prop) in props.into_iter().flatten() {
            let mut field = Vec::new();
            let mut comments = Vec::new();
            match input_type(prop) {
                Some(t) => field.push(Entry::new("type", Node::str(t))),
                None => {
                    comments.push(self.ctx.todos.at(
                        &format!("input.{name}"),
                        format!(
                            "input type {} has no translation (inputs are flat scalars)",
                            prop["type"]
                        ),
                    ));
                    field.push(Entry::new("type", Node::str("string")));
                }
            }
            if required.contains(&name.as_str()) {
                field.push(Entry::new("required", Node::Scalar(Value::Bool(true))));
            }
            for (from, to) in [
                ("minimum", "minimum"),
                ("maximum", "maximum"),
                ("minLength", "min_length"),
                ("maxLength", "max_length"),
                ("pattern", "pattern"),
                ("enum", "enum"),
                ("description", "description"),
            ] {
                if let Some(v) = prop.get(from) {
                    field.push(Entry::new(to, Node::Scalar(yaml::literal(v))));
                }
            }
            if prop.get("default").is_some() {
                comments.push(self.ctx.todos.at(
                    &format!("input.{name}"),
                    "the input contract gives a default, which a bridge input cannot have; Genesys did not apply it either, so check the flow",
                ));
            }
            out.push(Entry::new(name.clone(), Node::Map(field)).with_comments(comments));
        }
        out
    }

    fn upstream(&mut self) -> Vec<Entry> {
        let method = self
            .action
            .request("requestType")
            .as_str()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let mut out = Vec::new();
        if let Some(conn) = &self.connection {
            out.push(Entry::new("connection", Node::str(conn.clone())));
        }
        out.push(Entry::new("method", Node::str(method.clone())));
        out.extend(self.url_entries());
        let form = self.headers().iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type")
                && v.to_ascii_lowercase().contains("x-www-form-urlencoded")
        });
        let headers = self.header_entries(form);
        if !headers.is_empty() {
            out.push(Entry::new("headers", Node::Map(headers)));
        }
        if let Some(body) = self.body(&method, form) {
            out.push(body);
        }
        if let Some(t) = self.action.value["config"]["timeoutSeconds"].as_u64() {
            out.push(Entry::new("timeout", Node::str(format!("{t}s"))));
        }
        out
    }

    fn url_entries(&mut self) -> Vec<Entry> {
        let raw = self
            .action
            .request("requestUrlTemplate")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let fail = |ctx: &mut Ctx, why: &str| {
            let comment = ctx.todos.at("upstream.url", format!("{why}: {raw}"));
            vec![
                Entry::new("url", Node::str(raw.replace("${", "$${"))).with_comments(vec![comment]),
            ]
        };
        let (Some(target), Ok((_, rest))) = (
            self.target.clone(),
            request::split_target(self.action.integration, &self.url),
        ) else {
            let why = self.target_problem.clone().unwrap_or_default();
            return fail(&mut self.ctx, &why);
        };
        let (path, query) = match request::split_query(&rest) {
            Ok(split) => split,
            Err(why) => return fail(&mut self.ctx, &why),
        };
        let path = match self.ctx.template(&path) {
            Ok(p) => p,
            Err(why) => return fail(&mut self.ctx, &why),
        };
        let base = match (&self.connection, &target) {
            (Some(_), _) => String::new(),
            (None, Target::Origin(origin)) => {
                let var = format!("{}_BASE_URL", self.ctx.prefix);
                self.ctx.env.push(var.clone());
                format!("${{{var}:-{origin}}}")
            }
            (None, Target::CredBase(field)) => self.ctx.env_var(field),
            (None, Target::Genesys) => {
                unreachable!("Genesys Cloud actions always have a connection")
            }
        };
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        let mut out = vec![Entry::new("url", Node::str(format!("{base}{path}")))];
        let api_key_query = match &self.need {
            Some(AuthNeed::ApiKeyQuery { param, .. }) => Some(param.clone()),
            _ => None,
        };
        let mut params = Vec::new();
        for (key, value) in query {
            if api_key_query.as_deref() == Some(key.as_str()) {
                continue;
            }
            match self.ctx.template(&value) {
                Ok(v) => params.push(Entry::new(key, Node::str(v))),
                Err(why) => {
                    let c = self.ctx.todos.at(&format!("upstream.query.{key}"), why);
                    params.push(
                        Entry::new(key, Node::str(sources(&value).replace("${", "$${")))
                            .with_comments(vec![c]),
                    );
                }
            }
        }
        if !params.is_empty() {
            out.push(Entry::new("query", Node::Map(params)));
        }
        out
    }

    fn header_entries(&mut self, form: bool) -> Vec<Entry> {
        let mut out = Vec::new();
        for (name, value) in self.headers() {
            let lower = name.to_ascii_lowercase();
            let pieces = velocity::parse(&value);
            let skip = match lower.as_str() {
                // The gateway sets Content-Type for the body it sends, and frames it itself.
                "content-type" => {
                    let v = value.to_ascii_lowercase();
                    v.contains("application/json") || (form && v.contains("x-www-form-urlencoded"))
                }
                "transfer-encoding" => true,
                "authorization" => {
                    self.connection.is_some() && auth::authorization_need(&pieces).is_some()
                }
                _ => {
                    matches!(&self.need, Some(AuthNeed::ApiKeyHeader { header, .. }) if *header == name)
                        && self.connection.is_some()
                }
            };
            if skip {
                continue;
            }
            let at = format!("upstream.headers.{name}");
            if lower == "authorization" {
                out.push(self.other_authorization(name, &pieces, &at));
                continue;
            }
            match self.ctx.template(&pieces) {
                Ok(v) => out.push(Entry::new(name, Node::str(v))),
                Err(why) => {
                    let c = self.ctx.todos.at(&at, why);
                    out.push(
                        Entry::new(name, Node::str(value.replace("${", "$${")))
                            .with_comments(vec![c]),
                    );
                }
            }
        }
        out
    }

    /// An Authorization header of no kind a connection knows. Its value is a credential: a
    /// literal one moves to the environment, and none is repeated in a file or a message.
    fn other_authorization(&mut self, name: String, pieces: &[Piece], at: &str) -> Entry {
        let literal = pieces.iter().all(|p| matches!(p, Piece::Text(_)));
        if !literal && let Ok(value) = self.ctx.template(pieces) {
            return Entry::new(name, Node::str(value));
        }
        let var = format!("{}_AUTHORIZATION", self.ctx.prefix);
        let value = format!("${{{var}}}");
        self.ctx.env.push(var);
        let comment = if literal {
            "the export's literal value (a credential) moves to the environment".to_owned()
        } else {
            self.ctx.todos.at(
                at,
                "this Authorization header has no translation; set the variable to the value the action built (not repeated here: it may hold a secret)",
            )
        };
        Entry::new(name, Node::str(value)).with_comments(vec![comment])
    }

    fn body(&mut self, method: &str, form: bool) -> Option<Entry> {
        let template = self
            .action
            .request("requestTemplate")
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if template.is_empty() && self.action.request("requestTemplateUri").is_string() {
            let c = self.ctx.todos.at("upstream.body", "the export has no requestTemplate text (a requestTemplateUri must be fetched first)");
            return Some(Entry::new("body", Node::Scalar(Value::Null)).with_comments(vec![c]));
        }
        // Genesys sends no body on GET (genesys.md §3.1); `${input.rawRequest}` is the default there.
        if template.is_empty()
            || (method == "GET" || method == "DELETE") && template == "${input.rawRequest}"
        {
            return None;
        }
        if method == "GET" {
            return None;
        }
        if template == "${input.rawRequest}" {
            let every: Map<String, Value> = self
                .ctx
                .inputs
                .keys()
                .map(|k| (k.clone(), Value::String(format!("{{{{input.{k}}}}}"))))
                .collect();
            let order = self
                .ctx
                .inputs
                .keys()
                .map(|k| format!("\"{k}\""))
                .collect::<String>();
            let entry = Entry::new("body", Node::from_json(&Value::Object(every), &order))
                .with_comments(vec![
                    "${input.rawRequest}: every input, as supplied".to_owned(),
                ]);
            return Some(entry);
        }
        let pieces = velocity::parse(&template);
        if form {
            return Some(match request::form_body(&mut self.ctx, &pieces) {
                Ok(fields) => Entry::new(
                    "form",
                    Node::Map(
                        fields
                            .into_iter()
                            .map(|(k, v)| Entry::new(k, Node::str(v)))
                            .collect(),
                    ),
                ),
                Err(why) => self.body_todo(why, &template),
            });
        }
        match request::json_body(&mut self.ctx, &pieces) {
            Ok((body, problems)) => {
                let comments = problems
                    .into_iter()
                    .map(|(at, why)| {
                        self.ctx
                            .todos
                            .at(&format!("upstream.body{}", at.replace('/', ".")), why)
                    })
                    .collect();
                let order = request::mark(&pieces);
                Some(Entry::new("body", Node::from_json(&body, &order)).with_comments(comments))
            }
            Err(why) => Some(self.body_todo(why, &template)),
        }
    }

    fn body_todo(&mut self, why: String, template: &str) -> Entry {
        let mut comments = vec![self.ctx.todos.at("upstream.body", why)];
        comments.extend(template.lines().map(|l| format!("  {l}")));
        Entry::new("body", Node::Scalar(Value::Null)).with_comments(comments)
    }
}

fn env_prefix(target: &Target) -> String {
    let name = match target {
        Target::Genesys => "genesys-cloud".to_owned(),
        other => other.slug(),
    };
    name.to_ascii_uppercase().replace('-', "_")
}

/// The bridge type of an input-schema property, `None` when it is not a scalar.
fn input_type(prop: &Value) -> Option<&str> {
    let t = match &prop["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(ts) => {
            let non_null: Vec<&str> = ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match non_null.as_slice() {
                [one] => *one,
                _ => return None,
            }
        }
        Value::Null => "string",
        _ => return None,
    };
    ["string", "integer", "number", "boolean"]
        .contains(&t)
        .then_some(t)
}
