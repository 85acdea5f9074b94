//! The daemon's duties: each kind of work the scheduling loop runs as a task, by name
//! ([`Duty`]), the table of the tasks running ([`Duties`]), and what follows when one ends
//! (`Daemon::finished`).
//!
//! A duty's life: it waits for its time (a source's next tick in `arm.rs`, the outbox's next
//! due entry, the watch intervals in `watch.rs`, the daily prune), runs as one task, and ends
//! ([`Ended`]): finished, with what it did ([`Done`]), or died (it panicked, or was aborted at
//! shutdown). A duty is running exactly while its task is in the table, so no flag can be
//! left set by a task that died. Whatever ended it, the loop logs the duty (`duty=`) and
//! decides by the duty what follows: it waits for its next time again, or, when it could not
//! write the store, the daemon stops with that duty named in its error (exit 1).
//!
//! The loop's own work (the watchdog, the clock-step check, SIGHUP) runs inline, not as a
//! duty: a failure there is the loop's, and a stalled loop is what `/healthz` and the
//! watchdog see.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use sd_notify::NotifyState;
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::systemd::notify;
use super::{AppError, Daemon, Done};
use crate::store::StoreError;

/// One kind of work the scheduling loop starts as a task. Its `Display` is its name in the
/// logs (`duty=`), in the daemon's error, and in `/healthz` (docs/daemon.md, "Duties").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Duty {
    /// A poll of one source, with this cycle's delivery.
    Poll(String),
    /// A round of due deliveries from the outbox.
    Delivery,
    /// The check of every series for `overdue` (hourly, besides each poll's own).
    Overdue,
    /// The heartbeat: a write probe of the store, then the ping.
    Heartbeat,
    /// Pruning old deliveries from the outbox (at start, then daily).
    Prune,
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duty::Poll(source) => write!(f, "source {source}"),
            Duty::Delivery => f.write_str("delivery"),
            Duty::Overdue => f.write_str("overdue check"),
            Duty::Heartbeat => f.write_str("heartbeat"),
            Duty::Prune => f.write_str("prune"),
        }
    }
}

/// How a duty's task ended.
pub(super) enum Ended {
    /// It returned what it did.
    Finished(Done),
    /// It panicked, or was aborted: what it did is whatever it had committed.
    Died(JoinError),
}

/// The tasks running, each under its duty.
pub(super) struct Duties {
    tasks: JoinSet<Done>,
    running: HashMap<Id, Duty>,
}

impl Duties {
    pub(super) fn new() -> Duties {
        Duties {
            tasks: JoinSet::new(),
            running: HashMap::new(),
        }
    }

    /// Starts `work` as `duty`'s task. With `STATWATCH_FAULT=panic:<duty>` the task panics
    /// first, as a bug in that duty would (tests/daemon.rs).
    pub(super) fn spawn(&mut self, duty: Duty, work: impl Future<Output = Done> + Send + 'static) {
        let name = duty.to_string();
        let handle = self.tasks.spawn(async move {
            crate::fault::panic_in(&name);
            work.await
        });
        self.running.insert(handle.id(), duty);
    }

    pub(super) fn is_running(&self, duty: &Duty) -> bool {
        self.running.values().any(|d| d == duty)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The duties running, for a log line: `source cbs, delivery`.
    pub(super) fn names(&self) -> String {
        let names: Vec<String> = self.running.values().map(Duty::to_string).collect();
        names.join(", ")
    }

    /// The next task to end, with its duty; `None` when none runs. Cancel-safe, as
    /// [`JoinSet::join_next_with_id`]: nothing is awaited after a task is taken.
    pub(super) async fn next(&mut self) -> Option<(Duty, Ended)> {
        let (id, ended) = match self.tasks.join_next_with_id().await? {
            Ok((id, done)) => (id, Ended::Finished(done)),
            Err(e) => (e.id(), Ended::Died(e)),
        };
        let duty = self
            .running
            .remove(&id)
            .expect("every task is spawned under its duty");
        Some((duty, ended))
    }

    /// Aborts every task and waits until they are gone.
    pub(super) async fn shutdown(&mut self) {
        self.tasks.shutdown().await;
        self.running.clear();
    }
}

impl Daemon {
    /// A duty's task ended: what it did goes where it belongs; a task that died is logged
    /// with its duty, which then waits for its next time like any other run.
    pub(super) fn finished(&mut self, duty: Duty, ended: Ended) {
        match ended {
            Ended::Finished(Done::Poll {
                source,
                result,
                delivery,
            }) => self.polled(source, result, delivery),
            Ended::Finished(Done::Delivery(d)) => {
                self.last_delivery = Some(Instant::now());
                self.delivered(&duty, d);
            }
            Ended::Finished(Done::Overdue(found)) => self.overdue_checked(found),
            Ended::Finished(Done::Ping(probe)) => self.pinged(probe),
            Ended::Finished(Done::Pruned(pruned)) => match pruned {
                Ok(n) => debug!(duty = %duty, pruned = n, "old deliveries pruned"),
                // Housekeeping: the next day tries again; an I/O failure shows on the next
                // write the daemon cannot do without.
                Err(e) => {
                    let keep_days = self.config.store.keep_days;
                    warn!(duty = %duty, error = %e, keep_days, "pruning old deliveries failed");
                }
            },
            Ended::Died(e) => self.died(&duty, &e),
        }
        self.refresh_next_due();
    }

