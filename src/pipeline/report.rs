//! What a poll tells its caller: per table, unchanged, updated (each series with its
//! release) or failed with its cause; the series changes, alerts and vanished group keys; the
//! one-line summary for `STATUS=` and logs.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::model::{Alert, Release, StoredObservation, Tally};
use crate::silence::PollOutcome;
use crate::sources::FetchError;
use crate::store::{CommitSummary, PollWrite, StoreError};

/// What happened to one table.
#[derive(Debug)]
pub enum TableResult {
    /// The cheap check says nothing moved: no data was requested.
    Unchanged,
    /// Data was downloaded and compared: the series it holds and what changed in them
    /// (each series' release is in [`PollReport::changes`]).
    Updated { series: Vec<String>, changed: Tally },
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

/// A series that changed: its release, and (for `--dry-run`) what the store would hold.
#[derive(Debug, Clone)]
pub struct SeriesChange {
    pub series: String,
    pub release: Release,
    /// The new and changed observations, shown by a dry run only (a real poll's go to the
    /// commit, moved, not copied).
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
    /// Stored series of a group whose key the table no longer has (their data is kept).
    pub vanished: Vec<String>,
    /// Series whose key or measure the table's metadata no longer has, with what is gone:
    /// skipped (their data kept) while the table's other series are stored.
    pub broken: Vec<(String, String)>,
    /// Title and unit of every series this poll fetched (a group's titles come from the
    /// source), for the briefs.
    pub labels: Box<crate::briefs::text::Labels>,
}

impl PollReport {
    /// The report of source `source`'s poll begun at `started_at`, before any table.
    pub(super) fn new(source: &str, started_at: DateTime<Utc>) -> PollReport {
        PollReport {
            source: source.to_string(),
            started_at,
            tables: Vec::new(),
            changes: Vec::new(),
            alerts: Vec::new(),
            committed: None,
            vanished: Vec::new(),
            broken: Vec::new(),
            labels: Default::default(),
        }
    }

    /// A dry run's end: what `write` would have stored, shown in `changes` (first syncs
    /// too, which a real poll keeps out of the report) instead of committed.
    pub(super) fn would_store(&mut self, write: PollWrite) -> Result<(), StoreError> {
        let mut updates: HashMap<String, Vec<StoredObservation>> =
            write.observations.into_iter().collect();
        for c in &mut self.changes {
            c.updates = updates.remove(&c.series).unwrap_or_default();
        }
        for (series, record) in write.encoded {
            let updates = record.observations(&series)?;
            let release = Release {
                baseline: true,
                new_periods: updates.iter().map(|o| o.period).collect(),
                ..Release::default()
            };
            self.changes.push(SeriesChange {
                series,
                release,
                updates,
            });
        }
        Ok(())
    }

    /// When the poll fired more alerts than `bound` (`[store] flood_alerts`), what to tell
    /// the operator. They are all stored and delivered (never dropped: which of them would
    /// matter is not ours to guess), but so many from one poll means a broken or hostile
    /// source or a group wider than meant.
    pub fn flood(&self, bound: usize) -> Option<String> {
        let count = self.alerts.len();
        if count <= bound {
            return None;
        }
        let mut per_table: std::collections::BTreeMap<&str, usize> = Default::default();
        for a in &self.alerts {
            *per_table.entry(a.table.as_str()).or_default() += 1;
        }
        let tables: Vec<String> = per_table.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        Some(format!(
            "{count} alerts in one poll, more than [store] flood_alerts = {bound} ({}): every \
             one is stored and delivered; check the source and its groups",
            tables.join(", ")
        ))
    }

    pub fn failed(&self) -> bool {
        self.tables.iter().any(|t| t.result.is_err()) || !self.broken.is_empty()
    }

    /// One line for `STATUS=` and logs.
    pub fn summary(&self) -> String {
        let failed = self.tables.iter().filter(|t| t.result.is_err()).count();
        let changed = self
            .tables
            .iter()
            .filter(|t| matches!(&t.result, Ok(TableResult::Updated { changed, .. }) if !changed.is_empty()))
            .count();
        let broken = match self.broken.len() {
            0 => String::new(),
            _ => format!(
                ", series broken: {}",
                self.broken
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        };
        format!(
            "{}: {} tables, {} changed, {} failed, {} alerts{broken}",
            self.source,
            self.tables.len(),
            changed,
            failed,
            self.alerts.len()
        )
    }

    /// What the source's poll record and `source_failing` are judged from.
    pub fn outcome(&self) -> PollOutcome {
        PollOutcome {
            source: self.source.clone(),
            started_at: self.started_at,
            summary: self.summary(),
            error: self.tables.iter().find_map(|t| match &t.result {
                Err(e) => Some(format!("{}: {e}", t.table)),
                Ok(_) => None,
            }),
            cancelled: self
                .tables
                .iter()
                .any(|t| matches!(t.result, Err(TableError::Fetch(FetchError::Cancelled)))),
        }
    }
}

impl fmt::Display for TableOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(TableResult::Unchanged) => write!(f, "{}: unchanged", self.table),
            Ok(TableResult::Updated { changed, .. }) => write!(f, "{}: {changed}", self.table),
            Err(e) => write!(f, "{}: FAILED: {e}", self.table),
        }
    }
}
