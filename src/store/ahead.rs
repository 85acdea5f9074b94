//! A poll's series records, release log entries, alerts and outbox records written ahead of
//! its transaction, under an undo log.
//!
//! sled keeps every key a transaction writes, and every node version those writes replace,
//! in memory until the transaction ends: measured with sled 0.34, 16,680 series records of
//! 900 bytes in one transaction peaked at 148 MB of RSS, the same records inserted one by one
//! at 25 MB (16,680 records of 100 bytes still cost 90 MB: the cost is per key, not per byte).
//! A poll of a whole table writes that many series records, at its first sync and again at
//! every release that adds a period.
//!
//! So a commit first writes the undo log (`meta` keys `ahead:` + big-endian id + chunk
//! number: every key about to be written, with the value it replaces or none), flushes it,
//! then writes the series and revision records, the release log entries, and the new alert
//! and outbox records one by one; the transaction (stamps, the poll time, the queue of new
//! outbox entries for the due index, see `queue`) deletes the undo log together with
//! everything else it writes. A flood of 200,000 alerts written in the transaction peaked at
//! gigabytes; written ahead, an alert costs its record and an undo entry of its key. A store opened with an undo log left (a crash
//! between the two) puts back what it lists, so the store is as the poll found it, which is
//! what one transaction would have left: data and its alerts still land together or not at
//! all. A transaction that fails is undone at once.

use std::collections::HashSet;

use sled::IVec;
use tracing::warn;

use super::codec::{varint, Reader};
use super::outbox::Fresh;
use super::record::{RecordError, FORMAT};
use super::series::{corrupt, merged_records};
use super::{EncodedSeries, PollWrite, Store, StoreError, StoredObservation};

const PREFIX: &[u8] = b"ahead:";
/// An undo log is cut into values of about this size (sled holds a value whole).
const CHUNK_BYTES: usize = 1 << 20;

/// The trees a poll writes ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Series = 1,
    Revisions = 2,
    Releases = 3,
    Alerts = 4,
    Outbox = 5,
}

/// One write ahead: where, the new value (`None`: remove), and what it replaces.
struct Write {
    tree: Tree,
    key: Vec<u8>,
    new: Option<IVec>,
    old: Option<IVec>,
}

/// The undo log of one commit: its `meta` keys, removed by the transaction.
pub(super) struct Ahead {
    pub(super) keys: Vec<Vec<u8>>,
}

impl Store {
    fn tree(&self, t: Tree) -> &sled::Tree {
        match t {
            Tree::Series => &self.series,
            Tree::Revisions => &self.revisions,
            Tree::Releases => &self.releases,
            Tree::Alerts => &self.alerts,
            Tree::Outbox => &self.outbox,
        }
    }

    /// Writes the poll's series records (first syncs as encoded, updates merged into what is
    /// stored), its release log entries and its new alert and outbox records ahead of the
    /// transaction, after their undo log; `None` when there is nothing to write.
    pub(super) fn write_ahead(
        &self,
        w: &PollWrite,
        releases: &[LogRow],
        fresh: &Fresh,
    ) -> Result<Option<Ahead>, StoreError> {
        let writes = self.planned(w, releases)?;
        if writes.is_empty() && fresh.alerts.is_empty() && fresh.entries.is_empty() {
            return Ok(None);
        }
        let mut undo = UndoLog {
            store: self,
            id: self.db.generate_id()?.to_be_bytes(),
            chunk: vec![FORMAT],
            keys: Vec::new(),
        };
        let logged = (|| {
            for write in &writes {
                undo.push(write.tree, &write.key, write.old.as_deref())?;
            }
            // New keys only (see `Store::fresh`): undone by removing them.
            for &i in &fresh.alerts {
                undo.push(Tree::Alerts, w.alerts[i].0.id.as_bytes(), None)?;
            }
            for (key, _) in fresh.entry_keys(w) {
                undo.push(Tree::Outbox, &key, None)?;
            }
            undo.finish()
        })();
        if let Err(e) = logged {
            // Nothing was written yet: a partial undo log must not outlive this commit (it
            // would put back old values over later ones at the next open).
            for k in &undo.keys {
                let _ = self.meta.remove(k.as_slice());
            }
            return Err(e);
        }
        let ahead = Ahead { keys: undo.keys };
        let written = writes
            .iter()
            .try_for_each(|write| {
                let tree = self.tree(write.tree);
                match &write.new {
                    Some(v) => tree.insert(write.key.as_slice(), v.clone()).map(drop),
                    None => tree.remove(write.key.as_slice()).map(drop),
                }
            })
            .map_err(StoreError::from)
            .and_then(|()| self.write_fresh(w, fresh));
        if let Err(e) = written {
            self.undo(&ahead);
            return Err(e);
        }
        Ok(Some(ahead))
    }

