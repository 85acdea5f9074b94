//! The outbox: alert records, one delivery record per (receiver, alert), and what is due.

use chrono::{DateTime, Utc};

use super::{dec, enc, key2, PollWrite, Row, Store, StoreError};
use crate::model::{Alert, Delivery, DeliveryState};

/// An outbox record that could not be decoded, with what its key says about it.
#[derive(Debug)]
pub struct UnreadableDelivery {
    /// `receiver` and `alert id` from the key, when the key has the documented layout.
    pub receiver: Option<String>,
    pub alert_id: Option<String>,
    pub error: StoreError,
}

/// One alert of a poll, encoded with its fresh outbox entries.
pub(super) struct AlertRows {
    pub(super) id: String,
    pub(super) value: Vec<u8>,
    pub(super) entries: Vec<Row>,
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

    /// Every delivery record that reads, and apart from them those that do not: one bad
    /// record must not hide the others. Only an I/O error of the store is an error.
    pub fn outbox(&self) -> Result<(Vec<Delivery>, Vec<UnreadableDelivery>), StoreError> {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            match dec::<Delivery>("outbox", &k, &v) {
                Ok(d) => good.push(d),
                Err(error) => bad.push(unreadable(&k, error)),
            }
        }
        Ok((good, bad))
    }

    /// The pending deliveries that can be read (see [`Store::outbox`] for the others).
    pub fn pending(&self) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .outbox()?
            .0
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .collect())
    }

    /// When the next pending entry is due, if any: its next attempt, or the receiver's
    /// Retry-After if that is later.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.pending()?.iter().map(due_at).min())
    }

    /// Records the outcome of delivery attempts (after a send, success or not).
    pub fn update_deliveries(&self, updates: &[Delivery]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for d in updates {
            let key = key2(&d.receiver, &d.alert_id);
            let value = enc("outbox", &key, d)?;
            batch.insert(key, value);
        }
        self.outbox.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }
}

/// Encodes a poll's alerts, each with a fresh entry for every receiver it goes to.
pub(super) fn alert_rows(w: &PollWrite) -> Result<Vec<AlertRows>, StoreError> {
    let mut rows = Vec::new();
    for (alert, receivers) in &w.alerts {
        let value = enc("alerts", alert.id.as_bytes(), alert)?;
        let mut entries = Vec::new();
        for r in receivers {
            let key = key2(r, &alert.id);
            let value = enc("outbox", &key, &new_delivery(r, alert))?;
            entries.push((key, value));
        }
        rows.push(AlertRows {
            id: alert.id.clone(),
            value,
            entries,
        });
    }
    Ok(rows)
}

/// One receiver's pending entries that are due at `now`: none while its Retry-After holds
/// (the receiver's word about itself holds for every entry), else those whose next attempt
/// has come.
pub(crate) fn due(entries: Vec<Delivery>, now: DateTime<Utc>) -> Vec<Delivery> {
    let blocked_until = entries.iter().filter_map(|d| d.not_before).max();
    if blocked_until.is_some_and(|t| t > now) {
        return Vec::new();
    }
    entries
        .into_iter()
        .filter(|d| d.next_attempt_at <= now)
        .collect()
}

/// When one entry may be attempted next.
fn due_at(d: &Delivery) -> DateTime<Utc> {
    match d.not_before {
        Some(nb) if nb > d.next_attempt_at => nb,
        _ => d.next_attempt_at,
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
