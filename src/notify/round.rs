//! One receiver's delivery round, as small steps: read a bounded page of its pending entries,
//! look their alerts up, split them into parts (bounded messages, `batch`), and for each part
//! wait for the receiver's Retry-After, claim its entries, send it, settle them and record
//! the outcome; then the next part (after the platform's pace) and the next page. Each part
//! is settled as soon as it is sent, so a retry resumes after the last delivered part and
//! never sends it again, and no more than a page of a backlog is ever held in memory.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::batch::{halves, Part};
use super::mail_images::SeriesData;
use super::settle::{claim, settle, Policy};
use super::{
    repair, Channel, Inner, Mode, ReceiverReport, SendError, POLL_ATTEMPTS, POLL_MAX_WAIT,
    ROUND_BUDGET,
};
use crate::config::BatchLimits;
use crate::model::{Alert, Delivery};
use crate::retry;
use crate::store::{Hold, Store, StoreError};

impl Inner {
    /// Sends one receiver its pending entries (in `Due` mode those due now), page by page and
    /// part by part, retrying per `mode`, and persists every outcome right after each
    /// attempt. `None` when there was nothing to do (nothing due, or the receiver is held).
    pub(super) async fn deliver_to(
        &self,
        store: &Store,
        receiver: &str,
        mode: Mode,
        in_poll: retry::Policy,
        pace: Option<Duration>,
    ) -> Result<Option<ReceiverReport>, StoreError> {
        let (Some(channel), Some(limits)) =
            (self.channels.get(receiver), self.limits.get(receiver))
        else {
            return Ok(None);
        };
        let mut round = Round {
            store,
            receiver,
            channel,
            limits: *limits,
            mode,
            in_poll,
            pace: pace.unwrap_or_else(|| channel.pace()),
            report: ReceiverReport {
                receiver: receiver.to_string(),
                ..Default::default()
            },
            failures: 0,
            waited: Duration::ZERO,
            started: Instant::now(),
            left: HashSet::new(),
        };
        if !round.run().await? {
            return Ok(None);
        }
        round.report.pending = store.pending_count_of(receiver);
        Ok(Some(round.report))
    }
}

/// One receiver's delivery round.
struct Round<'a> {
    store: &'a Store,
    receiver: &'a str,
    channel: &'a Channel,
    limits: BatchLimits,
    mode: Mode,
    in_poll: retry::Policy,
    /// The pause between two messages.
    pace: Duration,
    report: ReceiverReport,
    /// Failed attempts so far (a `poll` makes at most three in all, the daemon one).
    failures: u32,
    /// Time spent waiting for a Retry-After or an in-poll backoff (at most 30 s in a poll).
    waited: Duration,
    started: Instant,
    /// Alerts tried in this round that stayed pending while it went on (one alert alone too
    /// large): their entries move further down the due index, where a `poll`'s reading
    /// would meet them again.
    left: HashSet<String>,
}

/// What a round does after a part.
enum Step {
    /// Go on with the next part.
    Next,
    /// The part was too large: send it as two.
    Split,
    /// Stop the round: the receiver failed, or asks to wait longer than the round can.
    Stop,
}

