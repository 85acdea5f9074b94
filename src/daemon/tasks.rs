//! The daemon's work as tasks: a poll of one source (with this cycle's delivery), a round of
//! due deliveries, the daily prune, and what the loop does when one finishes (outcome,
//! metrics, a store failure).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sd_notify::NotifyState;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::systemd::notify;
use super::{Daemon, Done, Duty, MIN_DELIVERY_GAP};
use crate::notify::{DeliveryReport, Mode};
use crate::pipeline::{self, PollReport};
use crate::scheduler::next_fire;
use crate::sources::Source;
use crate::store::StoreError;

/// Gives the heap's free pages back to the system. A first sync of a whole table allocates
/// tens of MB, all freed when its poll ends, but glibc returns only the free top of the heap
/// and the one arena (main.rs) keeps the rest, so the daemon would idle at its largest
/// poll's peak: after the first sync of a 2-million-cell table, 73-100 MB instead of 59-64
/// (benches/idle_rss.sh). On the blocking pool; a heap with little free costs next to nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim only releases free memory and takes the arena's lock to do so.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// How often old deliveries are pruned.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Daemon {
    /// Starts every poll whose tick has come.
    pub(super) fn fire_due(&mut self, now: DateTime<Utc>) {
        let mut start = Vec::new();
        for (name, armed) in &mut self.sources {
            let Some(at) = armed.next.filter(|t| *t <= now) else {
                continue;
            };
            let schedule = &self.config.sources[name].schedule;
            armed.next = next_fire(schedule, now);
            if self.duties.is_running(&Duty::Poll(name.clone())) {
                warn!(source = %name, tick = %at, "tick skipped: the previous poll of this source is still running");
                self.metrics.record_skipped_tick(name);
                continue;
            }
            start.push((name.clone(), armed.source.clone()));
        }
        for (name, source) in start {
            self.expect_poll(&name, now);
            self.spawn_poll(name, source);
        }
    }

    fn spawn_poll(&mut self, name: String, source: Arc<Source>) {
        let config = self.config.clone();
        let store = self.store.clone();
        let notifier = self.notifier.clone();
        let lock = self.delivery_lock.clone();
        let cancel = self.shutdown.clone();
        debug!(source = %name, "poll started");
        let duty = Duty::Poll(name.clone());
        self.duties.spawn(duty, async move {
            let result =
                pipeline::poll_source(&config, &store, &name, &source, false, &cancel).await;
            // This cycle's alerts go out right away (new outbox entries are due at once);
            // older entries ride along only if their backoff has expired.
            let enqueued = result
                .as_ref()
                .ok()
                .and_then(|r| r.committed.as_ref())
                .is_some_and(|c| c.enqueued > 0);
            let delivery = if enqueued {
                let _guard = lock.lock().await;
                Some(notifier.deliver(&store, Mode::Due).await)
            } else {
                None
            };
            // Everything the poll held is freed by now.
            let _ = tokio::task::spawn_blocking(release_freed_memory).await;
            Done::Poll {
                source: name,
                result: result.map(Box::new),
                delivery,
            }
        });
    }

    /// Retries pending deliveries whose backoff has expired.
    pub(super) fn deliver_due(&mut self, now: DateTime<Utc>) {
        if self.duties.is_running(&Duty::Delivery) || !matches!(self.next_due, Some(t) if t <= now)
        {
            return;
        }
        if self
            .last_delivery
            .is_some_and(|t| t.elapsed() < MIN_DELIVERY_GAP)
        {
            return;
        }
        let store = self.store.clone();
        let notifier = self.notifier.clone();
        let lock = self.delivery_lock.clone();
        debug!("retrying due deliveries");
        self.duties.spawn(Duty::Delivery, async move {
            let _guard = lock.lock().await;
            Done::Delivery(notifier.deliver(&store, Mode::Due).await)
        });
    }

    /// Prunes old deliveries at start and then daily, on the blocking pool: it reads the
    /// whole outbox, which must not hold up the loop or an async worker.
    pub(super) fn prune_if_due(&mut self) {
        if self.last_prune.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.last_prune = Some(Instant::now());
        let store = self.store.clone();
        let keep_days = self.config.store.keep_days;
        self.duties.spawn(Duty::Prune, async move {
            let pruned = tokio::task::spawn_blocking(move || store.prune(keep_days, Utc::now()));
            Done::Pruned(pruned.await.unwrap_or_else(|e| {
                warn!(duty = %Duty::Prune, error = %e, "pruning died");
                Ok(0)
            }))
        });
    }

    pub(super) fn refresh_next_due(&mut self) {
        match self.notifier.next_due(&self.store) {
            Ok(t) => self.next_due = t,
            Err(e) => {
                error!(error = %e, "cannot read the outbox");
                // Try again after a while rather than on every turn.
                self.next_due = Some(Utc::now() + chrono::Duration::seconds(30));
            }
        }
        match self.store.pending_count() {
            Ok(n) => self.metrics.set_outbox_pending(n as usize),
            Err(e) => error!(error = %e, "cannot count the outbox"),
        }
    }

    /// A poll finished: its outcome, metrics and this cycle's delivery; `/healthz` expects
    /// the source's next poll.
    pub(super) fn polled(
        &mut self,
        source: String,
        result: Result<Box<PollReport>, StoreError>,
        delivery: Option<Result<DeliveryReport, StoreError>>,
    ) {
        let duty = Duty::Poll(source.clone());
        let outcome = match &result {
            Ok(report) => {
                self.metrics.record_poll(report);
                report.summary()
            }
            Err(e) => {
                error!(duty = %duty, error = %e, "poll could not be stored");
                self.metrics.record_store_failure(&source);
                format!("{source}: store error")
            }
        };
        if let Err(e) = result {
            self.store_failed(&duty, e);
        }
        if let Some(d) = delivery {
            self.delivered(&duty, d);
        }
        match self.sources.get_mut(&source) {
            Some(a) => {
                a.outcome = outcome;
                self.expect_poll(&source, Utc::now());
            }
            None => debug!(duty = %duty, "a poll of a source removed by reload ended"),
        }
        let status = self.status();
        notify(&[NotifyState::Status(&status)]);
    }

    /// A round of deliveries (its own, or a poll's) ended.
    pub(super) fn delivered(&mut self, duty: &Duty, d: Result<DeliveryReport, StoreError>) {
        match d {
            Ok(report) => {
                self.metrics.record_delivery(&report);
                for r in &report.receivers {
                    let fields = (r.delivered, r.failed, r.pending);
                    match &r.error {
                        Some(e) => {
                            warn!(receiver = %r.receiver, delivered = fields.0, failed = fields.1, pending = fields.2, error = %e, "delivery incomplete")
                        }
                        None if fields.0 + fields.1 > 0 => {
                            info!(receiver = %r.receiver, delivered = fields.0, failed = fields.1, pending = fields.2, "delivery round")
                        }
                        // An idle round (nothing was due for this receiver) is not news.
                        None => {
                            debug!(receiver = %r.receiver, pending = fields.2, "delivery round: nothing sent")
                        }
                    }
                }
            }
            Err(e) => {
                error!(duty = %duty, error = %e, "delivery round failed on the store");
                self.store_failed(duty, e);
            }
        }
    }
}