    /// The poll's new alert and outbox records, each encoded as it is written.
    fn write_fresh(&self, w: &PollWrite, fresh: &Fresh) -> Result<(), StoreError> {
        for record in fresh.alert_records(w) {
            let (k, v) = record?;
            self.alerts.insert(k, v)?;
        }
        for record in fresh.entry_records(w) {
            let (k, v) = record?;
            self.outbox.insert(k, v)?;
        }
        Ok(())
    }

    /// Every write the poll makes ahead, with the values they replace: a series' record and
    /// revisions as merged with the poll's updates (each series is written by one poll at a
    /// time, so what is read here is what the transaction would have read).
    fn planned(&self, w: &PollWrite, releases: &[LogRow]) -> Result<Vec<Write>, StoreError> {
        let mut writes = Vec::new();
        let mut seen = HashSet::new();
        for (id, e) in &w.encoded {
            self.plan_series(&mut writes, &mut seen, id, Updates::Encoded(e))?;
        }
        for (id, updates) in &w.observations {
            self.plan_series(&mut writes, &mut seen, id, Updates::Decoded(updates))?;
        }
        for (key, value) in releases {
            writes.push(Write {
                tree: Tree::Releases,
                key: key.to_vec(),
                new: Some(value.as_slice().into()),
                old: None,
            });
        }
        Ok(writes)
    }

    fn plan_series(
        &self,
        writes: &mut Vec<Write>,
        seen: &mut HashSet<String>,
        id: &str,
        updates: Updates,
    ) -> Result<(), StoreError> {
        // A series written twice in one poll (not done today) would need its first old value.
        if !seen.insert(id.to_string()) {
            return Err(StoreError::Unreadable {
                tree: "series",
                key: id.to_string(),
                reason: "written twice in one poll".into(),
            });
        }
        let old_series = self.series.get(id)?;
        let old_revs = self.revisions.get(id)?;
        if let (Updates::Encoded(e), None, None) = (&updates, &old_series, &old_revs) {
            writes.push(Write {
                tree: Tree::Series,
                key: id.as_bytes().to_vec(),
                new: Some(e.ivec()),
                old: None,
            });
            return Ok(());
        }
        let decoded;
        let list: &[StoredObservation] = match updates {
            Updates::Decoded(list) => list,
            Updates::Encoded(e) => {
                decoded = super::record::decode_series(e.bytes())
                    .map_err(|err| corrupt("series", id, err))?
                    .into_values()
                    .collect::<Vec<_>>();
                &decoded
            }
        };
        let (series, revisions) =
            merged_records(id, old_series.as_deref(), old_revs.as_deref(), list)?;
        writes.push(Write {
            tree: Tree::Series,
            key: id.as_bytes().to_vec(),
            new: Some(series.into()),
            old: old_series,
        });
        if let Some(new) = revisions {
            writes.push(Write {
                tree: Tree::Revisions,
                key: id.as_bytes().to_vec(),
                new: new.map(IVec::from),
                old: old_revs,
            });
        }
        Ok(())
    }

    /// Puts back what `ahead` wrote and removes its undo log; an error is logged, and the
    /// undo log (if it could not be removed) is acted on at the next open.
    pub(super) fn undo(&self, ahead: &Ahead) {
        let undone = ahead.keys.iter().try_for_each(|k| match self.meta.get(k)? {
            Some(chunk) => self.apply_undo(k, &chunk),
            None => Ok(()),
        });
        if let Err(e) = undone.and_then(|()| Ok(self.db.flush().map(drop)?)) {
            warn!(store = %self.path, error = %e, "could not undo a failed commit's records; the next start does");
        }
    }

