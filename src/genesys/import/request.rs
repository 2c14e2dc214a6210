//! The request side: URL, query, headers and body, from Velocity to bridge templates, with
//! escaping left to placement (`$esc.*` dropped).

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::auth::{Target, env_name};
use super::velocity::Piece;
use super::yaml::in_source_order;
use super::{Integration, Todos};

/// What a translation needs to know and what it collects.
pub struct Ctx {
    /// Input name → JSON Schema type name.
    pub inputs: IndexMap<String, String>,
    /// Credential fields become `${<prefix>_<FIELD>}`.
    pub prefix: String,
    pub env: Vec<String>,
    pub todos: Todos,
}

const ESCAPES: [&str; 7] = [
    "jsonString",
    "jsonEncode",
    "url",
    "uriEncode",
    "urlEncode",
    "urlFormEncode",
    "java",
];

/// `$esc.jsonString(x)` and friends are dropped: placement escapes.
pub fn unwrap_escape(piece: &Piece) -> &Piece {
    match piece {
        Piece::Call { target, args, .. }
            if target.len() == 2
                && target[0] == "esc"
                && ESCAPES.contains(&target[1].as_str())
                && args.len() == 1
                && args[0].len() == 1 =>
        {
            unwrap_escape(&args[0][0])
        }
        other => other,
    }
}

impl Ctx {
    pub fn env_var(&mut self, field: &str) -> String {
        let name = env_name(&self.prefix, field);
        let text = format!("${{{name}}}");
        if !self.env.contains(&name) {
            self.env.push(name);
        }
        text
    }

    /// A bridge template for `pieces`, or why there is none.
    pub fn template(&mut self, pieces: &[Piece]) -> Result<String, String> {
        let mut out = String::new();
        for piece in pieces {
            out.push_str(&self.piece(piece)?);
        }
        Ok(out)
    }

    fn piece(&mut self, piece: &Piece) -> Result<String, String> {
        match unwrap_escape(piece) {
            Piece::Text(t) if t.contains("{{") => Err(format!(
                "the literal text `{t}` would read as a bridge template"
            )),
            Piece::Text(t) => Ok(t.replace("${", "$${")),
            p if space_escaped_input(p).is_some() => {
                self.input(space_escaped_input(p).unwrap_or_default())
            }
            p => {
                if let Some(name) = p.is_var("input") {
                    return self.input(name);
                }
                if let Some(field) = p.is_var("credentials") {
                    return Ok(self.env_var(field));
                }
                Err(format!("`{}` has no translation", source(p)))
            }
        }
    }

    fn input(&self, name: &str) -> Result<String, String> {
        if name == "rawRequest" {
            return Err("`${input.rawRequest}` stands inside other text".to_owned());
        }
        if !self.inputs.contains_key(name) {
            return Err(format!("input `{name}` is not in the input contract"));
        }
        Ok(format!("{{{{input.{name}}}}}"))
    }
}

/// `${input.key.replace(' ','%20')}`: escaping spaces by hand, which placement does now.
fn space_escaped_input(piece: &Piece) -> Option<&str> {
    let Piece::Call { target, args, .. } = piece else {
        return None;
    };
    let text = |a: &[Piece]| match a {
        [Piece::Text(t)] => Some(t.clone()),
        _ => None,
    };
    let escapes_spaces = args.len() == 2
        && text(&args[0]).as_deref() == Some(" ")
        && matches!(text(&args[1]).as_deref(), Some("%20" | "+"));
    match target.as_slice() {
        [input, name, replace] if input == "input" && replace == "replace" && escapes_spaces => {
            Some(name)
        }
        _ => None,
    }
}

/// The Velocity source of a piece, for messages.
pub fn source(piece: &Piece) -> String {
    match piece {
        Piece::Text(t) => t.clone(),
        Piece::Var(path) => format!("${{{}}}", path.join(".")),
        Piece::Call { raw, .. } => raw.clone(),
        Piece::Other(raw) => raw.clone(),
    }
}

