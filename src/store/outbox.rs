//! The outbox: alert records, one delivery record per (receiver, alert), and reading and
//! settling what is pending (through the due index of `due`, kept in the same transactions).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::due::{due_key, position, stamp, Index, Settled};
use super::log::state_of;
use super::{dec, enc, key2, settled, CommitSummary, PollWrite, Store, StoreError, Tree};
use crate::model::{Alert, Delivery, DeliveryState};

/// An outbox record that could not be decoded, with what its key says about it.
#[derive(Debug)]
pub struct UnreadableDelivery {
    /// `receiver` and `alert id` from the key, when the key has the documented layout.
    pub receiver: Option<String>,
    pub alert_id: Option<String>,
    pub error: StoreError,
}

/// One page of a receiver's pending entries ([`Store::pending_page`]).
#[derive(Debug, Default)]
pub struct PendingPage {
    pub entries: Vec<Delivery>,
    /// The page's records that do not decode.
    pub unreadable: Vec<UnreadableDelivery>,
    /// Where the next page starts (`None`: the page is empty, nothing more to read).
    pub next: Option<Vec<u8>>,
}

/// Which of a poll's alerts and outbox entries the store does not hold yet. They are written
/// ahead of the poll's transaction with its series records (see `ahead`) and go into the due
/// index after it (see `queue`): no transaction holds a key per alert. Each record is encoded
/// as it is written, so a flood's records are never all held at once.
#[derive(Default)]
pub(super) struct Fresh {
    /// New alerts: indices into [`PollWrite::alerts`].
    pub(super) alerts: Vec<usize>,
    /// New outbox entries: an alert's index and its receiver's.
    pub(super) entries: Vec<(usize, usize)>,
    pub(super) summary: CommitSummary,
}

impl Fresh {
    /// The new alert records: id and JSON.
    pub(super) fn alert_records<'a>(
        &'a self,
        w: &'a PollWrite,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a {
        self.alerts.iter().map(|&i| alert_record(&w.alerts[i].0))
    }

    /// The new outbox records: `receiver \0 alert id` and JSON.
    pub(super) fn entry_records<'a>(
        &'a self,
        w: &'a PollWrite,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a {
        self.entries.iter().map(|&(i, r)| {
            let (alert, receivers) = &w.alerts[i];
            entry_record(&receivers[r], alert)
        })
    }

    /// The new entries' keys and when each is due.
    pub(super) fn entry_keys<'a>(
        &'a self,
        w: &'a PollWrite,
    ) -> impl ExactSizeIterator<Item = (Vec<u8>, DateTime<Utc>)> + 'a {
        self.entries.iter().map(|&(i, r)| {
            let (alert, receivers) = &w.alerts[i];
            (
                key2(&receivers[r], &alert.id),
                new_delivery(&receivers[r], alert).next_attempt_at,
            )
        })
    }
}

fn alert_record(alert: &Alert) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let key = alert.id.as_bytes();
    Ok((key.to_vec(), enc("alerts", key, alert)?))
}

fn entry_record(receiver: &str, alert: &Alert) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let key = key2(receiver, &alert.id);
    let value = enc("outbox", &key, &new_delivery(receiver, alert))?;
    Ok((key, value))
}

