//! What one poll of one source does, start to finish: cheap check, fetch what moved, diff,
//! derive, evaluate rules, and commit data, release log and alerts in one transaction.
//! Delivery is separate (the outbox in `notify`).

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, SeriesConfig};
use crate::derive::derive;
use crate::diff::{diff, merged};
use crate::model::{Alert, Release, StoredObservation};
use crate::notify;
use crate::rules;
use crate::sources::{Check, FetchError, Source};
use crate::store::{
    CommitSummary, PollRecord, PollWrite, ReleaseLogEntry, Store, StoreError, TableStamp,
};

/// What happened to one table.
#[derive(Debug)]
pub enum TableResult {
    /// The cheap check says nothing moved: no data was requested.
    Unchanged,
    /// Data was downloaded and compared; each series with its release.
    Updated(Vec<(String, Release)>),
}

/// Why a table's poll failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("local store: {0}")]
    Store(#[from] StoreError),
}

#[derive(Debug)]
pub struct TableOutcome {
    pub table: String,
    pub result: Result<TableResult, TableError>,
}

/// A series that changed, as the store will hold it: for `--dry-run` and logs.
#[derive(Debug, Clone)]
pub struct SeriesChange {
    pub series: String,
    pub release: Release,
    pub updates: Vec<StoredObservation>,
}

#[derive(Debug)]
pub struct PollReport {
    pub source: String,
    pub started_at: DateTime<Utc>,
    pub tables: Vec<TableOutcome>,
    pub changes: Vec<SeriesChange>,
    pub alerts: Vec<Alert>,
    /// What the commit added; `None` on a dry run.
    pub committed: Option<CommitSummary>,
}

impl PollReport {
    pub fn failed(&self) -> bool {
        self.tables.iter().any(|t| t.result.is_err())
    }

    /// One line for `STATUS=` and logs.
    pub fn summary(&self) -> String {
        let failed = self.tables.iter().filter(|t| t.result.is_err()).count();
        let changed = self
            .tables
            .iter()
            .filter(|t| matches!(&t.result, Ok(TableResult::Updated(s)) if s.iter().any(|(_, r)| !r.is_empty())))
            .count();
        format!(
            "{}: {} tables, {} changed, {} failed, {} alerts",
            self.source,
            self.tables.len(),
            changed,
            failed,
            self.alerts.len()
        )
    }
}

impl fmt::Display for TableOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(TableResult::Unchanged) => write!(f, "{}: unchanged", self.table),
            Ok(TableResult::Updated(series)) => {
                let mut total = Release::default();
                for (_, r) in series {
                    total.baseline |= r.baseline;
                    total.new_periods.extend(r.new_periods.iter().copied());
                    total.revisions.extend(r.revisions.iter().cloned());
                    total
                        .status_changes
                        .extend(r.status_changes.iter().cloned());
                }
                write!(f, "{}: {total}", self.table)
            }
            Err(e) => write!(f, "{}: FAILED: {e}", self.table),
        }
    }
}

/// Polls every table of one source once.
pub async fn poll_source(
    config: &Config,
    store: &Store,
    name: &str,
    source: &Source,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<PollReport, StoreError> {
    let started_at = Utc::now();
    let mut write = PollWrite::default();
    let mut report = PollReport {
        source: name.to_string(),
        started_at,
        tables: Vec::new(),
        changes: Vec::new(),
        alerts: Vec::new(),
        committed: None,
    };
    for (table, series) in config.tables_of(name) {
        if cancel.is_cancelled() {
            // What was fetched so far is still committed below; the rest waits for the
            // next start's catch-up poll.
            report.tables.push(TableOutcome {
                table,
                result: Err(TableError::Fetch(FetchError::Cancelled)),
            });
            continue;
        }
        let result = poll_table(
            config,
            store,
            Poll {
                name,
                source,
                now: started_at,
                cancel,
            },
            &table,
            &series,
            &mut write,
            &mut report,
        )
        .await;
        match &result {
            Ok(_) => {}
            Err(e) => warn!(source = name, table = %table, error = %e, "table poll failed"),
        }
        report.tables.push(TableOutcome { table, result });
    }
    let outcome = report.summary();
    info!(source = name, outcome = %outcome, "poll finished");
    if dry_run {
        return Ok(report);
    }
    let previous = store.poll_record(name)?.and_then(|r| r.last_success);
    write.poll = Some((
        name.to_string(),
        PollRecord {
            last_success: if report.failed() {
                previous
            } else {
                Some(started_at)
            },
            last_attempt: started_at,
            last_outcome: outcome,
        },
    ));
    report.committed = Some(store.commit_async(write).await?);
    Ok(report)
}

/// The poll a table belongs to.
struct Poll<'a> {
    name: &'a str,
    source: &'a Source,
    now: DateTime<Utc>,
    cancel: &'a CancellationToken,
}

