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

use super::inflight::Write;
use super::record;
use super::series::corrupt;
use super::{Store, StoreError, StoredObservation, Tree};

impl Store {
    /// The index writes that keep up with the series records among a commit's `writes`
    /// (a record removed removes its entry); an entry that stays as it is is not written.
    pub(super) fn plan_latest(&self, writes: &[Write]) -> Result<Vec<Write>, StoreError> {
        let mut index = Vec::new();
        for w in writes.iter().filter(|w| w.tree == Tree::Series) {
            let new = match &w.new {
                Some(record) => entry(&w.key, record)?,
                None => None,
            };
            let old = self.latest.get(&w.key)?;
            if new.as_deref() != old.as_deref() {
                index.push(Write {
                    tree: Tree::Latest,
                    key: w.key.clone(),
                    new: new.map(IVec::from),
                    old,
                });
            }
        }
        Ok(index)
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
