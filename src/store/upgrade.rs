//! Upgrading a store written by an earlier statwatch, in place, at open.
//!
//! Schema 1 kept one JSON record per observation (`observations`: `series \0 period`) and no
//! index of the outbox. Schema 2 keeps one binary record per series (`series`) with its
//! revisions beside it (`revisions`), and the outbox's due index and pending count. The
//! upgrade writes the new records from the old ones and sets `schema_version` last, so a
//! crash halfway leaves a schema-1 store that the next start upgrades again from the start
//! (every step overwrites what it writes). Nothing is deleted: the schema-1 `observations`
//! tree is left as it was (nothing reads it any more). Schema 3 adds the delivery log's
//! index (`log`) and the counts of delivered and failed entries, built here from the outbox
//! in one pass; an older statwatch refuses a schema-3 store (it would write entries the
//! index does not know). Schema 4 adds the index of each series' newest observation
//! (`latest`), built here from every series record once the open's undo of an interrupted
//! commit has put its records back (the index must say what the records say); a statwatch
//! of schema 3 refuses a schema-4 store, as it would write series records without their
//! entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::due::{due_key, position, stamp, LOG_DELIVERED, LOG_FAILED, PENDING_COUNT};
use super::latest;
use super::record::{check, code_of, encode_revisions, encode_series};
use super::{dec, show_key, Store, StoreError, SCHEMA_VERSION};
use crate::model::{Delivery, DeliveryState, StoredObservation};

/// The schema-1 tree of observations.
const V1_OBSERVATIONS: &str = "observations";

impl Store {
    /// Brings a store of schema `from` up to [`SCHEMA_VERSION`] and logs it once.
    pub(super) fn upgrade(&self, from: u32) -> Result<(), StoreError> {
        if from < 2 {
            let n = self.observations_from_v1()?;
            let pending = self.index_outbox()?;
            info!(observations = n, pending, "schema 1 records carried over");
        }
        if from < 3 {
            let indexed = self.index_log()?;
            info!(indexed, "delivery log indexed");
        }
        if from < 4 {
            // What an interrupted commit wrote is put back first, or its records would be
            // indexed (the open's own undo, next, then finds nothing left).
            self.undo_interrupted()?;
            let indexed = self.index_latest()?;
            info!(indexed, "latest periods indexed");
        }
        self.db.flush()?;
        self.meta
            .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
        self.db.flush()?;
        info!(store = %self.path, from, to = SCHEMA_VERSION, "store upgraded from schema {from} to {SCHEMA_VERSION}");
        Ok(())
    }

    /// Rewrites schema 1's per-observation records as one record per series. A record that
    /// does not decode or cannot be stored stops the upgrade (nothing may be lost silently).
    fn observations_from_v1(&self) -> Result<usize, StoreError> {
        let old = self.db.open_tree(V1_OBSERVATIONS)?;
        let mut count = 0;
        let mut series: Option<String> = None;
        let mut obs: BTreeMap<u64, StoredObservation> = BTreeMap::new();
        for kv in old.iter() {
            let (k, v) = kv?;
            let id = k.split(|b| *b == 0).next().unwrap_or(&[]);
            let id = String::from_utf8_lossy(id).into_owned();
            if series.as_deref() != Some(id.as_str()) {
                if let Some(done) = series.take() {
                    self.put_series(&done, std::mem::take(&mut obs))?;
                }
                series = Some(id);
            }
            let o: StoredObservation = dec(V1_OBSERVATIONS, &k, &v)?;
            let code =
                check(&o)
                    .and_then(|()| code_of(o.period))
                    .map_err(|e| StoreError::Unreadable {
                        tree: V1_OBSERVATIONS,
                        key: show_key(&k),
                        reason: e.to_string(),
                    })?;
            obs.insert(code, o);
            count += 1;
        }
        if let Some(done) = series {
            self.put_series(&done, obs)?;
        }
        Ok(count)
    }

    fn put_series(
        &self,
        id: &str,
        mut obs: BTreeMap<u64, StoredObservation>,
    ) -> Result<(), StoreError> {
        let revs: BTreeMap<_, _> = obs
            .iter_mut()
            .map(|(c, o)| (*c, std::mem::take(&mut o.revisions)))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        self.series.insert(id, encode_series(&obs))?;
        if revs.is_empty() {
            self.revisions.remove(id)?;
        } else {
            self.revisions.insert(id, encode_revisions(&revs))?;
        }
        Ok(())
    }

    /// Builds the due index and the pending count from the delivery records. A record that
    /// does not decode is indexed as due at once: the next delivery round rewrites it as
    /// pending (at least once), as schema 1 did.
    fn index_outbox(&self) -> Result<u64, StoreError> {
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let mut pending = 0u64;
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let at = match dec::<Delivery>("outbox", &k, &v) {
                Ok(d) => position(&d),
                Err(e) => {
                    warn!(key = %show_key(&k), error = %e, "an outbox record does not decode; indexed as due");
                    Some(epoch)
                }
            };
            if let Some(at) = at {
                let s = stamp(at);
                self.due.insert(due_key(&s, &k), &[][..])?;
                self.pending.insert(&k, &s[..])?;
                pending += 1;
            }
        }
        self.meta
            .insert(PENDING_COUNT, &pending.to_be_bytes()[..])?;
        Ok(pending)
    }
}

/// How many `log` or `latest` keys one batch of the upgrade writes.
const LOG_BATCH: usize = 10_000;

impl Store {
    /// Builds the delivery log's index and the counts of settled entries from the outbox.
    /// Only what delivery knows of goes in: settled entries and the pending ones of the due
    /// index (not those of a commit that the open undoes next, nor records that do not
    /// decode; a repaired record is indexed when it is rewritten). Every write is an
    /// overwrite, so an upgrade that stops halfway runs again from the start.
    fn index_log(&self) -> Result<u64, StoreError> {
        let (mut delivered, mut failed, mut indexed) = (0u64, 0u64, 0u64);
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let Ok(d) = dec::<Delivery>("outbox", &k, &v) else {
                continue;
            };
            match d.state {
                DeliveryState::Delivered => delivered += 1,
                DeliveryState::Failed => failed += 1,
                _ if self.pending.contains_key(&k)? => {}
                _ => continue,
            }
            batch.insert(due_key(&stamp(d.created_at), &k), &[][..]);
            (in_batch, indexed) = (in_batch + 1, indexed + 1);
            if in_batch == LOG_BATCH {
                self.log.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        self.log.apply_batch(batch)?;
        self.meta
            .insert(LOG_DELIVERED, &delivered.to_be_bytes()[..])?;
        self.meta.insert(LOG_FAILED, &failed.to_be_bytes()[..])?;
        Ok(indexed)
    }
}

impl Store {
    /// Builds the `latest` index from every series record, in batches (see `latest`). A
    /// record that does not decode gets no entry and is logged: the overdue check passes it
    /// by, as it passes a series never fetched, and the next poll of it refuses it as before.
    fn index_latest(&self) -> Result<u64, StoreError> {
        let mut indexed = 0u64;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in self.series.iter() {
            let (id, bytes) = kv?;
            let entry = match latest::entry(&id, &bytes) {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(e) => {
                    warn!(series = %show_key(&id), error = %e, "a series record does not decode; not in the latest index");
                    continue;
                }
            };
            batch.insert(id, entry);
            (in_batch, indexed) = (in_batch + 1, indexed + 1);
            if in_batch == LOG_BATCH {
                self.latest.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        self.latest.apply_batch(batch)?;
        Ok(indexed)
    }
}