impl Round<'_> {
    /// Page after page; false when nothing was pending (or due) for the receiver or it is
    /// held, in the daemon's mode.
    async fn run(&mut self) -> Result<bool, StoreError> {
        let until = match self.mode {
            Mode::Due => Some(Utc::now()),
            Mode::Poll => None,
        };
        let limit = self.limits.max_alerts;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .store
                .pending_page(self.receiver, after.as_deref(), until, limit)?;
            let Some(next) = page.next else {
                return Ok(after.is_some());
            };
            let first = after.replace(next).is_none();
            let more = page.entries.len() + page.unreadable.len() >= limit;
            if first {
                let not_before = page.entries.iter().filter_map(|d| d.not_before).max();
                if !self.wait_for_hold(not_before).await? {
                    return Ok(self.mode == Mode::Poll);
                }
            }
            let mut entries = page.entries;
            entries.retain(|d| !self.left.contains(&d.alert_id));
            entries.extend(repair(self.store, page.unreadable, Utc::now()).await?);
            let (entries, alerts) = self.attach_alerts(entries).await?;
            if !entries.is_empty() && !self.send_page(entries, alerts, more).await? {
                return Ok(true);
            }
            if self.over_budget() {
                return Ok(true);
            }
        }
    }

    /// Whether a daemon round has sent for long enough (the rest stays due for the next).
    fn over_budget(&self) -> bool {
        self.mode == Mode::Due && self.started.elapsed() >= ROUND_BUDGET
    }

    /// Sends a page part by part; false to end the round. `more`: the page may not be the
    /// receiver's last.
    async fn send_page(
        &mut self,
        entries: Vec<Delivery>,
        alerts: Vec<Alert>,
        more: bool,
    ) -> Result<bool, StoreError> {
        let (mut entries, alerts) = briefs_first(entries, alerts);
        let data = self.series_data(&alerts)?;
        let mut parts: VecDeque<Part> = match self.split(&alerts, 0..alerts.len()) {
            Ok(p) => p.into(),
            Err(e) => {
                let failed = settle(&entries, &Err(e.clone()), Utc::now(), &self.policy());
                self.store.update_deliveries_async(failed.clone()).await?;
                self.record(&failed, &Err(e));
                return Ok(true);
            }
        };
        let mut sent = false;
        while let Some(part) = parts.pop_front() {
            if sent && !self.pace.is_zero() {
                tokio::time::sleep(self.pace).await;
            }
            sent = true;
            let r = part.items.clone();
            match self
                .send_part(&mut entries[r.clone()], &alerts[r.clone()], &part, &data)
                .await?
            {
                Step::Next => {}
                Step::Split => {
                    let [a, b] = halves(&r);
                    for half in [b, a] {
                        for p in self
                            .split(&alerts, half)
                            .unwrap_or_default()
                            .into_iter()
                            .rev()
                        {
                            parts.push_front(p);
                        }
                    }
                    sent = false;
                }
                Step::Stop => {
                    if !parts.is_empty() || more {
                        self.hold_for_backoff(&entries[r]).await?;
                    }
                    return Ok(false);
                }
            }
            if self.over_budget() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The parts of `alerts[range]`, their ranges in the page's numbering.
    fn split(
        &self,
        alerts: &[Alert],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Part>, SendError> {
        let start = range.start;
        Ok(self
            .channel
            .parts(self.receiver, &alerts[range], false, &self.limits)?
            .into_iter()
            .map(|p| p.shifted(start))
            .collect())
    }

    /// One part, with the in-poll retries: delivered or refused goes on to the next part; a
    /// part of several alerts refused as too large is split; one alone too large stays
    /// pending and the round goes on; a failure ends the round after its last attempt.
    async fn send_part(
        &mut self,
        entries: &mut [Delivery],
        alerts: &[Alert],
        part: &Part,
        data: &SeriesData,
    ) -> Result<Step, StoreError> {
        let max_attempts = match self.mode {
            Mode::Poll => POLL_ATTEMPTS,
            Mode::Due => 1,
        };
        loop {
            if !self.wait_for_hold(None).await? {
                return Ok(Step::Stop);
            }
            match self.attempt(entries, alerts, part, data).await? {
                Ok(()) | Err(SendError::Permanent(_)) => return Ok(Step::Next),
                Err(SendError::TooLarge(_)) if alerts.len() > 1 => return Ok(Step::Split),
                Err(SendError::TooLarge(_)) => {
                    self.left.extend(entries.iter().map(|d| d.alert_id.clone()));
                    return Ok(Step::Next);
                }
                Err(SendError::Transient { retry_after, .. }) => {
                    if let Some(ra) = retry_after {
                        let until = latest(entries).max(ra);
                        let hold = Hold {
                            retry_after: Some(ra),
                            until,
                        };
                        self.store.set_receiver_hold(self.receiver, &hold)?;
                    }
                    self.failures += 1;
                    if self.failures >= max_attempts {
                        return Ok(Step::Stop);
                    }
                    // The short in-poll backoff; a Retry-After is waited for before the next
                    // attempt.
                    let pause = retry::delay_drawn(self.failures, &self.in_poll, 0.0);
                    if self.waited + pause > POLL_MAX_WAIT {
                        return Ok(Step::Stop);
                    }
                    self.waited += pause;
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// A failed part that leaves more of the receiver's backlog unsent holds the whole
    /// receiver for the daemon until the part's next attempt, so the rest does not go out
    /// (and fail) a second at a time meanwhile; a `poll` does not wait for this.
    async fn hold_for_backoff(&self, entries: &[Delivery]) -> Result<(), StoreError> {
        let before = self.store.receiver_hold(self.receiver)?;
        let retry_after = before.and_then(|h| h.retry_after);
        let until = latest(entries).max(retry_after.unwrap_or_default());
        self.store
            .set_receiver_hold(self.receiver, &Hold { retry_after, until })
    }

    /// Never before the receiver's Retry-After (nor `not_before`), not even in a forced
    /// retry, and in the daemon's mode not before its hold: waits for it when the poll's time
    /// allows, else says to stop (false).
    async fn wait_for_hold(
        &mut self,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let hold = self.store.receiver_hold(self.receiver)?;
        let held = match self.mode {
            Mode::Poll => hold.and_then(|h| h.retry_after),
            Mode::Due => hold.map(|h| h.until),
        };
        let Some(t) = held.into_iter().chain(not_before).max() else {
            return Ok(true);
        };
        let wait = (t - Utc::now()).to_std().unwrap_or_default();
        if wait.is_zero() {
            return Ok(true);
        }
        if self.mode == Mode::Due || self.waited + wait > POLL_MAX_WAIT {
            debug!(receiver = self.receiver, until = %t, "the receiver asked to wait; not sending before");
            return Ok(false);
        }
        self.waited += wait;
        tokio::time::sleep(wait).await;
        Ok(true)
    }

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

    /// One attempt at one part. It is on record before it is made: if the store cannot take
    /// this write, nothing is sent; if the process dies or the store fails after the send,
    /// the entries come due again only after the backoff.
    async fn attempt(
        &mut self,
        entries: &mut [Delivery],
        alerts: &[Alert],
        part: &Part,
        data: &SeriesData,
    ) -> Result<Result<(), SendError>, StoreError> {
        let claimed = claim(entries, Utc::now(), &self.policy());
        self.store.update_deliveries_async(claimed.clone()).await?;
        let outcome = match self
            .channel
            .send(self.receiver, alerts, part, false, data)
            .await
        {
            Err(SendError::TooLarge(e)) if alerts.len() == 1 => Err(SendError::TooLarge(format!(
                "{e}; this one alert alone is over the limit: it stays pending until the limit is raised"
            ))),
            other => other,
        };
        let settled = settle(&claimed, &outcome, Utc::now(), &self.policy());
        self.store.update_deliveries_async(settled.clone()).await?;
        self.record(&settled, &outcome);
        entries.clone_from_slice(&settled);
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
            Err(SendError::Transient { error, .. } | SendError::TooLarge(error)) => {
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

/// The page with its briefs first, each entry beside its alert (a stable sort keeps the rest
/// in due order).
fn briefs_first(entries: Vec<Delivery>, alerts: Vec<Alert>) -> (Vec<Delivery>, Vec<Alert>) {
    let mut pairs: Vec<(Delivery, Alert)> = entries.into_iter().zip(alerts).collect();
    pairs.sort_by_key(|(_, a)| !a.is_brief());
    pairs.into_iter().unzip()
}

/// The latest next attempt among a part's entries.
fn latest(entries: &[Delivery]) -> DateTime<Utc> {
    entries
        .iter()
        .map(|d| d.next_attempt_at)
        .max()
        .unwrap_or_default()
}
