//! Pure: a series as it stands after a release, plus what the release changed, in; alerts
//! with stable ids and one-line summaries out. Nothing fires on a baseline.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{Direction, RuleConfig, RuleKind, SeriesConfig};
use crate::model::{signed, Alert, Cause, Frequency, Period, Previous, Release, StoredObservation};

/// Everything a rule needs to know about one series and one release.
pub struct Input<'a> {
    pub series: &'a SeriesConfig,
    /// The series after the release, oldest period first.
    pub after: &'a [StoredObservation],
    pub release: &'a Release,
    pub detected_at: DateTime<Utc>,
}

/// Evaluates one rule on one series' release.
pub fn evaluate(rule: &RuleConfig, input: &Input) -> Vec<Alert> {
    if input.release.baseline || !rule.applies_to(&input.series.id) {
        return Vec::new();
    }
    let s = Series::new(input.after);
    let mut out = Vec::new();
    let mut new_periods = input.release.new_periods.clone();
    new_periods.sort();
    for &p in &new_periods {
        let Some(v) = s.value(p) else { continue };
        if let Some(fired) = on_new_period(rule, input, &s, p, v) {
            out.push(fired);
        }
    }
    for r in &input.release.revisions {
        let fired = match rule.kind {
            RuleKind::Revision { min } => ((r.new - r.old).abs() + 1e-9 >= min).then(|| Fired {
                discriminator: format!("{}>{}", r.old, r.new),
                summary: format!(
                    "{} revised from {} to {}",
                    r.period,
                    signed(r.old),
                    signed(r.new)
                ),
                details: json!({ "old_value": r.old }),
            }),
            RuleKind::SignChange { dead_band } => {
                let (old, new) = (sign(r.old, dead_band), sign(r.new, dead_band));
                (old != 0 && new != 0 && old != new).then(|| Fired {
                    discriminator: sign_name(new).to_string(),
                    summary: format!(
                        "{} revised from {} to {}: now {}",
                        r.period,
                        signed(r.old),
                        signed(r.new),
                        sign_name(new)
                    ),
                    details: json!({ "old_value": r.old, "new_sign": sign_name(new) }),
                })
            }
            _ => None,
        };
        if let Some(f) = fired {
            if let Some(v) = s.value(r.period) {
                out.push(alert(rule, input, &s, r.period, v, Cause::Revision, f));
            }
        }
    }
    out
}

/// What a rule found, before it becomes an [`Alert`].
struct Fired {
    /// Makes the id of a different event differ (the new sign, the streak length, ...).
    discriminator: String,
    summary: String,
    details: Value,
}

