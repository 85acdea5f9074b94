//! Alert delivery through the durable outbox.
//!
//! The store's `outbox` tree holds one [`Delivery`] per (receiver, alert). [`Notifier::deliver`]
//! groups a receiver's pending entries into ONE message (a webhook POST, an email, log lines),
//! sends it, and records the outcome in the store right after each attempt, so a crash after
//! a send re-sends at most that one message (delivery is at least once; the alert id lets
//! receivers dedupe).
//!
//! Outcomes: success marks every entry of the message `Delivered`; a permanent refusal (HTTP
//! 4xx other than 429, an SMTP 5xx reply) marks them `Failed` for good; anything else (5xx,
//! 429, timeouts, connection errors, SMTP 4xx replies) keeps them pending with a backoff, and
//! a `Retry-After` becomes `not_before`, which even a forced retry honours.
//!
//! One record that cannot be read never stops the others: an entry whose alert record does not
//! decode is marked `Failed` with the reason; an outbox record that does not decode is
//! rewritten as a fresh pending entry (at least once: it may have been delivered already).
//!
//! Each attempt is recorded BEFORE it is sent (attempts + 1, next attempt after the backoff),
//! so a store that cannot be written stops delivery before anything goes out, and a crash or a
//! failed write after a successful send resends only after the backoff, never in a loop.

mod email;
mod log;
mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::config::{Config, ReceiverKind};
use crate::model::{Alert, Cause, Delivery, DeliveryState, Period, Severity};
use crate::store::{Store, StoreError, UnreadableDelivery};

pub use webhook::{parse_retry_after, payload, sign};

/// How many attempts one `poll` makes per receiver (interface.md, "Delivery inside one poll").
const POLL_ATTEMPTS: u32 = 3;
/// The default pause before the second in-poll attempt; the third waits twice as long, so a
/// poll spends about 10 s in all on a receiver that is down.
const DEFAULT_POLL_RETRY_BASE: Duration = Duration::from_secs(3);
/// The longest a poll waits in all for one receiver, and so the longest `Retry-After` it honours
/// in place; a later one leaves the entries pending for a later cycle.
const POLL_MAX_WAIT: Duration = Duration::from_secs(30);
/// Backoff between cycles: from 30 s, doubling per attempt, at most 15 min.
const BACKOFF_BASE_SECS: u64 = 30;
const BACKOFF_CAP_SECS: u64 = 15 * 60;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no receiver named {0:?} in the config")]
    UnknownReceiver(String),
    #[error("receiver {receiver}: an email receiver needs an [smtp] section")]
    NoSmtp { receiver: String },
    #[error("smtp.ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("{what}: not a valid mail address: {address:?}")]
    Address { what: String, address: String },
    #[error("smtp: {0}")]
    SmtpSetup(String),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    /// A send that failed; `permanent` says whether retrying could help.
    #[error("delivery to {receiver} failed: {message}")]
    Send {
        receiver: String,
        message: String,
        permanent: bool,
    },
}

/// How [`Notifier::deliver`] picks and retries entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `statwatch poll`: every pending entry now, whatever its backoff, but never before a
    /// receiver's Retry-After (`Delivery::not_before`); at most 3 attempts per receiver with short
    /// backoff (about 10 s in all, or longer only to honour a Retry-After of up to 30 s); what is
    /// left stays pending with a backoff for later cycles.
    Poll,
    /// The daemon: only entries whose `next_attempt_at` has come; one attempt; on failure the
    /// next attempt is at now + backoff (from about 30 s, doubling per attempt, capped at 15 min,
    /// with jitter), or the Retry-After time if later.
    Due,
}

/// What one [`Notifier::deliver`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryReport {
    /// One line per receiver that had something to send, in name order.
    pub receivers: Vec<ReceiverReport>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceiverReport {
    pub receiver: String,
    /// Entries delivered by this call.
    pub delivered: usize,
    /// Entries refused for good by this call.
    pub failed: usize,
    /// Entries still pending after this call.
    pub pending: usize,
    /// The last error of this call, if any attempt failed.
    pub error: Option<String>,
}

