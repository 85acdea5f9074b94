//! What the outbox owes: the index of pending deliveries by the time they come due, the
//! count of pending entries, the compact "sent" markers, and pruning after `keep_days`.
//!
//! Only pending entries are in the index, so a delivery round and the daemon's timer read
//! what is owed, never the delivered history: the next due entry is the index's first key,
//! the pending count a number in `meta`. Both change in the same transaction as the
//! delivery record they describe.

use chrono::{DateTime, Duration, Utc};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use tracing::info;

use super::{dec, Store, StoreError};
use crate::model::{Delivery, DeliveryState};

/// The `meta` key of the number of pending deliveries (a big-endian u64).
pub(super) const PENDING_COUNT: &str = "pending_count";

/// The `meta` keys of how many entries are delivered and failed (big-endian u64s).
pub(super) const LOG_DELIVERED: &str = "log_delivered";
pub(super) const LOG_FAILED: &str = "log_failed";

/// How many old deliveries one pruning transaction removes (keeps transactions small).
const PRUNE_CHUNK: usize = 1000;

/// An 8-byte key part that sorts like the time: microseconds since 1970, sign bit flipped.
pub(super) fn stamp(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

pub(super) fn unstamp(b: &[u8]) -> Option<DateTime<Utc>> {
    let micros = (u64::from_be_bytes(b.get(..8)?.try_into().ok()?) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_micros(micros)
}

/// The index key of a pending entry: when it is due, then `receiver \0 alert id`.
pub(super) fn due_key(stamp: &[u8], key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(stamp);
    k.extend_from_slice(key);
    k
}

/// When one entry may be attempted next: its next attempt, or the receiver's Retry-After if
/// that is later.
pub(super) fn due_at(d: &Delivery) -> DateTime<Utc> {
    match d.not_before {
        Some(nb) if nb > d.next_attempt_at => nb,
        _ => d.next_attempt_at,
    }
}

/// The trees that change together with a delivery record.
pub(super) struct Index<'a> {
    pub(super) due: &'a TransactionalTree,
    pub(super) pending: &'a TransactionalTree,
    pub(super) meta: &'a TransactionalTree,
}

impl Index<'_> {
    /// Puts `key` in the index as due at `at` (pending) or takes it out (`None`); returns the
    /// change of the pending count.
    pub(super) fn set(
        &self,
        key: &[u8],
        at: Option<DateTime<Utc>>,
    ) -> Result<i64, UnabortableTransactionError> {
        let old = self.pending.remove(key)?;
        if let Some(old) = &old {
            self.due.remove(due_key(old, key))?;
        }
        if let Some(at) = at {
            let s = stamp(at);
            self.due.insert(due_key(&s, key), &[][..])?;
            self.pending.insert(key, &s[..])?;
        }
        Ok(i64::from(at.is_some()) - i64::from(old.is_some()))
    }

    pub(super) fn add_to_count(&self, delta: i64) -> Result<(), UnabortableTransactionError> {
        bump(self.meta, PENDING_COUNT, delta)
    }
}

/// Adds `delta` to the count (a big-endian u64) at the `meta` key `key`.
pub(super) fn bump(
    meta: &TransactionalTree,
    key: &str,
    delta: i64,
) -> Result<(), UnabortableTransactionError> {
    if delta == 0 {
        return Ok(());
    }
    let now = meta.get(key)?.map_or(0, |v| count_of(&v));
    let next = now.saturating_add_signed(delta);
    meta.insert(key, &next.to_be_bytes()[..])?;
    Ok(())
}

/// A change of the counts of settled entries, added in the transaction that makes it: the
/// delivery log shows them without reading the log.
#[derive(Default)]
pub(super) struct Settled {
    delivered: i64,
    failed: i64,
}

impl Settled {
    /// One entry leaves state `from` (`None`: it is new) for `to` (`None`: it is removed).
    pub(super) fn change(&mut self, from: Option<DeliveryState>, to: Option<DeliveryState>) {
        for (state, by) in [(from, -1), (to, 1)] {
            match state {
                Some(DeliveryState::Delivered) => self.delivered += by,
                Some(DeliveryState::Failed) => self.failed += by,
                _ => {}
            }
        }
    }

