//! What the tests share, in one place (each test binary includes it with `mod common;`):
//! running the binary ([`bin`]), writing its config ([`config`]), loopback plumbing
//! ([`net`]), the fake servers (CBS in [`cbs_server`], the OData query options it and the
//! catalogue read in [`odata_query`], GENESIS in [`destatis_server`] with
//! the Destatis source tests' table and config in [`genesis`], a
//! webhook receiver in [`hook`], the chat platforms in [`notify::platforms`], SMTP in
//! [`smtp`]), the daemon tests' helpers ([`daemon`]), the notify tests' helpers ([`notify`]),
//! and here the real published CBS figures as fake tables and the 2025 releases the tests
//! replay.

// Each test binary uses its own part of it.
#![allow(dead_code)]

pub mod bin;
pub mod cbs_catalogue;
pub mod cbs_server;
pub mod config;
pub mod daemon;
pub mod destatis_server;
pub mod genesis;
pub mod hook;
pub mod net;
pub mod notify;
pub mod odata_query;
pub mod smtp;

use std::path::PathBuf;

use hook::Hook;
use serde_json::{json, Map, Value};

#[allow(unused_imports)] // each test binary uses its own part
pub use self::{
    bin::*,
    cbs_server::{CbsServer, FakeTable, Fault},
    config::*,
    net::*,
};

/// The rules the replay of the real 2025 releases is checked against: exactly six alerts.
pub const REPLAY_RULES: &str = r#"
[[rules]]
id = "nl-industry-turn"
series = "nl.industry.yoy"
kind = "sign_change"
severity = "warning"

[[rules]]
id = "nl-industry-streak"
series = "nl.industry.yoy"
kind = "streak"
direction = "positive"
length = 3

[[rules]]
id = "nl-confidence-drop"
series = "nl.confidence"
kind = "change"
direction = "down"
min = 1.0

[[rules]]
id = "nl-industry-revised"
series = "nl.industry.yoy"
kind = "revision"
min = 0.5
"#;

pub const INDUSTRY: &str = "85806NED";
pub const CONFIDENCE: &str = "81234ned";
pub const BRANCH_DIM: &str = "BedrijfstakkenBranchesSBI2008";
pub const YOY: &str = "KalendergecorrigeerdeProductie_14";
pub const CONF_MEASURE: &str = "Producentenvertrouwen_1";

/// The real y/y vintages: period key -> value per release (April 2025, September 2025,
/// November 2025, February 2026); `None` where a release did not have the period yet.
pub fn yoy_vintages() -> Vec<(String, [Option<f64>; 4])> {
    let text = include_str!("../fixtures/cbs/industrial_production_yoy_vintages.csv");
    text.lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split(',');
            let period = cells.next().unwrap().to_string();
            let mut v = [None; 4];
            for (i, c) in cells.enumerate() {
                v[i] = c.trim().parse().ok();
            }
            (period, v)
        })
        .collect()
}

/// One vintage of the y/y series as (period key, value), oldest first.
pub fn yoy_vintage(column: usize) -> Vec<(String, f64)> {
    yoy_vintages()
        .into_iter()
        .filter_map(|(p, v)| v[column].map(|x| (p, x)))
        .collect()
}

