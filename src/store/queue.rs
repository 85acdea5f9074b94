//! A poll's new outbox entries on their way into the due index: queued in the poll's
//! transaction, indexed after it in bounded transactions.
//!
//! A poll's alert and outbox records are written ahead of its transaction (see `ahead`), but
//! the due index is what delivery reads: an entry indexed before the transaction could be
//! sent and then undone by a crash, and sent again by the next poll. So the transaction
//! stores only the list of new entries with when each is due (`meta` keys `queue:` + id +
//! chunk number, [`CHUNK_ENTRIES`] entries a chunk), and after it each chunk becomes index
//! entries and pending count in one small transaction that also deletes the chunk. A store
//! opened with chunks left (a crash in between) indexes them then. sled holds every key of a
//! transaction in memory (kilobytes each): a flood of 200,000 alerts indexed in one
//! transaction took gigabytes; a chunk takes a few megabytes, whatever the poll's size. The
//! same transaction puts the entries into the delivery log's index (see `log`).

use chrono::{DateTime, Utc};
use sled::transaction::ConflictableTransactionError;
use sled::{IVec, Transactional};
use tracing::info;

use super::codec::{varint, Reader};
use super::codec::{RecordError, FORMAT};
use super::due::{due_key, stamp, unstamp, Index};
use super::series::corrupt;
use super::{settled, Store, StoreError};

const PREFIX: &[u8] = b"queue:";
/// A `meta` key and its value.
type Row = (Vec<u8>, Vec<u8>);
/// A queued entry: its outbox key and when it is due.
type Entry = (Vec<u8>, DateTime<Utc>);
/// How many entries one chunk (and so one indexing transaction) holds.
const CHUNK_ENTRIES: usize = 500;

/// The queue chunks of one commit: `meta` keys and values, written by its transaction.
pub(super) fn chunks(
    db: &sled::Db,
    entries: impl ExactSizeIterator<Item = Entry>,
) -> Result<Vec<Row>, StoreError> {
    if entries.len() == 0 {
        return Ok(Vec::new());
    }
    let id = db.generate_id()?.to_be_bytes();
    let mut out: Vec<Row> = Vec::new();
    for (n, (key, at)) in entries.enumerate() {
        if n % CHUNK_ENTRIES == 0 {
            let mut k = PREFIX.to_vec();
            k.extend_from_slice(&id);
            k.extend_from_slice(&((n / CHUNK_ENTRIES) as u32).to_be_bytes());
            out.push((k, vec![FORMAT]));
        }
        let chunk = &mut out.last_mut().expect("pushed above").1;
        varint(chunk, u64::from_be_bytes(stamp(at)));
        varint(chunk, key.len() as u64);
        chunk.extend_from_slice(&key);
    }
    Ok(out)
}

/// One chunk's entries: outbox key and when it is due.
fn decode(chunk: &[u8]) -> Result<Vec<Entry>, RecordError> {
    let mut r = Reader::open(chunk)?;
    let mut out = Vec::new();
    while !r.done() {
        let s = r.varint("due time")?.to_be_bytes();
        let at = unstamp(&s).ok_or_else(|| r.bad("due time"))?;
        out.push((r.bytes("outbox key")?.to_vec(), at));
    }
    Ok(out)
}

impl Store {
    /// Indexes the queued entries of the chunks at `keys`, one transaction each; a chunk
    /// already gone was indexed by someone else (the store's open).
    pub(super) fn index_queued<'a>(
        &self,
        keys: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(), StoreError> {
        for key in keys {
            self.index_chunk(key)?;
        }
        Ok(())
    }

    fn index_chunk(&self, key: &[u8]) -> Result<(), StoreError> {
        let Some(chunk) = self.meta.get(key)? else {
            return Ok(());
        };
        let entries =
            decode(&chunk).map_err(|e| corrupt("meta", &String::from_utf8_lossy(key), e))?;
        let trees = (&self.due, &self.pending, &self.meta, &self.log);
        let result = trees.transaction(|(due, pending, meta, log)| {
            // Read in the transaction: a chunk is indexed once, whoever gets to it.
            if meta.get(key)?.is_none() {
                return Ok(());
            }
            let index = Index { due, pending, meta };
            let mut delta = 0;
            for (k, at) in &entries {
                delta += index.set(k, Some(*at))?;
                // A new entry is due when it is created: its place in the delivery log.
                log.insert(due_key(&stamp(*at), k), &[][..])?;
            }
            index.add_to_count(delta)?;
            meta.remove(key)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        });
        settled(result)
    }

    /// At open: indexes what a commit queued and did not get to index (a crash after its
    /// transaction). Returns how many chunks were indexed.
    pub(super) fn index_interrupted(&self) -> Result<usize, StoreError> {
        let keys: Vec<IVec> = self
            .meta
            .scan_prefix(PREFIX)
            .keys()
            .collect::<Result<_, _>>()?;
        self.index_queued(keys.iter().map(|k| k.as_ref()))?;
        if !keys.is_empty() {
            self.db.flush()?;
            info!(store = %self.path, chunks = keys.len(), "a poll's alerts queued before a stop were put in the delivery index");
        }
        Ok(keys.len())
    }
}
