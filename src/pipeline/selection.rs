//! A table's selection: what one download of it covers, written as text and hashed into the
//! stamp it is stored with (`TableStamp::selection`), so a config that selects differently
//! downloads the table again (docs/store.md, "Upgrades and downgrades").
//!
//! The text is written field by field here, never through a type's `Debug`: changing how a
//! config type prints must not change every stored stamp and re-download every table. The
//! spelling is version 1 of the encoding, which is byte for byte the text statwatch hashed
//! before it was written out here, so every stored stamp stays valid. Any change to it is a
//! new [`VERSION`], whose text begins with `v{VERSION};` (a version 1 text begins with
//! `history=`, so no two versions' texts are equal) and re-downloads each table once.

use std::collections::BTreeMap;
use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::config::group::Keys;
use crate::config::{Config, SeriesConfig};
use crate::model::Frequency;

/// The encoding's version: bump it with any change to the text below.
const VERSION: u32 = 1;

/// The selection of `series` (one table's entries of source `source`): a short hex digest.
pub(crate) fn selection(config: &Config, source: &str, series: &[SeriesConfig]) -> String {
    let mut h = Sha256::new();
    h.update(text(config, source, series));
    hex::encode(&h.finalize()[..8])
}

/// The version's prefix, `history=N;` and each series' part, sorted, joined by `;`.
fn text(config: &Config, source: &str, series: &[SeriesConfig]) -> String {
    let mut parts: Vec<String> = series.iter().map(part).collect();
    parts.sort();
    let history = config.sources.get(source).map_or(0, |s| s.history_years);
    format!("{}history={history};{}", prefix(VERSION), parts.join(";"))
}

/// Nothing for version 1 (the text stores already hold), `v{N};` for a later version.
fn prefix(version: u32) -> String {
    match version {
        1 => String::new(),
        n => format!("v{n};"),
    }
}

/// `id|measure|{dimensions}|unit|derive|frequency`, and for a group
/// `|{open dimensions}|measure keys|title` (only groups add to it, so a plain series kept its
/// stamp when groups came).
fn part(s: &SeriesConfig) -> String {
    let mut out = format!(
        "{}|{}|{}|{}|{}|{}",
        s.id,
        s.measure,
        map(&s.dimensions, |v| quoted(v)),
        s.unit,
        some(s.derive.map(|d| quoted(d.name()))),
        some(s.frequency.map(|f| frequency(f).to_string())),
    );
    if let Some(g) = &s.group {
        let _ = write!(
            out,
            "|{}|{}|{}",
            map(&g.dims, keys),
            some(g.measure.as_ref().map(keys)),
            s.title
        );
    }
    out
}

/// A string as version 1 writes it: in double quotes, escaped as Rust's `{:?}` of a `str`
/// escapes (the standard library's, not a config type's).
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// `None` or `Some(x)`.
fn some(x: Option<String>) -> String {
    match x {
        Some(x) => format!("Some({x})"),
        None => "None".to_string(),
    }
}

