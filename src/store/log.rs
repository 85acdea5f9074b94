//! The delivery log read a page at a time: the outbox in creation order (then by key), from a
//! cursor, newest or oldest first, with the count of each state.
//!
//! The outbox is keyed by receiver and alert id; the `log` tree indexes it by creation time
//! (`stamp(created_at)` + outbox key, empty values). An entry goes into it in the transaction
//! that puts it into the due index (`queue`: never before its poll is committed, so an undone
//! commit leaves none) or that rewrites it (`update_deliveries`), and leaves it in the one
//! that prunes it; its records are read as committed all the same (see `ahead`). A page walks the index from its cursor and reads only its own records:
//! its cost is the page's, whatever the log's length. The counts come from counters kept in
//! the same transactions (`due`: pending, delivered, failed), never from a pass.

use std::ops::Bound;

use serde::Deserialize;

use super::due::{count_of, due_key, LOG_DELIVERED, LOG_FAILED};
use super::{dec, Store, StoreError, Tree};
use crate::model::{Delivery, DeliveryState};

/// A place in the delivery log: a record's creation time, then its outbox key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCursor {
    micros: i64,
    key: Vec<u8>,
}

impl LogCursor {
    /// The cursor's key in the `log` tree (its time as a `due::stamp`).
    fn index_key(&self) -> Vec<u8> {
        due_key(&((self.micros as u64) ^ (1 << 63)).to_be_bytes(), &self.key)
    }

    /// The cursor of a `log` tree key.
    fn of_index(k: &[u8]) -> Option<LogCursor> {
        let micros = (u64::from_be_bytes(k.get(..8)?.try_into().ok()?) ^ (1 << 63)) as i64;
        Some(LogCursor {
            micros,
            key: k[8..].to_vec(),
        })
    }

    /// The cursor as URL- and JSON-safe text (hex), for links and the control socket.
    pub fn token(&self) -> String {
        let mut bytes = self.micros.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.key);
        hex::encode(bytes)
    }

    /// The cursor of [`LogCursor::token`]; `None` for text that is not one.
    pub fn parse(token: &str) -> Option<LogCursor> {
        let bytes = hex::decode(token).ok()?;
        let micros = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        Some(LogCursor {
            micros,
            key: bytes[8..].to_vec(),
        })
    }
}

/// Which way a page reads from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum LogOrder {
    /// Entries before the cursor (or from the end), newest first.
    NewestFirst,
    /// Entries after the cursor (or from the start), oldest first.
    OldestFirst,
}

/// How many entries of the whole log are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogCounts {
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Records met by this page that do not decode: counted, never shown.
    pub unreadable: u64,
}

/// One page of the delivery log.
#[derive(Debug)]
pub struct LogPage {
    /// The entries in the page's order, each with its cursor.
    pub rows: Vec<(LogCursor, Delivery)>,
    /// Whether more entries follow the last row in the page's order.
    pub more: bool,
    /// Whether entries lie on the other side of the cursor (the page is not the first).
    pub behind: bool,
    pub counts: LogCounts,
    /// How many outbox records the page read: its cost (the page's size, not the log's).
    pub read: usize,
}

/// What the counts read of a record.
#[derive(Deserialize)]
struct Head {
    state: DeliveryState,
}

/// The state of an outbox record, if it decodes.
pub(super) fn state_of(v: &[u8]) -> Option<DeliveryState> {
    serde_json::from_slice::<Head>(v).ok().map(|h| h.state)
}

/// `log` keys, in a page's order.
type Keys = Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>>;

/// What a `log` key stands for when a page reaches it.
enum Found {
    /// Nothing to show: not pending when only pending ones are wanted, or a stale key.
    Skip,
    Unreadable,
    Row(LogCursor, Box<Delivery>),
}

impl Store {
    /// Up to `limit` entries of the delivery log beyond `from` in `order` (only pending ones
    /// if `pending_only`), with the counts of the whole log. Walks the `log` index from the
    /// cursor and reads the page's records only (see the module doc).
    pub fn delivery_log_page(
        &self,
        order: LogOrder,
        from: Option<&LogCursor>,
        limit: usize,
        pending_only: bool,
    ) -> Result<LogPage, StoreError> {
        let (ahead, back) = self.log_sides(order, from);
        let mut page = LogPage {
            rows: Vec::new(),
            more: false,
            behind: false,
            counts: self.log_counts()?,
            read: 0,
        };
        for kv in ahead {
            let (k, _) = kv?;
            match self.log_entry(&k, pending_only, &mut page.read)? {
                Found::Skip => {}
                Found::Unreadable => page.counts.unreadable += 1,
                Found::Row(..) if page.rows.len() >= limit => {
                    page.more = true;
                    break;
                }
                Found::Row(c, d) => page.rows.push((c, *d)),
            }
        }
        for kv in back {
            let (k, _) = kv?;
            if !matches!(
                self.log_entry(&k, pending_only, &mut page.read)?,
                Found::Skip
            ) {
                page.behind = true;
                break;
            }
        }
        Ok(page)
    }

    /// The `log` keys beyond `from` in `order`, and those on its other side (with `from`
    /// itself) nearest first.
    fn log_sides(&self, order: LogOrder, from: Option<&LogCursor>) -> (Keys, Keys) {
        let Some(f) = from else {
            let all: Keys = match order {
                LogOrder::NewestFirst => Box::new(self.log.iter().rev()),
                LogOrder::OldestFirst => Box::new(self.log.iter()),
            };
            return (all, Box::new(std::iter::empty()));
        };
        let at = f.index_key();
        match order {
            LogOrder::NewestFirst => (
                Box::new(self.log.range(..at.clone()).rev()),
                Box::new(self.log.range(at..)),
            ),
            LogOrder::OldestFirst => (
                Box::new(
                    self.log
                        .range::<Vec<u8>, _>((Bound::Excluded(at.clone()), Bound::Unbounded)),
                ),
                Box::new(self.log.range(..=at).rev()),
            ),
        }
    }

    /// The entry of one `log` key. A key whose record is gone or was created at another time
    /// (a rewritten unreadable record) is stale and skipped; a pending-only page asks the
    /// due index before it reads a record.
    fn log_entry(
        &self,
        k: &[u8],
        pending_only: bool,
        read: &mut usize,
    ) -> Result<Found, StoreError> {
        let Some(cursor) = LogCursor::of_index(k) else {
            return Ok(Found::Skip);
        };
        if pending_only && !self.pending.contains_key(&cursor.key)? {
            return Ok(Found::Skip);
        }
        let Some(v) = self.committed().get(Tree::Outbox, &cursor.key)? else {
            return Ok(Found::Skip);
        };
        *read += 1;
        let Ok(d) = dec::<Delivery>("outbox", &cursor.key, &v) else {
            return Ok(Found::Unreadable);
        };
        if d.created_at.timestamp_micros() != cursor.micros {
            return Ok(Found::Skip);
        }
        Ok(Found::Row(cursor, Box::new(d)))
    }

    /// How many entries are in each state, from the counters (no record is read).
    pub fn log_counts(&self) -> Result<LogCounts, StoreError> {
        let get = |key: &str| -> Result<u64, StoreError> {
            Ok(self.meta.get(key)?.map_or(0, |v| count_of(&v)))
        };
        Ok(LogCounts {
            pending: self.pending_count()?,
            delivered: get(LOG_DELIVERED)?,
            failed: get(LOG_FAILED)?,
            unreadable: 0,
        })
    }
}
