//! The daemon's work as tasks: a poll of one source (with this cycle's delivery), a round of
//! due deliveries, and what the loop does when one ends (outcome, metrics, a store failure).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sd_notify::NotifyState;
use tokio::task::Id;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::systemd::notify;
use super::{AppError, Daemon, Done, Task, MIN_DELIVERY_GAP};
use crate::notify::{DeliveryReport, Mode};
use crate::pipeline;
use crate::scheduler::next_fire;
use crate::sources::Source;
use crate::store::StoreError;

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
            if armed.running {
                warn!(source = %name, tick = %at, "tick skipped: the previous poll of this source is still running");
                self.metrics.record_skipped_tick(name);
                continue;
            }
            armed.running = true;
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
        let task_name = name.clone();
        debug!(source = %name, "poll started");
        let handle = self.tasks.spawn(async move {
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
            Done::Poll {
                source: name,
                result: result.map(Box::new),
                delivery,
            }
        });
        self.kinds.insert(handle.id(), Task::Poll(task_name));
    }

    /// Retries pending deliveries whose backoff has expired.
    pub(super) fn deliver_due(&mut self, now: DateTime<Utc>) {
        if self.delivering || !matches!(self.next_due, Some(t) if t <= now) {
            return;
        }
        if self
            .last_delivery
            .is_some_and(|t| t.elapsed() < MIN_DELIVERY_GAP)
        {
            return;
        }
        self.delivering = true;
        let store = self.store.clone();
        let notifier = self.notifier.clone();
        let lock = self.delivery_lock.clone();
        debug!("retrying due deliveries");
        let handle = self.tasks.spawn(async move {
            let _guard = lock.lock().await;
            Done::Delivery(notifier.deliver(&store, Mode::Due).await)
        });
        self.kinds.insert(handle.id(), Task::Delivery);
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
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.prune(keep_days, Utc::now()) {
                // Pruning is housekeeping: the next day tries again; an I/O failure shows
                // on the next write the daemon cannot do without.
                warn!(error = %e, keep_days, "pruning old deliveries failed");
            }
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

    pub(super) fn finished(&mut self, done: Result<(Id, Done), tokio::task::JoinError>) {
        let done = match done {
            Ok((id, done)) => {
                self.kinds.remove(&id);
                done
            }
            Err(e) => {
                // A panicking task must not leave its source marked running forever.
                match self.kinds.remove(&e.id()) {
                    Some(Task::Poll(name)) => {
                        error!(source = %name, error = %e, "poll task died");
                        if let Some(a) = self.sources.get_mut(&name) {
                            a.running = false;
                            a.outcome = format!("{name}: poll task died");
                        }
                    }
                    Some(Task::Watch) => {
                        error!(error = %e, "watch task died");
                        self.watched(None);
                    }
                    Some(Task::Delivery) | None => {
                        error!(error = %e, "delivery task died");
                        self.delivering = false;
                        self.last_delivery = Some(Instant::now());
                    }
                }
                self.refresh_next_due();
                return;
            }
        };
        match done {
            Done::Poll {
                source,
                result,
                delivery,
            } => {
                let outcome = match &result {
                    Ok(report) => {
                        self.metrics.record_poll(report);
                        report.summary()
                    }
                    Err(e) => {
                        error!(source = %source, error = %e, "poll could not be stored");
                        self.metrics.record_store_failure(&source);
                        format!("{source}: store error")
                    }
                };
                if let Err(e) = result {
                    self.store_failed(e);
                }
                if let Some(d) = delivery {
                    self.delivered(d);
                }
                match self.sources.get_mut(&source) {
                    Some(a) => {
                        a.running = false;
                        a.outcome = outcome;
                        self.expect_poll(&source, Utc::now());
                    }
                    None => debug!(source = %source, "a poll of a source removed by reload ended"),
                }
                let status = self.status();
                notify(&[NotifyState::Status(&status)]);
            }
            Done::Delivery(d) => {
                self.delivering = false;
                self.last_delivery = Some(Instant::now());
                self.delivered(d);
            }
            Done::Watch(w) => self.watched(Some(w)),
        }
        self.refresh_next_due();
    }

    /// Remembers the first store I/O failure; the loop ends the daemon with it.
    pub(super) fn store_failed(&mut self, e: StoreError) {
        if e.is_io() && self.store_failure.is_none() {
            self.store_failure = Some(e);
        }
    }

    /// The store failed: stop everything now (running work would only fail the same way,
    /// or send what it cannot record), say so, and hand back the error for a non-zero exit.
    pub(super) async fn fail(mut self, e: StoreError) -> AppError {
        let path = self.store.path().to_string();
        error!(store = %path, error = %e, "the store cannot be written: delivery stopped; exiting so that the service manager restarts statwatch (pending alerts stay in the outbox)");
        notify(&[NotifyState::Status("store write failed; exiting")]);
        self.tasks.shutdown().await;
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(c) = self.control.take() {
            c.abort();
        }
        let _ = std::fs::remove_file(crate::control::socket_path(&self.config.state_dir));
        AppError::StoreFailed { path, source: e }
    }

    fn delivered(&mut self, d: Result<DeliveryReport, StoreError>) {
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
                error!(error = %e, "delivery round failed on the store");
                self.store_failed(e);
            }
        }
    }
}