impl DeliveryReport {
    /// Whether any attempt failed or any entry failed (`poll` exits 1 then).
    pub fn failed(&self) -> bool {
        self.receivers
            .iter()
            .any(|r| r.failed > 0 || r.error.is_some())
    }
}

/// Why one send did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SendError {
    /// Worth retrying later (5xx, 429, timeouts, connection errors, SMTP 4xx replies).
    Transient {
        error: String,
        retry_after: Option<DateTime<Utc>>,
    },
    /// Retrying will not help (HTTP 4xx other than 429, SMTP 5xx replies).
    Permanent(String),
}

impl SendError {
    fn message(&self) -> &str {
        match self {
            SendError::Transient { error, .. } | SendError::Permanent(error) => error,
        }
    }
}

/// One configured receiver, ready to send.
enum Channel {
    Webhook(webhook::Webhook),
    Email(email::Email),
    Log,
}

impl Channel {
    async fn send(&self, receiver: &str, alerts: &[Alert], test: bool) -> Result<(), SendError> {
        match self {
            Channel::Webhook(w) => w.send(receiver, alerts, test).await,
            Channel::Email(e) => e.send(alerts, test).await,
            Channel::Log => {
                log::send(receiver, alerts);
                Ok(())
            }
        }
    }
}

struct Inner {
    channels: BTreeMap<String, Channel>,
}

/// Delivers the outbox to the configured receivers. One per config (rebuild it on reload).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
    poll_retry_base: Duration,
}

impl std::fmt::Debug for Notifier {
    // By hand: the channels hold credentials, so only the receiver names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("receivers", &self.inner.channels.keys().collect::<Vec<_>>())
            .field("poll_retry_base", &self.poll_retry_base)
            .finish()
    }
}

impl Notifier {
    /// Prepares every receiver of the config: HTTP client, SMTP transport, addresses, CA file.
    pub fn new(config: &Config) -> Result<Notifier, NotifyError> {
        let mut channels = BTreeMap::new();
        let mut smtp: Option<Arc<email::Transport>> = None;
        for (name, r) in &config.receivers {
            let channel = match &r.kind {
                ReceiverKind::Webhook {
                    url,
                    secret,
                    timeout,
                } => Channel::Webhook(webhook::Webhook::new(
                    url.clone(),
                    secret.clone(),
                    *timeout,
                )?),
                ReceiverKind::Email { to } => {
                    let Some(cfg) = &config.smtp else {
                        return Err(NotifyError::NoSmtp {
                            receiver: name.clone(),
                        });
                    };
                    let transport = match &smtp {
                        Some(t) => t.clone(),
                        None => {
                            let t = Arc::new(email::Transport::new(cfg)?);
                            smtp = Some(t.clone());
                            t
                        }
                    };
                    Channel::Email(email::Email::new(name, transport, to)?)
                }
                ReceiverKind::Log => Channel::Log,
            };
            channels.insert(name.clone(), channel);
        }
        Ok(Notifier {
            inner: Arc::new(Inner { channels }),
            poll_retry_base: DEFAULT_POLL_RETRY_BASE,
        })
    }

    /// Sets the pause before the second in-poll attempt (the third waits twice as long).
    /// Tests use a few milliseconds; the default is 3 s.
    pub fn with_retry_base(mut self, base: Duration) -> Notifier {
        self.poll_retry_base = base;
        self
    }

