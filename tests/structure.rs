//! The house's structure, checked on every `cargo test`: no import cycle between the
//! top-level modules of `src/`, no two files that import each other (a folder's `mod.rs` and
//! its own child modules aside), no function over 80 lines, no source file over 600 lines,
//! and every module of `src/` named in `lib.rs`'s `//!` layout.
//!
//! Plain text scanning, no parser crate: comments, strings and char literals are blanked
//! (newlines kept, so line numbers hold), then `use` trees and `crate::`/`super::`/`self::`
//! paths are resolved against the files that exist. Code under `#[cfg(test)]` (inline test
//! modules and the files they declare) is test scaffolding: it adds no import edges and
//! needs no layout entry, but its functions and lines count like any other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 80;
const MAX_FILE_LINES: usize = 600;

/// A module of the crate: its path from the crate root (`["store", "series"]`).
type ModPath = Vec<String>;

struct SrcFile {
    rel: String,
    module: ModPath,
    is_mod_rs: bool,
    raw: String,
    code: String,
    test: bool,
}

/// One reference from a file to another: where it is written.
struct Edge {
    from: usize,
    to: usize,
    line: usize,
}

#[test]
fn structure_holds() {
    let files = load_src();
    let edges = import_edges(&files);
    if std::env::var_os("STRUCTURE_GRAPH").is_some() {
        print_module_graph(&files, &edges);
    }
    let mut problems = Vec::new();
    problems.extend(module_cycles(&files, &edges));
    problems.extend(file_pairs(&files, &edges));
    problems.extend(long_functions(&files));
    problems.extend(long_files(&files));
    problems.extend(layout_gaps(&files));
    assert!(
        problems.is_empty(),
        "{} structure violation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Reading src/

fn load_src() -> Vec<SrcFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    collect_rs(&root, &mut paths);
    paths.sort();
    let mut files: Vec<SrcFile> = paths.iter().map(|p| read_file(&root, p)).collect();
    mark_test_files(&mut files);
    files
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn read_file(root: &Path, path: &Path) -> SrcFile {
    let raw = std::fs::read_to_string(path).expect("read source file");
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    src_file(rel, raw)
}

fn src_file(rel: String, raw: String) -> SrcFile {
    let mut module: ModPath = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    let is_mod_rs = module.last().is_some_and(|m| m == "mod");
    if is_mod_rs || rel == "lib.rs" || rel == "main.rs" {
        module.pop();
    }
    let code = blank_comments_and_strings(&raw);
    SrcFile {
        rel,
        module,
        is_mod_rs,
        raw,
        code,
        test: false,
    }
}

/// Files declared by `#[cfg(test)] mod x;`, and everything below them, are test code.
fn mark_test_files(files: &mut [SrcFile]) {
    let mut test_mods: Vec<ModPath> = Vec::new();
    for f in files.iter() {
        for (name, _) in test_blocks(&f.code)
            .into_iter()
            .filter(|(_, body)| body.is_none())
        {
            let mut m = f.module.clone();
            m.push(name);
            test_mods.push(m);
        }
    }
    for f in files.iter_mut() {
        f.test = test_mods.iter().any(|m| f.module.starts_with(m));
    }
}

/// `#[cfg(test)] mod name` items: the name, and the byte range of an inline body.
fn test_blocks(code: &str) -> Vec<(String, Option<(usize, usize)>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]") {
        let start = from + at;
        from = start + 1;
        let rest = code[start + "#[cfg(test)]".len()..].trim_start();
        let Some(after_mod) = rest.strip_prefix("mod ") else {
            continue;
        };
        let name: String = after_mod.chars().take_while(|c| is_ident(*c)).collect();
        let after_name = after_mod[name.len()..].trim_start();
        if after_name.starts_with(';') {
            out.push((name, None));
        } else if after_name.starts_with('{') {
            let open = code.len() - after_name.len();
            out.push((name, Some((start, matching_brace(code, open)))));
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte].matches('\n').count() + 1
}

/// The byte index of the `}` that closes the `{` at `open` (or the end of the text).
fn matching_brace(code: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    code.len()
}

// ---------------------------------------------------------------------------------------
// Blanking comments, strings and char literals

/// The source with every comment, string and char literal replaced by spaces (newlines
/// kept), so what is left is code and its line numbers are the file's.
fn blank_comments_and_strings(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < chars.len() {
        let end = literal_end(&chars, i);
        if end == i {
            out.push(chars[i]);
            i += 1;
        } else {
            for c in &chars[i..end] {
                out.push(if *c == '\n' { '\n' } else { ' ' });
            }
            i = end;
        }
    }
    out
}

/// If a comment or literal starts at `i`, the index just past it; otherwise `i`.
fn literal_end(c: &[char], i: usize) -> usize {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let prev_ident = i > 0 && is_ident(c[i - 1]);
    match (at(i), at(i + 1)) {
        ('/', '/') => (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len()),
        ('/', '*') => block_comment_end(c, i),
        ('"', _) => string_end(c, i + 1),
        ('r', '"' | '#')
            if !prev_ident || (i >= 1 && c[i - 1] == 'b' && !(i >= 2 && is_ident(c[i - 2]))) =>
        {
            raw_string_end(c, i + 1).unwrap_or(i)
        }
        ('\'', '\\') => (i + 2..c.len())
            .find(|&k| c[k] == '\'')
            .map_or(c.len(), |k| k + 1),
        ('\'', _) if at(i + 2) == '\'' => i + 3,
        _ => i,
    }
}

fn block_comment_end(c: &[char], start: usize) -> usize {
    let (mut depth, mut k) = (0, start);
    while k + 1 < c.len() {
        if c[k] == '/' && c[k + 1] == '*' {
            depth += 1;
            k += 2;
        } else if c[k] == '*' && c[k + 1] == '/' {
            depth -= 1;
            k += 2;
            if depth == 0 {
                return k;
            }
        } else {
            k += 1;
        }
    }
    c.len()
}

fn string_end(c: &[char], mut k: usize) -> usize {
    while k < c.len() {
        match c[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    c.len()
}

/// `r"..."` / `r#"..."#`, with `k` just after the `r`; `None` if it is not a raw string.
fn raw_string_end(c: &[char], mut k: usize) -> Option<usize> {
    let mut hashes = 0;
    while c.get(k) == Some(&'#') {
        hashes += 1;
        k += 1;
    }
    if c.get(k) != Some(&'"') {
        return None;
    }
    k += 1;
    while k < c.len() {
        if c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#')) {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(c.len())
}

// ---------------------------------------------------------------------------------------
// Import edges

fn import_edges(files: &[SrcFile]) -> Vec<Edge> {
    let by_module: BTreeMap<&ModPath, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rel != "main.rs")
        .map(|(i, f)| (&f.module, i))
        .collect();
    let mut edges = Vec::new();
    for (from, f) in files.iter().enumerate() {
        if f.test || f.rel == "main.rs" {
            continue;
        }
        let code = without_test_blocks(&f.code);
        let inline = inline_mods(&code);
        for (path, byte) in referenced_paths(&code) {
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
                    line: line_of(&code, byte),
                });
            }
        }
    }
    edges
}

