//! A poll's commit, step by step: its series records, release log entries, alerts and
//! outbox records written ahead of its transaction, under an undo log.
//!
//! sled keeps every key a transaction writes, and every node version those writes replace,
//! in memory until the transaction ends: measured with sled 0.34, 16,680 series records of
//! 900 bytes in one transaction peaked at 148 MB of RSS, the same records inserted one by one
//! at 25 MB (16,680 records of 100 bytes still cost 90 MB: the cost is per key, not per byte).
//! A poll of a whole table writes that many series records, at its first sync and again at
//! every release that adds a period. A flood of 200,000 alerts written in the transaction
//! peaked at gigabytes; written ahead, an alert costs its record and an undo entry of its key.
//!
//! # The steps, and the types that keep their order
//!
//! 1. [`Store::plan_commit`] takes the commit's turn (commits take turns: what a commit reads
//!    outside its transaction, a series' stored records and which alerts are new, is then
//!    what its transaction would have read), checks and encodes the poll's records
//!    (`series_rows`), finds its new alerts and outbox entries (`fresh`) and cuts their
//!    queue chunks (`queue`). Nothing is written. It is the only maker of a [`CommitPlan`].
//! 2. [`CommitPlan::write_ahead`] consumes the plan: it writes the undo log (`undo`: every
//!    key about to be written, with the value it replaces or none) and flushes it, registers
//!    the writes with the readers (`inflight`), then writes the series and revision records
//!    with their `latest` index entries, the release log entries and the new alert and
//!    outbox records one by one. It is the only maker of an [`Ahead`], which holds the undo
//!    log and the turn.
//! 3. The poll's one transaction (`Store::commit`: stamps, the poll time) calls
//!    [`Ahead::in_transaction`], which deletes the undo log and queues the new entries for the
//!    due index; only that call makes the [`UndoDeleted`] the transaction hands back.
//! 4. [`Ahead::settle`] consumes the `Ahead` with the transaction's outcome: committed (it
//!    takes the `UndoDeleted`), readers are shown the commit; failed, its writes are undone
//!    at once. Either way it happens once, and an `Ahead` dropped without being settled (an
//!    early return, a panic) is undone the same way: an undo log its transaction deleted
//!    puts nothing back. The [`Landed`] it returns lists the queue chunks to index.
//!
//! So the steps cannot run out of order, twice, or be left unfinished: each is a method of
//! the value the step before made, taking it by value. A store opened with an undo log left
//! (a crash between steps 2 and 4) puts back what it lists, so the store is as the poll found
//! it, which is what one transaction would have left: data and its alerts land together or
//! not at all.
//!
//! # What readers see meanwhile
//!
//! Nothing of the commit. Readers (the pages, the control socket, `series` and `export`, the
//! delivery log, the overdue check, another source's poll) read the trees written ahead
//! through [`Store::committed`]: from before the first write ahead until the commit is
//! settled, a key it writes reads as the value it replaces, and a key of a new alert or
//! outbox record as absent (`inflight`). A reader never waits for the commit's writes. A
//! commit whose undo could not finish stays registered until the process ends (the next open
//! undoes it). Delivery reads the outbox only at the keys the due index holds, and a poll's
//! new entries enter it after the transaction (see `queue`): nothing uncommitted is ever
//! sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, MutexGuard, PoisonError};

use sled::transaction::{TransactionalTree, UnabortableTransactionError};
use sled::IVec;
use tracing::warn;

use super::inflight::{InFlight, Write};
use super::outbox::Fresh;
use super::queue;
use super::series::{merged_records, Row, SeriesRows};
use super::undo::UndoLog;
use super::StoredObservation;
use super::{
    dec, enc, CommitSummary, EncodedSeries, LogRow, PollWrite, ReleaseLogEntry, Rename, Store,
    StoreError, Tree,
};

/// A poll's write checked, encoded and sorted into what goes ahead and what goes into the
/// transaction, with the commit's turn held; nothing written yet (step 1 of the module docs).
#[must_use = "a plan writes nothing until `write_ahead`"]
pub(super) struct CommitPlan<'s, 'w> {
    store: &'s Store,
    w: &'w PollWrite,
    turn: MutexGuard<'s, ()>,
    rows: SeriesRows,
    fresh: Fresh,
    /// The queue chunks of the new outbox entries, written by the transaction.
    queued: Vec<Row>,
}

/// A commit written ahead and not yet settled (step 2): what its transaction writes, and the
/// undo of what went ahead. Dropped unsettled, it undoes.
#[must_use = "an `Ahead` is undone unless its transaction commits and it is settled"]
pub(super) struct Ahead<'s> {
    rows: SeriesRows,
    queued: Vec<Row>,
    summary: CommitSummary,
    /// `None`: nothing went ahead (a poll that only stamps and records its time). Dropped
    /// before `turn` (fields drop in order): an undo ends before the next commit starts.
    undo: Option<Undo<'s>>,
    turn: MutexGuard<'s, ()>,
}

