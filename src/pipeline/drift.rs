//! Tables that change under the watch, the poll's side: `table_changed` alerts from what a
//! download found (series whose key or measure left the table, measures with a new unit)
//! and from what a failed table says (a CBS table discontinued, a GENESIS table missing on
//! [`MISSING_POLLS`] polls in a row). The wording is `rules::table_changed`'s; an event whose
//! alert is already stored is not made again, so each fires once and `poll` does not repeat it.

use chrono::{DateTime, Utc};
use tracing::warn;

use super::{PollReport, TableError, TableResult};
use crate::config::Config;
use crate::model::Alert;
use crate::rules::table_changed::{Candidate, Event, Place};
use crate::rules::RuleKind;
use crate::sources::drift::Stopped;
use crate::sources::{FetchError, Source, TableData};
use crate::store::{PollWrite, Store, StoreError, TableStamp};

/// Polls in a row a GENESIS table must be missing before it counts as discontinued (one
/// answer may be a glitch of the service).
pub(crate) const MISSING_POLLS: u32 = 3;

/// The alerts of `events` in `at` for every `table_changed` rule of its source, leaving out
/// those already stored.
fn alerts(
    config: &Config,
    store: &Store,
    at: Place,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    for rule in &config.rules {
        let RuleKind::TableChanged(k) = &rule.kind else {
            continue;
        };
        if !k.applies_to(at.source) {
            continue;
        }
        for e in events {
            let id = crate::rules::table_changed::TableChanged::id(rule, at, e);
            if store.alert(&id)?.is_none() {
                out.push(k.alert(rule, at, e, now));
            }
        }
    }
    Ok(out)
}

/// Whether any `table_changed` rule watches `source`.
fn watched(config: &Config, source: &str) -> bool {
    config
        .rules
        .iter()
        .any(|r| matches!(&r.kind, RuleKind::TableChanged(k) if k.applies_to(source)))
}

/// After a table's download: its broken series named in `report` (so `poll` exits 1 and the
/// pages show them), and the `structure` and `rebased` alerts, against the units of the
/// stored stamp.
pub(super) fn after_fetch(
    config: &Config,
    store: &Store,
    (source, table): (&str, &str),
    data: &TableData,
    report: &mut PollReport,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, StoreError> {
    let at = Place { source, table };
    let mut events = Vec::new();
    for b in &data.broken {
        warn!(source = at.source, table = at.table, series = %b.series, dimension = %b.dimension, key = %b.key, "a watched key left the table: the series is skipped, its data kept");
        report
            .broken
            .push((b.series.clone(), format!("table {}: {b}", at.table)));
        events.push(Event::Structure {
            series: b.series.clone(),
            title: b.title.clone(),
            dimension: b.dimension.clone(),
            key: b.key.clone(),
            candidates: b
                .candidates
                .iter()
                .map(|c| Candidate {
                    key: c.key.clone(),
                    title: c.title.clone(),
                })
                .collect(),
        });
    }
    let before = store.stamp(at.source, at.table)?.map(|s| s.units);
    for (measure, new) in &data.units {
        let Some(old) = before.as_ref().and_then(|u| u.get(measure)) else {
            continue;
        };
        if old == new || old.is_empty() || new.is_empty() {
            continue;
        }
        warn!(
            source = at.source,
            table = at.table,
            measure,
            old,
            new,
            "a watched measure has a new unit"
        );
        events.push(Event::Rebased {
            measure: measure.clone(),
            old: old.clone(),
            new: new.clone(),
            series: data
                .expanded
                .iter()
                .filter(|s| &s.measure == measure)
                .map(|s| s.id.clone())
                .take(20)
                .collect(),
        });
    }
    alerts(config, store, at, &events, now)
}

/// After a table's poll: when it failed, it is logged, and the `discontinued` alerts of
/// [`after_failure`] go into `report` (and a missing table's count into `write`).
pub(super) async fn after_poll(
    config: &Config,
    store: &Store,
    source: &Source,
    at: Place<'_>,
    result: &Result<TableResult, TableError>,
    write: &mut PollWrite,
    report: &mut PollReport,
) -> Result<(), StoreError> {
    let Err(e) = result else {
        return Ok(());
    };
    warn!(source = at.source, table = at.table, error = %e, "table poll failed");
    let changed = after_failure(config, store, at, source, e, write, report.started_at).await?;
    // Into the write with the poll's other alerts, at its commit.
    report.alerts.extend(changed);
    Ok(())
}

/// After a table's poll failed: a CBS table discontinued, or a GENESIS table missing for
/// the [`MISSING_POLLS`]th time in a row (counted in its stamp in `write`), fires
/// `discontinued` with what the source says carries it on.
async fn after_failure(
    config: &Config,
    store: &Store,
    at: Place<'_>,
    source: &Source,
    err: &TableError,
    write: &mut PollWrite,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, StoreError> {
    let why = match err {
        TableError::Fetch(FetchError::Discontinued(why)) => why.clone(),
        TableError::Fetch(FetchError::Missing(why)) => {
            let missing = count_missing(store, at, write, now)?;
            if missing < MISSING_POLLS {
                return Ok(Vec::new());
            }
            format!("missing on {missing} polls in a row: {why}")
        }
        _ => return Ok(Vec::new()),
    };
    if !watched(config, at.source) {
        return Ok(Vec::new());
    }
    let probe = Event::Discontinued {
        successor: None,
        successor_title: None,
        candidates: Vec::new(),
        why: String::new(),
    };
    // The id does not depend on the successor: the texts are read once, not at every poll.
    if alerts(config, store, at, &[probe], now)?.is_empty() {
        return Ok(Vec::new());
    }
    let stopped = match source.stopped(at.table, &why).await {
        Ok(s) => s,
        Err(e) => {
            // Asked again at the next poll, which also finds the table stopped.
            warn!(source = at.source, table = at.table, error = %e, "the successor of a discontinued table could not be read");
            return Ok(Vec::new());
        }
    };
    let Stopped {
        why,
        successor,
        successor_title,
        candidates,
    } = stopped;
    let event = Event::Discontinued {
        successor,
        successor_title,
        candidates: candidates
            .into_iter()
            .map(|c| Candidate {
                key: c.key,
                title: c.title,
            })
            .collect(),
        why,
    };
    alerts(config, store, at, &[event], now)
}

/// Counts one more poll that found the table missing, in its stamp (the stamp's value is
/// kept, so the next check still downloads); how many in a row that makes.
fn count_missing(
    store: &Store,
    at: Place,
    write: &mut PollWrite,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let mut stamp = store.stamp(at.source, at.table)?.unwrap_or_else(|| {
        TableStamp::fetched(String::new(), now, String::new(), Default::default())
    });
    stamp.missing += 1;
    let missing = stamp.missing;
    write
        .stamps
        .push((at.source.to_string(), at.table.to_string(), stamp));
    Ok(missing)
}
