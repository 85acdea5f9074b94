//! Test helpers for the rule kinds: one config with a rule of each kind, real history, and
//! releases applied in turn through the real diff.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{evaluate, Input};
use crate::config::Config;
use crate::diff::{diff, merged};
use crate::model::{Alert, Observation, Period};

const CONFIG: &str = r#"
[sources.cbs]
kind = "cbs"
schedule = "0 30 6 * * Mon-Fri"

[[series]]
id = "nl.industry.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
title = "Industrial production NL, y/y %"
unit = "%"

[[series]]
id = "nl.confidence"
source = "cbs"
table = "81234ned"
measure = "Producentenvertrouwen_1"
title = "Producer confidence NL"

[[rules]]
id = "turn"
series = "nl.industry.yoy"
kind = "sign_change"

[[rules]]
id = "streak"
series = "nl.industry.yoy"
kind = "streak"
direction = "positive"
length = 3

[[rules]]
id = "drop"
series = "nl.confidence"
kind = "change"
direction = "down"
min = 1.0

[[rules]]
id = "rev"
series = "nl.*"
kind = "revision"
min = 0.5

[[rules]]
id = "rel"
series = "nl.*"
kind = "release"

[[rules]]
id = "zero"
series = "nl.confidence"
kind = "threshold"
above = 0
"#;

fn config() -> Config {
    Config::parse(Path::new("t.toml"), CONFIG).unwrap()
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

/// Applies releases in turn and returns the alerts of the last one, for one rule id.
pub(super) fn run(series: &str, rule: &str, releases: &[Vec<Observation>]) -> Vec<Alert> {
    let c = config();
    let s = c.series(series).unwrap();
    let r = c.rules.iter().find(|r| r.id == rule).unwrap();
    let mut stored = Vec::new();
    let mut last = Vec::new();
    for (i, rel) in releases.iter().enumerate() {
        let now: DateTime<Utc> = format!("2025-0{}-01T06:30:00Z", i + 1).parse().unwrap();
        let d = diff(&stored, rel, now);
        stored = merged(&stored, &d.updates);
        last = evaluate(
            r,
            &Input {
                series: (&s).into(),
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