pub fn sources(pieces: &[Piece]) -> String {
    pieces.iter().map(source).collect()
}

/// Where the URL goes, and the rest of it (path and query).
pub fn split_target(
    integration: Integration,
    pieces: &[Piece],
) -> Result<(Target, Vec<Piece>), String> {
    if integration == Integration::GenesysCloud {
        return Ok((Target::Genesys, pieces.to_vec()));
    }
    match pieces.first() {
        Some(Piece::Text(t)) if t.contains("://") => {
            let after = t.find("://").unwrap() + 3;
            let end = t[after..].find(['/', '?']).map(|i| i + after);
            let Some(end) = end.or((pieces.len() == 1).then_some(t.len())) else {
                return Err("the URL's host is not fixed text".to_owned());
            };
            let mut rest = vec![Piece::Text(t[end..].to_owned())];
            rest.extend_from_slice(&pieces[1..]);
            Ok((Target::Origin(t[..end].to_owned()), rest))
        }
        Some(p) if p.is_var("credentials").is_some() => Ok((
            Target::CredBase(p.is_var("credentials").unwrap().to_owned()),
            pieces[1..].to_vec(),
        )),
        _ => Err("the URL does not start with scheme://host".to_owned()),
    }
}

/// Path pieces and query parameters (each a key and its value's pieces).
pub type Query = Vec<(String, Vec<Piece>)>;

pub fn split_query(rest: &[Piece]) -> Result<(Vec<Piece>, Query), String> {
    let mut path = Vec::new();
    let mut params: Vec<Vec<Piece>> = Vec::new();
    let mut in_query = false;
    for piece in rest {
        match piece {
            Piece::Text(t) if !in_query && t.contains('?') => {
                let (p, q) = t.split_once('?').unwrap();
                push_text(&mut path, p);
                in_query = true;
                params.push(Vec::new());
                split_amp(&mut params, q);
            }
            Piece::Text(t) if in_query => split_amp(&mut params, t),
            p if in_query => params.last_mut().unwrap().push(p.clone()),
            p => path.push(p.clone()),
        }
    }
    let mut query = Vec::new();
    for param in params.into_iter().filter(|p| !p.is_empty()) {
        let Some(Piece::Text(first)) = param.first() else {
            return Err("a query parameter's name is not fixed text".to_owned());
        };
        let (key, value) = first.split_once('=').unwrap_or((first, ""));
        let mut pieces = Vec::new();
        push_text(&mut pieces, &form_decode(value));
        for p in &param[1..] {
            match p {
                Piece::Text(t) => push_text(&mut pieces, &form_decode(t)),
                other => pieces.push(other.clone()),
            }
        }
        query.push((form_decode(key), pieces));
    }
    Ok((path, query))
}

fn push_text(out: &mut Vec<Piece>, text: &str) {
    if !text.is_empty() {
        out.push(Piece::Text(text.to_owned()));
    }
}

fn split_amp(params: &mut Vec<Vec<Piece>>, text: &str) {
    let mut parts = text.split('&');
    if let Some(first) = parts.next() {
        push_text(params.last_mut().unwrap(), first);
    }
    for part in parts {
        params.push(Vec::new());
        push_text(params.last_mut().unwrap(), part);
    }
}

