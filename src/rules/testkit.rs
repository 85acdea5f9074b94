//! Test helpers for the rule kinds: rules as a config would make them, real history, and
//! releases applied in turn through the real diff. Each kind's tests build their own rule:
//! the helpers know no kind, so no kind's file and this one import each other.

use chrono::{DateTime, Utc};

use super::{evaluate, Input, RuleConfig, RuleKind, Subject};
use crate::diff::{diff, merged};
use crate::model::{Alert, Observation, Period, Severity};

/// The two series the rules are tried on, as the config would give them.
fn subject(id: &str) -> Subject<'static> {
    match id {
        "nl.industry.yoy" => Subject {
            id: "nl.industry.yoy",
            title: "Industrial production NL, y/y %",
            source: "cbs",
            table: "85806NED",
            unit: "%",
        },
        "nl.confidence" => Subject {
            id: "nl.confidence",
            title: "Producer confidence NL",
            source: "cbs",
            table: "81234ned",
            unit: "",
        },
        other => panic!("no test series {other}"),
    }
}

/// A rule as a config would make it: `id` on the series `series` matches.
pub(super) fn rule(id: &str, series: &str, kind: RuleKind) -> RuleConfig {
    RuleConfig {
        id: id.to_string(),
        series: series.to_string(),
        matcher: globset::Glob::new(series).unwrap().compile_matcher(),
        kind,
        severity: Severity::Info,
    }
}

pub(super) fn obs(rows: &[(i32, u8, f64)]) -> Vec<Observation> {
    rows.iter()
        .map(|&(y, m, v)| Observation {
            period: Period::Month(y, m),
            source_period: format!("{y}MM{m:02}").into(),
            value: v,
            status: "Voorlopig".into(),
        })
        .collect()
}

/// Applies releases in turn and returns the alerts of the last one, for one rule.
pub(super) fn run(series: &str, r: &RuleConfig, releases: &[Vec<Observation>]) -> Vec<Alert> {
    let s = subject(series);
    let mut stored = Vec::new();
    let mut last = Vec::new();
    for (i, rel) in releases.iter().enumerate() {
        let now: DateTime<Utc> = format!("2025-0{}-01T06:30:00Z", i + 1).parse().unwrap();
        let d = diff(&stored, rel, now);
        stored = merged(&stored, &d.updates);
        last = evaluate(
            r,
            &Input {
                series: s,
                after: &stored,
                release: &d.release,
                detected_at: now,
            },
        );
    }
    last
}

pub(super) fn history() -> Vec<Observation> {
    // Real y/y values of Dutch manufacturing output, 2023-07 .. 2024-12 (CBS, April 2025).
    obs(&[
        (2023, 7, -0.4),
        (2023, 8, -1.5),
        (2023, 9, -3.8),
        (2023, 10, -4.0),
        (2023, 11, -3.7),
        (2023, 12, -0.5),
        (2024, 1, -5.1),
        (2024, 2, -2.9),
        (2024, 3, -6.4),
        (2024, 4, -4.2),
        (2024, 5, -4.2),
        (2024, 6, -5.2),
        (2024, 7, -4.5),
        (2024, 8, -0.9),
        (2024, 9, -3.1),
        (2024, 10, -1.9),
        (2024, 11, -0.6),
        (2024, 12, -4.7),
    ])
}
