//! The outbox: alert records, one delivery record per (receiver, alert), and reading and
//! settling what is pending (through the due index of `due`, kept in the same transactions).

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::due::{position, stamp, Index};
use super::{dec, enc, key2, settled, CommitSummary, PollWrite, Store, StoreError};
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

/// One alert of a poll, encoded with its fresh outbox entries.
pub(super) struct AlertRows {
    pub(super) id: String,
    pub(super) value: Vec<u8>,
    /// Key, value and when the entry is due.
    pub(super) entries: Vec<(Vec<u8>, Vec<u8>, DateTime<Utc>)>,
}

impl Store {
    pub fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.alerts
            .get(id)?
            .map(|v| dec("alerts", id.as_bytes(), &v))
            .transpose()
    }

    /// Every delivery record, in receiver then alert-id order. A record that cannot be read
    /// is an error here; [`Store::outbox`] reads past it.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
        self.outbox
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                dec("outbox", &k, &v)
            })
            .collect()
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
            rows.push((key, value, position(d)));
        }
        let trees = (&self.outbox, &self.due, &self.pending, &self.meta);
        let result = trees.transaction(|(outbox, due, pending, meta)| {
            let index = Index { due, pending, meta };
            let mut delta = 0;
            for (k, v, at) in &rows {
                outbox.insert(k.as_slice(), v.as_slice())?;
                delta += index.set(k, *at)?;
            }
            index.add_to_count(delta)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        });
        settled(result)?;
        self.db.flush()?;
        Ok(())
    }
}

/// Adds a poll's alerts and their fresh outbox entries, inside the poll's transaction. The
/// same id is never delivered twice to a receiver, across restarts and after pruning.
pub(super) fn enqueue(
    rows: &[AlertRows],
    alerts: &TransactionalTree,
    outbox: &TransactionalTree,
    sent: &TransactionalTree,
    index: &Index<'_>,
) -> Result<CommitSummary, ConflictableTransactionError<StoreError>> {
    let mut summary = CommitSummary::default();
    for a in rows {
        if alerts.get(a.id.as_bytes())?.is_none() {
            alerts.insert(a.id.as_bytes(), a.value.as_slice())?;
            summary.new_alerts.push(a.id.clone());
        }
        for (k, v, at) in &a.entries {
            if outbox.get(k.as_slice())?.is_none() && !Store::was_sent(sent, k)? {
                outbox.insert(k.as_slice(), v.as_slice())?;
                index.set(k, Some(*at))?;
                summary.enqueued += 1;
            }
        }
    }
    index.add_to_count(summary.enqueued as i64)?;
    Ok(summary)
}

/// Encodes a poll's alerts, each with a fresh entry for every receiver it goes to.
pub(super) fn alert_rows(w: &PollWrite) -> Result<Vec<AlertRows>, StoreError> {
    let mut rows = Vec::new();
    for (alert, receivers) in &w.alerts {
        let value = enc("alerts", alert.id.as_bytes(), alert)?;
        let mut entries = Vec::new();
        for r in receivers {
            let key = key2(r, &alert.id);
            let d = new_delivery(r, alert);
            let value = enc("outbox", &key, &d)?;
            entries.push((key, value, d.next_attempt_at));
        }
        rows.push(AlertRows {
            id: alert.id.clone(),
            value,
            entries,
        });
    }
    Ok(rows)
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

/// A fresh outbox entry: pending, due at once.
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
