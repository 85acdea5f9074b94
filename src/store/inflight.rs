//! What readers see of a commit that has not finished: nothing. The commit registers its
//! writes ahead (each with the value it replaces) and the keys of its new alert and outbox
//! records before it writes the first of them, and readers of those trees read through
//! [`Store::committed`], which answers such a key with its value before the commit.
//!
//! Registering and unregistering take a lock that each read holds only while it reads, so a
//! reader never waits for a commit's writes and never sees half of them: it sees the store
//! as the last finished commit left it. See `ahead` for when a commit registers and
//! unregisters.

use std::collections::HashSet;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use sled::IVec;

use super::{Store, StoreError, Tree};

/// One write ahead: where, the new value (`None`: remove), and what it replaces.
pub(super) struct Write {
    pub(super) tree: Tree,
    pub(super) key: Vec<u8>,
    pub(super) new: Option<IVec>,
    pub(super) old: Option<IVec>,
}

/// The writes of one unfinished commit, sorted by tree and key, each with the value it
/// replaces, and the keys it adds: what readers are answered for those keys.
pub(super) struct InFlight {
    writes: Vec<Write>,
    /// New alert and outbox records: keys no record had before the commit (see
    /// `Store::fresh`), so their value before it is none.
    added: [AddedKeys; 2],
}

impl InFlight {
    /// The commit's writes (sorted here) and the keys of its new alert and outbox records.
    pub(super) fn new(
        mut writes: Vec<Write>,
        alerts: impl Iterator<Item = Vec<u8>>,
        entries: impl Iterator<Item = Vec<u8>>,
    ) -> InFlight {
        // Sorted for `before`; each key is written once, so the order of the writes is free.
        writes.sort_by(|a, b| (a.tree, &a.key).cmp(&(b.tree, &b.key)));
        InFlight {
            writes,
            added: [AddedKeys::of(alerts), AddedKeys::of(entries)],
        }
    }

    pub(super) fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// The value `key` had before this commit (`Some(None)`: none), if the commit writes it.
    fn before(&self, tree: Tree, key: &[u8]) -> Option<Option<&IVec>> {
        let added = match tree {
            Tree::Alerts => Some(&self.added[0]),
            Tree::Outbox => Some(&self.added[1]),
            _ => None,
        };
        if added.is_some_and(|a| a.contains(key)) {
            return Some(None);
        }
        self.writes
            .binary_search_by(|w| (w.tree, w.key.as_slice()).cmp(&(tree, key)))
            .ok()
            .map(|i| self.writes[i].old.as_ref())
    }
}

/// Keys in one buffer, searched through a sorted order: a flood adds hundreds of thousands
/// of alert and outbox keys, which as one allocation each would cost several times their
/// bytes.
#[derive(Default)]
struct AddedKeys {
    bytes: Vec<u8>,
    /// Where each key ends in `bytes`, in the order they were added.
    ends: Vec<u32>,
    /// Indices into `ends`, in key order.
    sorted: Vec<u32>,
}

impl AddedKeys {
    fn of(keys: impl Iterator<Item = Vec<u8>>) -> AddedKeys {
        let mut out = AddedKeys::default();
        for k in keys {
            out.bytes.extend_from_slice(&k);
            out.ends.push(out.bytes.len() as u32);
        }
        let mut sorted: Vec<u32> = (0..out.ends.len() as u32).collect();
        sorted.sort_unstable_by(|&a, &b| out.key(a).cmp(out.key(b)));
        out.sorted = sorted;
        out
    }

    fn key(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.sorted
            .binary_search_by(|&i| self.key(i).cmp(key))
            .is_ok()
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
    /// The oldest commit in flight that writes the key knows its value before all of them.
    fn before(&self, tree: Tree, key: &[u8]) -> Option<Option<&IVec>> {
        self.inflight.iter().find_map(|c| c.before(tree, key))
    }

    /// The committed value of one key.
    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        if let Some(old) = self.before(tree, key) {
            return Ok(old.cloned());
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
            if self.before(tree, &k).is_some() {
                continue;
            }
            out.push((k, if keys_only { IVec::default() } else { v }));
        }
        if self.inflight.is_empty() {
            return Ok(out);
        }
        // Keys the commits in flight wrote or removed: as they were before them. (The keys
        // they add had no value before.)
        let mut seen = HashSet::new();
        for c in self.inflight.iter() {
            for w in c.writes.iter().filter(|w| w.tree == tree) {
                if !seen.insert(w.key.as_slice()) {
                    continue;
                }
                if let Some(Some(old)) = self.before(tree, &w.key) {
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

    /// From here until [`Store::unregister`], readers are answered for the keys of
    /// `inflight` with their values before it.
    pub(super) fn register(&self, inflight: &Arc<InFlight>) {
        let mut all = self.inflight.write().unwrap_or_else(|e| e.into_inner());
        all.push(inflight.clone());
    }

    /// The commit of `inflight` is done (committed, or undone): readers see the trees again.
    pub(super) fn unregister(&self, inflight: &Arc<InFlight>) {
        let mut all = self.inflight.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|c| !Arc::ptr_eq(c, inflight));
    }

    pub(super) fn tree(&self, t: Tree) -> &sled::Tree {
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
}
