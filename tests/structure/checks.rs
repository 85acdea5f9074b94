//! The checks: cycles between top-level modules, two files importing each other, long
//! functions and files, and the layout in lib.rs.

use super::*;

// ---------------------------------------------------------------------------------------
// (a) cycles between top-level modules

pub(crate) fn top(f: &SrcFile) -> Option<&str> {
    f.module.first().map(String::as_str)
}

pub(crate) fn module_cycles(files: &[SrcFile], edges: &[Edge]) -> Vec<String> {
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

/// Tarjan's strongly connected components, each sorted, in a stable order.
pub(crate) fn strongly_connected<V>(graph: &BTreeMap<&str, BTreeMap<&str, V>>) -> Vec<Vec<String>> {
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

pub(crate) fn file_pairs(files: &[SrcFile], edges: &[Edge]) -> Vec<String> {
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
pub(crate) fn parent_and_child(parent: &SrcFile, child: &SrcFile) -> bool {
    (parent.is_mod_rs || parent.rel == "lib.rs")
        && child.module.len() == parent.module.len() + 1
        && child.module.starts_with(&parent.module)
}

// ---------------------------------------------------------------------------------------
// (c) long functions and files

/// Every `fn` item with a body, measured from the line of `fn` to its closing brace.
pub(crate) fn long_functions(files: &[SrcFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        for (name, start, end) in fn_items(&f.code) {
            let lines = line_of(&f.code, end) - line_of(&f.code, start) + 1;
            if lines > MAX_FN_LINES {
                let at = line_of(&f.code, start);
                problems.push(format!(
                    "function over {MAX_FN_LINES} lines: {}:{at} `{name}` is {lines} lines",
                    f.shown
                ));
            }
        }
    }
    problems
}

pub(crate) fn fn_items(code: &str) -> Vec<(String, usize, usize)> {
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
pub(crate) fn body_open(code: &str, fn_at: usize) -> Option<usize> {
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

pub(crate) fn long_files(files: &[SrcFile]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.raw.lines().count() > MAX_FILE_LINES)
        .map(|f| {
            format!(
                "file over {MAX_FILE_LINES} lines: {} is {} lines",
                f.shown,
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
pub(crate) fn layout_gaps(files: &[SrcFile]) -> Vec<String> {
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
pub(crate) fn layout_entries<'d>(doc: &[&'d str]) -> BTreeMap<&'d str, String> {
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

pub(crate) fn names_module(entry: &str, name: &str) -> bool {
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