fn on_new_period(rule: &RuleConfig, input: &Input, s: &Series, p: Period, v: f64) -> Option<Alert> {
    let prev = s.value(p.prev());
    let unit = frequency_word(p.frequency());
    let fired = match &rule.kind {
        RuleKind::Release => Some(Fired {
            discriminator: String::new(),
            summary: match prev {
                Some(pv) => format!("{} in {p} (previous {} in {})", num(v), num(pv), p.prev()),
                None => format!("{} in {p}", num(v)),
            },
            details: json!({}),
        }),
        RuleKind::SignChange { dead_band } => {
            let new = sign(v, *dead_band);
            let (earlier, old) = s.last_signed_before(p, *dead_band)?;
            (new != 0 && old != new).then(|| {
                let run = s.run(earlier, |x| sign(x, *dead_band) == old, *dead_band);
                Fired {
                    discriminator: sign_name(new).to_string(),
                    summary: format!(
                        "turned {} ({} in {p}) after {} {} of {} values",
                        sign_name(new),
                        signed(v),
                        run,
                        plural(unit, run),
                        sign_name(old)
                    ),
                    details: json!({ "new_sign": sign_name(new), "broken_run": run }),
                }
            })
        }
        RuleKind::Streak { direction, length } => {
            let n = match direction {
                Direction::Positive => s.run(p, |x| x > 0.0, 0.0),
                Direction::Negative => s.run(p, |x| x < 0.0, 0.0),
                Direction::Rising | Direction::Falling => {
                    s.trend_run(p, *direction == Direction::Rising)
                }
                _ => 0,
            };
            let word = match direction {
                Direction::Positive => "positive",
                Direction::Negative => "negative",
                Direction::Rising => "rising",
                _ => "falling",
            };
            (n == *length).then(|| Fired {
                discriminator: length.to_string(),
                summary: format!(
                    "{word} for the {} {unit} in a row ({} in {p})",
                    ordinal(n),
                    signed(v)
                ),
                details: json!({ "streak": n }),
            })
        }
        RuleKind::Change {
            direction,
            min,
            relative,
        } => {
            let pv = prev?;
            let delta = if *relative {
                if pv == 0.0 {
                    return None;
                }
                (v - pv) / pv.abs() * 100.0
            } else {
                v - pv
            };
            let hit = match direction {
                Direction::Up => delta + 1e-9 >= *min && delta > 0.0,
                Direction::Down => -delta + 1e-9 >= *min && delta < 0.0,
                _ => delta.abs() + 1e-9 >= *min && delta != 0.0,
            };
            hit.then(|| {
                let by = if *relative {
                    format!("{}%", num(delta.abs()))
                } else {
                    num(delta.abs())
                };
                Fired {
                    discriminator: String::new(),
                    summary: format!(
                        "{} {by} to {} in {p} (from {} in {})",
                        if delta > 0.0 { "up" } else { "down" },
                        num(v),
                        num(pv),
                        p.prev()
                    ),
                    details: json!({ "change": round(delta), "relative": relative }),
                }
            })
        }
        RuleKind::Threshold { above, below } => {
            let pv = prev?;
            let mut fired = None;
            if let Some(level) = above {
                if (pv > *level) != (v > *level) {
                    let dir = if v > *level {
                        "rose above"
                    } else {
                        "fell back to or below"
                    };
                    fired = Some((*level, dir));
                }
            }
            if let (None, Some(level)) = (fired, below) {
                if (pv < *level) != (v < *level) {
                    let dir = if v < *level {
                        "fell below"
                    } else {
                        "rose back to or above"
                    };
                    fired = Some((*level, dir));
                }
            }
            fired.map(|(level, dir)| Fired {
                discriminator: format!("{dir} {level}"),
                summary: format!(
                    "{dir} {} ({} in {p}, from {} in {})",
                    num(level),
                    num(v),
                    num(pv),
                    p.prev()
                ),
                details: json!({ "level": level }),
            })
        }
        RuleKind::Revision { .. } => None,
    }?;
    Some(alert(rule, input, s, p, v, Cause::NewPeriod, fired))
}

