//! Pure: a series as it stands after a release, plus what the release changed, in; alerts
//! with stable ids and one-line summaries out. Nothing fires on a baseline.
//!
//! This file owns the dispatch ([`RuleKind`] -> its [`Check`]), the alert ids and the
//! [`Series`] helpers the kinds share; each kind, with its parameters, is one file beside it.
//! A new kind is a new file implementing [`Check`], a variant of [`RuleKind`] with its arm
//! in [`RuleKind::check`], and its parameters in `config::raw` and `config::validate`.

pub mod change;
pub mod overdue;
pub mod release;
pub mod revision;
pub mod sign_change;
pub mod source_failing;
pub mod streak;
pub mod table_changed;
pub mod threshold;

#[cfg(test)]
mod testkit;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use globset::GlobMatcher;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::{
    Alert, Cause, Frequency, Period, Previous, Release, Revision, Severity, StoredObservation,
};

/// A validated rule: which series it watches, what it checks, how loud it is.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub id: String,
    /// The series id or glob as written.
    pub series: String,
    pub matcher: GlobMatcher,
    pub kind: RuleKind,
    pub severity: Severity,
}

impl RuleConfig {
    pub fn applies_to(&self, series_id: &str) -> bool {
        self.matcher.is_match(series_id)
    }
}

/// The rule kinds, each with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Release(release::Release),
    SignChange(sign_change::SignChange),
    Streak(streak::Streak),
    Change(change::Change),
    Threshold(threshold::Threshold),
    Revision(revision::Revision),
    /// Silence: checked after polls and hourly, not on a release (see its file).
    Overdue(overdue::Overdue),
    /// Silence: checked at the end of a poll, not on a release (see its file).
    SourceFailing(source_failing::SourceFailing),
    /// An office changed a table: judged by the pipeline, not on a release (see its file).
    TableChanged(table_changed::TableChanged),
}

impl RuleKind {
    /// The one place a kind is matched: everything else goes through [`Check`].
    fn check(&self) -> &dyn Check {
        match self {
            RuleKind::Release(k) => k,
            RuleKind::SignChange(k) => k,
            RuleKind::Streak(k) => k,
            RuleKind::Change(k) => k,
            RuleKind::Threshold(k) => k,
            RuleKind::Revision(k) => k,
            RuleKind::Overdue(k) => k,
            RuleKind::SourceFailing(k) => k,
            RuleKind::TableChanged(k) => k,
        }
    }

    /// The `kind` as written in the config and carried by alerts.
    pub fn name(&self) -> &'static str {
        self.check().name()
    }
}

/// What one rule kind looks for. Both hooks default to "nothing fired".
pub(crate) trait Check {
    /// The `kind` as written in the config and carried by alerts.
    fn name(&self) -> &'static str;

    /// What the new period `p` with value `v` fires, seeing the whole series after it.
    fn on_new_period(&self, _s: &Series, _p: Period, _v: f64) -> Option<Fired> {
        None
    }

    /// What a revision of a published value fires (`s` is the series after it).
    fn on_revision(&self, _s: &Series, _r: &Revision) -> Option<Fired> {
        None
    }

    /// One alert in place of the per-revision ones, when a release revises so many periods
    /// of a series at once that they are one event (a new base year): the revisions that
    /// fired, and the period the summing alert is about.
    fn sum_revisions(&self, _s: &Series, _fired: &[&Revision]) -> Option<(Period, Fired)> {
        None
    }
}

/// What a rule found, before it becomes an [`Alert`].
pub(crate) struct Fired {
    /// Makes the id of a different event differ (the new sign, the streak length, ...).
    pub discriminator: String,
    pub summary: String,
    pub details: Value,
}

/// What an alert says about the series it is about (from its config entry).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub source: &'a str,
    pub table: &'a str,
    pub unit: &'a str,
}

/// Everything a rule needs to know about one series and one release.
pub struct Input<'a> {
    pub series: Subject<'a>,
    /// The series after the release, oldest period first.
    pub after: &'a [StoredObservation],
    pub release: &'a Release,
    pub detected_at: DateTime<Utc>,
}

