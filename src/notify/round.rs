//! One receiver's delivery round, as small steps: look the alerts up, wait for the receiver's
//! Retry-After, claim the entries, send one message, settle them, record the outcome.

use chrono::Utc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::mail_html::SeriesData;
use super::settle::{claim, settle, Policy};
use super::{Channel, Inner, Mode, ReceiverReport, SendError, POLL_ATTEMPTS, POLL_MAX_WAIT};
use crate::model::{Alert, Delivery};
use crate::retry;
use crate::store::{Store, StoreError};

impl Inner {
    /// Sends one receiver its entries as one message, retrying per `mode`, and persists every
    /// outcome right after each attempt.
    pub(super) async fn deliver_to(
        &self,
        store: &Store,
        receiver: &str,
        entries: Vec<Delivery>,
        mode: Mode,
        in_poll: retry::Policy,
    ) -> Result<ReceiverReport, StoreError> {
        let mut report = ReceiverReport {
            receiver: receiver.to_string(),
            ..Default::default()
        };
        let Some(channel) = self.channels.get(receiver) else {
            report.pending = entries.len();
            return Ok(report);
        };
        let mut round = Round {
            store,
            receiver,
            channel,
            mode,
            in_poll,
            report,
        };
        let (entries, mut alerts) = round.attach_alerts(entries).await?;
        // Every message of a cycle leads with its briefs (a stable sort keeps the rest).
        alerts.sort_by_key(|a| !a.is_brief());
        if !entries.is_empty() {
            round.send(entries, &alerts).await?;
        }
        Ok(round.report)
    }
}

/// One receiver's delivery round: its entries go out as one message, attempt by attempt.
struct Round<'a> {
    store: &'a Store,
    receiver: &'a str,
    channel: &'a Channel,
    mode: Mode,
    in_poll: retry::Policy,
    report: ReceiverReport,
}

impl Round<'_> {
    /// Looks the alerts up. An entry whose alert record is gone or unreadable can never be
    /// sent, and must not hold back the others: it is marked failed with the reason.
    async fn attach_alerts(
        &mut self,
        entries: Vec<Delivery>,
    ) -> Result<(Vec<Delivery>, Vec<Alert>), StoreError> {
        let receiver = self.receiver;
        let mut alerts = Vec::with_capacity(entries.len());
        let mut kept = Vec::with_capacity(entries.len());
        let mut orphans = Vec::new();
        for d in entries {
            let reason = match self.store.alert(&d.alert_id) {
                Ok(Some(a)) => {
                    alerts.push(a);
                    kept.push(d);
                    continue;
                }
                Ok(None) => {
                    warn!(receiver, alert = %d.alert_id, "outbox entry without an alert record marked failed");
                    "the alert record is missing from the store".to_string()
                }
                Err(e) if !e.is_io() => {
                    warn!(receiver, alert = %d.alert_id, error = %e, "the alert record cannot be read; its delivery is marked failed");
                    format!("the alert record cannot be read: {e}")
                }
                Err(e) => return Err(e),
            };
            let outcome = Err(SendError::Permanent(reason));
            orphans.extend(settle(&[d], &outcome, Utc::now(), &self.policy()));
        }
        if !orphans.is_empty() {
            self.store.update_deliveries_async(orphans.clone()).await?;
            self.report.failed += orphans.len();
        }
        Ok((kept, alerts))
    }

    /// Up to one attempt (`Due`) or three (`Poll`, short pauses, at most 30 s in all); what
    /// is not delivered or refused stays pending.
    async fn send(
        &mut self,
        mut entries: Vec<Delivery>,
        alerts: &[Alert],
    ) -> Result<(), StoreError> {
        let max_attempts = match self.mode {
            Mode::Poll => POLL_ATTEMPTS,
            Mode::Due => 1,
        };
        let data = self.series_data(alerts)?;
        let deadline = Instant::now() + POLL_MAX_WAIT;
        for made in 1..=max_attempts {
            if !self.wait_for_retry_after(&entries, deadline).await {
                break;
            }
            if !matches!(
                self.attempt(&mut entries, alerts, &data).await?,
                Err(SendError::Transient { .. })
            ) {
                return Ok(());
            }
            if made == max_attempts {
                break;
            }
            // The short in-poll backoff; a Retry-After is waited for before the next attempt.
            let pause = retry::delay_drawn(made, &self.in_poll, 0.0);
            if Instant::now() + pause > deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        self.report.pending = entries.len();
        Ok(())
    }

    /// Never before the receiver's Retry-After, not even in a forced retry: waits for it when
    /// the poll's time allows, else says to stop (false).
    async fn wait_for_retry_after(&self, entries: &[Delivery], deadline: Instant) -> bool {
        let Some(nb) = entries.iter().filter_map(|d| d.not_before).max() else {
            return true;
        };
        let wait = (nb - Utc::now()).to_std().unwrap_or_default();
        if wait.is_zero() {
            return true;
        }
        if self.mode == Mode::Due || Instant::now() + wait > deadline {
            debug!(receiver = self.receiver, not_before = %nb, "waiting for the receiver's Retry-After");
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }

    /// One attempt. It is on record before it is made: if the store cannot take this write,
    /// nothing is sent; if the process dies or the store fails after the send, the entries
    /// come due again only after the backoff.
    async fn attempt(
        &mut self,
        entries: &mut Vec<Delivery>,
        alerts: &[Alert],
        data: &SeriesData,
    ) -> Result<Result<(), SendError>, StoreError> {
        *entries = claim(entries, Utc::now(), &self.policy());
        self.store.update_deliveries_async(entries.clone()).await?;
        let outcome = self.channel.send(self.receiver, alerts, false, data).await;
        *entries = settle(entries, &outcome, Utc::now(), &self.policy());
        self.store.update_deliveries_async(entries.clone()).await?;
        self.record(entries, &outcome);
        Ok(outcome)
    }

    /// The stored observations of the alerts' series, for the email's charts (read once per
    /// round, as the store holds them now); the other channels draw nothing and get none.
    fn series_data(&self, alerts: &[Alert]) -> Result<SeriesData, StoreError> {
        let mut data = SeriesData::new();
        if !matches!(self.channel, Channel::Email(_)) {
            return Ok(data);
        }
        for a in alerts.iter().filter(|a| !a.series.is_empty()) {
            if !data.contains_key(&a.series) {
                data.insert(a.series.clone(), self.store.observations(&a.series)?);
            }
        }
        Ok(data)
    }

    fn policy(&self) -> Policy {
        Policy::delivery(&mut rand::thread_rng())
    }

    /// Logs an attempt's outcome and counts it in the report.
    fn record(&mut self, entries: &[Delivery], outcome: &Result<(), SendError>) {
        let (receiver, n) = (self.receiver, entries.len());
        match outcome {
            Ok(()) => {
                info!(receiver, alerts = n, "alerts delivered");
                self.report.delivered += n;
            }
            Err(SendError::Permanent(error)) => {
                warn!(receiver, alerts = n, error = %error, "delivery refused; not retrying");
                self.report.failed += n;
                self.report.error = Some(error.clone());
            }
            Err(SendError::Transient { error, .. }) => {
                let attempts = entries.iter().map(|d| d.attempts).max().unwrap_or(1);
                let next = entries
                    .iter()
                    .map(|d| d.next_attempt_at)
                    .max()
                    .unwrap_or_default();
                warn!(
                    receiver,
                    alerts = n,
                    attempts,
                    next_attempt_at = %next,
                    error = %error,
                    "delivery failed; will retry"
                );
                self.report.error = Some(error.clone());
            }
        }
    }
}