    pub(super) fn add_to(
        &self,
        meta: &TransactionalTree,
    ) -> Result<(), UnabortableTransactionError> {
        bump(meta, LOG_DELIVERED, self.delivered)?;
        bump(meta, LOG_FAILED, self.failed)
    }
}

/// When a receiver may be called again ([`Store::receiver_hold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Not before this, in any mode: the receiver's Retry-After.
    pub retry_after: Option<DateTime<Utc>>,
    /// Not before this in the daemon's rounds: the backoff (and the Retry-After, if later).
    pub until: DateTime<Utc>,
}

/// The `meta` key of a receiver's hold: `hold \0 receiver`.
fn hold_key(receiver: &str) -> Vec<u8> {
    let mut k = b"hold\0".to_vec();
    k.extend_from_slice(receiver.as_bytes());
    k
}

pub(super) fn count_of(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The index position of a delivery record: pending entries are due at [`due_at`].
pub(super) fn position(d: &Delivery) -> Option<DateTime<Utc>> {
    (d.state == DeliveryState::Pending).then(|| due_at(d))
}

/// When a settled entry was settled, for retention: its delivery, else its last attempt.
fn settled_at(d: &Delivery) -> DateTime<Utc> {
    d.delivered_at
        .unwrap_or(d.next_attempt_at)
        .max(d.created_at)
}

impl Store {
    /// How many deliveries are pending (kept in the transactions that change them).
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        Ok(self.meta.get(PENDING_COUNT)?.map_or(0, |v| count_of(&v)))
    }

    /// The `receiver \0 alert id` keys of every pending entry, earliest due first.
    pub(super) fn pending_keys(&self) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> {
        self.due
            .iter()
            .keys()
            .map(|k| Ok(k?.get(8..).unwrap_or(&[]).to_vec()))
    }

    /// When the next pending entry is due, if any: the index's first key.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some((k, _)) = self.due.first()? else {
            return Ok(None);
        };
        // The key holds microseconds; the record has the exact time.
        self.due_time(&k)
    }

    /// When the next pending entry of a receiver that `wanted` accepts is due, walking at most
    /// `max_walk` index keys: entries of receivers no longer configured stay in the index, and
    /// must neither make the daemon's timer fire at once nor cost a long walk each time. When
    /// the walk ends on the bound, the answer is the last time walked (no wanted entry is due
    /// before it) and `true`, so the caller can check again later rather than at once.
    pub fn next_due_of(
        &self,
        wanted: impl Fn(&str) -> bool,
        max_walk: usize,
    ) -> Result<(Option<DateTime<Utc>>, bool), StoreError> {
        let mut last = None;
        for (walked, k) in self.due.iter().keys().enumerate() {
            let k = k?;
            if walked >= max_walk {
                return Ok((last.or_else(|| unstamp(&k)), true));
            }
            let key = k.get(8..).unwrap_or(&[]);
            let receiver = key.split(|b| *b == 0).next().unwrap_or(&[]);
            if wanted(&String::from_utf8_lossy(receiver)) {
                return Ok((self.due_time(&k)?, false));
            }
            last = unstamp(&k);
        }
        Ok((None, false))
    }

    /// The receivers that have pending entries, with how many: one seek per receiver and a
    /// count of its index entries (the records are not read).
    pub fn pending_receivers(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some((k, _)) = self.pending.range(from.clone()..).next().transpose()? {
            let receiver = k.split(|b| *b == 0).next().unwrap_or(&[]).to_vec();
            let mut prefix = receiver.clone();
            prefix.push(0);
            let n = self.pending.scan_prefix(&prefix).count();
            out.push((String::from_utf8_lossy(&receiver).into_owned(), n));
            // The next receiver's keys start after every `receiver \0 ...`.
            from = receiver;
            from.push(1);
        }
        Ok(out)
    }

    /// How many entries of one receiver are pending (its index entries are counted, not read).
    pub fn pending_count_of(&self, receiver: &str) -> usize {
        let mut prefix = receiver.as_bytes().to_vec();
        prefix.push(0);
        self.pending.scan_prefix(&prefix).count()
    }

    /// When a receiver may be called again, kept across rounds and restarts: after its
    /// Retry-After (`retry_after`, which even a forced retry honours) and after the backoff of
    /// a failed message that left more of its backlog unsent (`until`, for the daemon only).
    /// It holds for every entry of the receiver, also those that were not in that message.
    pub fn receiver_hold(&self, receiver: &str) -> Result<Option<Hold>, StoreError> {
        let Some(v) = self.meta.get(hold_key(receiver))? else {
            return Ok(None);
        };
        Ok(unstamp(&v).map(|until| Hold {
            until,
            retry_after: v.get(8..).and_then(unstamp),
        }))
    }

    /// Records a receiver's hold (see [`Store::receiver_hold`]), replacing the one before.
    pub fn set_receiver_hold(&self, receiver: &str, hold: &Hold) -> Result<(), StoreError> {
        // Rounded up to the microsecond a stamp keeps: a hold must never end early.
        let up = |t: DateTime<Utc>| stamp(t + Duration::nanoseconds(999));
        let mut v = up(hold.until).to_vec();
        if let Some(ra) = hold.retry_after {
            v.extend_from_slice(&up(ra));
        }
        self.meta.insert(hold_key(receiver), v)?;
        Ok(())
    }

    /// Whether a receiver has any pending entry.
    pub fn has_pending(&self, receiver: &str) -> bool {
        let mut prefix = receiver.as_bytes().to_vec();
        prefix.push(0);
        self.pending.scan_prefix(&prefix).next().is_some()
    }

    /// The exact due time of an index key: the record's, or the key's (microseconds).
    fn due_time(&self, k: &[u8]) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = &k[8..];
        match self.outbox.get(key)? {
            Some(v) => match dec::<Delivery>("outbox", key, &v) {
                Ok(d) => Ok(Some(due_at(&d))),
                Err(_) => Ok(unstamp(k)),
            },
            None => Ok(unstamp(k)),
        }
    }

    /// Removes delivered and failed entries settled more than `keep_days` ago, leaving a
    /// one-byte marker per (receiver, alert) so that alert is never enqueued for that
    /// receiver again. Pending entries and records that do not decode are kept. This reads
    /// the whole outbox: run it rarely (at start, then daily), off the async workers.
    pub fn prune(&self, keep_days: u32, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = now - Duration::days(i64::from(keep_days));
        let mut old: Vec<(Vec<u8>, DeliveryState, [u8; 8])> = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let Ok(d) = dec::<Delivery>("outbox", &k, &v) else {
                continue;
            };
            if d.state != DeliveryState::Pending && settled_at(&d) < cutoff {
                old.push((k.to_vec(), d.state, stamp(d.created_at)));
            }
        }
        let trees = (&self.outbox, &self.sent, &self.log, &self.meta);
        for chunk in old.chunks(PRUNE_CHUNK) {
            let result = trees.transaction(|(outbox, sent, log, meta)| {
                let mut settled = Settled::default();
                for (k, state, created) in chunk {
                    let mark = if *state == DeliveryState::Delivered {
                        b'd'
                    } else {
                        b'f'
                    };
                    sent.insert(k.as_slice(), &[mark][..])?;
                    outbox.remove(k.as_slice())?;
                    log.remove(due_key(created, k))?;
                    settled.change(Some(*state), None);
                }
                settled.add_to(meta)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            });
            match result {
                Ok(()) => {}
                Err(TransactionError::Storage(e)) => return Err(e.into()),
                Err(TransactionError::Abort(())) => unreachable!("the closure never aborts"),
            }
        }
        if !old.is_empty() {
            self.db.flush()?;
            info!(pruned = old.len(), keep_days, "old deliveries pruned");
        }
        Ok(old.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_like_times_and_read_back() {
        let ts = [
            "1950-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2025-05-09T04:31:00.123456Z",
            "2025-05-09T04:31:01Z",
        ];
        let s: Vec<[u8; 8]> = ts.iter().map(|t| stamp(t.parse().unwrap())).collect();
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(unstamp(&s[2]), Some(ts[2].parse().unwrap()));
    }
}
