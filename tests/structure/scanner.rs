//! The scanner itself, on literal inputs.

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
        (
            "a/mod.rs",
            "mod x; use self::x::X; pub struct A;\nfn g() { crate::c::f(); }",
        ),
        ("a/x.rs", "use super::A; pub struct X;"),
        (
            "b.rs",
            "use crate::a::x::X; // use crate::c::C;\npub struct B;",
        ),
        (
            "c.rs",
            "pub fn f() -> crate::b::B { todo!() }\n#[cfg(test)]\nmod tests { use crate::b::B; }",
        ),
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

#[test]
fn a_long_function_or_file_in_tests_is_a_problem_as_in_src() {
    let long = format!("fn scenario() {{\n{}}}\n", "    step();\n".repeat(80));
    let big = "// a line\n".repeat(601);
    let mut tests = files(&[("story.rs", &long), ("big.rs", &big)]);
    for f in &mut tests {
        f.shown = format!("tests/{}", f.rel);
    }
    assert_eq!(
        sizes(&[], &tests),
        vec![
            "function over 80 lines: tests/story.rs:1 `scenario` is 82 lines",
            "file over 600 lines: tests/big.rs is 601 lines",
        ]
    );
}

#[test]
fn test_code_and_doc_links_are_edges() {
    let files = files(&[
        ("lib.rs", "mod a; mod b; mod c;"),
        (
            "a.rs",
            "pub struct A;\n/// Read by [`crate::b::B`], see [there](crate::c::f()).\nfn f() {}",
        ),
        (
            "b.rs",
            "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}",
        ),
        ("c.rs", "pub fn f() {}\n#[cfg(test)]\nmod t;"),
        ("c/t.rs", "use crate::a::A;"),
    ]);
    let edges = import_edges(&files);
    let cycles = module_cycles(&files, &edges);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("a -> b at src/a.rs:2"), "{}", cycles[0]);
    assert!(cycles[0].contains("a -> c at src/a.rs:2"), "{}", cycles[0]);
    assert!(cycles[0].contains("b -> a at src/b.rs:4"), "{}", cycles[0]);
    assert!(
        cycles[0].contains("c -> a at src/c/t.rs:1"),
        "{}",
        cycles[0]
    );
    assert_eq!(
        file_pairs(&files, &edges),
        vec!["files import each other: src/a.rs:2 -> src/b.rs and src/b.rs:4 -> src/a.rs"]
    );
}