fn alert(
    rule: &RuleConfig,
    input: &Input,
    s: &Series,
    p: Period,
    v: f64,
    cause: Cause,
    f: Fired,
) -> Alert {
    let obs = s.get(p);
    let previous = s.value(p.prev()).map(|value| Previous {
        period: p.prev(),
        value,
    });
    let cause_name = match cause {
        Cause::NewPeriod => "new_period",
        Cause::Revision => "revision",
    };
    let id = alert_id(&rule.id, &input.series.id, p, cause_name, &f.discriminator);
    let details = match f.details {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Alert {
        id,
        rule: rule.id.clone(),
        kind: rule.kind.name().into(),
        severity: rule.severity,
        series: input.series.id.clone(),
        title: input.series.title.clone(),
        source: input.series.source.clone(),
        table: input.series.table.clone(),
        unit: input.series.unit.clone(),
        period: p,
        source_period: obs.map(|o| o.source_period.clone()).unwrap_or_default(),
        value: v,
        previous,
        cause,
        summary: format!("{}: {}", input.series.title, f.summary),
        details,
        detected_at: input.detected_at,
    }
}

/// A stable id: the same event seen again has the same id; a different one does not.
pub fn alert_id(
    rule: &str,
    series: &str,
    period: Period,
    cause: &str,
    discriminator: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [rule, series, &period.to_string(), cause, discriminator] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The series after the release, indexed by period.
struct Series<'a> {
    obs: std::collections::BTreeMap<Period, &'a StoredObservation>,
}

impl<'a> Series<'a> {
    fn new(after: &'a [StoredObservation]) -> Self {
        Series {
            obs: after.iter().map(|o| (o.period, o)).collect(),
        }
    }

    fn get(&self, p: Period) -> Option<&'a StoredObservation> {
        self.obs.get(&p).copied()
    }

    fn value(&self, p: Period) -> Option<f64> {
        self.get(p).map(|o| o.value)
    }

    /// The most recent period before `p` whose value has a sign, with that sign.
    fn last_signed_before(&self, p: Period, dead_band: f64) -> Option<(Period, i8)> {
        self.obs
            .range(..p)
            .rev()
            .find_map(|(q, o)| match sign(o.value, dead_band) {
                0 => None,
                s => Some((*q, s)),
            })
    }

    /// How many consecutive periods ending at `end` satisfy `pred`. Values inside the dead
    /// band are skipped over (they have no sign), a missing period ends the run.
    fn run(&self, end: Period, pred: impl Fn(f64) -> bool, dead_band: f64) -> u32 {
        let mut n = 0;
        let mut p = end;
        while let Some(v) = self.value(p) {
            if pred(v) {
                n += 1;
            } else if dead_band == 0.0 || sign(v, dead_band) != 0 {
                break;
            }
            p = p.prev();
        }
        n
    }

    /// How many consecutive periods ending at `end` rose (or fell) from the one before.
    fn trend_run(&self, end: Period, rising: bool) -> u32 {
        let mut n = 0;
        let mut p = end;
        while let (Some(v), Some(pv)) = (self.value(p), self.value(p.prev())) {
            if (rising && v > pv) || (!rising && v < pv) {
                n += 1;
                p = p.prev();
            } else {
                break;
            }
        }
        n
    }
}

fn sign(v: f64, dead_band: f64) -> i8 {
    if v.abs() <= dead_band {
        0
    } else if v > 0.0 {
        1
    } else {
        -1
    }
}

fn sign_name(s: i8) -> &'static str {
    if s > 0 {
        "positive"
    } else {
        "negative"
    }
}

fn frequency_word(f: Frequency) -> &'static str {
    match f {
        Frequency::Month => "month",
        Frequency::Quarter => "quarter",
        Frequency::Year => "year",
    }
}

