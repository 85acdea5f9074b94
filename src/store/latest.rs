//! The `latest` index: each series' newest observation alone, so the overdue check reads a
//! few dozen bytes per series instead of every series record (docs/store.md).
//!
//! An entry is the series record (`record`) of that one observation, without its earlier
//! vintages: versioned by the record's format byte and read by the record's own decoder.
//! A series with no observation has no entry. Entries are derived from the series records a
//! commit writes, never from its updates, so an entry is what its record says by
//! construction; they are written ahead with those records, under the same undo log (see
//! `ahead`), and read through [`Store::committed`] like them: a commit and its entries land
//! together or not at all, a rename moves the entry with the record, and a reader never sees
//! an entry of an unfinished commit. Not in the transaction itself: sled holds every key of a
//! transaction in memory, and 20,000 entries there (a first sync of a large group) peaked at
//! 94 MB more RSS, written one by one at 10 MB.

use std::collections::BTreeMap;

use sled::IVec;

use super::record;
use super::series::corrupt;
use super::{Store, StoreError, StoredObservation, Tree};

/// One write of the index: the series id, its new entry (`None`: removed) and the entry it
/// replaces.
pub(super) type LatestWrite = (Vec<u8>, Option<IVec>, Option<IVec>);

impl Store {
    /// The index writes that keep up with `records`, the series records a commit writes (each
    /// id with its new record, `None`: removed); an entry that stays as it is is not written.
    pub(super) fn plan_latest<'a>(
        &self,
        records: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> Result<Vec<LatestWrite>, StoreError> {
        let mut writes = Vec::new();
        for (id, record) in records {
            let new = match record {
                Some(bytes) => entry(id, bytes)?,
                None => None,
            };
            let old = self.latest.get(id)?;
            if new.as_deref() != old.as_deref() {
                writes.push((id.to_vec(), new.map(IVec::from), old));
            }
        }
        Ok(writes)
    }

    /// A series' newest observation, as committed, without its earlier vintages (`None`: the
    /// store holds none). Reads the index only, never the series record.
    pub fn latest(&self, series: &str) -> Result<Option<StoredObservation>, StoreError> {
        let Some(bytes) = self.committed().get(Tree::Latest, series.as_bytes())? else {
            return Ok(None);
        };
        let newest = record::decode_newest(&bytes).map_err(|e| corrupt("latest", series, e))?;
        Ok(newest.map(|(_, o)| o))
    }

    /// Every series id with an observation, in order (a derived series' `#level` ids too),
    /// read from the index.
    pub fn latest_ids(&self) -> Result<Vec<String>, StoreError> {
        let keys = self.committed().entries(Tree::Latest, true)?;
        Ok(keys
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect())
    }
}

/// The index entry of the series record `bytes` of `id`: its newest observation alone;
/// `None` for a record without any.
pub(super) fn entry(id: &[u8], bytes: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let id = String::from_utf8_lossy(id);
    let newest = record::decode_newest(bytes).map_err(|e| corrupt("series", &id, e))?;
    Ok(newest.map(|newest| record::encode_series(&BTreeMap::from([newest]))))
}
