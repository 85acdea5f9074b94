//! Silence made visible, the IO side: the outage bookkeeping of a source's poll record, and
//! the `overdue` and `source_failing` alerts that go into the outbox like any other. The
//! judgements themselves are pure, in `rules::overdue` and `rules::source_failing`.
//!
//! `source_failing` is judged at the end of every poll (in `run` and `poll` alike), with the
//! record before and after it; `overdue` after every poll of a series' source and hourly by
//! the daemon, from the store's index of each series' newest observation (`Store::latest`),
//! never from the series records: a check costs a few dozen bytes per series, however long
//! the series are.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::group::Choice;
use crate::config::{ident, Config, SeriesConfig};
use crate::model::Alert;
use crate::notify;
use crate::rules::{RuleKind, Subject};
use crate::store::{CommitSummary, PollRecord, PollWrite, Store, StoreError};

/// What the poll record and `source_failing` need to know of a finished poll; the pipeline
/// tells it (`pipeline::PollReport::outcome`), so this file does not depend on the pipeline.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    pub source: String,
    pub started_at: DateTime<Utc>,
    /// The poll's one-line summary, kept as the record's last outcome.
    pub summary: String,
    /// The first failed table, as `table: cause`.
    pub error: Option<String>,
    /// Given up at shutdown: says nothing about the source.
    pub cancelled: bool,
}

/// The source's poll record after `outcome`, and the `source_failing` alerts the change from
/// `before` brings: an outage that has lasted long enough, or the recovery from one that was
/// alerted.
pub fn after_poll(
    config: &Config,
    store: &Store,
    before: Option<&PollRecord>,
    outcome: &PollOutcome,
) -> Result<(PollRecord, Vec<Alert>), StoreError> {
    let now = outcome.started_at;
    let name = outcome.source.as_str();
    let error = outcome.error.clone();
    let cancelled = outcome.cancelled;
    let was_failing = before.and_then(|b| b.failing_since);
    let record = PollRecord {
        last_success: match (&error, cancelled) {
            (None, false) => Some(now),
            _ => before.and_then(|b| b.last_success),
        },
        last_attempt: now,
        last_outcome: outcome.summary.clone(),
        failing_since: match (&error, cancelled) {
            (_, true) => was_failing,
            (None, false) => None,
            (Some(_), false) => was_failing.or(Some(now)),
        },
        last_error: match (&error, cancelled) {
            (Some(e), false) => Some(e.clone()),
            _ => before.and_then(|b| b.last_error.clone()),
        },
    };
    let mut alerts = Vec::new();
    if cancelled {
        return Ok((record, alerts));
    }
    for rule in &config.rules {
        let RuleKind::SourceFailing(k) = &rule.kind else {
            continue;
        };
        if !k.applies_to(name) {
            continue;
        }
        match (&error, was_failing) {
            (Some(e), _) => {
                let since = record.failing_since.unwrap_or(now);
                alerts.extend(k.failing(rule, name, since, e, now));
            }
            (None, Some(since)) => {
                // One recovery, and only for an outage that was alerted.
                let id = crate::rules::source_failing::SourceFailing::outage_id(rule, name, since);
                if store.alert(&id)?.is_some() {
                    let last = before.and_then(|b| b.last_error.as_deref()).unwrap_or("");
                    alerts.push(k.recovered(rule, name, since, last, now));
                }
            }
            (None, None) => {}
        }
    }
    Ok((record, alerts))
}

/// `overdue` alerts for the series of `source` (every source's with `None`) as the store
/// holds them at `now`.
pub fn overdue(
    config: &Config,
    store: &Store,
    source: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, StoreError> {
    let mut alerts = Vec::new();
    let rules: Vec<_> = config
        .rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Overdue(k) => Some((r, k)),
            _ => None,
        })
        .collect();
    if rules.is_empty() {
        return Ok(alerts);
    }
    let entries: Vec<&SeriesConfig> = config
        .series
        .iter()
        .filter(|s| source.is_none_or(|n| s.source == n))
        .collect();
    // A group's series are the ones the store holds for it (its keys come from the table).
    let stored = if entries.iter().any(|s| s.group.is_some()) {
        store.latest_ids()?
    } else {
        Vec::new()
    };
    for s in entries {
        for watched in members(s, &stored) {
            let subject = Subject {
                id: &watched.id,
                title: &watched.title,
                source: &s.source,
                table: &s.table,
                unit: &s.unit,
            };
            let applies: Vec<_> = rules
                .iter()
                .filter(|(r, _)| r.applies_to(subject.id))
                .collect();
            if applies.is_empty() {
                continue;
            }
            // Never fetched yet: nothing can be late.
            let Some(latest) = store.latest(subject.id)? else {
                continue;
            };
            for (rule, k) in applies {
                alerts.extend(k.check(rule, subject, &latest, now));
            }
        }
    }
    Ok(alerts)
}

/// An entry's series for `overdue`: itself, or a group's stored series, titled from the
/// group's template with each key as its own title (the source's titles come with a poll).
fn members(s: &SeriesConfig, stored: &[String]) -> Vec<Member> {
    let Some(g) = &s.group else {
        return vec![Member {
            id: s.id.clone(),
            title: s.title.clone(),
        }];
    };
    stored
        .iter()
        .filter(|id| !ident::is_level_id(id) && s.produces(id))
        .filter_map(|id| {
            let keys = g.id.captures(id)?;
            let chosen = keys
                .into_iter()
                .map(|(name, key)| {
                    let title = key.clone();
                    (name, Choice { key, title })
                })
                .collect();
            Some(Member {
                id: id.clone(),
                title: g.title.render(&chosen),
            })
        })
        .collect()
}

struct Member {
    id: String,
    title: String,
}

/// Puts silence alerts into the outbox, routed like any alert (one transaction; an alert id
/// already known is not enqueued again, so a gap or an outage fires once).
pub async fn enqueue(
    config: &Config,
    store: &Store,
    alerts: &[Alert],
) -> Result<CommitSummary, StoreError> {
    if alerts.is_empty() {
        return Ok(CommitSummary::default());
    }
    let write = PollWrite {
        alerts: alerts
            .iter()
            .map(|a| (a.clone(), notify::receivers_for(config, a)))
            .collect(),
        ..Default::default()
    };
    let (summary, _) = store.commit_async(write).await?;
    for a in alerts.iter().filter(|a| summary.new_alerts.contains(&a.id)) {
        if a.recovered() {
            info!(rule = %a.rule, source = %a.source, summary = %a.summary, "silence over");
        } else {
            warn!(rule = %a.rule, kind = %a.kind, source = %a.source, series = %a.series, summary = %a.summary, "silence alert");
        }
    }
    Ok(summary)
}