    /// Sends pending outbox entries, one message per receiver carrying all of its alerts, and
    /// records every outcome in the store. Returns what happened per receiver.
    pub async fn deliver(&self, store: &Store, mode: Mode) -> Result<DeliveryReport, StoreError> {
        let now = Utc::now();
        let mut by_receiver: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        let (readable, unreadable) = store.outbox()?;
        let mut pending: Vec<Delivery> = readable
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .collect();
        pending.extend(repair(store, unreadable, now)?);
        for d in pending {
            by_receiver.entry(d.receiver.clone()).or_default().push(d);
        }

        let unknown: BTreeSet<&String> = by_receiver
            .keys()
            .filter(|r| !self.inner.channels.contains_key(*r))
            .collect();
        if !unknown.is_empty() {
            // Their entries stay as they are: the receiver may come back with the next config.
            warn!(
                receivers = %unknown.into_iter().cloned().collect::<Vec<_>>().join(", "),
                "pending deliveries for receivers that are no longer configured are left alone"
            );
        }

        let mut tasks = JoinSet::new();
        for (receiver, entries) in by_receiver {
            if !self.inner.channels.contains_key(&receiver) {
                continue;
            }
            // A Retry-After is the receiver's word about itself: it holds for every entry.
            let blocked_until = entries.iter().filter_map(|d| d.not_before).max();
            let entries = match mode {
                Mode::Poll => entries,
                Mode::Due => {
                    if blocked_until.is_some_and(|t| t > now) {
                        continue;
                    }
                    let due: Vec<Delivery> = entries
                        .into_iter()
                        .filter(|d| d.next_attempt_at <= now)
                        .collect();
                    if due.is_empty() {
                        continue;
                    }
                    due
                }
            };
            let inner = self.inner.clone();
            let store = store.clone();
            let base = self.poll_retry_base;
            // Receivers are independent: one that is down must not delay the others.
            tasks.spawn(async move {
                inner
                    .deliver_to(&store, &receiver, entries, mode, base)
                    .await
            });
        }

        let mut report = DeliveryReport::default();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(r)) => report.receivers.push(r),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    // A panic in one receiver's task: its entries stay pending in the store.
                    warn!(error = %e, "a delivery task ended abnormally");
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        report.receivers.sort_by(|a, b| a.receiver.cmp(&b.receiver));
        Ok(report)
    }

    /// Sends a clearly marked test alert through one receiver (not through the outbox).
    pub async fn test(&self, receiver: &str) -> Result<(), NotifyError> {
        let channel = self
            .inner
            .channels
            .get(receiver)
            .ok_or_else(|| NotifyError::UnknownReceiver(receiver.to_string()))?;
        let alert = test_alert();
        info!(receiver, id = %alert.id, "sending a test alert");
        channel
            .send(receiver, std::slice::from_ref(&alert), true)
            .await
            .map_err(|e| NotifyError::Send {
                receiver: receiver.to_string(),
                permanent: matches!(e, SendError::Permanent(_)),
                message: e.message().to_string(),
            })
    }

    /// When the next pending entry is due (for the daemon's retry timer), if any.
    ///
    /// This sees every pending entry, also those of receivers no longer configured (which
    /// `deliver` leaves alone): the caller should sleep at least a few seconds between calls.
    pub fn next_due(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(store
            .pending()?
            .iter()
            .map(|d| match d.not_before {
                Some(nb) if nb > d.next_attempt_at => nb,
                _ => d.next_attempt_at,
            })
            .min())
    }
}

