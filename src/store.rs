//! The only module that sees sled. Everything statwatch remembers lives here.
//!
//! # Key layout (schema version 1)
//!
//! | tree           | key                          | value (JSON)                           |
//! |----------------|------------------------------|----------------------------------------|
//! | `meta`         | `schema_version`             | `1`                                    |
//! | `observations` | `series \0 period-sort-key`  | [`StoredObservation`]                  |
//! | `stamps`       | `source \0 table`            | [`TableStamp`] (the cheap-check value) |
//! | `releases`     | big-endian u64 sequence      | [`ReleaseLogEntry`]                    |
//! | `polls`        | `source`                     | [`PollRecord`]                         |
//! | `alerts`       | alert id                     | [`Alert`]                              |
//! | `outbox`       | `receiver \0 alert id`       | [`Delivery`]                           |
//!
//! One poll's writes (observations, stamps, release log, alerts and their outbox entries, the
//! poll time) go through [`Store::commit`] as ONE sled transaction, so a crash can neither
//! lose a detection nor record data without its alerts.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use crate::model::{Alert, Delivery, DeliveryState, Release, StoredObservation};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
    },
    /// sled lets one process open the store at a time: the daemon holds it while it runs.
    #[error("the store at {path} is in use by another statwatch process (the daemon?)")]
    Locked { path: String },
    #[error(
        "the store at {path} has schema version {found}, this statwatch knows {SCHEMA_VERSION}"
    )]
    Schema { path: String, found: String },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: corrupt record in {tree}: {source}")]
    Corrupt {
        tree: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The last cheap-check value seen for a table (CBS `Modified`, GENESIS `LatestUpdate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStamp {
    pub stamp: String,
    pub fetched_at: DateTime<Utc>,
    /// What was downloaded (see `pipeline::selection`): a changed config re-downloads.
    #[serde(default)]
    pub selection: String,
}

/// One line of the release log: what a poll found in one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseLogEntry {
    pub at: DateTime<Utc>,
    pub source: String,
    pub table: String,
    pub series: String,
    pub release: Release,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollRecord {
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: DateTime<Utc>,
    pub last_outcome: String,
}

/// Everything one poll writes, committed atomically.
#[derive(Debug, Default)]
pub struct PollWrite {
    /// New or changed observations, per series id.
    pub observations: Vec<(String, Vec<StoredObservation>)>,
    pub stamps: Vec<(String, String, TableStamp)>,
    pub releases: Vec<ReleaseLogEntry>,
    /// Each alert with the receivers it goes to.
    pub alerts: Vec<(Alert, Vec<String>)>,
    /// The source polled and the outcome; `success` sets its last successful poll time.
    pub poll: Option<(String, PollRecord)>,
}

/// What a commit actually added (an alert already known is not enqueued again).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommitSummary {
    pub new_alerts: Vec<String>,
    pub enqueued: usize,
}

#[derive(Clone)]
pub struct Store {
    path: String,
    db: sled::Db,
    meta: sled::Tree,
    observations: sled::Tree,
    stamps: sled::Tree,
    releases: sled::Tree,
    polls: sled::Tree,
    alerts: sled::Tree,
    outbox: sled::Tree,
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn prefix(a: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    k
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store records always serialize")
}

fn dec<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { tree, source })
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.display().to_string();
        // sled caches up to 1 GB by default; statwatch's working set is a few series at a time.
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(32 * 1024 * 1024)
            .open()
            .map_err(|source| match source {
                sled::Error::Io(ref e) if e.to_string().contains("could not acquire lock") => {
                    StoreError::Locked { path: path.clone() }
                }
                source => StoreError::Open {
                    path: path.clone(),
                    source,
                },
            })?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree("meta")?,
            observations: tree("observations")?,
            stamps: tree("stamps")?,
            releases: tree("releases")?,
            polls: tree("polls")?,
            alerts: tree("alerts")?,
            outbox: tree("outbox")?,
            db,
            path,
        };
        match store.meta.get("schema_version")? {
            None => {
                store
                    .meta
                    .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(v) => {
                return Err(StoreError::Schema {
                    path: store.path,
                    found: String::from_utf8_lossy(&v).into_owned(),
                })
            }
        }
        Ok(store)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every stored observation of a series, oldest period first.
    pub fn observations(&self, series: &str) -> Result<Vec<StoredObservation>, StoreError> {
        self.observations
            .scan_prefix(prefix(series))
            .map(|kv| {
                let (_, v) = kv?;
                dec("observations", &v)
            })
            .collect()
    }

    pub fn stamp(&self, source: &str, table: &str) -> Result<Option<TableStamp>, StoreError> {
        self.stamps
            .get(key2(source, table))?
            .map(|v| dec("stamps", &v))
            .transpose()
    }

    pub fn poll_record(&self, source: &str) -> Result<Option<PollRecord>, StoreError> {
        self.polls
            .get(source)?
            .map(|v| dec("polls", &v))
            .transpose()
    }

    pub fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.alerts.get(id)?.map(|v| dec("alerts", &v)).transpose()
    }

    /// The release log, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseLogEntry>, StoreError> {
        self.releases
            .iter()
            .map(|kv| dec("releases", &kv?.1))
            .collect()
    }

    /// Every delivery record, in receiver then alert-id order.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
        self.outbox.iter().map(|kv| dec("outbox", &kv?.1)).collect()
    }

    pub fn pending(&self) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .deliveries()?
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .collect())
    }

    /// Records the outcome of delivery attempts (after a send, success or not).
    pub fn update_deliveries(&self, updates: &[Delivery]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for d in updates {
            batch.insert(key2(&d.receiver, &d.alert_id), enc(d));
        }
        self.outbox.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Records a poll that wrote nothing else (a failure, or nothing changed).
    pub fn record_poll(&self, source: &str, record: &PollRecord) -> Result<(), StoreError> {
        self.polls.insert(source, enc(record))?;
        self.db.flush()?;
        Ok(())
    }

    /// Writes one poll's results in one transaction and flushes them to disk.
    pub fn commit(&self, w: &PollWrite) -> Result<CommitSummary, StoreError> {
        let trees = (
            &self.observations,
            &self.stamps,
            &self.releases,
            &self.polls,
            &self.alerts,
            &self.outbox,
        );
        // Sequence numbers are taken outside the transaction: a retried closure must not
        // draw new ones, and gaps after a failed commit are harmless.
        let release_ids: Vec<u64> = w
            .releases
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        let result = trees.transaction(|(obs, stamps, releases, polls, alerts, outbox)| {
            let mut summary = CommitSummary::default();
            for (series, list) in &w.observations {
                for o in list {
                    obs.insert(key2(series, &o.period.sort_key()), enc(o))?;
                }
            }
            for (source, table, stamp) in &w.stamps {
                stamps.insert(key2(source, table), enc(stamp))?;
            }
            for (id, entry) in release_ids.iter().zip(&w.releases) {
                releases.insert(&id.to_be_bytes(), enc(entry))?;
            }
            if let Some((source, record)) = &w.poll {
                polls.insert(source.as_bytes(), enc(record))?;
            }
            for (alert, receivers) in &w.alerts {
                if alerts.get(alert.id.as_bytes())?.is_none() {
                    alerts.insert(alert.id.as_bytes(), enc(alert))?;
                    summary.new_alerts.push(alert.id.clone());
                }
                for r in receivers {
                    summary.enqueued += enqueue(outbox, r, alert)?;
                }
            }
            Ok::<_, ConflictableTransactionError<()>>(summary)
        });
        let summary = match result {
            Ok(s) => s,
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => unreachable!("the closure never aborts"),
        };
        self.db.flush()?;
        Ok(summary)
    }
}

/// Adds an outbox entry unless this receiver already has this alert (the same id is never
/// delivered twice to a receiver, across restarts).
fn enqueue(
    outbox: &TransactionalTree,
    receiver: &str,
    alert: &Alert,
) -> Result<usize, ConflictableTransactionError<()>> {
    let key = key2(receiver, &alert.id);
    if outbox.get(&key)?.is_some() {
        return Ok(0);
    }
    let d = Delivery {
        alert_id: alert.id.clone(),
        receiver: receiver.to_string(),
        state: DeliveryState::Pending,
        attempts: 0,
        last_error: None,
        created_at: alert.detected_at,
        next_attempt_at: alert.detected_at,
        not_before: None,
        delivered_at: None,
    };
    outbox.insert(key, enc(&d))?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cause, Period, Severity};

    fn obs(p: Period, v: f64) -> StoredObservation {
        let t = Utc::now();
        StoredObservation {
            period: p,
            source_period: p.to_string(),
            value: v,
            status: "Voorlopig".into(),
            first_seen: t,
            value_seen: t,
            revisions: vec![],
        }
    }

    fn alert(id: &str) -> Alert {
        Alert {
            id: id.into(),
            rule: "r".into(),
            kind: "release".into(),
            severity: Severity::Info,
            series: "s".into(),
            title: "t".into(),
            source: "cbs".into(),
            table: "T".into(),
            unit: "%".into(),
            period: Period::Month(2025, 3),
            source_period: "2025MM03".into(),
            value: 1.0,
            previous: None,
            cause: Cause::NewPeriod,
            summary: "x".into(),
            details: Default::default(),
            detected_at: Utc::now(),
        }
    }

    #[test]
    fn commit_round_trips_and_dedupes_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = PollWrite {
            observations: vec![(
                "s".into(),
                vec![
                    obs(Period::Month(2025, 2), 1.0),
                    obs(Period::Month(2024, 12), -4.5),
                ],
            )],
            alerts: vec![(alert("a1"), vec!["ops".into(), "mail".into()])],
            ..Default::default()
        };
        let s = store.commit(&w).unwrap();
        assert_eq!(s.new_alerts, vec!["a1".to_string()]);
        assert_eq!(s.enqueued, 2);
        // Observations come back in period order; a prefix never leaks into "s2".
        let got = store.observations("s").unwrap();
        assert_eq!(got[0].period, Period::Month(2024, 12));
        assert!(store.observations("s2").unwrap().is_empty());
        // The same alert again enqueues nothing.
        let again = store.commit(&w).unwrap();
        assert_eq!(again.enqueued, 0);
        assert!(again.new_alerts.is_empty());
        drop(store);
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.pending().unwrap().len(), 2);
    }

    #[test]
    fn a_foreign_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.meta.insert("schema_version", "99").unwrap();
            s.db.flush().unwrap();
        }
        let e = Store::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }
}