    /// A task panicked (or was aborted): nothing it committed is lost, and its duty runs
    /// again at its next time; the log says which and when.
    fn died(&mut self, duty: &Duty, e: &JoinError) {
        let again = match duty {
            Duty::Poll(name) => {
                if let Some(a) = self.sources.get_mut(name) {
                    a.outcome = format!("{name}: poll task died");
                }
                "at the source's next tick"
            }
            Duty::Delivery => {
                self.last_delivery = Some(Instant::now());
                "when the next delivery is due"
            }
            Duty::Overdue => "at the next hourly check",
            Duty::Heartbeat => "at the next interval",
            Duty::Prune => "tomorrow",
        };
        error!(duty = %duty, error = %e, again, "task died");
    }

    /// Remembers the first store I/O failure and whose it was; the loop ends the daemon
    /// with it.
    pub(super) fn store_failed(&mut self, duty: &Duty, e: StoreError) {
        if e.is_io() && self.store_failure.is_none() {
            self.store_failure = Some((duty.clone(), e));
        }
    }

    /// `duty` could not write the store: stop everything now (running work would only fail
    /// the same way, or send what it cannot record), say so, and hand back the error for a
    /// non-zero exit.
    pub(super) async fn fail(mut self, duty: Duty, e: StoreError) -> AppError {
        let path = self.store.path().to_string();
        error!(duty = %duty, store = %path, error = %e, "the store cannot be written: delivery stopped; exiting so that the service manager restarts statwatch (pending alerts stay in the outbox)");
        notify(&[NotifyState::Status("store write failed; exiting")]);
        self.duties.shutdown().await;
        self.close_listeners().await;
        AppError::StoreFailed {
            duty,
            path,
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duty_is_named_as_healthz_and_the_logs_name_it() {
        let names = [
            Duty::Poll("cbs".into()),
            Duty::Delivery,
            Duty::Overdue,
            Duty::Heartbeat,
            Duty::Prune,
        ]
        .map(|d| d.to_string());
        assert_eq!(
            names,
            [
                "source cbs",
                "delivery",
                "overdue check",
                "heartbeat",
                "prune"
            ]
        );
    }

    #[test]
    fn a_store_failure_names_the_duty_that_could_not_write() {
        let e = AppError::StoreFailed {
            duty: Duty::Heartbeat,
            path: "/var/lib/statwatch".into(),
            source: StoreError::Sled(sled::Error::Io(std::io::Error::other("disk full"))),
        };
        assert!(
            e.to_string()
                .starts_with("heartbeat: the store at /var/lib/statwatch cannot be written"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_task_that_dies_is_named_and_only_its_duty_stops_running() {
        let mut duties = Duties::new();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        duties.spawn(Duty::Heartbeat, async move {
            let _ = wait.await;
            Done::Ping(Ok(()))
        });
        duties.spawn(Duty::Overdue, async {
            panic!("a bug in the overdue check")
        });
        let (duty, ended) = duties.next().await.unwrap();
        assert_eq!(duty, Duty::Overdue);
        assert!(matches!(ended, Ended::Died(e) if e.is_panic()));
        // The ping still runs: the overdue check's death says nothing about it.
        assert!(duties.is_running(&Duty::Heartbeat));
        assert!(!duties.is_running(&Duty::Overdue));
        assert_eq!(duties.names(), "heartbeat");
        release.send(()).unwrap();
        let (duty, ended) = duties.next().await.unwrap();
        assert_eq!(duty, Duty::Heartbeat);
        assert!(matches!(ended, Ended::Finished(Done::Ping(Ok(())))));
        assert!(duties.is_empty() && duties.next().await.is_none());
    }
}
