//! The house's structure, checked on every `cargo test`: no import cycle between the
//! top-level modules of `src/`, no two files that import each other (a folder's `mod.rs` and
//! its own child modules aside), no function over 80 lines and no file over 600 lines (in
//! `src/` and in `tests/` alike: a long scenario test reads as its story calling named
//! steps, a fake server's answer as a dispatch over small handlers), and every module of
//! `src/` named in `lib.rs`'s `//!` layout.
//!
//! Plain text scanning, no parser crate: comments, strings and char literals are blanked
//! (newlines kept, so line numbers hold), then `use` trees, `crate::`/`super::`/`self::`
//! paths and intra-doc links are resolved against the files that exist. Every reference
//! counts as an edge, test code (`#[cfg(test)]` modules and the files they declare) and doc
//! links included: a test module that imports a module, or a doc link that names one, ties
//! the two as much as code does when someone has to change either. Test code needs no
//! layout entry.
//!
//! `STRUCTURE_REPORT=1 cargo test --test structure -- --nocapture` prints the measures the
//! closing notes quote (longest functions, lines of code and of tests, the module graph);
//! `STRUCTURE_ROOT=<checkout>` measures another checkout (e.g. an older commit) the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod checks;
mod edges;
mod read;
mod report;
mod scanner;

use checks::*;
use edges::*;
use read::*;

const MAX_FN_LINES: usize = 80;
const MAX_FILE_LINES: usize = 600;

/// A module of the crate: its path from the crate root (`["store", "series"]`).
type ModPath = Vec<String>;

struct SrcFile {
    /// The path below its root (`src/` or `tests/`), as modules are named from it.
    rel: String,
    /// The path from the repository root, as messages name the file.
    shown: String,
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
    let src = load("src");
    let tests = load("tests");
    let edges = import_edges(&src);
    if std::env::var_os("STRUCTURE_REPORT").is_some() {
        report::print(&src, &tests, &edges);
    }
    let mut problems = Vec::new();
    problems.extend(module_cycles(&src, &edges));
    problems.extend(file_pairs(&src, &edges));
    problems.extend(layout_gaps(&src));
    problems.extend(sizes(&src, &tests));
    assert!(
        problems.is_empty(),
        "{} structure violation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// No function over `MAX_FN_LINES` and no file over `MAX_FILE_LINES`, in `src/` and in
/// `tests/` alike: a test is read and changed as often as the code it checks.
fn sizes(src: &[SrcFile], tests: &[SrcFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for files in [src, tests] {
        problems.extend(long_functions(files));
        problems.extend(long_files(files));
    }
    problems
}