impl Inner {
    /// Sends one receiver its entries as one message, retrying per `mode`, and persists every
    /// outcome right after each attempt.
    async fn deliver_to(
        &self,
        store: &Store,
        receiver: &str,
        entries: Vec<Delivery>,
        mode: Mode,
        poll_retry_base: Duration,
    ) -> Result<ReceiverReport, StoreError> {
        let mut report = ReceiverReport {
            receiver: receiver.to_string(),
            ..Default::default()
        };
        let Some(channel) = self.channels.get(receiver) else {
            report.pending = entries.len();
            return Ok(report);
        };

        // Look the alerts up; an entry whose alert record is gone or unreadable can never be
        // sent, and must not hold back the others.
        let mut alerts = Vec::with_capacity(entries.len());
        let mut orphans = Vec::new();
        let mut kept = Vec::with_capacity(entries.len());
        for mut d in entries {
            match store.alert(&d.alert_id) {
                Ok(Some(a)) => {
                    alerts.push(a);
                    kept.push(d);
                }
                Ok(None) => {
                    warn!(receiver, alert = %d.alert_id, "outbox entry without an alert record marked failed");
                    d.last_error = Some("the alert record is missing from the store".into());
                    orphans.push(d);
                }
                Err(e) if !e.is_io() => {
                    warn!(receiver, alert = %d.alert_id, error = %e, "the alert record cannot be read; its delivery is marked failed");
                    d.last_error = Some(format!("the alert record cannot be read: {e}"));
                    orphans.push(d);
                }
                Err(e) => return Err(e),
            }
        }
        let mut entries = kept;
        if !orphans.is_empty() {
            for d in &mut orphans {
                d.state = DeliveryState::Failed;
            }
            store.update_deliveries(&orphans)?;
            report.failed += orphans.len();
        }
        if entries.is_empty() {
            return Ok(report);
        }

        let max_attempts = match mode {
            Mode::Poll => POLL_ATTEMPTS,
            Mode::Due => 1,
        };
        let started = tokio::time::Instant::now();
        let deadline = started + POLL_MAX_WAIT;
        let mut made = 0;
        loop {
            // Never before the receiver's Retry-After, not even in a forced retry.
            if let Some(nb) = entries.iter().filter_map(|d| d.not_before).max() {
                let wait = (nb - Utc::now()).to_std().unwrap_or_default();
                if !wait.is_zero() {
                    if mode == Mode::Due || tokio::time::Instant::now() + wait > deadline {
                        debug!(receiver, not_before = %nb, "waiting for the receiver's Retry-After");
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
            }

            made += 1;
            // The attempt is on record before it is made: if the store cannot take this
            // write, nothing is sent; if the process dies or the store fails after the send,
            // the entries come due again only after the backoff.
            let claimed_at = Utc::now();
            for d in &mut entries {
                d.attempts += 1;
                d.next_attempt_at = claimed_at + backoff(d.attempts, &mut rand::thread_rng());
            }
            store.update_deliveries(&entries)?;
            let result = channel.send(receiver, &alerts, false).await;
            let now = Utc::now();
            match result {
                Ok(()) => {
                    for d in &mut entries {
                        d.state = DeliveryState::Delivered;
                        d.delivered_at = Some(now);
                        d.not_before = None;
                    }
                    store.update_deliveries(&entries)?;
                    info!(receiver, alerts = entries.len(), "alerts delivered");
                    report.delivered += entries.len();
                    return Ok(report);
                }
                Err(SendError::Permanent(error)) => {
                    for d in &mut entries {
                        d.state = DeliveryState::Failed;
                        d.last_error = Some(error.clone());
                    }
                    store.update_deliveries(&entries)?;
                    warn!(receiver, alerts = entries.len(), error = %error, "delivery refused; not retrying");
                    report.failed += entries.len();
                    report.error = Some(error);
                    return Ok(report);
                }
                Err(SendError::Transient { error, retry_after }) => {
                    let attempts = entries.iter().map(|d| d.attempts).max().unwrap_or(1);
                    let mut next = now + backoff(attempts, &mut rand::thread_rng());
                    if let Some(ra) = retry_after {
                        next = next.max(ra);
                    }
                    for d in &mut entries {
                        d.last_error = Some(error.clone());
                        d.next_attempt_at = next;
                        d.not_before = retry_after;
                    }
                    store.update_deliveries(&entries)?;
                    warn!(
                        receiver,
                        alerts = entries.len(),
                        attempts,
                        next_attempt_at = %next,
                        error = %error,
                        "delivery failed; will retry"
                    );
                    report.error = Some(error);
                    if made >= max_attempts {
                        break;
                    }
                    // The short in-poll backoff; a Retry-After is waited for at the loop's top.
                    let pause = poll_retry_base * 2u32.saturating_pow(made - 1);
                    if tokio::time::Instant::now() + pause > deadline {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
        report.pending = entries.len();
        Ok(report)
    }
}

/// Rewrites outbox records that cannot be read as fresh pending entries (when the key names
/// the receiver and the alert), so the alert is still delivered: its state was lost with the
/// record, and at least once means sending it again rather than never.
fn repair(
    store: &Store,
    unreadable: Vec<UnreadableDelivery>,
    now: DateTime<Utc>,
) -> Result<Vec<Delivery>, StoreError> {
    let mut repaired = Vec::new();
    for u in unreadable {
        let (Some(receiver), Some(alert_id)) = (u.receiver, u.alert_id) else {
            warn!(error = %u.error, "an outbox record with an unknown key cannot be read; left alone");
            continue;
        };
        warn!(receiver = %receiver, alert = %alert_id, error = %u.error, "an outbox record cannot be read; queued again as pending");
        repaired.push(Delivery {
            alert_id,
            receiver,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: Some(format!("the outbox record could not be read: {}", u.error)),
            created_at: now,
            next_attempt_at: now,
            not_before: None,
            delivered_at: None,
        });
    }
    if !repaired.is_empty() {
        store.update_deliveries(&repaired)?;
    }
    Ok(repaired)
}

/// The pause before the next attempt after `attempts` failed ones: 30 s doubling per attempt,
/// at most 15 min, minus up to 20 % jitter so receivers that failed together do not retry in
/// lockstep (subtracting keeps the cap a real cap).
pub(crate) fn backoff(attempts: u32, rng: &mut impl Rng) -> chrono::Duration {
    let exp = attempts.saturating_sub(1).min(16);
    let full = BACKOFF_BASE_SECS
        .saturating_mul(1u64 << exp)
        .min(BACKOFF_CAP_SECS);
    let full_ms = full * 1000;
    let jitter = rng.gen_range(0..=full_ms / 5);
    chrono::Duration::milliseconds((full_ms - jitter) as i64)
}

/// The alert `test-notify` sends: clearly marked, with an id that no real alert can have.
fn test_alert() -> Alert {
    let now = Utc::now();
    let id = format!("test-{:016x}", rand::thread_rng().gen::<u64>());
    let mut details = serde_json::Map::new();
    details.insert("test".into(), serde_json::Value::Bool(true));
    Alert {
        id,
        rule: "statwatch-test".into(),
        kind: "test".into(),
        severity: Severity::Info,
        series: "statwatch.test".into(),
        title: "statwatch test alert".into(),
        source: "statwatch".into(),
        table: "test".into(),
        unit: "".into(),
        period: Period::Month(
            chrono::Datelike::year(&now),
            chrono::Datelike::month(&now) as u8,
        ),
        source_period: "test".into(),
        value: 0.0,
        previous: None,
        cause: Cause::NewPeriod,
        summary: "[statwatch test] This is a test alert from statwatch test-notify; no rule fired"
            .into(),
        details,
        detected_at: now,
    }
}

/// The alert that names a message: the most severe, the earliest detected among equals.
pub(crate) fn headline(alerts: &[Alert]) -> Option<&Alert> {
    alerts.iter().min_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.detected_at.cmp(&b.detected_at))
            .then(a.id.cmp(&b.id))
    })
}

/// Subject line: the headline's summary, with " (+N more)" when the message carries more.
pub(crate) fn subject(alerts: &[Alert], test: bool) -> String {
    let mut s = match headline(alerts) {
        Some(a) if alerts.len() > 1 => format!("{} (+{} more)", a.summary, alerts.len() - 1),
        Some(a) => a.summary.clone(),
        None => "statwatch: no alerts".to_string(),
    };
    if test && !s.starts_with("[statwatch test]") {
        s = format!("[statwatch test] {s}");
    }
    s
}

/// Renders an error with its causes, one line ("a: b: c"), for `last_error` and logs.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Shortens a receiver's answer for `last_error`: one line, at most `max` characters.
pub(crate) fn short(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Previous;
    use rand::SeedableRng;

    pub(crate) fn alert(id: &str, severity: Severity, summary: &str) -> Alert {
        Alert {
            id: id.into(),
            rule: "nl-industry-streak".into(),
            kind: "streak".into(),
            severity,
            series: "nl.industry.yoy".into(),
            title: "Industrial production NL, y/y % (calendar adjusted)".into(),
            source: "cbs".into(),
            table: "85806NED".into(),
            unit: "%".into(),
            period: Period::Month(2025, 3),
            source_period: "2025MM03".into(),
            value: 1.3,
            previous: Some(Previous {
                period: Period::Month(2025, 2),
                value: 1.0,
            }),
            cause: Cause::NewPeriod,
            summary: summary.into(),
            details: serde_json::json!({"streak": 3})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            detected_at: "2025-05-09T06:31:01Z".parse().unwrap(),
        }
    }

    #[test]
    fn backoff_doubles_from_30s_and_caps_at_15min_with_bounded_jitter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let expected = [30, 60, 120, 240, 480, 900, 900, 900];
        for (i, full) in expected.iter().enumerate() {
            for _ in 0..200 {
                let d = backoff(i as u32 + 1, &mut rng).num_milliseconds();
                let full = full * 1000;
                assert!(d <= full, "attempt {}: {d} > {full}", i + 1);
                assert!(d >= full * 4 / 5, "attempt {}: {d} < 80% of {full}", i + 1);
            }
        }
        // Huge attempt counts neither overflow nor exceed the cap.
        assert!(backoff(u32::MAX, &mut rng).num_seconds() <= 900);
        assert!(backoff(0, &mut rng).num_seconds() <= 30);
        // The jitter really varies.
        let a: BTreeSet<i64> = (0..50)
            .map(|_| backoff(3, &mut rng).num_milliseconds())
            .collect();
        assert!(a.len() > 10);
    }

    #[test]
    fn subject_names_the_most_severe_alert() {
        let a = alert("a", Severity::Info, "info one");
        let b = alert("b", Severity::Critical, "critical one");
        let c = alert("c", Severity::Warning, "warning one");
        assert_eq!(subject(std::slice::from_ref(&a), false), "info one");
        assert_eq!(
            subject(&[a.clone(), b.clone(), c.clone()], false),
            "critical one (+2 more)"
        );
        // Equal severity: the earliest detected wins.
        let mut later = alert("z", Severity::Critical, "later critical");
        later.detected_at = b.detected_at + chrono::Duration::seconds(5);
        assert_eq!(
            subject(&[later, b.clone()], false),
            "critical one (+1 more)"
        );
        assert_eq!(subject(&[a], true), "[statwatch test] info one");
        let t = test_alert();
        assert!(subject(&[t], true).starts_with("[statwatch test] "));
        assert!(!subject(&[b], true).contains("[statwatch test] [statwatch test]"));
    }

    #[test]
    fn short_keeps_one_line() {
        assert_eq!(short("a\n  b\tc", 10), "a b c");
        assert_eq!(short("abcdefghijkl", 5), "abcde…");
    }

    #[test]
    fn report_failed_means_any_error_or_failure() {
        let mut r = DeliveryReport {
            receivers: vec![ReceiverReport {
                receiver: "ops".into(),
                delivered: 1,
                ..Default::default()
            }],
        };
        assert!(!r.failed());
        r.receivers[0].error = Some("HTTP 500".into());
        assert!(r.failed());
        r.receivers[0].error = None;
        r.receivers[0].failed = 1;
        assert!(r.failed());
    }
}