/// Evaluates one rule on one series' release.
pub fn evaluate(rule: &RuleConfig, input: &Input) -> Vec<Alert> {
    if input.release.baseline || !rule.applies_to(input.series.id) {
        return Vec::new();
    }
    let check = rule.kind.check();
    let s = Series::new(input.after, input.series.unit);
    let mut out = Vec::new();
    let mut new_periods = input.release.new_periods.clone();
    new_periods.sort();
    for &p in &new_periods {
        let Some(v) = s.value(p) else { continue };
        if let Some(f) = check.on_new_period(&s, p, v) {
            out.push(alert(rule, input, &s, p, v, Cause::NewPeriod, f));
        }
    }
    let fired: Vec<(&Revision, Fired)> = input
        .release
        .revisions
        .iter()
        .filter(|r| s.value(r.period).is_some())
        .filter_map(|r| Some((r, check.on_revision(&s, r)?)))
        .collect();
    let revised: Vec<&Revision> = fired.iter().map(|(r, _)| *r).collect();
    if let Some((p, f)) = check.sum_revisions(&s, &revised) {
        let v = s.value(p).unwrap_or_default();
        out.push(alert(rule, input, &s, p, v, Cause::Revision, f));
        return out;
    }
    for (r, f) in fired {
        if let Some(v) = s.value(r.period) {
            out.push(alert(rule, input, &s, r.period, v, Cause::Revision, f));
        }
    }
    out
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
    let id = alert_id(
        &rule.id,
        input.series.id,
        &p.to_string(),
        cause.name(),
        &f.discriminator,
    );
    let details = match f.details {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Alert {
        id,
        rule: rule.id.clone(),
        kind: rule.kind.name().into(),
        severity: rule.severity,
        series: input.series.id.to_string(),
        title: input.series.title.to_string(),
        source: input.series.source.to_string(),
        table: input.series.table.to_string(),
        unit: input.series.unit.to_string(),
        period: Some(p),
        source_period: obs.map(|o| o.source_period.to_string()).unwrap_or_default(),
        value: Some(v),
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
    period: &str,
    cause: &str,
    discriminator: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [rule, series, period, cause, discriminator] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The series after the release, indexed by period, with the unit its figures are written in.
pub(crate) struct Series<'a> {
    obs: BTreeMap<Period, &'a StoredObservation>,
    unit: &'a str,
}

impl<'a> Series<'a> {
    fn new(after: &'a [StoredObservation], unit: &'a str) -> Self {
        Series {
            obs: after.iter().map(|o| (o.period, o)).collect(),
            unit,
        }
    }

    /// A figure of this series as summaries write it (see [`crate::model::figure`]).
    pub(crate) fn figure(&self, v: f64) -> String {
        crate::model::figure(v, self.unit)
    }

    /// The same with an explicit sign for positive values.
    pub(crate) fn signed(&self, v: f64) -> String {
        crate::model::signed(v, self.unit)
    }

    fn get(&self, p: Period) -> Option<&'a StoredObservation> {
        self.obs.get(&p).copied()
    }

    pub(crate) fn value(&self, p: Period) -> Option<f64> {
        self.get(p).map(|o| o.value)
    }

    /// The most recent period before `p` whose value has a sign, with that sign.
    pub(crate) fn last_signed_before(&self, p: Period, dead_band: f64) -> Option<(Period, i8)> {
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
    pub(crate) fn run(&self, end: Period, pred: impl Fn(f64) -> bool, dead_band: f64) -> u32 {
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
    pub(crate) fn trend_run(&self, end: Period, rising: bool) -> u32 {
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

/// +1, -1, or 0 inside the dead band (no sign).
pub(crate) fn sign(v: f64, dead_band: f64) -> i8 {
    if v.abs() <= dead_band {
        0
    } else if v > 0.0 {
        1
    } else {
        -1
    }
}

pub(crate) fn sign_name(s: i8) -> &'static str {
    if s > 0 {
        "positive"
    } else {
        "negative"
    }
}

pub(crate) fn frequency_word(f: Frequency) -> &'static str {
    match f {
        Frequency::Month => "month",
        Frequency::Quarter => "quarter",
        Frequency::Year => "year",
    }
}

pub(crate) fn plural(word: &str, n: u32) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

pub(crate) fn ordinal(n: u32) -> String {
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
pub(crate) fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::testkit::{history, obs, rule, run};
    use super::*;

    #[test]
    fn nothing_fires_on_a_baseline() {
        let mut all = history();
        all.extend(obs(&[(2025, 1, 0.1)]));
        let kinds = [
            RuleKind::SignChange(sign_change::SignChange { dead_band: 0.0 }),
            RuleKind::Streak(streak::Streak {
                direction: streak::StreakDirection::Positive,
                length: 1,
            }),
            RuleKind::Revision(revision::Revision { min: 0.0 }),
            RuleKind::Release(release::Release),
        ];
        for kind in kinds {
            let r = rule("any", "nl.*", kind);
            assert!(run("nl.industry.yoy", &r, std::slice::from_ref(&all)).is_empty());
        }
    }

    #[test]
    fn ids_are_stable_and_distinguish_events() {
        let a = alert_id("r", "s", "2025-02", "revision", "1>-0.3");
        assert_eq!(a, alert_id("r", "s", "2025-02", "revision", "1>-0.3"));
        assert_ne!(a, alert_id("r", "s", "2025-02", "revision", "-0.3>0.2"));
        assert_eq!(a.len(), 32);
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
    }
}
