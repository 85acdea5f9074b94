//! What the store keeps about the data: the observation and revision records per series
//! (merged with a poll's updates inside its transaction), the cheap-check stamp per table,
//! the release log and the last poll of each source.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::codec::RecordError;
use super::record::{self, check, code_of, View};
use super::{dec, enc, key2, show_key, DecodeError, LogRow, PollWrite, Store, StoreError, Tree};
use crate::diff::merged;
use crate::model::{Period, Release, StoredObservation};
use crate::sources::Fetched;

/// The last cheap-check value seen for a table (CBS `Modified`, GENESIS `LatestUpdate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStamp {
    pub stamp: String,
    pub fetched_at: DateTime<Utc>,
    /// What was downloaded (see `pipeline::selection`): a changed config re-downloads.
    #[serde(default)]
    pub selection: String,
    /// The unit of each watched measure at that download, to see a new base year.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub units: std::collections::BTreeMap<String, String>,
    /// Polls in a row the source has called the table missing (GENESIS status 90 or 104).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing: u32,
}

impl TableStamp {
    /// The stamp of a table downloaded at `at`: `stamp` and `selection` as the check and the
    /// config had them, the watched measures' `units`, not missing.
    pub fn fetched(
        stamp: String,
        at: DateTime<Utc>,
        selection: String,
        units: std::collections::BTreeMap<String, String>,
    ) -> TableStamp {
        TableStamp {
            stamp,
            fetched_at: at,
            selection,
            units,
            missing: 0,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One line of the release log: what a poll found in one series.
///
/// A baseline (first sync) entry does not list its periods: they are the series' stored
/// observations whose `first_seen` is the entry's `at` (see [`ReleaseLogEntry::compact`]),
/// and listing them made the log half of the store after the first sync of a large table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseLogEntry {
    pub at: DateTime<Utc>,
    pub source: String,
    pub table: String,
    pub series: String,
    pub release: Release,
    /// A compacted baseline's new periods: how many, the first and the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSpan>,
    /// For the first sync of a group's series in one poll (`series` is then the group's id
    /// template): how many series it stored. One entry instead of one per series, which for
    /// a whole table was thousands of log writes saying the same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_series: Option<usize>,
}

/// The new periods of a baseline release, in short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSpan {
    pub count: usize,
    pub first: Period,
    pub last: Period,
}

impl BaselineSpan {
    /// The span of a baseline's new periods; `None` for any other release, or an empty one.
    pub fn of(release: &Release) -> Option<BaselineSpan> {
        if !release.baseline || release.new_periods.is_empty() {
            return None;
        }
        Some(BaselineSpan {
            count: release.new_periods.len(),
            first: *release.new_periods.iter().min().expect("not empty"),
            last: *release.new_periods.iter().max().expect("not empty"),
        })
    }
}

impl ReleaseLogEntry {
    /// The log entry of `release`: a baseline keeps its revisions and status changes (none,
    /// in practice) but names its new periods only by count and span.
    pub fn compact(
        at: DateTime<Utc>,
        source: &str,
        table: &str,
        series: &str,
        release: &Release,
    ) -> ReleaseLogEntry {
        let (release, baseline) = if let Some(span) = BaselineSpan::of(release) {
            let short = Release {
                baseline: true,
                new_periods: Vec::new(),
                revisions: release.revisions.clone(),
                status_changes: release.status_changes.clone(),
            };
            (short, Some(span))
        } else {
            (release.clone(), None)
        };
        ReleaseLogEntry {
            at,
            source: source.to_string(),
            table: table.to_string(),
            series: series.to_string(),
            release,
            baseline,
            group_series: None,
        }
    }

    /// The one entry of a group's first syncs in a poll (see `group_series`), begun with the
    /// baseline of its first series; [`ReleaseLogEntry::fold_group_baseline`] adds the others.
    pub fn group_baseline(
        at: DateTime<Utc>,
        source: &str,
        table: &str,
        template: &str,
        release: &Release,
    ) -> ReleaseLogEntry {
        ReleaseLogEntry {
            group_series: Some(1),
            ..ReleaseLogEntry::compact(at, source, table, template, release)
        }
    }

