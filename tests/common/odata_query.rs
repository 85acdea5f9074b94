//! The OData v3 query options the fake CBS servers read (the tables in [`super::cbs_server`],
//! the catalogue in [`super::cbs_catalogue`]): the `$filter` subset CBS clients send,
//! parsed into terms and matched against a row, and `$select` projected.

use serde_json::{Map, Value};

/// The row with only the `$select`ed columns, or whole without a `$select`.
pub fn project(row: &Map<String, Value>, select: Option<&[String]>) -> Value {
    match select {
        None => Value::Object(row.clone()),
        Some(cols) => Value::Object(
            cols.iter()
                .filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone())))
                .collect(),
        ),
    }
}

/// One comparison of the OData `$filter` subset CBS clients send.
pub enum Term {
    Eq(String, String),
    StartsWith(String, String),
    Contains(String, String),
}

/// Parses the subset of OData `$filter` that CBS clients send: clauses joined by `and`, each a
/// parenthesised `or` of `Field eq 'v'`, `startswith(Field,'v')` or `substringof('v',Field)`.
pub fn parse_filter(filter: &str) -> Vec<Vec<Term>> {
    if filter.trim().is_empty() {
        return Vec::new();
    }
    let unquote = |s: &str| s.trim().trim_matches('\'').replace("''", "'");
    split_top(filter, " and ")
        .iter()
        .map(|clause| {
            split_top(strip_parens(clause.trim()), " or ")
                .iter()
                .map(|t| {
                    let t = strip_parens(t.trim());
                    if let Some(args) = t
                        .strip_prefix("startswith(")
                        .and_then(|s| s.strip_suffix(')'))
                    {
                        let (f, v) = args.split_once(',').unwrap_or(("", ""));
                        Term::StartsWith(f.trim().to_string(), unquote(v))
                    } else if let Some(args) = t
                        .strip_prefix("substringof(")
                        .and_then(|s| s.strip_suffix(')'))
                    {
                        let (v, f) = args.split_once(',').unwrap_or(("", ""));
                        Term::Contains(f.trim().to_string(), unquote(v))
                    } else if let Some((f, v)) = t.split_once(" eq ") {
                        Term::Eq(f.trim().to_string(), unquote(v))
                    } else {
                        panic!("fake CBS server: unsupported filter term {t:?}")
                    }
                })
                .collect()
        })
        .collect()
}

pub fn matches_filter(row: &Map<String, Value>, filter: &[Vec<Term>]) -> bool {
    let field = |name: &str| row.get(name).and_then(Value::as_str).unwrap_or("");
    filter.iter().all(|clause| {
        clause.iter().any(|term| match term {
            Term::Eq(f, v) => field(f) == v,
            Term::StartsWith(f, v) => field(f).starts_with(v.as_str()),
            Term::Contains(f, v) => field(f).contains(v.as_str()),
        })
    })
}

fn strip_parens(s: &str) -> &str {
    let s = s.trim();
    if s.starts_with('(') && s.ends_with(')') && balanced(&s[1..s.len() - 1]) {
        strip_parens(&s[1..s.len() - 1])
    } else {
        s
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Splits on `sep` outside parentheses and quotes.
fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if depth == 0 && !quoted && s[i..].starts_with(sep) => {
                out.push(&s[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}