impl Store {
    /// A committed alert (one of an unfinished commit is not there yet, see `ahead`).
    pub fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.committed()
            .get(Tree::Alerts, id.as_bytes())?
            .map(|v| dec("alerts", id.as_bytes(), &v))
            .transpose()
    }

    /// Every committed delivery record, in receiver then alert-id order. A record that
    /// cannot be read is an error here; [`Store::pending_outbox`] reads past it.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
        let rows = self.committed().entries(Tree::Outbox, false)?;
        rows.iter().map(|(k, v)| dec("outbox", k, v)).collect()
    }

    /// Every pending delivery record that reads, and apart from them the pending ones that
    /// do not: one bad record must not hide the others. Only the due index is walked, never
    /// the delivered history. Only an I/O error of the store is an error.
    pub fn pending_outbox(&self) -> Result<(Vec<Delivery>, Vec<UnreadableDelivery>), StoreError> {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for k in self.pending_keys() {
            let k = k?;
            // The index and the records change in one transaction: a key without a record
            // cannot happen, and would have nothing to deliver.
            let Some(v) = self.outbox.get(&k)? else {
                continue;
            };
            match dec::<Delivery>("outbox", &k, &v) {
                Ok(d) => good.push(d),
                Err(error) => bad.push(unreadable(&k, error)),
            }
        }
        Ok((good, bad))
    }

    /// A bounded page of one receiver's pending entries, earliest due first: at most `limit`,
    /// due at `until` or before (`None`: whenever due), after the index position `after`
    /// (from an earlier page's [`PendingPage::next`]). A delivery round reads a backlog page
    /// by page, so it never holds more than a page of it in memory. Only the due index's keys
    /// are walked to find them (other receivers' keys are skipped unread).
    pub fn pending_page(
        &self,
        receiver: &str,
        after: Option<&[u8]>,
        until: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<PendingPage, StoreError> {
        let prefix = key2(receiver, "");
        let start = match after {
            Some(a) => std::ops::Bound::Excluded(a.to_vec()),
            None => std::ops::Bound::Unbounded,
        };
        let end = until.map(|t| stamp(t + chrono::Duration::microseconds(1)));
        let mut page = PendingPage::default();
        for k in self
            .due
            .range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
        {
            let (k, _) = k?;
            if end.is_some_and(|e| k[..8.min(k.len())] >= e[..]) {
                break;
            }
            let key = k.get(8..).unwrap_or(&[]);
            if !key.starts_with(&prefix) {
                continue;
            }
            page.next = Some(k.to_vec());
            if let Some(v) = self.outbox.get(key)? {
                match dec::<Delivery>("outbox", key, &v) {
                    Ok(d) => page.entries.push(d),
                    Err(error) => page.unreadable.push(unreadable(key, error)),
                }
            }
            if page.entries.len() + page.unreadable.len() >= limit.max(1) {
                break;
            }
        }
        Ok(page)
    }

    /// The pending deliveries that can be read (see [`Store::pending_outbox`] for the others).
    pub fn pending(&self) -> Result<Vec<Delivery>, StoreError> {
        Ok(self.pending_outbox()?.0)
    }

    /// [`Store::update_deliveries`] on tokio's blocking pool (it ends with a flush to disk).
    pub async fn update_deliveries_async(&self, updates: Vec<Delivery>) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.update_deliveries(&updates))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Records the outcome of delivery attempts (after a send, success or not), with the due
    /// index and the pending count, in one transaction.
    pub fn update_deliveries(&self, updates: &[Delivery]) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(updates.len());
        for d in updates {
            let key = key2(&d.receiver, &d.alert_id);
            let value = enc("outbox", &key, d)?;
            let in_log = due_key(&stamp(d.created_at), &key);
            rows.push((key, value, position(d), in_log, d.state));
        }
        let trees = (
            &self.outbox,
            &self.due,
            &self.pending,
            &self.meta,
            &self.log,
        );
        let result = trees.transaction(|(outbox, due, pending, meta, log)| {
            let index = Index { due, pending, meta };
            let (mut delta, mut settled) = (0, Settled::default());
            for (k, v, at, in_log, state) in &rows {
                let old = outbox.insert(k.as_slice(), v.as_slice())?;
                settled.change(old.as_deref().and_then(state_of), Some(*state));
                // Already there for an entry the log had; a repaired record's is new.
                log.insert(in_log.as_slice(), &[][..])?;
                delta += index.set(k, *at)?;
            }
            index.add_to_count(delta)?;
            settled.add_to(meta)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        });
        settled(result)?;
        self.db.flush()?;
        Ok(())
    }
}

impl Store {
    /// The poll's alerts the store does not hold yet, and their entries for receivers that
    /// never had them (an entry pruned since is remembered in `sent`): the same id is never
    /// delivered twice to a receiver, across restarts and after pruning. Read outside a
    /// transaction: commits take turns (`Store::commit`), and delivery only changes entries
    /// that exist.
    pub(super) fn fresh(&self, w: &PollWrite) -> Result<Fresh, StoreError> {
        let mut fresh = Fresh::default();
        let (mut ids, mut keys) = (HashSet::new(), HashSet::new());
        for (i, (alert, receivers)) in w.alerts.iter().enumerate() {
            let id = alert.id.as_bytes();
            if ids.insert(id) && self.alerts.get(id)?.is_none() {
                // Encoded here only to be refused before anything is written.
                alert_record(alert)?;
                fresh.alerts.push(i);
                fresh.summary.new_alerts.push(alert.id.clone());
            }
            for (r, receiver) in receivers.iter().enumerate() {
                let key = key2(receiver, &alert.id);
                if !keys.insert(key.clone())
                    || self.outbox.get(&key)?.is_some()
                    || self.sent.get(&key)?.is_some()
                {
                    continue;
                }
                entry_record(receiver, alert)?;
                fresh.entries.push((i, r));
            }
        }
        fresh.summary.enqueued = fresh.entries.len();
        Ok(fresh)
    }
}

/// What the key of an unreadable outbox record says about it.
fn unreadable(key: &[u8], error: StoreError) -> UnreadableDelivery {
    let mut parts = key.splitn(2, |b| *b == 0);
    let receiver = parts
        .next()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let alert_id = parts
        .next()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    UnreadableDelivery {
        receiver: receiver.filter(|_| alert_id.is_some()),
        alert_id,
        error,
    }
}

/// A fresh outbox entry: pending, due at once (its due time is its creation time, which the
/// queue relies on to place it in the delivery log).
fn new_delivery(receiver: &str, alert: &Alert) -> Delivery {
    Delivery {
        alert_id: alert.id.clone(),
        receiver: receiver.to_string(),
        state: DeliveryState::Pending,
        attempts: 0,
        last_error: None,
        created_at: alert.detected_at,
        next_attempt_at: alert.detected_at,
        not_before: None,
        delivered_at: None,
    }
}