/// Made only by [`Ahead::in_transaction`]: the transaction that returns it deleted the undo
/// log (step 3).
pub(super) struct UndoDeleted(());

/// A settled commit (step 4): its queue chunks, still to be put into the due index, and what
/// it added. The turn is held until it is dropped.
pub(super) struct Landed<'s> {
    queued: Vec<Row>,
    summary: CommitSummary,
    _turn: MutexGuard<'s, ()>,
}

/// The writes ahead of one commit as readers are shown them, and their undo log; when
/// dropped, the log is applied (a log the transaction deleted puts nothing back) and the
/// readers are shown the trees again.
struct Undo<'s> {
    store: &'s Store,
    keys: Vec<Vec<u8>>,
    inflight: Arc<InFlight>,
    /// Set by [`Ahead::settle`] when the transaction committed: nothing to put back.
    committed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = self.store.apply_undo_log(&self.keys) {
                // Readers go on seeing the values it puts back until the next open does.
                warn!(store = %self.store.path, error = %e, "could not undo a failed commit's records; the next start does");
                return;
            }
        }
        self.store.unregister(&self.inflight);
    }
}

impl Store {
    /// Step 1 (see the module docs): waits for the commit's turn, then checks and encodes
    /// `w`. An error (a refused value) leaves the store as it was.
    pub(super) fn plan_commit<'s, 'w>(
        &'s self,
        w: &'w PollWrite,
    ) -> Result<CommitPlan<'s, 'w>, StoreError> {
        // A panic in another commit poisons nothing that needs repair: its undo log does that.
        let turn = self
            .committing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let rows = self.series_rows(w)?;
        let fresh = self.fresh(w)?;
        let queued = queue::chunks(&self.db, fresh.entry_keys(w))?;
        Ok(CommitPlan {
            store: self,
            w,
            turn,
            rows,
            fresh,
            queued,
        })
    }
}

impl<'s> CommitPlan<'s, '_> {
    /// Step 2: writes the poll's series records (first syncs as encoded, updates merged into
    /// what is stored), its release log entries and its new alert and outbox records ahead of
    /// the transaction, after their undo log, registered with the readers first.
    pub(super) fn write_ahead(self) -> Result<Ahead<'s>, StoreError> {
        let CommitPlan {
            store,
            w,
            turn,
            rows,
            mut fresh,
            queued,
        } = self;
        let writes = store.planned(w, &rows.releases)?;
        let mut ahead = Ahead {
            rows,
            queued,
            summary: std::mem::take(&mut fresh.summary),
            undo: None,
            turn,
        };
        if writes.is_empty() && fresh.alerts.is_empty() && fresh.entries.is_empty() {
            return Ok(ahead);
        }
        let mut log = UndoLog::new(store)?;
        if let Err(e) = log_undo(&mut log, &writes, w, &fresh) {
            log.discard();
            return Err(e);
        }
        let keys = log.finish()?;
        let alerts = fresh
            .alerts
            .iter()
            .map(|&i| w.alerts[i].0.id.clone().into());
        let entries = fresh.entry_keys(w).map(|(k, _)| k);
        let inflight = Arc::new(InFlight::new(writes, alerts, entries));
        // Registered before the first write: from here readers see the values it replaces.
        store.register(&inflight);
        let undo = ahead.undo.insert(Undo {
            store,
            keys,
            inflight,
            committed: false,
        });
        // An error drops `ahead`, which undoes what was written.
        store.write_planned(undo.inflight.writes())?;
        store.write_fresh(w, &fresh)?;
        Ok(ahead)
    }
}

/// Lists every key the commit writes ahead in its undo log, with the value it replaces; the
/// new alert and outbox records replace none (see `Store::fresh`): undone by removing them.
fn log_undo(
    log: &mut UndoLog,
    writes: &[Write],
    w: &PollWrite,
    fresh: &Fresh,
) -> Result<(), StoreError> {
    for write in writes {
        log.push(write.tree, &write.key, write.old.as_deref())?;
    }
    for &i in &fresh.alerts {
        log.push(Tree::Alerts, w.alerts[i].0.id.as_bytes(), None)?;
    }
    for (key, _) in fresh.entry_keys(w) {
        log.push(Tree::Outbox, &key, None)?;
    }
    Ok(())
}

impl<'s> Ahead<'s> {
    /// Whether anything went ahead (else there is no undo log and nothing to show readers).
    pub(super) fn wrote_ahead(&self) -> bool {
        self.undo.is_some()
    }

