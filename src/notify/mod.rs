//! Alert delivery through the durable outbox: the [`Notifier`] fans the due entries out, one
//! task per receiver, and runs each receiver's round as small steps (read a page, look up the
//! alerts, split them into parts, and per part: wait for a Retry-After, claim, send, settle,
//! record). Routing is in `route`, the bounds of a message in `batch`, the state transitions
//! and the backoff in `settle`, the message text in `render`, and each receiver kind has its
//! file.
//!
//! The store's `outbox` tree holds one [`Delivery`] per (receiver, alert). [`Notifier::deliver`]
//! reads a receiver's pending entries a page at a time (at most `max_batch_alerts`), oldest
//! first, and sends each page as bounded messages: a webhook POST or an Alertmanager list
//! within `max_batch_alerts` and `max_batch_bytes`, an email, log lines, chat messages split
//! to the platform's limits and paced to its rate limit. Each message's entries are recorded
//! right after its attempt, so a crash after a send re-sends at most that one message, and a
//! retry resumes after the last delivered one (delivery is at least once; the alert id lets
//! receivers dedupe). A daemon round hands back after a minute of sending; the next goes on.
//!
//! Outcomes: success marks every entry of the message `Delivered`; a permanent refusal (HTTP
//! 4xx other than 413 and 429, a redirect, a Slack answer other than `ok`, an SMTP 5xx reply)
//! marks them `Failed` for good; HTTP 413 halves the message and sends the halves (one alert
//! alone too large stays pending, its error naming the body limit); anything else (5xx, 429,
//! timeouts, connection errors, SMTP 4xx replies) keeps them pending with a backoff. A
//! `Retry-After` becomes `not_before` and the receiver's hold, which even a forced retry
//! honours for all its entries; a failed message that leaves more of a backlog unsent holds
//! the receiver for the daemon until its next attempt. Entries of receivers no longer
//! configured are kept, reported once per config and then hourly, and never wake the daemon.
//!
//! One record that cannot be read never stops the others: an entry whose alert record does not
//! decode is marked `Failed` with the reason; an outbox record that does not decode is
//! rewritten as a fresh pending entry (at least once: it may have been delivered already).
//!
//! Each attempt is recorded BEFORE it is sent (attempts + 1, next attempt after the backoff),
//! so a store that cannot be written stops delivery before anything goes out, and a crash or a
//! failed write after a successful send resends only after the backoff, never in a loop.

mod alertmanager;
mod batch;
mod brief_html;
mod chat;
mod digest;
mod email;
mod escape;
mod http;
mod log;
mod mail_chart;
mod mail_html;
mod mail_images;
mod mattermost;
mod render;
mod round;
mod route;
mod settle;
mod slack;
mod teams;
#[cfg(test)]
mod testkit;
mod webhook;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::{BatchLimits, Config, ReceiverKind};
use crate::model::{Alert, Delivery, DeliveryState};
use crate::store::{Store, StoreError, UnreadableDelivery};
use batch::Part;
use mail_images::SeriesData;
use render::test_alert;
use settle::Backoff;

pub use alertmanager::{postable, PostableAlert};
pub use chat::render as chat_messages;
pub(crate) use digest::Digesting;
pub use http::parse_retry_after;
pub(crate) use route::receivers_for;
pub use webhook::{payload, sign};

