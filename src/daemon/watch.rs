//! The daemon's own silence duties: the `overdue` check of every series at least hourly
//! (polls check their own source's series as they end), and the `[heartbeat]` ping to a
//! dead-man service. Both run as tasks from the scheduling loop, so a stalled loop stops the
//! pings; each ping first proves the store takes writes, and a store that does not ends the
//! daemon like any store failure (and so the pings). Both are intervals on the monotonic
//! clock, so a step of the wall clock does not move them; `/healthz` fails when pings stop
//! for two intervals (plus a ping's timeout and the loop's latency).

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{Daemon, Done, Duty, MAX_SLEEP};
use crate::silence;
use crate::store::StoreError;

/// How often every series is checked for `overdue` between polls.
const OVERDUE_EVERY: Duration = Duration::from_secs(3600);
/// A ping that takes longer than this has failed (the next one comes at the next interval).
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// When the watch duties are next due.
pub(super) struct Watch {
    next_overdue: Instant,
    next_ping: Instant,
    /// The heartbeat's client, made at the first ping: without `[heartbeat]`, none.
    client: Option<reqwest::Client>,
}

impl Watch {
    pub(super) fn new(now: Instant) -> Watch {
        Watch {
            next_overdue: now + OVERDUE_EVERY,
            next_ping: now,
            client: None,
        }
    }

    fn client(&mut self) -> reqwest::Client {
        let client = self.client.get_or_insert_with(|| {
            // A dead-man URL never needs a redirect; following one could send the check's
            // secret URL's successor elsewhere.
            reqwest::Client::builder()
                .timeout(PING_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        });
        client.clone()
    }
}

impl Daemon {
    /// The next time a watch duty is due (for the loop's sleep).
    pub(super) fn watch_next(&self) -> Option<Instant> {
        let ping = self.config.heartbeat.as_ref().map(|_| self.watch.next_ping);
        Some(self.watch.next_overdue).into_iter().chain(ping).min()
    }

    /// Starts the watch duties that are due.
    pub(super) fn watch_due(&mut self) {
        let now = Instant::now();
        if now >= self.watch.next_overdue && !self.duties.is_running(&Duty::Overdue) {
            self.watch.next_overdue = now + OVERDUE_EVERY;
            let (config, store) = (self.config.clone(), self.store.clone());
            self.duties.spawn(Duty::Overdue, async move {
                // The reads of every series stay off the async workers.
                let read = {
                    let (config, store) = (config.clone(), store.clone());
                    tokio::task::spawn_blocking(move || {
                        silence::overdue(&config, &store, None, Utc::now())
                    })
                };
                let found = match read.await {
                    Ok(Ok(alerts)) => silence::enqueue(&config, &store, &alerts)
                        .await
                        .map(|c| c.enqueued),
                    Ok(Err(e)) => Err(e),
                    Err(e) => {
                        warn!(duty = %Duty::Overdue, error = %e, "overdue check died");
                        Ok(0)
                    }
                };
                Done::Overdue(found)
            });
        }
        let Some(hb) = self.config.heartbeat.clone() else {
            return;
        };
        if now < self.watch.next_ping || self.duties.is_running(&Duty::Heartbeat) {
            return;
        }
        // Never in a burst: the next ping is an interval after this one, whatever happens.
        self.watch.next_ping = now + hb.interval;
        self.expect_ping();
        let (store, client) = (self.store.clone(), self.watch.client());
        self.duties.spawn(Duty::Heartbeat, async move {
            let probe = tokio::task::spawn_blocking(move || store.probe_write(Utc::now())).await;
            match probe {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Done::Ping(Err(e)),
                Err(e) => {
                    warn!(error = %e, "heartbeat: the store probe died; no ping");
                    return Done::Ping(Ok(()));
                }
            }
            match client.get(hb.url.expose()).send().await {
                Ok(r) if r.status().is_success() => debug!("heartbeat ping sent"),
                // The URL is a secret: only the status or the cause is logged.
                Ok(r) => warn!(status = r.status().as_u16(), "heartbeat ping refused"),
                Err(e) => warn!(error = %e.without_url(), "heartbeat ping failed"),
            }
            Done::Ping(Ok(()))
        });
    }

    /// Tells `/healthz` that a ping must start or end again within two intervals (a ping
    /// still running at its next interval skips it) and a ping's timeout: a slow dead-man
    /// service is its own problem, a daemon that stops pinging is ours. Without a
    /// `[heartbeat]`, none.
    pub(super) fn expect_ping(&self) {
        match &self.config.heartbeat {
            Some(hb) => self.metrics.expect(
                &Duty::Heartbeat.to_string(),
                hb.interval * 2 + PING_TIMEOUT + MAX_SLEEP,
            ),
            None => {
                let duty = Duty::Heartbeat.to_string();
                self.metrics.retain_duties(|d| d != duty)
            }
        }
    }

    /// The overdue check finished.
    pub(super) fn overdue_checked(&mut self, found: Result<usize, StoreError>) {
        match found {
            Ok(n) => debug!(duty = %Duty::Overdue, enqueued = n, "overdue check"),
            Err(e) => {
                warn!(duty = %Duty::Overdue, error = %e, "overdue check failed");
                self.store_failed(&Duty::Overdue, e);
            }
        }
    }

    /// A heartbeat finished: `/healthz` expects the next one.
    pub(super) fn pinged(&mut self, probe: Result<(), StoreError>) {
        self.expect_ping();
        if let Err(e) = probe {
            warn!(duty = %Duty::Heartbeat, error = %e, "heartbeat: the store does not take writes; no ping");
            self.store_failed(&Duty::Heartbeat, e);
        }
    }
}