    /// Adds the baseline of one more series of the group.
    pub fn fold_group_baseline(&mut self, release: &Release) {
        self.group_series = Some(self.group_series.unwrap_or(1) + 1);
        if let (Some(span), Some(other)) = (&mut self.baseline, BaselineSpan::of(release)) {
            span.count += other.count;
            span.first = span.first.min(other.first);
            span.last = span.last.max(other.last);
        }
    }
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

/// One poll's data records, encoded and checked before the transaction starts (the series
/// records are merged inside it: they hold what is already stored).
#[derive(Default)]
pub(super) struct SeriesRows {
    pub(super) stamps: Vec<Row>,
    /// Written ahead of the transaction (see `ahead`).
    pub(super) releases: Vec<LogRow>,
    pub(super) poll: Option<Row>,
}

/// A first sync's series record, encoded straight from the download by
/// [`EncodedSeries::first_sync`], so a poll need not hold every decoded observation of a
/// large table until its commit. Written only where the store holds no record of the series
/// (see `ahead`).
#[derive(Debug)]
pub struct EncodedSeries {
    /// Shared, not copied, by the tree it is inserted into.
    bytes: sled::IVec,
}

impl EncodedSeries {
    /// The one encoding of a first sync: the record of series `id` holding `values`, every
    /// one first seen at `seen_at`, without earlier vintages: what `diff` against an empty
    /// store gives, without the `Observation`s and `StoredObservation`s of a whole table in
    /// between. The values come in strictly ascending period order, as every source gives
    /// them (`Fetched::keep_one_frequency`, `check_unique`) and `derive` makes them; a value
    /// out of order, not finite or of a period out of range is refused as the commit refuses
    /// it ([`StoreError::Unreadable`]).
    pub fn first_sync(
        id: &str,
        values: &Fetched,
        seen_at: DateTime<Utc>,
    ) -> Result<EncodedSeries, StoreError> {
        let mut last = None;
        for (label, value) in values.cells() {
            let refused = |reason: String| StoreError::Unreadable {
                tree: "series",
                key: format!("{id}/{}", label.period),
                reason,
            };
            if !value.is_finite() {
                return Err(refused(record::Refused::NotFinite { value }.to_string()));
            }
            let code = code_of(label.period).map_err(|e| refused(e.to_string()))?;
            if last.is_some_and(|c| c >= code) {
                return Err(refused("a first sync's periods must ascend".into()));
            }
            last = Some(code);
        }
        let views = values.cells().map(|(l, value)| {
            let view = View {
                period: l.period,
                source_period: &l.code,
                value,
                status: &l.status,
                first_seen: seen_at,
                value_seen: seen_at,
            };
            (code_of(l.period).expect("checked above"), view)
        });
        Ok(EncodedSeries {
            bytes: record::encode_sorted(views, values.len()).into(),
        })
    }

    /// The observations the record holds, oldest first (what a dry run shows, and what
    /// `Staged` reads before the commit).
    pub fn observations(&self, id: &str) -> Result<Vec<StoredObservation>, StoreError> {
        let obs = record::decode_series(&self.bytes).map_err(|e| corrupt("series", id, e))?;
        Ok(obs.into_values().collect())
    }

    /// For tests: the first sync of `obs` (their values, periods and statuses) at `seen_at`.
    #[cfg(test)]
    pub(super) fn of(obs: &[StoredObservation], seen_at: DateTime<Utc>) -> EncodedSeries {
        let values: Vec<crate::model::Observation> = obs
            .iter()
            .map(|o| crate::model::Observation {
                period: o.period,
                source_period: o.source_period.clone(),
                value: o.value,
                status: o.status.clone(),
            })
            .collect();
        EncodedSeries::first_sync("test", &values.into(), seen_at).expect("a first sync")
    }

    /// The record for an insert: a reference, not a copy of the bytes.
    pub(super) fn ivec(&self) -> sled::IVec {
        self.bytes.clone()
    }
}

impl Store {
    /// Whether the store has records of a series.
    pub fn holds(&self, series: &str) -> Result<bool, StoreError> {
        let read = self.committed();
        Ok(read.get(Tree::Series, series.as_bytes())?.is_some()
            || read.get(Tree::Revisions, series.as_bytes())?.is_some())
    }

