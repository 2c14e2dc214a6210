//! The small part of Apache Velocity that data actions use, parsed into pieces so that each
//! piece can be translated on its own or, when its meaning is not clear, reported.

/// One piece of a Velocity template.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    /// `${a.b}`, `$!{a.b}` or `$a.b`: a reference, by its dotted path.
    Var(Vec<String>),
    /// `$a.b(args…)`: a tool call such as `$esc.jsonString(…)`; `raw` is the source text.
    Call {
        target: Vec<String>,
        args: Vec<Vec<Piece>>,
        raw: String,
    },
    /// Anything else Velocity would act on (`#if`, `${x.replace(…)}`), kept as source text.
    Other(String),
}

impl Piece {
    pub fn is_var(&self, first: &str) -> Option<&str> {
        match self {
            Piece::Var(path) if path.len() == 2 && path[0] == first => Some(&path[1]),
            _ => None,
        }
    }
}

const DIRECTIVES: [&str; 9] = [
    "if", "else", "elseif", "end", "set", "foreach", "macro", "{", "#",
];

/// Splits `text` into pieces. Never fails: what it does not understand becomes [`Piece::Other`].
pub fn parse(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text_run = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '$' => reference(rest),
            '#' if DIRECTIVES.iter().any(|d| rest[1..].starts_with(d))
                || rest[1..].starts_with('*') =>
            {
                Some((Piece::Other(rest.to_owned()), rest.len()))
            }
            _ => None,
        };
        match taken {
            Some((piece, len)) => {
                if !text_run.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text_run)));
                }
                out.push(piece);
                rest = &rest[len..];
            }
            None => {
                text_run.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !text_run.is_empty() {
        out.push(Piece::Text(text_run));
    }
    out
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A reference starting at `$`, and how many bytes it takes; `None` for a literal `$`.
fn reference(s: &str) -> Option<(Piece, usize)> {
    let mut at = 1;
    if s[at..].starts_with('!') {
        at += 1;
    }
    if !s[at..].starts_with('{') {
        return body(s, at);
    }
    // Formal notation: the same body between braces, `${a.b}` or `${a.b("x", 'y')}`.
    let parsed = body(s, at + 1).filter(|(_, end)| s[*end..].starts_with('}'));
    match parsed {
        Some((piece, end)) => Some((with_raw(piece, &s[..=end]), end + 1)),
        None => {
            let close = s[at..].find('}')? + at;
            Some((Piece::Other(s[..=close].to_owned()), close + 1))
        }
    }
}

fn with_raw(piece: Piece, raw: &str) -> Piece {
    match piece {
        Piece::Call { target, args, .. } => Piece::Call {
            target,
            args,
            raw: raw.to_owned(),
        },
        other => other,
    }
}

/// `a.b` or `a.b(args…)` starting at byte `at` of `s`; the piece and the byte after it.
fn body(s: &str, mut at: usize) -> Option<(Piece, usize)> {
    if !s[at..].starts_with(is_ident_start) {
        return None;
    }
    let start = at;
    while let Some(c) = s[at..].chars().next() {
        let next_is_ident = s[at + 1..].starts_with(is_ident_start);
        if is_ident(c) || (c == '.' && next_is_ident) {
            at += c.len_utf8();
        } else {
            break;
        }
    }
    let path = dotted(&s[start..at])?;
    if !s[at..].starts_with('(') {
        return Some((Piece::Var(path), at));
    }
    let close = matching_paren(s, at)?;
    let args = split_args(&s[at + 1..close])
        .into_iter()
        .map(|a| argument(a.trim()))
        .collect();
    Some((
        Piece::Call {
            target: path,
            args,
            raw: s[..=close].to_owned(),
        },
        close + 1,
    ))
}

fn dotted(s: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = s.split('.').map(str::to_owned).collect();
    let ok = parts
        .iter()
        .all(|p| p.starts_with(is_ident_start) && p.chars().all(is_ident));
    ok.then_some(parts)
}

/// The index of the `)` closing the `(` at `open`, skipping quoted strings.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in s[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s.trim().is_empty() {
        out.push(&s[start..]);
    }
    out
}

/// A call argument: a double-quoted string is a template, a single-quoted one is literal.
fn argument(a: &str) -> Vec<Piece> {
    if a.len() >= 2 && a.starts_with('"') && a.ends_with('"') {
        parse(&a[1..a.len() - 1])
    } else if a.len() >= 2 && a.starts_with('\'') && a.ends_with('\'') {
        vec![Piece::Text(a[1..a.len() - 1].to_owned())]
    } else {
        parse(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(a: &str, b: &str) -> Piece {
        Piece::Var(vec![a.into(), b.into()])
    }

    #[test]
    fn formal_silent_and_shorthand_references() {
        assert_eq!(
            parse("/u/${input.a}/$!{input.b}/$input.c.x"),
            vec![
                Piece::Text("/u/".into()),
                var("input", "a"),
                Piece::Text("/".into()),
                var("input", "b"),
                Piece::Text("/".into()),
                Piece::Var(vec!["input".into(), "c".into(), "x".into()]),
            ]
        );
    }

    #[test]
    fn tool_calls_keep_their_arguments_as_templates() {
        let pieces = parse("Basic $encoding.base64(\"${credentials.id}:${credentials.secret}\")");
        let Piece::Call { target, args, .. } = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert_eq!(target, &["encoding", "base64"]);
        assert_eq!(
            args[0],
            vec![
                var("credentials", "id"),
                Piece::Text(":".into()),
                var("credentials", "secret")
            ]
        );
    }

    #[test]
    fn formal_notation_calls() {
        let pieces =
            parse("${successTemplateUtils.firstFromArray(\"${ids}\", \"$esc.quote $esc.quote\")}");
        let [Piece::Call { target, args, .. }] = pieces.as_slice() else {
            panic!("{pieces:?}")
        };
        assert_eq!(target, &["successTemplateUtils", "firstFromArray"]);
        assert_eq!(args[0], vec![Piece::Var(vec!["ids".into()])]);
        assert_eq!(args[1].len(), 3);
    }

    #[test]
    fn method_calls_are_calls_and_directives_are_other() {
        assert!(matches!(
            &parse("${input.key.replace(' ','%20')}")[0],
            Piece::Call { .. }
        ));
        assert!(matches!(&parse("${input.a b}")[0], Piece::Other(_)));
        assert!(matches!(&parse("#if($input.a)x#end")[0], Piece::Other(_)));
        assert_eq!(parse("$5 #1"), vec![Piece::Text("$5 #1".into())]);
    }
}