/// Producer confidence (November 2025 vintage) as (period key, value).
pub fn confidence_vintage() -> Vec<(String, f64)> {
    include_str!("../fixtures/cbs/producer_confidence_vintage_2025-11.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let (p, v) = l.split_once(',').unwrap();
            (p.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// The status CBS gives a period: the last months provisional, older ones final.
fn status_of(period: &str) -> &'static str {
    match &period[..4] {
        "2025" | "2026" => "Voorlopig",
        "2024" => "NaderVoorlopig",
        _ => "Definitief",
    }
}

/// A 85806NED-like table: the y/y values given for C Industrie (307500, written space-padded
/// as some CBS tables do), a second branch so filtering matters, quarter and year rows
/// interleaved with the months, and a second measure so `$select` matters.
pub fn industry_table(values: &[(String, f64)], modified: &str) -> FakeTable {
    let mut rows = Vec::new();
    let mut periods = Vec::new();
    let mut by_year: std::collections::BTreeMap<String, Vec<(String, f64)>> = Default::default();
    for (p, v) in values {
        by_year
            .entry(p[..4].to_string())
            .or_default()
            .push((p.clone(), *v));
    }
    let mut id = 0;
    let mut push =
        |rows: &mut Vec<Map<String, Value>>, branch: &str, period: &str, v: Option<f64>| {
            let mut r = Map::new();
            r.insert("ID".into(), json!(id));
            r.insert(BRANCH_DIM.into(), json!(branch));
            r.insert("Perioden".into(), json!(period));
            r.insert(YOY.into(), json!(v));
            r.insert(
                "OntwSeizoengecorrigeerdeProductie_21".into(),
                json!(v.map(|x| (x / 3.0 * 10.0).round() / 10.0)),
            );
            rows.push(r);
            id += 1;
        };
    for (year, months) in &by_year {
        for (i, (p, v)) in months.iter().enumerate() {
            for (branch, value) in [("307500  ", Some(*v)), ("336500  ", Some(v * 2.0 - 1.0))] {
                push(&mut rows, branch, p, value);
            }
            periods.push((p.clone(), status_of(p).to_string()));
            // A quarter row after every third month, as monthly CBS tables interleave them.
            if (i + 1) % 3 == 0 {
                let q = format!("{year}KW0{}", (i + 1) / 3);
                let avg = months[i - 2..=i].iter().map(|(_, v)| v).sum::<f64>() / 3.0;
                push(&mut rows, "307500  ", &q, Some((avg * 10.0).round() / 10.0));
                periods.push((q.clone(), status_of(&q).to_string()));
            }
        }
        if months.len() == 12 {
            let y = format!("{year}JJ00");
            push(&mut rows, "307500  ", &y, Some(0.0));
            periods.push((y.clone(), status_of(&y).to_string()));
        }
    }
    FakeTable {
        modified: modified.to_string(),
        output_status: "Regulier".into(),
        dimensions: vec![(
            BRANCH_DIM.into(),
            vec!["300002  ".into(), "307500  ".into(), "336500  ".into()],
        )],
        periods,
        rows,
        titles: Default::default(),
    }
}

/// A 81234ned-like table of producer confidence for manufacturing.
pub fn confidence_table(values: &[(String, f64)], modified: &str) -> FakeTable {
    let rows = values
        .iter()
        .enumerate()
        .map(|(i, (p, v))| {
            let mut r = Map::new();
            r.insert("ID".into(), json!(i));
            r.insert(BRANCH_DIM.into(), json!("307500"));
            r.insert("Perioden".into(), json!(p));
            r.insert(CONF_MEASURE.into(), json!(v));
            r
        })
        .collect();
    FakeTable {
        modified: modified.to_string(),
        output_status: "Regulier".into(),
        dimensions: vec![(BRANCH_DIM.into(), vec!["307500".into()])],
        periods: values
            .iter()
            .map(|(p, _)| (p.clone(), status_of(p).to_string()))
            .collect(),
        rows,
        titles: Default::default(),
    }
}

/// A 85806NED-like table of several branches, each `(key, title, offset)` with the y/y
/// `values` plus its offset, monthly rows only; `extra_keys` are dimension keys without rows
/// (aggregates the measure is not given for).
pub fn branches_table(
    branches: &[(&str, &str, f64)],
    extra_keys: &[&str],
    values: &[(String, f64)],
    modified: &str,
) -> FakeTable {
    let mut rows = Vec::new();
    for (key, _, offset) in branches {
        for (p, v) in values {
            let mut r = Map::new();
            r.insert("ID".into(), json!(rows.len()));
            r.insert(BRANCH_DIM.into(), json!(format!("{key}  ")));
            r.insert("Perioden".into(), json!(p));
            r.insert(YOY.into(), json!(((v + offset) * 10.0).round() / 10.0));
            rows.push(r);
        }
    }
    let mut keys: Vec<String> = extra_keys.iter().map(|k| format!("{k}  ")).collect();
    keys.extend(branches.iter().map(|(k, _, _)| format!("{k}  ")));
    FakeTable {
        modified: modified.to_string(),
        output_status: "Regulier".into(),
        dimensions: vec![(BRANCH_DIM.into(), keys)],
        periods: values
            .iter()
            .map(|(p, _)| (p.clone(), status_of(p).to_string()))
            .collect(),
        rows,
        titles: branches
            .iter()
            .map(|(k, t, _)| (k.to_string(), t.to_string()))
            .collect(),
    }
}

/// Serves the April 2025 vintages (y/y to 2025-02, confidence to 2025-03), where most tests
/// start; returns the y/y values.
pub fn serve_april_2025(cbs: &CbsServer) -> Vec<(String, f64)> {
    let april = Release {
        industry: yoy_vintage(0),
        industry_modified: "2025-04-10T06:30:00",
        confidence_until: "2025MM03",
        confidence_modified: "2025-03-28T06:30:00",
    };
    april.serve(cbs);
    april.industry
}

/// A CBS test's world: its temp dir, the fake CBS serving the April 2025 vintages, and
/// [`cbs_config`] written there.
pub struct CbsWorld {
    _dir: tempfile::TempDir,
    pub server: CbsServer,
    pub config: PathBuf,
}

pub async fn cbs_world() -> CbsWorld {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    serve_april_2025(&server);
    let config = write_config(
        dir.path(),
        &cbs_config(&server.base_url(), &dir.path().join("state"), ""),
    );
    CbsWorld {
        _dir: dir,
        server,
        config,
    }
}

/// A replay's world: its temp dir, the fake CBS (serving nothing yet), a webhook receiver,
/// and [`cbs_config`] with `rules` and the receiver as `ops` (signing with `secret`, if any).
pub struct HookedWorld {
    pub dir: tempfile::TempDir,
    pub server: CbsServer,
    pub hook: Hook,
    pub config: PathBuf,
}

pub async fn hooked_world(rules: &str, secret: Option<&str>) -> HookedWorld {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let hook = Hook::start().await;
    let secret = secret
        .map(|s| format!("secret = \"{s}\"\n"))
        .unwrap_or_default();
    let extra = format!(
        "{rules}\n[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\n{secret}",
        hook.url
    );
    let config = write_config(
        dir.path(),
        &cbs_config(&server.base_url(), &dir.path().join("state"), &extra),
    );
    HookedWorld {
        dir,
        server,
        hook,
        config,
    }
}

/// The release after the April vintages: March 2025 first printed at +1.3, February revised
/// from +1.0 to -0.3 and January from +0.3 to +0.1; confidence falls to -3.3 in April.
pub fn publish_next(server: &CbsServer) {
    Release {
        industry: with(
            &yoy_vintage(0),
            &[("2025MM03", 1.3), ("2025MM02", -0.3), ("2025MM01", 0.1)],
        ),
        industry_modified: "2025-05-12T06:30:00",
        confidence_until: "2025MM04",
        confidence_modified: "2025-04-29T06:30:00",
    }
    .serve(server);
}

/// `fault` for the next `times` requests of the industry table's `entity` (`TypedDataSet`,
/// `TableInfos`, ...).
pub fn fail_industry(server: &CbsServer, entity: &str, fault: Fault, times: usize) {
    server.fail_next(&format!("{INDUSTRY}/{entity}"), fault, times);
}

/// The two CBS tables as a release of 2025 left them.
pub struct Release {
    /// The y/y values as published then, and the table's `Modified`.
    pub industry: Vec<(String, f64)>,
    pub industry_modified: &'static str,
    /// The last month of producer confidence published then, and its table's `Modified`.
    pub confidence_until: &'static str,
    pub confidence_modified: &'static str,
}

impl Release {
    /// Serves both tables as CBS had them after this release.
    pub fn serve(&self, cbs: &CbsServer) {
        cbs.set_table(
            INDUSTRY,
            industry_table(&self.industry, self.industry_modified),
        );
        cbs.set_table(
            CONFIDENCE,
            confidence_table(
                &until(&confidence_vintage(), self.confidence_until),
                self.confidence_modified,
            ),
        );
    }
}

/// The releases of 2025 as they came: February (the baseline, y/y to 2024-12), then March
/// to June, each with the y/y months it first printed or revised. [`REPLAY_RULES`] fires
/// exactly six alerts on them.
pub fn releases_2025() -> [Release; 5] {
    let base = until(&yoy_vintage(0), "2024MM12");
    let march = with(&base, &[("2025MM01", 0.5)]);
    let april = with(&base, &[("2025MM01", 0.3), ("2025MM02", 1.0)]);
    let may = with(&april, &[("2025MM03", 1.3)]);
    let june = with(
        &may,
        &[
            ("2025MM01", 0.1),
            ("2025MM02", -0.3),
            ("2025MM03", 1.4),
            ("2025MM04", -0.2),
        ],
    );
    let release = |industry, industry_modified, confidence_until, confidence_modified| Release {
        industry,
        industry_modified,
        confidence_until,
        confidence_modified,
    };
    [
        release(
            base,
            "2025-02-10T06:30:00",
            "2025MM02",
            "2025-02-27T06:30:00",
        ),
        release(
            march,
            "2025-03-10T06:30:00",
            "2025MM03",
            "2025-03-28T06:30:00",
        ),
        release(
            april,
            "2025-04-10T06:30:00",
            "2025MM04",
            "2025-04-29T06:30:00",
        ),
        release(
            may,
            "2025-05-12T06:30:00",
            "2025MM04",
            "2025-04-29T06:30:00",
        ),
        release(
            june,
            "2025-06-10T06:30:00",
            "2025MM04",
            "2025-04-29T06:30:00",
        ),
    ]
}

/// Values up to and including `last` (a CBS period key).
pub fn until(values: &[(String, f64)], last: &str) -> Vec<(String, f64)> {
    values
        .iter()
        .filter(|(p, _)| p.as_str() <= last)
        .cloned()
        .collect()
}

/// Replaces (or adds) the value of some periods.
pub fn with(values: &[(String, f64)], changes: &[(&str, f64)]) -> Vec<(String, f64)> {
    let mut out = values.to_vec();
    for (p, v) in changes {
        match out.iter_mut().find(|(q, _)| q == p) {
            Some(x) => x.1 = *v,
            None => out.push((p.to_string(), *v)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
