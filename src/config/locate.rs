//! Where a key is written: a key path becomes `file:line:column`, toml's own errors are
//! given the key they concern, and values echoed back from secret keys are redacted.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use super::ConfigError;

/// One step of a key path: a table key or an index into an array of tables.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Turns error positions into `file:line:column` messages.
pub(crate) struct Locator<'a> {
    file: String,
    src: &'a str,
    doc: Option<toml_edit::ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(file: &Path, src: &'a str) -> Self {
        Locator {
            file: file.display().to_string(),
            src,
            doc: toml_edit::ImDocument::parse(src).ok(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The span of the value (or, failing that, of the deepest table) at `path`.
    fn span(&self, path: &[Seg]) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut item: &toml_edit::Item = doc.as_item();
        let mut best = None;
        for (n, seg) in path.iter().enumerate() {
            match *seg {
                Seg::Key(k) => {
                    let table = item.as_table_like()?;
                    let (key, next) = table.get_key_value(k)?;
                    best = next.span().or_else(|| key.span()).or(best);
                    item = next;
                }
                Seg::Index(i) => {
                    let arr = item.as_array_of_tables()?;
                    let t = arr.get(i)?;
                    best = t.span().or(best);
                    // An array element is a bare Table, not an Item: walk on from the table.
                    return Self::span_in_table(t, &path[n + 1..], best);
                }
            }
        }
        best
    }

    fn span_in_table(
        table: &toml_edit::Table,
        rest: &[Seg],
        mut best: Option<Range<usize>>,
    ) -> Option<Range<usize>> {
        let mut current: &dyn toml_edit::TableLike = table;
        for seg in rest {
            let Seg::Key(k) = *seg else { break };
            let Some((key, next)) = current.get_key_value(k) else {
                break;
            };
            best = next.span().or_else(|| key.span()).or(best);
            match next.as_table_like() {
                Some(t) => current = t,
                None => break,
            }
        }
        best
    }

    /// An error about the value at `path` (or the nearest table that is written).
    pub(crate) fn error(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let (line, column) = self
            .span(path)
            .map(|s| self.line_col(s.start))
            .unwrap_or((1, 1));
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key_name(path),
            line,
            column,
            message: message.into(),
        }
    }

    /// A TOML syntax or shape error from the deserializer, which knows the span but not the key.
    pub(crate) fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let src = self.src;
        let start = err.span().map_or(0, |s| s.start).min(src.len());
        let (line, column) = self.line_col(start);
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let line_text = &src[line_start..line_end];
        let key = key_at(src, line_text, line_end);
        let message = err.message().trim();
        // An inline table puts a secret on a line whose first key is another one.
        let message = if is_secret_key(&key) || SECRET_KEYS.iter().any(|k| line_text.contains(k)) {
            redact_quoted(message)
        } else {
            message.to_string()
        };
        ConfigError::Invalid {
            file: self.file.clone(),
            key,
            line,
            column,
            message,
        }
    }
}

/// The key an error on `line_text` (which ends at `line_end`) concerns: the table the line
/// belongs to, and the key written on it (`key = value`), if any.
fn key_at(src: &str, line_text: &str, line_end: usize) -> String {
    let key_here = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && is_bare_key(k) && !k.starts_with('['));
    // `[[name]]` headers are numbered like `name[0]`.
    let mut table: Option<String> = None;
    let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
    for l in src[..line_end].lines().map(str::trim) {
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = arrays.entry(name.clone()).or_insert(0);
            table = Some(format!("{name}[{n}]"));
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = Some(name.trim().to_string());
        }
    }
    match (table, key_here) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k.to_string(),
        (None, None) => "(document)".to_string(),
    }
}

/// Keys whose values are secrets, or may carry one (a chat webhook's URL holds its token).
fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    SECRET_KEYS.contains(&last)
}

const SECRET_KEYS: [&str; 6] = ["secret", "password", "username", "url", "urls", "token"];

/// The deserializer quotes the offending value (``invalid type: integer `12345`, expected a
/// string``): for a secret key, the quoted parts are dropped.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push_str("(value hidden)");
            }
            Some(_) => {}
            None if c == '`' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push_str("(value hidden)");
    }
    out
}

fn is_bare_key(k: &str) -> bool {
    k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn key_name(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_hidden() {
        assert_eq!(
            redact_quoted("invalid type: integer `12345`, expected a string"),
            "invalid type: integer (value hidden), expected a string"
        );
        assert_eq!(redact_quoted("cut \"off"), "cut (value hidden)");
    }

    #[test]
    fn key_paths_read_like_toml() {
        let path = [Seg::Key("rules"), Seg::Index(2), Seg::Key("min")];
        assert_eq!(key_name(&path), "rules[2].min");
        assert!(is_secret_key("receivers.ops.secret"));
        assert!(!is_secret_key("receivers.ops.kind"));
    }

    #[test]
    fn a_key_path_finds_its_line_and_column() {
        let src = "a = 1\n[[rules]]\nid = \"x\"\n[[rules]]\nid = \"y\"\nmin = 2\n";
        let loc = Locator::new(Path::new("f.toml"), src);
        let e = loc.error(&[Seg::Key("rules"), Seg::Index(1), Seg::Key("min")], "bad");
        assert_eq!(e.to_string(), "f.toml:6:7: rules[1].min: bad");
        let e = loc.error(&[Seg::Key("nowhere")], "bad");
        assert_eq!(e.to_string(), "f.toml:1:1: nowhere: bad");
    }
}