/// The export writes query text encoded; the bridge's `query` values are encoded by placement.
fn form_decode(text: &str) -> String {
    let plus = text.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// Markers standing for a piece inside a JSON string (`Q`) or in place of a value (`U`).
const Q: char = '\u{E000}';
const U: char = '\u{E002}';
const END: char = '\u{E001}';

/// The JSON request template as a typed body, with `(pointer, message)` for each leaf that
/// needs a hand edit; `Err` when it is not JSON once its references are set aside.
pub fn json_body(
    ctx: &mut Ctx,
    pieces: &[Piece],
) -> Result<(Value, Vec<(String, String)>), String> {
    let marked = mark(pieces);
    let value: Value = serde_json::from_str(&marked).map_err(|e| {
        format!("the request template is not JSON once its references are set aside ({e})")
    })?;
    let mut problems = Vec::new();
    let mut walker = Walker {
        ctx,
        pieces,
        marked: &marked,
        problems: &mut problems,
    };
    let body = walker.walk(&value, "");
    Ok((body, problems))
}

/// The template as JSON text, each reference replaced by a marker naming its index.
pub fn mark(pieces: &[Piece]) -> String {
    let mut text = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Text(t) => {
                for c in t.chars() {
                    text.push(c);
                    if in_string {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') => escaped = true,
                            (false, '"') => in_string = false,
                            _ => {}
                        }
                    } else if c == '"' {
                        in_string = true;
                    }
                }
            }
            _ if in_string => text.push_str(&format!("{Q}{i}{END}")),
            _ => text.push_str(&format!("\"{U}{i}{END}\"")),
        }
    }
    text
}

/// Translates the leaves of a parsed template, in the template's own key order so that
/// problems are listed as they appear in the file.
struct Walker<'a> {
    ctx: &'a mut Ctx,
    pieces: &'a [Piece],
    marked: &'a str,
    problems: &'a mut Vec<(String, String)>,
}

impl Walker<'_> {
    fn walk(&mut self, value: &Value, at: &str) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in in_source_order(map, self.marked) {
                    let here = format!("{at}/{k}");
                    if k.contains([Q, U]) {
                        self.problems
                            .push((here.clone(), "a key is made from a reference".to_owned()));
                    }
                    out.insert(k.clone(), self.walk(v, &here));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.walk(v, &format!("{at}/{i}")))
                    .collect(),
            ),
            Value::String(s) => leaf(self.ctx, self.pieces, s, at, self.problems),
            other => other.clone(),
        }
    }
}

pub enum Seg<'a> {
    Text(&'a str),
    Quoted(usize),
    Bare(usize),
}

pub fn segments(s: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find([Q, U]) {
        if at > 0 {
            out.push(Seg::Text(&rest[..at]));
        }
        let bare = rest[at..].starts_with(U);
        let body = &rest[at + Q.len_utf8()..];
        let end = body.find(END).unwrap_or(body.len());
        let i = body[..end].parse().unwrap_or(0);
        out.push(if bare { Seg::Bare(i) } else { Seg::Quoted(i) });
        rest = &body[(end + END.len_utf8()).min(body.len())..];
    }
    if !rest.is_empty() {
        out.push(Seg::Text(rest));
    }
    out
}

fn leaf(
    ctx: &mut Ctx,
    pieces: &[Piece],
    s: &str,
    at: &str,
    problems: &mut Vec<(String, String)>,
) -> Value {
    let segs = segments(s);
    if let [Seg::Bare(i) | Seg::Quoted(i)] = segs.as_slice() {
        let bare = matches!(segs[0], Seg::Bare(_));
        let piece = unwrap_escape(&pieces[*i]);
        if let Some(name) = piece.is_var("input")
            && let Ok(t) = ctx.input(name)
        {
            let kind = ctx.inputs[name].as_str();
            if bare && kind == "string" {
                problems.push((at.to_owned(), format!("Genesys placed string input `{name}` here as raw JSON text; the bridge sends it as a JSON string")));
            } else if !bare && kind != "string" {
                problems.push((at.to_owned(), format!("Genesys sent {kind} input `{name}` here as a string; the bridge sends its {kind} value")));
            }
            return Value::String(t);
        }
        if bare {
            problems.push((
                at.to_owned(),
                format!("`{}` stands where a JSON value goes", source(piece)),
            ));
            return Value::String(source(piece).replace("${", "$${"));
        }
    }
    let mut out = String::new();
    for seg in segs {
        let part = match seg {
            Seg::Text(t) => ctx.template(&[Piece::Text(t.to_owned())]),
            Seg::Quoted(i) | Seg::Bare(i) => ctx.template(std::slice::from_ref(&pieces[i])),
        };
        match part {
            Ok(t) => out.push_str(&t),
            Err(why) => {
                problems.push((at.to_owned(), why));
                return Value::String(s.to_owned());
            }
        }
    }
    Value::String(out)
}