/// The code with inline `#[cfg(test)] mod x { .. }` bodies blanked.
fn without_test_blocks(code: &str) -> String {
    let mut out = code.to_string();
    for (_, range) in test_blocks(code) {
        if let Some((a, b)) = range {
            let blank: String = code[a..=b.min(code.len() - 1)]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            out.replace_range(a..=b.min(code.len() - 1), &blank);
        }
    }
    out
}

/// The byte ranges of the inline `mod x { .. }` bodies of a file.
fn inline_mods(code: &str) -> Vec<(usize, usize)> {
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
fn referenced_paths(code: &str) -> Vec<(Vec<String>, usize)> {
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
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = Vec::new();
    expand_into(&tree, Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
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

fn split_top_level(s: &str) -> Vec<&str> {
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
fn resolve(
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

// ---------------------------------------------------------------------------------------
// (a) cycles between top-level modules

fn top(f: &SrcFile) -> Option<&str> {
    f.module.first().map(String::as_str)
}

fn module_cycles(files: &[SrcFile], edges: &[Edge]) -> Vec<String> {
    // For each top-level edge, the first place it is written.
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    for e in edges {
        let (Some(a), Some(b)) = (top(&files[e.from]), top(&files[e.to])) else {
            continue;
        };
        if a != b {
            graph.entry(a).or_default().entry(b).or_insert(e);
        }
    }
    let mut problems = Vec::new();
    for scc in strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
    {
        let mut text = format!("import cycle between top-level modules {}:", scc.join(", "));
        for a in &scc {
            for (b, e) in graph.get(a.as_str()).into_iter().flatten() {
                if scc.iter().any(|s| s == b) {
                    text += &format!("\n    {a} -> {b} at src/{}:{}", files[e.from].rel, e.line);
                }
            }
        }
        problems.push(text);
    }
    problems
}

/// `STRUCTURE_GRAPH=1 cargo test --test structure -- --nocapture`: who imports whom, for
/// reviewing the layering the check does not judge.
fn print_module_graph(files: &[SrcFile], edges: &[Edge]) {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        if let (Some(a), Some(b)) = (top(&files[e.from]), top(&files[e.to])) {
            if a != b {
                graph.entry(a).or_default().insert(b);
            }
        }
    }
    for (a, bs) in graph {
        println!("{a} -> {}", bs.into_iter().collect::<Vec<_>>().join(", "));
    }
}

/// Tarjan's strongly connected components, each sorted, in a stable order.
fn strongly_connected<V>(graph: &BTreeMap<&str, BTreeMap<&str, V>>) -> Vec<Vec<String>> {
    struct Tarjan<'g, V> {
        graph: &'g BTreeMap<&'g str, BTreeMap<&'g str, V>>,
        index: BTreeMap<&'g str, (usize, usize)>,
        stack: Vec<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g, V> Tarjan<'g, V> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            for w in self
                .graph
                .get(v)
                .into_iter()
                .flat_map(|m| m.keys().copied())
            {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.index[v].1.min(self.index[w].1);
                    self.index.get_mut(v).unwrap().1 = low;
                } else if self.stack.contains(&w) {
                    let low = self.index[v].1.min(self.index[w].0);
                    self.index.get_mut(v).unwrap().1 = low;
                }
            }
            if self.index[v].0 == self.index[v].1 {
                let at = self.stack.iter().position(|x| *x == v).unwrap();
                let mut scc: Vec<String> = self.stack.drain(at..).map(String::from).collect();
                scc.sort();
                self.out.push(scc);
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in graph.keys().copied() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

// ---------------------------------------------------------------------------------------
// (b) two files importing each other

fn file_pairs(files: &[SrcFile], edges: &[Edge]) -> Vec<String> {
    let mut first: BTreeMap<(usize, usize), &Edge> = BTreeMap::new();
    for e in edges {
        first.entry((e.from, e.to)).or_insert(e);
    }
    let mut problems = Vec::new();
    for (&(a, b), e_ab) in &first {
        let Some(e_ba) = first.get(&(b, a)) else {
            continue;
        };
        if a > b || parent_and_child(&files[a], &files[b]) || parent_and_child(&files[b], &files[a])
        {
            continue;
        }
        problems.push(format!(
            "files import each other: src/{}:{} -> src/{} and src/{}:{} -> src/{}",
            files[a].rel, e_ab.line, files[b].rel, files[b].rel, e_ba.line, files[a].rel
        ));
    }
    problems
}

/// A folder's `mod.rs` (or `lib.rs`) and one of its own child modules.
fn parent_and_child(parent: &SrcFile, child: &SrcFile) -> bool {
    (parent.is_mod_rs || parent.rel == "lib.rs")
        && child.module.len() == parent.module.len() + 1
        && child.module.starts_with(&parent.module)
}

// ---------------------------------------------------------------------------------------
// (c) long functions and files

/// Every `fn` item with a body, measured from the line of `fn` to its closing brace.
fn long_functions(files: &[SrcFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        for (name, start, end) in fn_items(&f.code) {
            let lines = line_of(&f.code, end) - line_of(&f.code, start) + 1;
            if lines > MAX_FN_LINES {
                let at = line_of(&f.code, start);
                problems.push(format!(
                    "function over {MAX_FN_LINES} lines: src/{}:{at} `{name}` is {lines} lines",
                    f.rel
                ));
            }
        }
    }
    problems
}

fn fn_items(code: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find("fn ") {
        let start = from + at;
        from = start + 3;
        if start > 0 && is_ident(bytes[start - 1] as char) {
            continue;
        }
        let name: String = code[start + 3..]
            .trim_start()
            .chars()
            .take_while(|c| is_ident(*c))
            .collect();
        if name.is_empty() {
            continue;
        }
        if let Some(open) = body_open(code, start) {
            out.push((name, start, matching_brace(code, open)));
        }
    }
    out
}

/// The `{` opening a fn's body, or `None` for a declaration ending in `;`.
fn body_open(code: &str, fn_at: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in code[fn_at..].char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '{' if depth == 0 => return Some(fn_at + i),
            ';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

fn long_files(files: &[SrcFile]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.raw.lines().count() > MAX_FILE_LINES)
        .map(|f| {
            format!(
                "file over {MAX_FILE_LINES} lines: src/{} is {} lines",
                f.rel,
                f.raw.lines().count()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// (d) the layout in lib.rs

/// Every top-level module is linked or named in backticks in lib.rs's `//!` layout, and
/// every module below it is named in its top-level module's entry (`name`, `name.rs` or a
/// path ending in it, in backticks).
fn layout_gaps(files: &[SrcFile]) -> Vec<String> {
    let lib = files
        .iter()
        .find(|f| f.rel == "lib.rs")
        .expect("src/lib.rs");
    let doc: Vec<&str> = lib
        .raw
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let entries = layout_entries(&doc);
    let mut problems = Vec::new();
    for f in files.iter().filter(|f| !f.test && !f.module.is_empty()) {
        let top = &f.module[0];
        let Some(entry) = entries.get(top.as_str()) else {
            if f.module.len() == 1 {
                problems.push(format!(
                    "src/lib.rs: the `//!` layout has no entry for module `{top}` (src/{})",
                    f.rel
                ));
            }
            continue;
        };
        let name = f.module.last().unwrap();
        if f.module.len() > 1 && !names_module(entry, name) {
            problems.push(format!(
                "src/lib.rs: the `//!` layout entry of `{top}` does not name src/{}",
                f.rel
            ));
        }
    }
    problems
}

/// The layout's top-level entries (`- [`x`]: ...` or `- `x`: ...`), each with its text up
/// to the next top-level entry.
fn layout_entries<'d>(doc: &[&'d str]) -> BTreeMap<&'d str, String> {
    let mut entries: BTreeMap<&str, String> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in doc {
        if let Some(rest) = line.strip_prefix("- ") {
            let rest = rest.trim_start_matches('[');
            current = rest.strip_prefix('`').and_then(|r| r.split('`').next());
        }
        if let Some(name) = current {
            let text = entries.entry(name).or_default();
            text.push_str(line);
            text.push('\n');
        }
    }
    entries
}

fn names_module(entry: &str, name: &str) -> bool {
    let spans: BTreeSet<&str> = entry.split('`').skip(1).step_by(2).collect();
    spans.iter().any(|span| {
        span.split(|c: char| c.is_whitespace() || c == '+' || c == ',')
            .map(|w| w.trim_end_matches('/'))
            .any(|w| {
                w == name
                    || w == format!("{name}.rs")
                    || w.ends_with(&format!("/{name}.rs"))
                    || w.ends_with(&format!("/{name}"))
            })
    })
}

// ---------------------------------------------------------------------------------------
// The scanner itself, on literal inputs

#[cfg(test)]
mod scanner {
    use super::*;

    fn files(sources: &[(&str, &str)]) -> Vec<SrcFile> {
        let mut files: Vec<SrcFile> = sources
            .iter()
            .map(|(rel, raw)| src_file(rel.to_string(), raw.to_string()))
            .collect();
        mark_test_files(&mut files);
        files
    }

    #[test]
    fn comments_strings_and_chars_are_blanked_lifetimes_kept() {
        let code = blank_comments_and_strings(
            "let a = \"crate::x\"; // crate::y\n/* crate::z /* nested */ */ let b = r#\"crate::w\"#;\nlet c = '{'; fn f<'a>(x: &'a str) {}",
        );
        assert!(!code.contains("crate::"), "{code}");
        assert!(!code.contains("'{'"), "{code}");
        assert!(code.contains("fn f<'a>(x: &'a str) {}"), "{code}");
        assert_eq!(code.lines().count(), 3);
    }

    #[test]
    fn use_trees_expand_to_every_leaf() {
        let paths = expand_use_tree("crate::store::{series::A, record::{self, B as C}, *}");
        let want: Vec<Vec<String>> = [
            vec!["crate", "store", "series", "A"],
            vec!["crate", "store", "record", "self"],
            vec!["crate", "store", "record", "B"],
            vec!["crate", "store"],
        ]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
        assert_eq!(paths, want);
    }

    #[test]
    fn a_ring_is_found_and_a_mod_rs_with_its_child_is_no_pair() {
        let files = files(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a/mod.rs", "mod x; use self::x::X; pub struct A;\nfn g() { crate::c::f(); }"),
            ("a/x.rs", "use super::A; pub struct X;"),
            ("b.rs", "use crate::a::x::X; // use crate::c::C;\npub struct B;"),
            ("c.rs", "pub fn f() -> crate::b::B { todo!() }\n#[cfg(test)]\nmod tests { use crate::a::A; }"),
        ]);
        let edges = import_edges(&files);
        let cycles = module_cycles(&files, &edges);
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(cycles[0].contains("a, b, c"), "{}", cycles[0]);
        assert!(
            cycles[0].contains("a -> c at src/a/mod.rs:2"),
            "{}",
            cycles[0]
        );
        assert!(cycles[0].contains("b -> a at src/b.rs:1"), "{}", cycles[0]);
        assert_eq!(file_pairs(&files, &edges), Vec::<String>::new());
    }

    #[test]
    fn two_files_importing_each_other_are_a_pair() {
        let files = files(&[
            ("lib.rs", "mod s;"),
            ("s/mod.rs", "mod p; mod q;"),
            ("s/p.rs", "use super::q::Q; pub struct P;"),
            ("s/q.rs", "pub struct Q;\nfn f(_: crate::s::p::P) {}"),
        ]);
        let pairs = file_pairs(&files, &import_edges(&files));
        assert_eq!(
            pairs,
            vec!["files import each other: src/s/p.rs:1 -> src/s/q.rs and src/s/q.rs:2 -> src/s/p.rs"]
        );
    }

    #[test]
    fn a_function_is_measured_from_fn_to_its_closing_brace() {
        let body = "    let x = [0u8; 4];\n".repeat(80);
        let code = format!(
            "trait T {{ fn decl(&self) -> [u8; 4]; }}\nfn long() {{\n{body}}}\nfn short() {{ }}\n"
        );
        let fns: Vec<(String, usize)> = fn_items(&code)
            .into_iter()
            .map(|(name, a, b)| (name, line_of(&code, b) - line_of(&code, a) + 1))
            .collect();
        assert_eq!(
            fns,
            vec![("long".to_string(), 82), ("short".to_string(), 1)]
        );
    }
}
