//! What the store keeps about the data: observation records per series, the cheap-check
//! stamp per table, the release log and the last poll of each source.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{dec, enc, key2, prefix, PollWrite, Store, StoreError};
use crate::model::{Release, StoredObservation};

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
    /// The first failed poll since the last good one (`None` while polls succeed).
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// The latest poll error (kept after a recovery, for the recovery alert).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A key and its encoded value, ready for a transaction.
pub(super) type Row = (Vec<u8>, Vec<u8>);

/// One poll's data records, encoded and checked before the transaction starts.
#[derive(Default)]
pub(super) struct SeriesRows {
    pub(super) observations: Vec<Row>,
    pub(super) stamps: Vec<Row>,
    pub(super) releases: Vec<([u8; 8], Vec<u8>)>,
    pub(super) poll: Option<Row>,
}

impl Store {
    /// Every stored observation of a series, oldest period first.
    pub fn observations(&self, series: &str) -> Result<Vec<StoredObservation>, StoreError> {
        self.observations
            .scan_prefix(prefix(series))
            .map(|kv| {
                let (k, v) = kv?;
                dec("observations", &k, &v)
            })
            .collect()
    }

    /// Every series id with stored observations, in key order (a derived series' `#level`
    /// ids too): what the store knows of groups' expanded series, and what `export` reads.
    /// One seek per series, not a scan of every observation.
    pub fn series_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some(kv) = self.observations.range(from.as_slice()..).next() {
            let (k, _) = kv?;
            let end = k.iter().position(|b| *b == 0).unwrap_or(k.len());
            out.push(String::from_utf8_lossy(&k[..end]).into_owned());
            // Keys are `id NUL period`: `id \x01` sorts after every key of this series.
            from = k[..end].to_vec();
            from.push(1);
        }
        Ok(out)
    }

    pub fn stamp(&self, source: &str, table: &str) -> Result<Option<TableStamp>, StoreError> {
        let key = key2(source, table);
        self.stamps
            .get(&key)?
            .map(|v| dec("stamps", &key, &v))
            .transpose()
    }

    pub fn poll_record(&self, source: &str) -> Result<Option<PollRecord>, StoreError> {
        self.polls
            .get(source)?
            .map(|v| dec("polls", source.as_bytes(), &v))
            .transpose()
    }

    /// The release log, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseLogEntry>, StoreError> {
        self.releases
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                dec("releases", &k, &v)
            })
            .collect()
    }

    /// Records a poll that wrote nothing else (a failure, or nothing changed).
    pub fn record_poll(&self, source: &str, record: &PollRecord) -> Result<(), StoreError> {
        let value = enc("polls", source.as_bytes(), record)?;
        self.polls.insert(source, value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Encodes the data part of a poll's writes: observations, stamps, release log, poll time.
    pub(super) fn series_rows(&self, w: &PollWrite) -> Result<SeriesRows, StoreError> {
        let mut rows = SeriesRows::default();
        for (series, list) in &w.observations {
            for o in list {
                let key = key2(series, &o.period.sort_key());
                let value = enc("observations", &key, o)?;
                rows.observations.push((key, value));
            }
        }
        for (source, table, stamp) in &w.stamps {
            let key = key2(source, table);
            let value = enc("stamps", &key, stamp)?;
            rows.stamps.push((key, value));
        }
        // Sequence numbers are taken outside the transaction: a retried closure must not
        // draw new ones, and gaps after a failed commit are harmless.
        for entry in &w.releases {
            let key = self.db.generate_id()?.to_be_bytes();
            let value = enc("releases", &key, entry)?;
            rows.releases.push((key, value));
        }
        if let Some((source, record)) = &w.poll {
            let key = source.as_bytes();
            rows.poll = Some((key.to_vec(), enc("polls", key, record)?));
        }
        Ok(rows)
    }
}