fn plural(word: &str, n: u32) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Rounds away float noise from arithmetic on one-decimal figures.
fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn num(v: f64) -> String {
    format!("{}", round(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::diff::{diff, merged};
    use crate::model::Observation;
    use std::path::Path;

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

    fn obs(rows: &[(i32, u8, f64)]) -> Vec<Observation> {
        rows.iter()
            .map(|&(y, m, v)| Observation {
                period: Period::Month(y, m),
                source_period: format!("{y}MM{m:02}"),
                value: v,
                status: "Voorlopig".into(),
            })
            .collect()
    }

    /// Applies releases in turn and returns the alerts of the last one, per rule id.
    fn run(series: &str, rule: &str, releases: &[Vec<Observation>]) -> Vec<Alert> {
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
                    series: s,
                    after: &stored,
                    release: &d.release,
                    detected_at: now,
                },
            );
        }
        last
    }

    fn history() -> Vec<Observation> {
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

    #[test]
    fn nothing_fires_on_a_baseline() {
        let mut all = history();
        all.extend(obs(&[(2025, 1, 0.1)]));
        for rule in ["turn", "streak", "rev", "rel"] {
            assert!(run("nl.industry.yoy", rule, std::slice::from_ref(&all)).is_empty());
        }
    }

    #[test]
    fn sign_change_names_the_run_it_broke() {
        let next = [history(), obs(&[(2025, 1, 0.3)])].concat();
        let a = run("nl.industry.yoy", "turn", &[history(), next]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].period, Period::Month(2025, 1));
        assert_eq!(a[0].details["broken_run"], 18);
        assert_eq!(
            a[0].summary,
            "Industrial production NL, y/y %: turned positive (+0.3 in 2025-01) after 18 months of negative values"
        );
        assert_eq!(
            a[0].previous,
            Some(Previous {
                period: Period::Month(2024, 12),
                value: -4.7
            })
        );
    }

    #[test]
    fn sign_change_skips_the_dead_band() {
        // -1.1, 0.0, +2.1 fires at +2.1 (0.0 has no sign).
        let base = obs(&[(2025, 1, -1.1)]);
        let a = run(
            "nl.industry.yoy",
            "turn",
            &[
                base.clone(),
                [base.clone(), obs(&[(2025, 2, 0.0)])].concat(),
            ],
        );
        assert!(a.is_empty());
        let all = [base, obs(&[(2025, 2, 0.0)])].concat();
        let a = run(
            "nl.industry.yoy",
            "turn",
            &[all.clone(), [all, obs(&[(2025, 3, 2.1)])].concat()],
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].period, Period::Month(2025, 3));
    }

    #[test]
    fn third_positive_month_fires_the_streak_once() {
        let two = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
        let three = [two.clone(), obs(&[(2025, 3, 1.3)])].concat();
        let a = run("nl.industry.yoy", "streak", &[two.clone(), three.clone()]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].details["streak"], 3);
        assert!(
            a[0].summary
                .ends_with("positive for the 3rd month in a row (+1.3 in 2025-03)"),
            "{}",
            a[0].summary
        );
        // A fourth month does not fire a length-3 streak again.
        let four = [three.clone(), obs(&[(2025, 4, 0.2)])].concat();
        assert!(run("nl.industry.yoy", "streak", &[three, four]).is_empty());
    }

    #[test]
    fn a_revision_that_flips_the_sign_fires_both_rules() {
        let v1 = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
        let v2 = [
            history(),
            obs(&[(2025, 1, 0.1), (2025, 2, -0.3), (2025, 3, 1.4)]),
        ]
        .concat();
        let turn = run("nl.industry.yoy", "turn", &[v1.clone(), v2.clone()]);
        let flipped: Vec<_> = turn.iter().filter(|a| a.cause == Cause::Revision).collect();
        assert_eq!(flipped.len(), 1);
        assert_eq!(flipped[0].period, Period::Month(2025, 2));
        assert_eq!(flipped[0].details["old_value"], 1.0);
        // 2025-03 (+1.4) follows the revised -0.3: a new sign change as well.
        assert!(turn
            .iter()
            .any(|a| a.cause == Cause::NewPeriod && a.period == Period::Month(2025, 3)));
        let rev = run("nl.industry.yoy", "rev", &[v1, v2]);
        // 0.3 -> 0.1 is below min = 0.5; 1.0 -> -0.3 is not.
        assert_eq!(rev.len(), 1);
        assert!(
            rev[0].summary.ends_with("2025-02 revised from +1 to -0.3"),
            "{}",
            rev[0].summary
        );
    }

    #[test]
    fn confidence_drop_and_threshold() {
        let v1 = obs(&[(2025, 2, -1.2), (2025, 3, -1.5)]);
        let v2 = [v1.clone(), obs(&[(2025, 4, -3.3)])].concat();
        let a = run("nl.confidence", "drop", &[v1.clone(), v2.clone()]);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].summary,
            "Producer confidence NL: down 1.8 to -3.3 in 2025-04 (from -1.5 in 2025-03)"
        );
        assert!(run("nl.confidence", "zero", &[v1.clone(), v2]).is_empty());
        let up = [v1.clone(), obs(&[(2025, 4, 0.4)])].concat();
        let a = run("nl.confidence", "zero", &[v1, up]);
        assert_eq!(a.len(), 1);
        assert!(a[0].summary.contains("rose above 0"), "{}", a[0].summary);
    }

    #[test]
    fn ids_are_stable_and_distinguish_events() {
        let a = alert_id("r", "s", Period::Month(2025, 2), "revision", "1>-0.3");
        assert_eq!(
            a,
            alert_id("r", "s", Period::Month(2025, 2), "revision", "1>-0.3")
        );
        assert_ne!(
            a,
            alert_id("r", "s", Period::Month(2025, 2), "revision", "-0.3>0.2")
        );
        assert_eq!(a.len(), 32);
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
    }
}