    /// Restores what one undo chunk lists, then deletes the chunk.
    fn apply_undo(&self, key: &[u8], chunk: &[u8]) -> Result<(), StoreError> {
        let bad = |e: RecordError| corrupt("meta", &String::from_utf8_lossy(key), e);
        let mut r = Reader::open(chunk).map_err(bad)?;
        while !r.done() {
            let tree = match r.byte("tree").map_err(bad)? {
                1 => Tree::Series,
                2 => Tree::Revisions,
                3 => Tree::Releases,
                4 => Tree::Alerts,
                5 => Tree::Outbox,
                _ => return Err(bad(r.bad("tree"))),
            };
            let k = r.bytes("key").map_err(bad)?.to_vec();
            let tree = self.tree(tree);
            match r.byte("old").map_err(bad)? {
                0 => {
                    tree.remove(k)?;
                }
                _ => {
                    let old = r.bytes("old value").map_err(bad)?;
                    tree.insert(k, old)?;
                }
            }
        }
        self.meta.remove(key)?;
        Ok(())
    }

    /// At open: undoes the writes ahead of commits that never finished (a crash between the
    /// writes and the transaction). Returns how many undo chunks were applied.
    pub(super) fn undo_interrupted(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        // Newest first: should two unfinished commits have written one key, the older one's
        // old value is the one left.
        for kv in self.meta.scan_prefix(PREFIX).rev() {
            let (key, chunk) = kv?;
            self.apply_undo(&key, &chunk)?;
            applied += 1;
        }
        if applied > 0 {
            self.db.flush()?;
            warn!(store = %self.path, chunks = applied, "an interrupted poll's records were undone; the next poll fetches them again");
        }
        Ok(applied)
    }
}

/// A release log row: its sequence key and JSON value.
pub(super) type LogRow = ([u8; 8], Vec<u8>);

/// A series' updates as the poll holds them.
enum Updates<'a> {
    Encoded(&'a EncodedSeries),
    Decoded(&'a [StoredObservation]),
}

/// An undo log as it is written: cut into chunks of about [`CHUNK_BYTES`], each a `meta` key.
struct UndoLog<'a> {
    store: &'a Store,
    id: [u8; 8],
    chunk: Vec<u8>,
    keys: Vec<Vec<u8>>,
}

impl UndoLog<'_> {
    /// Lists one key about to be written, with the value it replaces (`None`: none).
    fn push(&mut self, tree: Tree, key: &[u8], old: Option<&[u8]>) -> Result<(), StoreError> {
        encode_undo(&mut self.chunk, tree, key, old);
        if self.chunk.len() >= CHUNK_BYTES {
            self.put()?;
        }
        Ok(())
    }

    fn put(&mut self) -> Result<(), StoreError> {
        let mut key = PREFIX.to_vec();
        key.extend_from_slice(&self.id);
        key.extend_from_slice(&(self.keys.len() as u32).to_be_bytes());
        self.store
            .meta
            .insert(key.as_slice(), self.chunk.as_slice())?;
        self.keys.push(key);
        self.chunk = vec![FORMAT];
        Ok(())
    }

    /// Puts the last chunk and flushes: the undo log is on disk before anything it undoes.
    fn finish(&mut self) -> Result<(), StoreError> {
        if self.chunk.len() > 1 {
            self.put()?;
        }
        self.store.db.flush()?;
        Ok(())
    }
}

/// tree:u8 key-len:varint key old:u8 (0 none, 1 some) [old-len:varint old]
fn encode_undo(out: &mut Vec<u8>, tree: Tree, key: &[u8], old: Option<&[u8]>) {
    out.push(tree as u8);
    varint(out, key.len() as u64);
    out.extend_from_slice(key);
    match old {
        None => out.push(0),
        Some(old) => {
            out.push(1);
            varint(out, old.len() as u64);
            out.extend_from_slice(old);
        }
    }
}