/// `key=value&…` as form fields.
pub fn form_body(ctx: &mut Ctx, pieces: &[Piece]) -> Result<Vec<(String, String)>, String> {
    let mut params = vec![Vec::new()];
    for piece in pieces {
        match piece {
            Piece::Text(t) => split_amp(&mut params, t.trim_matches(['\n', '\r'])),
            p => params.last_mut().unwrap().push(p.clone()),
        }
    }
    let mut out = Vec::new();
    for param in params.into_iter().filter(|p| !p.is_empty()) {
        let Some(Piece::Text(first)) = param.first() else {
            return Err("a form field's name is not fixed text".to_owned());
        };
        let (key, value) = first.split_once('=').ok_or("a form field without `=`")?;
        let mut value_pieces = Vec::new();
        push_text(&mut value_pieces, &form_decode(value));
        for p in &param[1..] {
            match p {
                Piece::Text(t) => push_text(&mut value_pieces, &form_decode(t)),
                other => value_pieces.push(other.clone()),
            }
        }
        out.push((form_decode(key.trim()), ctx.template(&value_pieces)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::velocity::parse;
    use super::*;
    use serde_json::json;

    fn ctx() -> Ctx {
        Ctx {
            inputs: [("id", "string"), ("n", "integer"), ("q", "string")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            prefix: "ACME".into(),
            env: Vec::new(),
            todos: Todos::new("t"),
        }
    }

    #[test]
    fn json_templates_become_typed_bodies() {
        let mut c = ctx();
        let t = parse(
            "{\"a\": \"$esc.jsonString(${input.id})\", \"n\": ${input.n}, \"s\": \"x ${input.q} y\", \"k\": \"${credentials.apiKey}\", \"f\": true}",
        );
        let (body, problems) = json_body(&mut c, &t).unwrap();
        assert_eq!(
            body,
            json!({"a": "{{input.id}}", "n": "{{input.n}}", "s": "x {{input.q}} y", "k": "${ACME_API_KEY}", "f": true})
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_quoted_number_is_reported() {
        let mut c = ctx();
        let (_, problems) = json_body(&mut c, &parse("{\"n\": \"${input.n}\"}")).unwrap();
        assert_eq!(problems[0].0, "/n");
    }

    #[test]
    fn query_strings_are_split_and_decoded() {
        let (path, query) = split_query(&parse(
            "/s/${input.id}?attributes=urn%3Aa&q=$esc.url(${input.q})&k=${credentials.key}",
        ))
        .unwrap();
        let mut c = ctx();
        assert_eq!(c.template(&path).unwrap(), "/s/{{input.id}}");
        assert_eq!(query[0].0, "attributes");
        assert_eq!(c.template(&query[0].1).unwrap(), "urn:a");
        assert_eq!(c.template(&query[1].1).unwrap(), "{{input.q}}");
        assert_eq!(query[2].1[0].is_var("credentials"), Some("key"));
    }

    #[test]
    fn hand_escaped_spaces_are_left_to_placement() {
        let mut c = ctx();
        assert_eq!(
            c.template(&parse("/rows/${input.id.replace(' ','%20')}"))
                .unwrap(),
            "/rows/{{input.id}}"
        );
        assert!(
            c.template(&parse("/rows/${input.id.replace('a','b')}"))
                .is_err()
        );
    }

    #[test]
    fn form_templates_become_fields() {
        let mut c = ctx();
        let form = form_body(
            &mut c,
            &parse("grant_type=password&username=$esc.uriEncode(${input.id})"),
        )
        .unwrap();
        assert_eq!(
            form,
            vec![
                ("grant_type".into(), "password".into()),
                ("username".into(), "{{input.id}}".into())
            ]
        );
    }
}
