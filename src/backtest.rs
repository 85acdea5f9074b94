//! `statwatch backtest`: the store's history replayed through the configured rules, in the
//! order it was learned, showing what would have fired. Read-only: it sends nothing and
//! writes nothing, so it runs in the CLI or, through the control socket, in the daemon.
//!
//! Order (the contract's as-published view, like ALFRED's real-time vintages): first each
//! series' first sync, its periods oldest first, each as if it had just been published with
//! the value first stored for it; then every later release log entry in the order it was
//! seen, with the series as it stood then (each period's value as of that moment, rebuilt
//! from its vintages). Rules see no baseline, so the first sync fires as new periods would.

use chrono::{DateTime, Utc};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::{Alert, Period, Release, StoredObservation};
use crate::rules;
use crate::store::{ReleaseLogEntry, Store, StoreError};

/// What to replay, as `backtest` was asked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Filter {
    pub rules: Option<String>,
    pub series: Option<String>,
    pub since: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("--{flag} {value:?}: {message}")]
    Argument {
        flag: &'static str,
        value: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One alert the replay fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fired {
    pub period: String,
    pub rule: String,
    pub kind: String,
    pub series: String,
    pub summary: String,
}

fn glob(
    flag: &'static str,
    pattern: &Option<String>,
) -> Result<Option<GlobMatcher>, BacktestError> {
    pattern
        .as_ref()
        .map(|p| {
            Glob::new(p)
                .map(|g| g.compile_matcher())
                .map_err(|e| BacktestError::Argument {
                    flag,
                    value: p.clone(),
                    message: e.to_string(),
                })
        })
        .transpose()
}

/// Replays every matching series through every matching rule.
pub fn run(config: &Config, store: &Store, f: &Filter) -> Result<Vec<Fired>, BacktestError> {
    let rule_glob = glob("rules", &f.rules)?;
    let series_glob = glob("series", &f.series)?;
    let since = f
        .since
        .as_ref()
        .map(|p| {
            p.parse::<Period>().map_err(|e| BacktestError::Argument {
                flag: "since",
                value: p.clone(),
                message: format!("not a period (YYYY-MM, YYYY-Qn or YYYY): {e}"),
            })
        })
        .transpose()?;
    let rules: Vec<_> = config
        .rules
        .iter()
        .filter(|r| rule_glob.as_ref().is_none_or(|g| g.is_match(&r.id)))
        .collect();
    let log = store.releases()?;
    let mut fired = Vec::new();
    for s in &config.series {
        if series_glob.as_ref().is_some_and(|g| !g.is_match(&s.id)) {
            continue;
        }
        let obs = store.observations(&s.id)?;
        let entries: Vec<&ReleaseLogEntry> = log.iter().filter(|e| e.series == s.id).collect();
        for (at, after, release) in steps(&obs, &entries) {
            for rule in &rules {
                let input = rules::Input {
                    series: s.into(),
                    after: &after,
                    release: &release,
                    detected_at: at,
                };
                fired.extend(rules::evaluate(rule, &input).into_iter().map(row));
            }
        }
    }
    if let Some(since) = since {
        fired.retain(|a: &(DateTime<Utc>, Alert)| a.1.period >= Some(since));
    }
    // Stable: the order learned, series by series interleaved by time.
    fired.sort_by_key(|a| a.0);
    Ok(fired.into_iter().map(|(_, a)| fired_row(a)).collect())
}

fn row(a: Alert) -> (DateTime<Utc>, Alert) {
    (a.detected_at, a)
}

fn fired_row(a: Alert) -> Fired {
    Fired {
        period: a.period_text(),
        rule: a.rule,
        kind: a.kind.to_string(),
        series: a.series,
        summary: a.summary,
    }
}

/// The value `o` had at `at`: the last vintage seen by then (`None` before its first print).
fn value_at(o: &StoredObservation, at: DateTime<Utc>) -> Option<StoredObservation> {
    if o.first_seen > at {
        return None;
    }
    let mut v = o.clone();
    if o.value_seen > at {
        // A later revision: take the newest earlier vintage seen by then.
        let old = o.revisions.iter().rev().find(|r| r.seen_at <= at);
        let old = old.or(o.revisions.first())?;
        v.value = old.value;
        v.status = old.status.clone();
        v.revisions.clear();
    }
    Some(v)
}

/// The series as it stood at `at`.
fn as_of(obs: &[StoredObservation], at: DateTime<Utc>) -> Vec<StoredObservation> {
    obs.iter().filter_map(|o| value_at(o, at)).collect()
}

/// Each step of the replay: when, the series then, what it changed (never a baseline).
fn steps(
    obs: &[StoredObservation],
    entries: &[&ReleaseLogEntry],
) -> Vec<(DateTime<Utc>, Vec<StoredObservation>, Release)> {
    let mut out = Vec::new();
    let first = entries.iter().position(|e| e.release.baseline);
    // The first sync: its periods (or, with no log, those first seen earliest). A compact
    // baseline entry (see `ReleaseLogEntry::compact`) does not list them: they are the
    // observations first seen at its time.
    let first_seen_at = |t: DateTime<Utc>| -> Vec<Period> {
        obs.iter()
            .filter(|o| o.first_seen == t)
            .map(|o| o.period)
            .collect()
    };
    let (start, mut periods) = match first {
        Some(i) if entries[i].release.new_periods.is_empty() => {
            (entries[i].at, first_seen_at(entries[i].at))
        }
        Some(i) => (entries[i].at, entries[i].release.new_periods.clone()),
        None => match obs.iter().map(|o| o.first_seen).min() {
            Some(t) => (t, first_seen_at(t)),
            None => return out,
        },
    };
    periods.sort();
    let at_start = as_of(obs, start);
    for (i, p) in periods.iter().enumerate() {
        let after: Vec<_> = at_start
            .iter()
            .filter(|o| periods[..=i].contains(&o.period))
            .cloned()
            .collect();
        let release = Release {
            new_periods: vec![*p],
            ..Release::default()
        };
        out.push((start, after, release));
    }
    let later = entries.iter().skip(first.map_or(0, |i| i + 1));
    for e in later.filter(|e| e.at > start || first.is_some()) {
        let mut release = e.release.clone();
        release.baseline = false;
        out.push((e.at, as_of(obs, e.at), release));
    }
    out
}

/// The text (or `--json`) of a backtest.
pub fn render(fired: &[Fired], json: bool) -> String {
    if json {
        let mut s = serde_json::to_string_pretty(fired).expect("rows serialize");
        s.push('\n');
        return s;
    }
    let mut out = String::new();
    for f in fired {
        out.push_str(&format!(
            "{:<8} {:<22} {:<20} {}\n",
            f.period, f.rule, f.series, f.summary
        ));
    }
    out.push_str(&format!("{} alerts would have fired\n", fired.len()));
    out
}
