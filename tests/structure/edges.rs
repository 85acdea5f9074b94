//! Import edges: every path a file names, resolved to the file it lands in.

use super::*;

/// Every reference from one file of `src/` to another: code, test code and doc links alike
/// (see the crate docs).
pub(crate) fn import_edges(files: &[SrcFile]) -> Vec<Edge> {
    let by_module: BTreeMap<&ModPath, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rel != "main.rs")
        .map(|(i, f)| (&f.module, i))
        .collect();
    let mut edges = Vec::new();
    for (from, f) in files.iter().enumerate() {
        if f.rel == "main.rs" {
            continue;
        }
        let inline = inline_mods(&f.code);
        let paths = referenced_paths(&f.code)
            .into_iter()
            .chain(doc_links(&f.raw));
        for (path, byte) in paths {
            let depth = inline
                .iter()
                .filter(|(a, b)| *a < byte && byte < *b)
                .count();
            let Some(target) = resolve(f, depth, &path, &by_module) else {
                continue;
            };
            if target != from {
                edges.push(Edge {
                    from,
                    to: target,
                    line: line_of(&f.raw, byte),
                });
            }
        }
    }
    edges
}

/// The paths of a file's intra-doc links (`` [`crate::x::Y`] ``, `` [text](super::x) ``),
/// with the byte where each is written. Disambiguators (`struct@`), `()` and `!` dropped;
/// a link rustdoc would not resolve as a path (a URL, a name with spaces) is left out.
pub(crate) fn doc_links(raw: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in raw.split_inclusive('\n') {
        let text = line.trim_start();
        if text.starts_with("///") || text.starts_with("//!") {
            out.extend(links_in(line).map(|(path, i)| (path, at + i)));
        }
        at += line.len();
    }
    out
}

fn links_in(line: &str) -> impl Iterator<Item = (Vec<String>, usize)> + '_ {
    let targets = line.match_indices("[`").map(|(i, _)| {
        let rest = &line[i + 2..];
        (rest.split('`').next().unwrap_or(""), i)
    });
    let urls = line.match_indices("](").map(|(i, _)| {
        let rest = &line[i + 2..];
        (rest.split(')').next().unwrap_or(""), i)
    });
    targets.chain(urls).filter_map(|(target, i)| {
        let target = target
            .rsplit('@')
            .next()?
            .trim_end_matches("()")
            .trim_end_matches('(');
        let target = target.trim_end_matches('!');
        let is_path = !target.is_empty()
            && target
                .split("::")
                .all(|s| !s.is_empty() && s.chars().all(is_ident));
        is_path.then(|| (target.split("::").map(String::from).collect(), i))
    })
}

/// The byte ranges of the inline `mod x { .. }` bodies of a file.
pub(crate) fn inline_mods(code: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("mod ") {
        let start = from + at;
        from = start + 4;
        if start > 0 && is_ident(code.as_bytes()[start - 1] as char) {
            continue;
        }
        let rest = code[from..].trim_start();
        let name_len = rest.chars().take_while(|c| is_ident(*c)).count();
        if name_len > 0 && rest[name_len..].trim_start().starts_with('{') {
            let open = code.len() - rest[name_len..].trim_start().len();
            out.push((open, matching_brace(code, open)));
        }
    }
    out
}

/// Every path a file names: each leaf of each `use` tree, and each `crate::`/`super::`
/// path in code, with the byte where it is written.
pub(crate) fn referenced_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let word_start = i == 0 || !is_ident(bytes[i - 1] as char);
        if word_start && code[i..].starts_with("use ") {
            let end = code[i..].find(';').map_or(code.len(), |e| i + e);
            for path in expand_use_tree(&code[i + 4..end]) {
                out.push((path, i));
            }
            i = end;
        } else if word_start
            && (code[i..].starts_with("crate::") || code[i..].starts_with("super::"))
        {
            let len = code[i..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(code.len() - i);
            let path = code[i..i + len]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push((path, i));
            i += len;
        } else {
            i += code[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// `a::{b, c::{d, e}}` -> `[a, b]`, `[a, c, d]`, `[a, c, e]` (aliases and globs dropped).
pub(crate) fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = Vec::new();
    expand_into(&tree, Vec::new(), &mut out);
    out
}

pub(crate) fn expand_into(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(open) = tree.find('{') else {
        let mut path = prefix;
        let leaf = tree.split("as").next().unwrap_or(tree);
        path.extend(
            leaf.split("::")
                .filter(|s| !s.is_empty() && *s != "*")
                .map(String::from),
        );
        out.push(path);
        return;
    };
    let mut path = prefix;
    path.extend(
        tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    let inner = &tree[open + 1..matching_brace(tree, open)];
    for part in split_top_level(inner) {
        expand_into(part, path.clone(), out);
    }
}

pub(crate) fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The file a path lands in: the deepest module of the path that is a file of `src/`.
/// `inline` is how many inline `mod x { .. }` the path is written in: its first `super`s
/// stay in the file, and `self::` or a bare path there names the inline module's own items.
pub(crate) fn resolve(
    f: &SrcFile,
    inline: usize,
    path: &[String],
    by_module: &BTreeMap<&ModPath, usize>,
) -> Option<usize> {
    let supers = path.iter().take_while(|s| *s == "super").count();
    if inline > 0 && supers < inline && path.first().is_some_and(|s| s != "crate") {
        return None;
    }
    let mut segments = path.iter().skip(inline.min(supers)).peekable();
    let mut module: ModPath = match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("super" | "self") => f.module.clone(),
        _ if inline > 0 => f.module.clone(),
        _ => {
            // A bare first segment is a child module of this file's module, or a crate.
            let mut child = f.module.clone();
            child.push(path.first()?.clone());
            by_module.get(&child)?;
            f.module.clone()
        }
    };
    while segments.peek().map(|s| s.as_str()) == Some("super") {
        segments.next();
        module.pop()?;
    }
    if segments.peek().map(|s| s.as_str()) == Some("self") {
        segments.next();
    }
    for seg in segments {
        let mut deeper = module.clone();
        deeper.push(seg.clone());
        if !by_module.contains_key(&deeper) {
            break;
        }
        module = deeper;
    }
    by_module.get(&module).copied()
}
