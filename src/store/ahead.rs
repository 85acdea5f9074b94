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
//! then writes the series and revision records with their `latest` index entries, the
//! release log entries, and the new alert and outbox records one by one; the transaction
//! (stamps, the poll time, the queue of new outbox entries for the due index, see `queue`)
//! deletes the undo log together with everything else it writes. A flood of 200,000 alerts written in the transaction peaked at
//! gigabytes; written ahead, an alert costs its record and an undo entry of its key. A store
//! opened with an undo log left (a crash between the two) puts back what it lists, so the
//! store is as the poll found it, which is what one transaction would have left: data and
//! its alerts still land together or not at all. A transaction that fails is undone at once.
//!
//! # What readers see meanwhile
//!
//! Readers (the pages, the control socket, `series` and `export`, the overdue check, another
//! source's poll) never see a record of a commit that has not finished: from before its first
//! write ahead until its transaction is committed, or its undo has finished, the commit's
//! planned writes (each with the value it replaces) are registered in the store
//! ([`InFlight`]), and every reader of the trees written ahead reads through
//! [`Store::committed`], which answers a registered key with the value it had before the
//! commit. Registering and unregistering take a lock that each read holds only while it
//! reads, so a reader never waits for a commit's writes and never sees half of them: it sees
//! the store as the last finished commit left it. A commit whose undo could not finish stays
//! registered until the process ends (the next open undoes it).
//!
//! A poll's new alert and outbox records are not registered: delivery reaches an entry only
//! through the due index, which gets it after the transaction (see `queue`), so nothing
//! uncommitted is ever sent. The delivery log (`alerts`, `/alerts`) may list them as pending
//! while the commit runs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use sled::IVec;
use tracing::warn;

use super::codec::{varint, Reader, RecordError, FORMAT};
use super::outbox::Fresh;
use super::series::{corrupt, merged_records};
use super::StoredObservation;
use super::{
    dec, enc, EncodedSeries, LogRow, PollWrite, ReleaseLogEntry, Rename, Store, StoreError, Tree,
};

const PREFIX: &[u8] = b"ahead:";
/// An undo log is cut into values of about this size (sled holds a value whole).
const CHUNK_BYTES: usize = 1 << 20;

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
    /// Its writes as readers are shown them until it is done ([`Store::finished`]).
    inflight: Arc<InFlight>,
}

/// The writes of one unfinished commit, sorted by tree and key, each with the value it
/// replaces: what readers are answered for those keys (see the module docs).
pub(super) struct InFlight {
    writes: Vec<Write>,
}

impl InFlight {
    /// The value `key` had before this commit, if the commit writes it.
    fn before(&self, tree: Tree, key: &[u8]) -> Option<&Option<IVec>> {
        self.writes
            .binary_search_by(|w| (w.tree, w.key.as_slice()).cmp(&(tree, key)))
            .ok()
            .map(|i| &self.writes[i].old)
    }
}

/// The commits in flight, shared by every clone of a store.
pub(super) type Registry = Arc<RwLock<Vec<Arc<InFlight>>>>;

/// A read of the trees written ahead as the finished commits left them (see the module
/// docs); held only while reading, it keeps a commit from registering or finishing meanwhile.
pub(super) struct Committed<'a> {
    store: &'a Store,
    inflight: RwLockReadGuard<'a, Vec<Arc<InFlight>>>,
}