    /// Every stored observation of a series, oldest period first.
    pub fn observations(&self, series: &str) -> Result<Vec<StoredObservation>, StoreError> {
        let (record, revisions) = {
            let read = self.committed();
            let key = series.as_bytes();
            (
                read.get(Tree::Series, key)?,
                read.get(Tree::Revisions, key)?,
            )
        };
        let Some(bytes) = record else {
            return Ok(Vec::new());
        };
        let mut obs = record::decode_series(&bytes).map_err(|e| corrupt("series", series, e))?;
        if let Some(bytes) = revisions {
            let revs =
                record::decode_revisions(&bytes).map_err(|e| corrupt("revisions", series, e))?;
            attach(&mut obs, revs);
        }
        Ok(obs.into_values().collect())
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
        let rows = self.committed().entries(Tree::Releases, false)?;
        rows.iter().map(|(k, v)| dec("releases", k, v)).collect()
    }

    /// Every series id with stored observations, in order (a derived series' `#level` ids
    /// too): what the store knows of groups' expanded series, and what `export` reads.
    pub fn series_ids(&self) -> Result<Vec<String>, StoreError> {
        let keys = self.committed().entries(Tree::Series, true)?;
        Ok(keys
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect())
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
                check(o).map_err(|e| StoreError::Unreadable {
                    tree: "series",
                    key: format!("{series}/{}", o.period),
                    reason: e.to_string(),
                })?;
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
            // Only a revision's values are floats, the one thing JSON may not read back: an
            // entry without any (every baseline's) skips the decoding check.
            let value = if entry.release.revisions.is_empty() {
                serde_json::to_vec(entry).map_err(|e| StoreError::Unreadable {
                    tree: "releases",
                    key: show_key(&key),
                    reason: e.to_string(),
                })?
            } else {
                enc("releases", &key, entry)?
            };
            rows.releases.push((key, value));
        }
        if let Some((source, record)) = &w.poll {
            let key = source.as_bytes();
            rows.poll = Some((key.to_vec(), enc("polls", key, record)?));
        }
        Ok(rows)
    }
}

/// What happens to a series' revisions record: `None` nothing, `Some(None)` removed,
/// `Some(Some(bytes))` written.
pub(super) type RevisionsChange = Option<Option<Vec<u8>>>;

/// A series' records with a poll's new and changed observations merged in ([`merged`]: each
/// update replaces the observation of its period, and that period's vintages too): its new
/// series record, and its revisions record if that changes (`Some(None)`: removed).
pub(super) fn merged_records(
    id: &str,
    old_series: Option<&[u8]>,
    old_revisions: Option<&[u8]>,
    updates: &[StoredObservation],
) -> Result<(Vec<u8>, RevisionsChange), StoreError> {
    let before = match old_revisions {
        Some(b) => record::decode_revisions(b).map_err(|e| corrupt("revisions", id, e))?,
        None => BTreeMap::new(),
    };
    let stored = match old_series {
        Some(b) => {
            let mut obs = record::decode_series(b).map_err(|e| corrupt("series", id, e))?;
            attach(&mut obs, before.clone());
            obs.into_values().collect()
        }
        None => Vec::new(),
    };
    let mut revs = BTreeMap::new();
    let obs: BTreeMap<u64, StoredObservation> = merged(stored, updates)
        .into_iter()
        .map(|mut o| {
            // Checked before the commit started (see `series_rows`), or read back.
            let code = code_of(o.period).expect("checked before the commit");
            if !o.revisions.is_empty() {
                revs.insert(code, std::mem::take(&mut o.revisions));
            }
            (code, o)
        })
        .collect();
    let series = record::encode_series(&obs);
    if revs == before {
        return Ok((series, None));
    }
    let revisions = (!revs.is_empty()).then(|| record::encode_revisions(&revs));
    Ok((series, Some(revisions)))
}

pub(super) fn corrupt(tree: &'static str, id: &str, e: RecordError) -> StoreError {
    StoreError::Corrupt {
        tree,
        key: show_key(id.as_bytes()),
        source: DecodeError::Record(e),
    }
}

/// Puts each period's earlier vintages back on its observation.
fn attach(
    obs: &mut BTreeMap<u64, StoredObservation>,
    revs: BTreeMap<u64, Vec<crate::model::Vintage>>,
) {
    for (code, list) in revs {
        if let Some(o) = obs.get_mut(&code) {
            o.revisions = list;
        }
    }
}
