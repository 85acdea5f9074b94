//! The measures a closing note quotes, printed with `STRUCTURE_REPORT=1`: the longest
//! functions, lines of code and of tests, the cycles and pairs, and who imports whom (for
//! reviewing the layering the check does not judge).

use super::*;

pub(crate) fn print(src: &[SrcFile], tests: &[SrcFile], edges: &[Edge]) {
    for (dir, files) in [("src/", src), ("tests/", tests)] {
        println!("longest functions in {dir}:");
        for (lines, at) in longest(files, 8) {
            println!("  {lines:>4}  {at}");
        }
        let over = longest(files, usize::MAX)
            .iter()
            .filter(|(lines, _)| *lines > MAX_FN_LINES)
            .count();
        let big = files
            .iter()
            .filter(|f| f.raw.lines().count() > MAX_FILE_LINES);
        println!(
            "  {over} over {MAX_FN_LINES} lines; {} files over {MAX_FILE_LINES} lines",
            big.count()
        );
    }
    let (code, test) = lines_split(src);
    println!("src/: {code} lines of code, {test} lines of test code");
    println!(
        "tests/: {} lines",
        tests.iter().map(|f| f.raw.lines().count()).sum::<usize>()
    );
    println!(
        "cycles between top-level modules: {}",
        module_cycles(src, edges).len()
    );
    println!(
        "files importing each other: {}",
        file_pairs(src, edges).len()
    );
    print_module_graph(src, edges);
}

/// Lines of `src/` outside and inside test code (test files and inline test modules).
fn lines_split(src: &[SrcFile]) -> (usize, usize) {
    let (mut code, mut test) = (0, 0);
    for f in src {
        let all = f.raw.lines().count();
        let inline: usize = test_blocks(&f.code)
            .into_iter()
            .filter_map(|(_, range)| range)
            .map(|(a, b)| line_of(&f.code, b) - line_of(&f.code, a) + 1)
            .sum();
        if f.test {
            test += all;
        } else {
            code += all - inline;
            test += inline;
        }
    }
    (code, test)
}

/// The `n` longest functions of `files`: lines, and where.
fn longest(files: &[SrcFile], n: usize) -> Vec<(usize, String)> {
    let mut fns: Vec<(usize, String)> = files
        .iter()
        .flat_map(|f| {
            fn_items(&f.code).into_iter().map(|(name, a, b)| {
                let lines = line_of(&f.code, b) - line_of(&f.code, a) + 1;
                (
                    lines,
                    format!("{}:{} `{name}`", f.shown, line_of(&f.code, a)),
                )
            })
        })
        .collect();
    fns.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    fns.truncate(n);
    fns
}

fn print_module_graph(files: &[SrcFile], edges: &[Edge]) {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        if let (Some(a), Some(b)) = (top(&files[e.from]), top(&files[e.to])) {
            if a != b {
                graph.entry(a).or_default().insert(b);
            }
        }
    }
    println!("module graph:");
    for (a, bs) in graph {
        println!("  {a} -> {}", bs.into_iter().collect::<Vec<_>>().join(", "));
    }
}