async fn poll_table(
    config: &Config,
    store: &Store,
    poll: Poll<'_>,
    table: &str,
    series: &[SeriesConfig],
    write: &mut PollWrite,
    report: &mut PollReport,
) -> Result<TableResult, TableError> {
    let Poll {
        name,
        source,
        now,
        cancel,
    } = poll;
    // A stamp only counts for the selection it was downloaded with: a series added to a
    // table (or a longer history) must not wait for the table's next release.
    let selection = selection(config, name, series);
    let known = store
        .stamp(name, table)?
        .filter(|s| s.selection == selection);
    let stamp = match source
        .check(table, known.as_ref().map(|s| s.stamp.as_str()))
        .await?
    {
        Check::Unchanged => return Ok(TableResult::Unchanged),
        Check::Changed { stamp } => stamp,
    };
    let data = source.fetch(table, series, cancel).await?;

    // Everything below is computed before anything is written, so a failure leaves the
    // table exactly as it was.
    let mut results = Vec::new();
    let mut changes = Vec::new();
    let mut alerts = Vec::new();
    for s in series {
        let fetched = data.series.get(&s.id).cloned().unwrap_or_default();
        let stored = |id: &str| store.observations(id);
        // An answer with no value at all for a series the store holds values of is not a
        // release but a broken answer: taking it would store the new stamp, and the real
        // release would never be fetched.
        if fetched.is_empty() {
            let held = stored(&s.level_id())?.len().max(stored(&s.id)?.len());
            if held > 0 {
                return Err(TableError::Fetch(FetchError::Series {
                    series: s.id.clone(),
                    message: format!(
                        "the answer has no values for it, the store holds {held} periods: \
                         an incomplete answer, nothing stored"
                    ),
                }));
            }
        }
        let (target, before) = match s.derive {
            None => (fetched, stored(&s.id)?),
            Some(how) => {
                let levels = stored(&s.level_id())?;
                let d = diff(&levels, &fetched, now);
                let after_levels = merged(&levels, &d.updates);
                if !d.updates.is_empty() {
                    changes.push(SeriesChange {
                        series: s.level_id(),
                        release: d.release,
                        updates: d.updates,
                    });
                }
                (derive(&after_levels, how), stored(&s.id)?)
            }
        };
        let d = diff(&before, &target, now);
        let after = merged(&before, &d.updates);
        for rule in &config.rules {
            alerts.extend(rules::evaluate(
                rule,
                &rules::Input {
                    series: s.into(),
                    after: &after,
                    release: &d.release,
                    detected_at: now,
                },
            ));
        }
        if d.release.baseline && !d.release.is_empty() {
            info!(source = name, table, series = %s.id, periods = d.release.new_periods.len(), "baseline stored");
        } else if !d.release.is_empty() {
            info!(source = name, table, series = %s.id, release = %d.release, "release");
        }
        results.push((s.id.clone(), d.release.clone()));
        changes.push(SeriesChange {
            series: s.id.clone(),
            release: d.release,
            updates: d.updates,
        });
    }

    for c in &changes {
        if !c.updates.is_empty() {
            write
                .observations
                .push((c.series.clone(), c.updates.clone()));
        }
        if !c.release.is_empty() {
            write.releases.push(ReleaseLogEntry {
                at: now,
                source: name.to_string(),
                table: table.to_string(),
                series: c.series.clone(),
                release: c.release.clone(),
            });
        }
    }
    write.stamps.push((
        name.to_string(),
        table.to_string(),
        TableStamp {
            stamp,
            fetched_at: now,
            selection,
        },
    ));
    for a in &alerts {
        write
            .alerts
            .push((a.clone(), notify::receivers_for(config, a)));
    }
    report.changes.extend(changes);
    report.alerts.extend(alerts);
    Ok(TableResult::Updated(results))
}

/// Names what a table download covers: its series (id, measure, dimensions, unit, derivation,
/// frequency) and the history reached back.
fn selection(config: &Config, source: &str, series: &[SeriesConfig]) -> String {
    let mut parts: Vec<String> = series
        .iter()
        .map(|s| {
            format!(
                "{}|{}|{:?}|{}|{:?}|{:?}",
                s.id,
                s.measure,
                s.dimensions,
                s.unit,
                s.derive.map(|d| d.name()),
                s.frequency
            )
        })
        .collect();
    parts.sort();
    let history = config.sources.get(source).map_or(0, |s| s.history_years);
    let mut h = Sha256::new();
    h.update(format!("history={history};{}", parts.join(";")));
    hex::encode(&h.finalize()[..8])
}
