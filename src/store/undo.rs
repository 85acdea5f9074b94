//! The undo log of a commit's writes ahead (see `ahead`): `meta` keys `ahead:` + big-endian
//! id + chunk number, each about [`CHUNK_BYTES`] of entries `tree key old-value-or-none`,
//! written and flushed before the first write it undoes, deleted by the commit's transaction,
//! applied (and deleted) when that transaction fails or, after a crash, at the next open.

use tracing::warn;

use super::codec::{varint, Reader, RecordError, FORMAT};
use super::series::corrupt;
use super::{Store, StoreError, Tree};

const PREFIX: &[u8] = b"ahead:";
/// An undo log is cut into values of about this size (sled holds a value whole).
const CHUNK_BYTES: usize = 1 << 20;

/// An undo log as it is written: cut into chunks of about [`CHUNK_BYTES`], each a `meta` key.
pub(super) struct UndoLog<'a> {
    store: &'a Store,
    id: [u8; 8],
    chunk: Vec<u8>,
    keys: Vec<Vec<u8>>,
}

impl<'a> UndoLog<'a> {
    pub(super) fn new(store: &'a Store) -> Result<UndoLog<'a>, StoreError> {
        Ok(UndoLog {
            store,
            id: store.db.generate_id()?.to_be_bytes(),
            chunk: vec![FORMAT],
            keys: Vec::new(),
        })
    }

    /// Lists one key about to be written, with the value it replaces (`None`: none).
    pub(super) fn push(
        &mut self,
        tree: Tree,
        key: &[u8],
        old: Option<&[u8]>,
    ) -> Result<(), StoreError> {
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
    /// Returns the log's `meta` keys. On an error nothing of the log is left: a partial
    /// undo log must not outlive its commit (it would put back old values over later ones
    /// at the next open).
    pub(super) fn finish(mut self) -> Result<Vec<Vec<u8>>, StoreError> {
        let put = (|| {
            if self.chunk.len() > 1 {
                self.put()?;
            }
            self.store.db.flush()?;
            Ok(())
        })();
        match put {
            Ok(()) => Ok(self.keys),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Removes the chunks put so far (the commit writes nothing: nothing to undo).
    pub(super) fn discard(self) {
        for k in &self.keys {
            let _ = self.store.meta.remove(k.as_slice());
        }
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

impl Store {
    /// Puts back what the undo log at `keys` lists and removes it, then flushes.
    pub(super) fn apply_undo_log(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        for k in keys {
            if let Some(chunk) = self.meta.get(k)? {
                self.apply_undo(k, &chunk)?;
            }
        }
        self.db.flush()?;
        Ok(())
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