/// `{"k": v, ...}` in key order.
fn map<V>(m: &BTreeMap<String, V>, value: impl Fn(&V) -> String) -> String {
    let entries: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: {}", quoted(k), value(v)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// `All`, or `List(["a", "b"])`.
fn keys(k: &Keys) -> String {
    match k {
        Keys::All => "All".to_string(),
        Keys::List(l) => {
            let l: Vec<String> = l.iter().map(|k| quoted(k)).collect();
            format!("List([{}])", l.join(", "))
        }
    }
}

fn frequency(f: Frequency) -> &'static str {
    match f {
        Frequency::Month => "Month",
        Frequency::Quarter => "Quarter",
        Frequency::Year => "Year",
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SOURCES: &str = r#"
state_dir = "/tmp/x"

[sources.cbs]
kind = "cbs"
schedule = "0 */5 6-9 * * Mon-Fri"
history_years = 7
"#;

    fn config(series: &str) -> Config {
        Config::parse(Path::new("t.toml"), &format!("{SOURCES}{series}")).unwrap()
    }

    const CASES: [&str; 5] = [
        r#"
[[series]]
id = "nl.industry.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = "307500", Marges = "MW00000" }
unit = "%"
"#,
        r#"
[[series]]
id = "nl.cpi.yoy"
source = "cbs"
table = "83131NED"
measure = "CPI_1"
dimensions = { Bestedingscategorieen = "T001112 " }
unit = "2015=100"
derive = "yoy_pct"
frequency = "quarter"
title = "CPI \"all\" \\ it's é"
"#,
        r#"
[[series]]
id = "nl.industry.branch.{BedrijfstakkenBranchesSBI2008}.{Marges}.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = "*", Marges = ["MW00000", "MW00001"], Perioden = "x" }
title = "Industrial production NL: {BedrijfstakkenBranchesSBI2008.title}"
unit = "%"
"#,
        r#"
[[series]]
id = "nl.industry.{measure}"
source = "cbs"
table = "85806NED"
measure = ["A_1", "B_2"]
title = "{measure.title}"
unit = "%"
frequency = "year"

[[series]]
id = "nl.industry.all.{measure}"
source = "cbs"
table = "85806NED"
measure = "*"
title = "{measure.title}"
unit = "%"
"#,
        r#"
[[series]]
id = "nl.odd.{Marges}"
source = "cbs"
table = "85806NED"
measure = "M"
dimensions = { "Odd\"Dim" = "a\\b", Marges = ["q\"uote", "it's", "é x"] }
title = "T"
unit = "%"
"#,
    ];

    /// Each case's text and digest as statwatch wrote them before this file (through `Debug`):
    /// version 1 must keep them, or every stored stamp re-downloads its table.
    const PINNED: [(&str, &str); 5] = [
        (
            r#"history=7;nl.industry.yoy|KalendergecorrigeerdeProductie_14|{"BedrijfstakkenBranchesSBI2008": "307500", "Marges": "MW00000"}|%|None|None"#,
            "79f99094be9b775a",
        ),
        (
            r#"history=7;nl.cpi.yoy|CPI_1|{"Bestedingscategorieen": "T001112"}|2015=100|Some("yoy_pct")|Some(Quarter)"#,
            "292128883c3a467e",
        ),
        (
            r#"history=7;nl.industry.branch.{BedrijfstakkenBranchesSBI2008}.{Marges}.yoy|KalendergecorrigeerdeProductie_14|{"Perioden": "x"}|%|None|None|{"BedrijfstakkenBranchesSBI2008": All, "Marges": List(["MW00000", "MW00001"])}|None|Industrial production NL: {BedrijfstakkenBranchesSBI2008.title}"#,
            "ec60fab8cf5494fd",
        ),
        (
            r#"history=7;nl.industry.all.{measure}||{}|%|None|None|{}|Some(All)|{measure.title};nl.industry.{measure}||{}|%|None|Some(Year)|{}|Some(List(["A_1", "B_2"]))|{measure.title}"#,
            "48006aca511870e0",
        ),
        (
            r#"history=7;nl.odd.{Marges}|M|{"Odd\"Dim": "a\\b"}|%|None|None|{"Marges": List(["q\"uote", "it's", "é x"])}|None|T"#,
            "d4186dfa13845d5f",
        ),
    ];

    #[test]
    fn version_1_writes_the_stamps_stores_already_hold() {
        assert_eq!(VERSION, 1, "a new version pins its own texts");
        for (case, (text_was, digest_was)) in CASES.iter().zip(PINNED) {
            let c = config(case);
            assert_eq!(text(&c, "cbs", &c.series), text_was);
            assert_eq!(selection(&c, "cbs", &c.series), digest_was);
        }
    }

    #[test]
    fn what_a_download_covers_changes_the_selection() {
        let c = config(CASES[0]);
        let base = selection(&c, "cbs", &c.series);
        let mut other = c.series.clone();
        other[0].unit = "index".into();
        assert_ne!(selection(&c, "cbs", &other), base);
        // The order of the entries does not matter; an unknown source reaches back 0 years.
        let two = config(CASES[3]);
        let mut reversed = two.series.clone();
        reversed.reverse();
        assert_eq!(
            selection(&two, "cbs", &two.series),
            selection(&two, "cbs", &reversed)
        );
        assert!(text(&c, "destatis", &c.series).starts_with("history=0;"));
    }

    #[test]
    fn a_later_version_cannot_write_a_version_1_text() {
        assert_eq!(prefix(1), "");
        assert_eq!(prefix(2), "v2;");
    }
}