/// How many attempts one `poll` makes per receiver (docs/cli.md, "poll").
const POLL_ATTEMPTS: u32 = 3;
/// The default pause before the second in-poll attempt; the third waits twice as long, so a
/// poll spends about 10 s in all on a receiver that is down.
const DEFAULT_POLL_RETRY_BASE: Duration = Duration::from_secs(3);
/// The longest a poll waits in all for one receiver, and so the longest `Retry-After` it honours
/// in place; a later one leaves the entries pending for a later cycle.
const POLL_MAX_WAIT: Duration = Duration::from_secs(30);
/// How long one daemon round keeps sending to one receiver before it hands back (the rest
/// stays due, and the next round goes on): a long backlog must not hold the delivery lock,
/// and with it the next poll's alerts to every receiver, for hours.
const ROUND_BUDGET: Duration = Duration::from_secs(60);
/// How often entries of receivers no longer configured are looked for.
const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(3600);
/// How many index keys [`Notifier::next_due`] walks past before it settles for "a minute".
const NEXT_DUE_WALK: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no receiver named {0:?} in the config")]
    UnknownReceiver(String),
    #[error("receiver {receiver}: an email receiver needs an [smtp] section")]
    NoSmtp { receiver: String },
    #[error("smtp.ca_file {0}: {1}")]
    CaFileRead(String, #[source] std::io::Error),
    #[error("smtp.ca_file {0}: {why}", why = render::chain(.1))]
    CaFile(String, #[source] lettre::transport::smtp::Error),
    #[error("{what}: not a valid mail address: {address:?}")]
    Address { what: String, address: String },
    #[error("smtp: {}", render::chain(.0))]
    SmtpSetup(#[source] lettre::transport::smtp::Error),
    #[error("cannot build the HTTP client: {}", render::chain(.0))]
    HttpClient(#[source] reqwest::Error),
    /// An Alertmanager URL (its origin) that cannot take the API path.
    #[error("cannot build the HTTP client: {0}: {1}")]
    Endpoint(String, #[source] url::ParseError),
    #[error(transparent)]
    MailHtml(#[from] mail_html::MailHtmlError),
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
    /// Retrying will not help (HTTP 4xx other than 413 and 429, a redirect, SMTP 5xx replies).
    Permanent(String),
    /// The message is too large for the receiver (HTTP 413): a smaller one may pass, so a
    /// part of several alerts is halved; one alert alone stays pending with this error.
    TooLarge(String),
}

impl SendError {
    fn message(&self) -> &str {
        match self {
            SendError::Transient { error, .. }
            | SendError::Permanent(error)
            | SendError::TooLarge(error) => error,
        }
    }
}

/// One configured receiver, ready to send.
enum Channel {
    Webhook(webhook::Webhook),
    Email(email::Email),
    Log,
    Chat(chat::Chat),
    Alertmanager(alertmanager::Alertmanager),
}

impl Channel {
    /// The messages a page of alerts goes out as: for webhook and Alertmanager within the
    /// receiver's count and byte bounds, for chat within the platform's limits, for email and
    /// log one (the page is bounded by `max_batch_alerts`).
    fn parts(
        &self,
        receiver: &str,
        alerts: &[Alert],
        test: bool,
        limits: &BatchLimits,
    ) -> Result<Vec<Part>, SendError> {
        match self {
            Channel::Webhook(_) => {
                let envelope = webhook::envelope(receiver, test);
                Ok(batch::by_size(&webhook::sizes(alerts), envelope, limits))
            }
            Channel::Alertmanager(a) => Ok(batch::by_size(&a.sizes(alerts), 2, limits)),
            Channel::Chat(c) => c.parts(alerts, test),
            Channel::Email(_) | Channel::Log => Ok(Part::whole(alerts.len())),
        }
    }

    /// Sends one part: `alerts` are the part's own.
    async fn send(
        &self,
        receiver: &str,
        alerts: &[Alert],
        part: &Part,
        test: bool,
        data: &SeriesData,
    ) -> Result<(), SendError> {
        let sent = match self {
            Channel::Webhook(w) => w.send(receiver, alerts, test).await,
            Channel::Email(e) => e.send(alerts, test, data).await,
            Channel::Log => {
                log::send(receiver, alerts);
                Ok(())
            }
            Channel::Chat(c) => c.send(receiver, part).await,
            Channel::Alertmanager(a) => a.send(receiver, alerts).await,
        };
        sent.map_err(|e| part.label(e))
    }

    /// The pause between two messages to the receiver: chat platforms limit the rate of
    /// incoming-webhook posts (Slack to about one a second).
    fn pace(&self) -> Duration {
        match self {
            Channel::Chat(c) => c.pace(),
            _ => Duration::ZERO,
        }
    }
}

struct Inner {
    channels: BTreeMap<String, Channel>,
    limits: BTreeMap<String, BatchLimits>,
    /// When the outbox was last checked for entries of receivers no longer configured, and
    /// which were found then (reported once per config, then checked hourly).
    orphans: Mutex<Option<(std::time::Instant, Vec<String>)>>,
}

/// Delivers the outbox to the configured receivers. One per config (rebuild it on reload).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
    poll_retry_base: Duration,
    /// Replaces every channel's pause between messages (tests).
    pace: Option<Duration>,
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
        let mut limits = BTreeMap::new();
        let mut smtp: Option<Arc<email::Transport>> = None;
        // Compiled and checked once, with the first email receiver: a broken template or
        // font fails start-up, not a delivery.
        let mut html: Option<Arc<mail_html::MailHtml>> = None;
        for (name, r) in &config.receivers {
            let digesting = Digesting {
                after: r.digest_after,
                public_url: config.web.as_ref().and_then(|w| w.public_url.clone()),
            };
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
                    let html = match &html {
                        Some(h) => h.clone(),
                        None => html.insert(Arc::new(mail_html::MailHtml::load()?)).clone(),
                    };
                    Channel::Email(email::Email::new(name, transport, html, digesting, to)?)
                }
                ReceiverKind::Log => Channel::Log,
                ReceiverKind::Chat {
                    platform,
                    url,
                    timeout,
                } => Channel::Chat(chat::Chat::new(
                    *platform,
                    digesting.clone(),
                    url.clone(),
                    *timeout,
                )?),
                ReceiverKind::Alertmanager {
                    urls,
                    resolve_after,
                    timeout,
                } => Channel::Alertmanager(alertmanager::Alertmanager::new(
                    urls,
                    *resolve_after,
                    *timeout,
                )?),
            };
            channels.insert(name.clone(), channel);
            limits.insert(name.clone(), r.batch);
        }
        Ok(Notifier {
            inner: Arc::new(Inner {
                channels,
                limits,
                orphans: Mutex::new(None),
            }),
            poll_retry_base: DEFAULT_POLL_RETRY_BASE,
            pace: None,
        })
    }

    /// Sets the pause before the second in-poll attempt (the third waits twice as long).
    /// Tests use a few milliseconds; the default is 3 s.
    pub fn with_retry_base(mut self, base: Duration) -> Notifier {
        self.poll_retry_base = base;
        self
    }

    /// Sets the pause between two messages to one receiver, for every channel (tests; the
    /// default is each platform's rate limit).
    pub fn with_pace(mut self, pace: Duration) -> Notifier {
        self.pace = Some(pace);
        self
    }

    /// Sends pending outbox entries, each receiver's in bounded messages, page by page, and
    /// records every outcome in the store as it comes. Returns what happened per receiver.
    pub async fn deliver(&self, store: &Store, mode: Mode) -> Result<DeliveryReport, StoreError> {
        self.check_orphans(store);
        let mut tasks = JoinSet::new();
        for receiver in self.inner.channels.keys() {
            if !store.has_pending(receiver) {
                continue;
            }
            let inner = self.inner.clone();
            let store = store.clone();
            let receiver = receiver.clone();
            let in_poll = Backoff::in_poll(self.poll_retry_base);
            let pace = self.pace;
            // Receivers are independent: one that is down must not delay the others.
            tasks.spawn(async move {
                inner
                    .deliver_to(&store, &receiver, mode, in_poll, pace)
                    .await
            });
        }
        collect(tasks).await
    }

    /// Reports pending entries of receivers that are no longer configured: once per config,
    /// then an hourly look (a warning only when the set changed). They are kept as they are:
    /// the receiver may come back with the next config.
    fn check_orphans(&self, store: &Store) {
        let mut last = self.inner.orphans.lock().unwrap_or_else(|p| p.into_inner());
        if last
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < ORPHAN_CHECK_EVERY)
        {
            return;
        }
        let found = match store.pending_receivers() {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "cannot list the outbox's receivers");
                return;
            }
        };
        let orphans: Vec<(String, usize)> = found
            .into_iter()
            .filter(|(r, _)| !self.inner.channels.contains_key(r))
            .collect();
        let names: Vec<String> = orphans.iter().map(|(r, _)| r.clone()).collect();
        let changed = last.as_ref().is_none_or(|(_, before)| *before != names);
        if changed && !orphans.is_empty() {
            let list = orphans
                .iter()
                .map(|(r, n)| format!("{r} ({n})"))
                .collect::<Vec<_>>()
                .join(", ");
            warn!(receivers = %list, "pending deliveries for receivers that are no longer configured are kept and not sent (checked again hourly)");
        }
        *last = Some((std::time::Instant::now(), names));
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
        let alerts = std::slice::from_ref(&alert);
        let limits = self
            .inner
            .limits
            .get(receiver)
            .copied()
            .unwrap_or(BatchLimits::OTHER);
        let failed = |e: SendError| NotifyError::Send {
            receiver: receiver.to_string(),
            permanent: matches!(e, SendError::Permanent(_)),
            message: e.message().to_string(),
        };
        let parts = channel
            .parts(receiver, alerts, true, &limits)
            .map_err(failed)?;
        for part in &parts {
            channel
                .send(
                    receiver,
                    &alerts[part.items.clone()],
                    part,
                    true,
                    &SeriesData::new(),
                )
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    /// When the daemon should next look at the outbox, if ever: the next due entry of a
    /// configured receiver, or when a held receiver may be called again. Entries of receivers
    /// that are not configured are kept but never make this fire (they would make the daemon
    /// spin on entries it never sends); past a long run of them in the index, the answer is a
    /// look again in a minute rather than a walk of the whole outbox.
    pub fn next_due(&self, store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
        // The daemon asks this at start and after every task: where orphans are reported
        // even when nothing is ever due for a configured receiver.
        self.check_orphans(store);
        let now = Utc::now();
        let mut held = BTreeMap::new();
        for r in self.inner.channels.keys() {
            if let Some(h) = store.receiver_hold(r)? {
                if h.until > now && store.has_pending(r) {
                    held.insert(r.as_str(), h.until);
                }
            }
        }
        let wanted = |r: &str| self.inner.channels.contains_key(r) && !held.contains_key(r);
        let (first, cut) = store.next_due_of(wanted, NEXT_DUE_WALK)?;
        let first = match (first, cut) {
            (Some(t), true) => Some(t.max(now + chrono::Duration::seconds(60))),
            (t, _) => t,
        };
        Ok(first.into_iter().chain(held.into_values()).min())
    }
}

/// Gathers the receivers' reports in name order; the first store error wins.
async fn collect(
    mut tasks: JoinSet<Result<Option<ReceiverReport>, StoreError>>,
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(r)) => report.receivers.extend(r),
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

/// Rewrites outbox records that cannot be read as fresh pending entries (when the key names
/// the receiver and the alert), so the alert is still delivered: its state was lost with the
/// record, and at least once means sending it again rather than never.
pub(super) async fn repair(
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
        store.update_deliveries_async(repaired.clone()).await?;
    }
    Ok(repaired)
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) use super::testkit::{alert, brief};
    use super::*;

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