    /// What the transaction writes besides: the stamps and the poll time.
    pub(super) fn rows(&self) -> &SeriesRows {
        &self.rows
    }

    /// Step 3, in the poll's transaction: deletes the undo log (so a crash after the
    /// transaction leaves the writes ahead in place) and queues the new outbox entries.
    pub(super) fn in_transaction(
        &self,
        meta: &TransactionalTree,
    ) -> Result<UndoDeleted, UnabortableTransactionError> {
        for key in self.undo.iter().flat_map(|u| &u.keys) {
            meta.remove(key.as_slice())?;
        }
        for (k, v) in &self.queued {
            meta.insert(k.as_slice(), v.as_slice())?;
        }
        Ok(UndoDeleted(()))
    }

    /// Step 4: the transaction committed (readers are shown the commit) or failed (what went
    /// ahead is undone, and its error returned).
    pub(super) fn settle(
        self,
        transaction: Result<UndoDeleted, StoreError>,
    ) -> Result<Landed<'s>, StoreError> {
        // A failed transaction drops `self`, whose undo puts back what went ahead.
        let UndoDeleted(()) = transaction?;
        let Ahead {
            queued,
            summary,
            mut undo,
            turn,
            ..
        } = self;
        if let Some(u) = &mut undo {
            u.committed = true;
        }
        // Readers are shown the commit.
        drop(undo);
        Ok(Landed {
            queued,
            summary,
            _turn: turn,
        })
    }
}

impl Landed<'_> {
    /// The `meta` keys of the commit's queue chunks (see `queue`).
    pub(super) fn queued(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.queued.iter().map(|(k, _)| k.as_slice())
    }

    pub(super) fn summary(self) -> CommitSummary {
        self.summary
    }
}

impl Store {
    /// The planned writes ahead, in order.
    fn write_planned(&self, writes: &[Write]) -> Result<(), StoreError> {
        for write in writes {
            let tree = self.tree(write.tree);
            match &write.new {
                Some(v) => tree.insert(write.key.as_slice(), v.clone()).map(drop)?,
                None => tree.remove(write.key.as_slice()).map(drop)?,
            }
        }
        Ok(())
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
        for (id, record) in &w.encoded {
            self.plan_first_sync(&mut writes, &mut seen, id, from_of(id), record)?;
        }
        for (id, updates) in &w.observations {
            self.plan_series(&mut writes, &mut seen, id, from_of(id), updates)?;
        }
        if !w.renames.is_empty() {
            self.plan_log_renames(&mut writes, &w.renames)?;
        }
        for r in &w.renames {
            if !seen.contains(r.to.as_str()) {
                self.plan_series(&mut writes, &mut seen, &r.to, Some(&r.from), &[])?;
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
        let index = self.plan_latest(&writes)?;
        writes.extend(index);
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

    /// A first sync's record, written where the store holds no record of the series: a poll
    /// plans a first sync only then (see `pipeline::plan`), and each series is written by one
    /// poll at a time, so one meeting a record is refused, never merged.
    fn plan_first_sync(
        &self,
        writes: &mut Vec<Write>,
        seen: &mut HashSet<String>,
        id: &str,
        from: Option<&str>,
        record: &EncodedSeries,
    ) -> Result<(), StoreError> {
        Self::once(seen, id)?;
        if from.is_some() || self.series.get(id)?.is_some() || self.revisions.get(id)?.is_some() {
            return Err(StoreError::Unreadable {
                tree: "series",
                key: id.to_string(),
                reason: "a first sync of a series the store holds".into(),
            });
        }
        writes.push(Write {
            tree: Tree::Series,
            key: id.as_bytes().to_vec(),
            new: Some(record.ivec()),
            old: None,
        });
        Ok(())
    }

    /// The series `id` with `updates` merged into its records, which are read from `from`
    /// when it is renamed from there (the records `id` holds are then replaced).
    fn plan_series(
        &self,
        writes: &mut Vec<Write>,
        seen: &mut HashSet<String>,
        id: &str,
        from: Option<&str>,
        updates: &[StoredObservation],
    ) -> Result<(), StoreError> {
        Self::once(seen, id)?;
        let src = from.unwrap_or(id);
        let old_series = self.series.get(src)?;
        let old_revs = self.revisions.get(src)?;
        let (at_series, at_revs) = match from {
            None => (old_series.clone(), old_revs.clone()),
            Some(_) => (self.series.get(id)?, self.revisions.get(id)?),
        };
        let (series, revisions) =
            merged_records(id, old_series.as_deref(), old_revs.as_deref(), updates)?;
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
}