impl Committed<'_> {
    /// The committed value of one key.
    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        // The oldest commit that writes the key knows its value before all of them.
        if let Some(old) = self.inflight.iter().find_map(|c| c.before(tree, key)) {
            return Ok(old.clone());
        }
        Ok(self.store.tree(tree).get(key)?)
    }

    /// Every committed key and value of a tree, in key order.
    pub(super) fn entries(
        &self,
        tree: Tree,
        keys_only: bool,
    ) -> Result<Vec<(IVec, IVec)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.store.tree(tree).iter() {
            let (k, v) = kv?;
            if self.inflight.iter().any(|c| c.before(tree, &k).is_some()) {
                continue;
            }
            out.push((k, if keys_only { IVec::default() } else { v }));
        }
        if self.inflight.is_empty() {
            return Ok(out);
        }
        // Keys the commits in flight wrote or removed: as they were before them.
        let mut seen = HashSet::new();
        for c in self.inflight.iter() {
            for w in c.writes.iter().filter(|w| w.tree == tree) {
                if !seen.insert(w.key.as_slice()) {
                    continue;
                }
                if let Some(Some(old)) = self.inflight.iter().find_map(|c| c.before(tree, &w.key)) {
                    let v = if keys_only {
                        IVec::default()
                    } else {
                        old.clone()
                    };
                    out.push((w.key.as_slice().into(), v));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl Store {
    /// A read of the committed records (see the module docs).
    pub(super) fn committed(&self) -> Committed<'_> {
        Committed {
            store: self,
            inflight: self.inflight.read().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// The commit of `ahead` is done (committed, or undone): readers see the trees again.
    pub(super) fn finished(&self, ahead: &Ahead) {
        let mut all = self.inflight.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|c| !Arc::ptr_eq(c, &ahead.inflight));
    }

    fn tree(&self, t: Tree) -> &sled::Tree {
        match t {
            Tree::Series => &self.series,
            Tree::Revisions => &self.revisions,
            Tree::Releases => &self.releases,
            Tree::Identities => &self.identities,
            Tree::Alerts => &self.alerts,
            Tree::Outbox => &self.outbox,
            Tree::Latest => &self.latest,
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
        let mut writes = self.planned(w, releases)?;
        if writes.is_empty() && fresh.alerts.is_empty() && fresh.entries.is_empty() {
            return Ok(None);
        }
        // Sorted for `InFlight::before`; each key is written once, so the order is free.
        writes.sort_by(|a, b| (a.tree, &a.key).cmp(&(b.tree, &b.key)));
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
        // Registered before the first write: from here readers see the values it replaces.
        // A poll's new alert and outbox records are not: no reader of the due index can
        // reach them before the transaction (see `queue`).
        let inflight = Arc::new(InFlight { writes });
        self.inflight
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(inflight.clone());
        let ahead = Ahead {
            keys: undo.keys,
            inflight,
        };
        let written = ahead
            .inflight
            .writes
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
    /// time, so what is read here is what the transaction would have read), a renamed
    /// series' records moved, the identities indexed, and the `latest` entry of every series
    /// record written (see `latest`).
    fn planned(&self, w: &PollWrite, releases: &[LogRow]) -> Result<Vec<Write>, StoreError> {
        let mut writes = Vec::new();
        let mut seen = HashSet::new();
        let from: HashMap<&str, &str> = w
            .renames
            .iter()
            .map(|r| (r.to.as_str(), r.from.as_str()))
            .collect();
        let from_of = |id: &str| from.get(id).copied();
        for (id, e) in &w.encoded {
            self.plan_series(&mut writes, &mut seen, id, from_of(id), Updates::Encoded(e))?;
        }
        for (id, updates) in &w.observations {
            let updates = Updates::Decoded(updates);
            self.plan_series(&mut writes, &mut seen, id, from_of(id), updates)?;
        }
        if !w.renames.is_empty() {
            self.plan_log_renames(&mut writes, &w.renames)?;
        }
        for r in &w.renames {
            if !seen.contains(r.to.as_str()) {
                let none = Updates::Decoded(&[]);
                self.plan_series(&mut writes, &mut seen, &r.to, Some(&r.from), none)?;
            }
            self.plan_removal(&mut writes, &mut seen, &r.from)?;
        }
        let mut indexed = HashSet::new();
        for (identity, id) in &w.identities {
            let old = self.identities.get(identity.key())?;
            // The first series of an identity is indexed (see `pipeline::identity`).
            if indexed.insert(identity.key()) && old.as_deref() != Some(id.as_bytes()) {
                writes.push(Write {
                    tree: Tree::Identities,
                    key: identity.key().to_vec(),
                    new: Some(id.as_bytes().into()),
                    old,
                });
            }
        }
        for (key, value) in releases {
            writes.push(Write {
                tree: Tree::Releases,
                key: key.to_vec(),
                new: Some(value.as_slice().into()),
                old: None,
            });
        }
        let records = writes.iter().filter(|w| w.tree == Tree::Series);
        let index = self.plan_latest(records.map(|w| (w.key.as_slice(), w.new.as_deref())))?;
        writes.extend(index.into_iter().map(|(key, new, old)| Write {
            tree: Tree::Latest,
            key,
            new,
            old,
        }));
        Ok(writes)
    }

    /// A series written twice in one poll would need its first old value: refused.
    fn once(seen: &mut HashSet<String>, id: &str) -> Result<(), StoreError> {
        if seen.insert(id.to_string()) {
            return Ok(());
        }
        Err(StoreError::Unreadable {
            tree: "series",
            key: id.to_string(),
            reason: "written twice in one poll".into(),
        })
    }

    /// The series `id` with `updates` merged into its records, which are read from `from`
    /// when it is renamed from there (the records `id` holds are then replaced).
    fn plan_series(
        &self,
        writes: &mut Vec<Write>,
        seen: &mut HashSet<String>,
        id: &str,
        from: Option<&str>,
        updates: Updates,
    ) -> Result<(), StoreError> {
        Self::once(seen, id)?;
        let src = from.unwrap_or(id);
        let old_series = self.series.get(src)?;
        let old_revs = self.revisions.get(src)?;
        let (at_series, at_revs) = match from {
            None => (old_series.clone(), old_revs.clone()),
            Some(_) => (self.series.get(id)?, self.revisions.get(id)?),
        };
        if let (Updates::Encoded(e), None, None) = (&updates, &old_series, &old_revs) {
            writes.push(Write {
                tree: Tree::Series,
                key: id.as_bytes().to_vec(),
                new: Some(e.ivec()),
                old: at_series,
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
            old: at_series,
        });
        // A renamed series takes its revisions along where the poll leaves them as they were.
        let revisions = match revisions {
            Some(new) => Some(new.map(IVec::from)),
            None if from.is_some() => Some(old_revs),
            None => None,
        };
        if let Some(new) = revisions.filter(|new| new.is_some() || at_revs.is_some()) {
            writes.push(Write {
                tree: Tree::Revisions,
                key: id.as_bytes().to_vec(),
                new,
                old: at_revs,
            });
        }
        Ok(())
    }

    /// The release log entries of series renamed away, named by their new id (so a backtest
    /// of the new id replays them). An entry that does not decode is left as it is.
    fn plan_log_renames(
        &self,
        writes: &mut Vec<Write>,
        renames: &[Rename],
    ) -> Result<(), StoreError> {
        let to: HashMap<&str, &str> = renames
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()))
            .collect();
        for kv in self.releases.iter() {
            let (key, old) = kv?;
            let Ok(mut entry) = dec::<ReleaseLogEntry>("releases", &key, &old) else {
                continue;
            };
            let Some(new_id) = to.get(entry.series.as_str()) else {
                continue;
            };
            entry.series = new_id.to_string();
            writes.push(Write {
                tree: Tree::Releases,
                key: key.to_vec(),
                new: Some(enc("releases", &key, &entry)?.into()),
                old: Some(old),
            });
        }
        Ok(())
    }

    /// Removes the records of a series renamed away.
    fn plan_removal(
        &self,
        writes: &mut Vec<Write>,
        seen: &mut HashSet<String>,
        id: &str,
    ) -> Result<(), StoreError> {
        Self::once(seen, id)?;
        for tree in [Tree::Series, Tree::Revisions] {
            if let Some(old) = self.tree(tree).get(id)? {
                writes.push(Write {
                    tree,
                    key: id.as_bytes().to_vec(),
                    new: None,
                    old: Some(old),
                });
            }
        }
        Ok(())
    }

    /// Puts back what `ahead` wrote and removes its undo log, then lets readers see the
    /// trees again; an error is logged, and the undo log (if it could not be removed) is
    /// acted on at the next open (readers go on seeing the values it puts back until then).
    pub(super) fn undo(&self, ahead: &Ahead) {
        let undone = ahead.keys.iter().try_for_each(|k| match self.meta.get(k)? {
            Some(chunk) => self.apply_undo(k, &chunk),
            None => Ok(()),
        });
        match undone.and_then(|()| Ok(self.db.flush().map(drop)?)) {
            Ok(()) => self.finished(ahead),
            Err(e) => {
                warn!(store = %self.path, error = %e, "could not undo a failed commit's records; the next start does");
            }
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
                4 => Tree::Identities,
                5 => Tree::Alerts,
                6 => Tree::Outbox,
                7 => Tree::Latest,
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
