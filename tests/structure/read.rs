//! Reading the crate's files: each with its module path, and its code with comments,
//! strings and char literals blanked so what is scanned is code only.

use super::*;

/// The repository whose files are checked: this one, or `STRUCTURE_ROOT`.
pub(crate) fn repository() -> PathBuf {
    std::env::var_os("STRUCTURE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Every `.rs` file below `dir` (`src` or `tests`), sorted, test code marked; recorded
/// fixtures are data, not code.
pub(crate) fn load(dir: &str) -> Vec<SrcFile> {
    let root = repository().join(dir);
    let mut paths = Vec::new();
    collect_rs(&root, &mut paths);
    paths.sort();
    let mut files: Vec<SrcFile> = paths.iter().map(|p| read_file(dir, &root, p)).collect();
    mark_test_files(&mut files);
    files
}

pub(crate) fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() && !path.ends_with("fixtures") {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

pub(crate) fn read_file(dir: &str, root: &Path, path: &Path) -> SrcFile {
    let raw = std::fs::read_to_string(path).expect("read source file");
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    let mut f = src_file(rel, raw);
    f.shown = format!("{dir}/{}", f.rel);
    f
}

pub(crate) fn src_file(rel: String, raw: String) -> SrcFile {
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
        shown: format!("src/{rel}"),
        rel,
        module,
        is_mod_rs,
        raw,
        code,
        test: false,
    }
}

/// Files declared by `#[cfg(test)] mod x;`, and everything below them, are test code.
pub(crate) fn mark_test_files(files: &mut [SrcFile]) {
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
pub(crate) fn test_blocks(code: &str) -> Vec<(String, Option<(usize, usize)>)> {
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

pub(crate) fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(crate) fn line_of(text: &str, byte: usize) -> usize {
    text[..byte].matches('\n').count() + 1
}

/// The byte index of the `}` that closes the `{` at `open` (or the end of the text).
pub(crate) fn matching_brace(code: &str, open: usize) -> usize {
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
/// kept, a space per byte), so what is left is code and its lines and byte offsets are the
/// file's.
pub(crate) fn blank_comments_and_strings(src: &str) -> String {
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
                match c {
                    '\n' => out.push('\n'),
                    c => out.extend(std::iter::repeat_n(' ', c.len_utf8())),
                }
            }
            i = end;
        }
    }
    out
}

/// If a comment or literal starts at `i`, the index just past it; otherwise `i`.
pub(crate) fn literal_end(c: &[char], i: usize) -> usize {
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

pub(crate) fn block_comment_end(c: &[char], start: usize) -> usize {
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

pub(crate) fn string_end(c: &[char], mut k: usize) -> usize {
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
pub(crate) fn raw_string_end(c: &[char], mut k: usize) -> Option<usize> {
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
