//! The delivery log read a page at a time: the outbox in creation order (then by key), from a
//! cursor, newest or oldest first, with the count of each state.
//!
//! The outbox is keyed by receiver and alert id, so a page in time order is found by one pass
//! over it that keeps only the page's worth of best candidates (a bounded heap) and decodes
//! only a record's creation time and state; the records of the page are decoded
//! whole at the end. A view of a 200,000-entry log so holds 100 records, not 200,000 (with
//! their alerts): the pass costs time in proportion to the log, memory in proportion to the
//! page.

use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{dec, Store, StoreError};
use crate::model::{Delivery, DeliveryState};

/// A place in the delivery log: a record's creation time, then its outbox key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCursor {
    micros: i64,
    key: Vec<u8>,
}

impl LogCursor {
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
    /// Records that do not decode: counted, never shown.
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
}

/// What one pass reads of each record.
#[derive(Deserialize)]
struct Head {
    created_at: DateTime<Utc>,
    state: DeliveryState,
}

impl Store {
    /// Up to `limit` entries of the delivery log beyond `from` in `order` (only pending ones
    /// if `pending_only`), with the counts of the whole log. One pass over the outbox that
    /// holds at most `limit + 1` records.
    pub fn delivery_log_page(
        &self,
        order: LogOrder,
        from: Option<&LogCursor>,
        limit: usize,
        pending_only: bool,
    ) -> Result<LogPage, StoreError> {
        // A heap whose top is the worst candidate kept, so that it is the one let go.
        let mut kept: BinaryHeap<Candidate> = BinaryHeap::new();
        let mut counts = LogCounts::default();
        let (mut more, mut behind) = (false, false);
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let Ok(head) = serde_json::from_slice::<Head>(&v) else {
                counts.unreadable += 1;
                continue;
            };
            match head.state {
                DeliveryState::Pending => counts.pending += 1,
                DeliveryState::Delivered => counts.delivered += 1,
                DeliveryState::Failed => counts.failed += 1,
            }
            if pending_only && head.state != DeliveryState::Pending {
                continue;
            }
            let cursor = LogCursor {
                micros: head.created_at.timestamp_micros(),
                key: k.to_vec(),
            };
            let beyond = from.is_none_or(|f| match order {
                LogOrder::NewestFirst => cursor < *f,
                LogOrder::OldestFirst => cursor > *f,
            });
            if !beyond {
                behind = true;
                continue;
            }
            kept.push(Candidate {
                order,
                cursor,
                value: v,
            });
            if kept.len() > limit {
                kept.pop();
                more = true;
            }
        }
        let mut rows = Vec::with_capacity(kept.len());
        // Ascending is best first: the page's order.
        for Candidate { cursor, value, .. } in kept.into_sorted_vec() {
            let d = dec::<Delivery>("outbox", &cursor.key, &value)?;
            rows.push((cursor, d));
        }
        Ok(LogPage {
            rows,
            more,
            behind,
            counts,
        })
    }
}

/// An entry that may be on the page; the greater, the worse for the page's order.
struct Candidate {
    order: LogOrder,
    cursor: LogCursor,
    value: sled::IVec,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match self.order {
            LogOrder::NewestFirst => other.cursor.cmp(&self.cursor),
            LogOrder::OldestFirst => self.cursor.cmp(&other.cursor),
        }
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cursor == other.cursor
    }
}

impl Eq for Candidate {}
