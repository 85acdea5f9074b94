//! Optional `[metrics] listen`: `GET /metrics` in the Prometheus text exposition format and
//! `GET /healthz` (200 while the scheduling loop's heartbeat is recent, else 503).
//!
//! The counters live in [`Metrics`], which the daemon updates after every poll and delivery;
//! the exposition is a few lines written by hand (no registry crate needed for a dozen
//! series). Nothing listens unless the config asks for it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::listen::Bounded;
use crate::notify::DeliveryReport;
use crate::pipeline::PollReport;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// A connection that neither reads nor writes for this long is closed.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics: cannot listen on {addr}: {source} (is another statwatch or exporter using that port? change [metrics] listen)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The daemon's counters and gauges, shared with the HTTP handlers.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// Milliseconds since `started` of the scheduling loop's last turn.
    heartbeat_ms: AtomicU64,
    /// How old a heartbeat may be before `/healthz` reports the loop as stalled.
    max_heartbeat_age: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    polls: BTreeMap<(String, String), u64>,
    poll_failures: BTreeMap<(String, String), u64>,
    store_failures: BTreeMap<String, u64>,
    skipped_ticks: BTreeMap<String, u64>,
    last_success: BTreeMap<String, i64>,
    alerts_fired: BTreeMap<String, u64>,
    delivered: BTreeMap<String, u64>,
    delivery_failed: BTreeMap<String, u64>,
    outbox_pending: u64,
    reloads: u64,
    reload_failures: u64,
}

impl Metrics {
    pub fn new(max_heartbeat_age: Duration) -> Metrics {
        Metrics {
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            max_heartbeat_age,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The scheduling loop is alive.
    pub fn heartbeat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    pub fn healthy(&self) -> bool {
        let last = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last) <= self.max_heartbeat_age
    }

    pub fn record_poll(&self, report: &PollReport) {
        let mut m = self.inner();
        for t in &report.tables {
            let key = (report.source.clone(), t.table.clone());
            *m.polls.entry(key.clone()).or_default() += 1;
            let failures = m.poll_failures.entry(key).or_default();
            if t.result.is_err() {
                *failures += 1;
            }
        }
        *m.alerts_fired.entry(report.source.clone()).or_default() += report
            .committed
            .as_ref()
            .map_or(0, |c| c.new_alerts.len() as u64);
        if !report.failed() {
            m.last_success
                .insert(report.source.clone(), report.started_at.timestamp());
        }
    }

    /// A poll whose result could not be stored (the local store failed).
    pub fn record_store_failure(&self, source: &str) {
        *self
            .inner()
            .store_failures
            .entry(source.into())
            .or_default() += 1;
    }

    pub fn set_last_success(&self, source: &str, at: DateTime<Utc>) {
        self.inner()
            .last_success
            .insert(source.into(), at.timestamp());
    }

    pub fn record_skipped_tick(&self, source: &str) {
        *self.inner().skipped_ticks.entry(source.into()).or_default() += 1;
    }

    pub fn record_delivery(&self, report: &DeliveryReport) {
        let mut m = self.inner();
        for r in &report.receivers {
            *m.delivered.entry(r.receiver.clone()).or_default() += r.delivered as u64;
            *m.delivery_failed.entry(r.receiver.clone()).or_default() += r.failed as u64;
        }
    }

    pub fn set_outbox_pending(&self, n: usize) {
        self.inner().outbox_pending = n as u64;
    }

    pub fn record_reload(&self, ok: bool) {
        let mut m = self.inner();
        m.reloads += 1;
        if !ok {
            m.reload_failures += 1;
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let m = self.inner();
        let mut out = String::new();
        per_table(
            &mut out,
            "statwatch_polls_total",
            "Table polls, by source and table.",
            &m.polls,
        );
        per_table(
            &mut out,
            "statwatch_poll_failures_total",
            "Table polls that failed, by source and table.",
            &m.poll_failures,
        );
        labelled(
            &mut out,
            "statwatch_poll_store_failures_total",
            "counter",
            "Polls whose results could not be written to the local store.",
            "source",
            m.store_failures.iter().map(|(k, v)| (k, *v as i64)),
        );
        labelled(
            &mut out,
            "statwatch_ticks_skipped_total",
            "counter",
            "Scheduled ticks skipped because the source's previous poll was still running.",
            "source",
            m.skipped_ticks.iter().map(|(k, v)| (k, *v as i64)),
        );
        labelled(
            &mut out,
            "statwatch_last_success_timestamp_seconds",
            "gauge",
            "Start of the last successful poll, unix seconds.",
            "source",
            m.last_success.iter().map(|(k, v)| (k, *v)),
        );
        labelled(
            &mut out,
            "statwatch_alerts_fired_total",
            "counter",
            "Alerts detected and written to the outbox.",
            "source",
            m.alerts_fired.iter().map(|(k, v)| (k, *v as i64)),
        );
        labelled(
            &mut out,
            "statwatch_alerts_delivered_total",
            "counter",
            "Alerts delivered, by receiver.",
            "receiver",
            m.delivered.iter().map(|(k, v)| (k, *v as i64)),
        );
        labelled(
            &mut out,
            "statwatch_alerts_failed_total",
            "counter",
            "Alerts given up on (a permanent delivery error), by receiver.",
            "receiver",
            m.delivery_failed.iter().map(|(k, v)| (k, *v as i64)),
        );
        family(
            &mut out,
            "statwatch_outbox_pending",
            "gauge",
            "Deliveries waiting in the outbox.",
        );
        let _ = writeln!(out, "statwatch_outbox_pending {}", m.outbox_pending);
        family(
            &mut out,
            "statwatch_reloads_total",
            "counter",
            "SIGHUP reloads attempted.",
        );
        let _ = writeln!(out, "statwatch_reloads_total {}", m.reloads);
        family(
            &mut out,
            "statwatch_reload_failures_total",
            "counter",
            "SIGHUP reloads rejected (the running config was kept).",
        );
        let _ = writeln!(out, "statwatch_reload_failures_total {}", m.reload_failures);
        drop(m);
        family(
            &mut out,
            "statwatch_scheduler_heartbeat_age_seconds",
            "gauge",
            "Seconds since the scheduling loop last ran.",
        );
        let last = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        let age = self.started.elapsed().saturating_sub(last).as_secs_f64();
        let _ = writeln!(out, "statwatch_scheduler_heartbeat_age_seconds {age:.3}");
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn per_table(out: &mut String, name: &str, help: &str, map: &BTreeMap<(String, String), u64>) {
    family(out, name, "counter", help);
    for ((source, table), v) in map {
        let _ = writeln!(
            out,
            "{name}{{source=\"{}\",table=\"{}\"}} {v}",
            esc(source),
            esc(table)
        );
    }
}

fn labelled<'a>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a String, i64)>,
) {
    family(out, name, kind, help);
    for (k, v) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {v}", esc(k));
    }
}

/// Escapes a label value (backslash, double quote, newline), as the text format requires.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A running metrics listener; dropping it without [`MetricsServer::stop`] leaves it running
/// until the runtime ends.
pub struct MetricsServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `listen` now (so a taken port fails start-up) and serves in the background.
    pub async fn start(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> Result<MetricsServer, MetricsError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| MetricsError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(listen);
        // Scrapes are few; a flood of idle connections must not take the file descriptors
        // that the sources, receivers and control socket need (see `listen`).
        let listener = Bounded::new(listener, MAX_CONNECTIONS, IDLE);
        let app = Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(healthz_handler))
            .with_state(metrics);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                error!(%addr, error = %e, "metrics listener failed");
            }
        });
        info!(%addr, "metrics listening (GET /metrics, GET /healthz)");
        Ok(MetricsServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Stops accepting and waits briefly for in-flight scrapes.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // A scrape holding a keep-alive connection must not hold up shutdown or a reload.
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
}

async fn healthz_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    if m.healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduling loop has stalled\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn exposition_has_types_and_samples() {
        let m = Metrics::new(Duration::from_secs(30));
        m.heartbeat();
        m.record_skipped_tick("cbs");
        m.set_outbox_pending(3);
        m.set_last_success("cbs", DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let text = m.render();
        assert!(text.contains("# TYPE statwatch_polls_total counter"));
        assert!(text.contains("statwatch_ticks_skipped_total{source=\"cbs\"} 1"));
        assert!(text.contains("statwatch_outbox_pending 3"));
        assert!(
            text.contains("statwatch_last_success_timestamp_seconds{source=\"cbs\"} 1700000000")
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("statwatch_"), "{line}");
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
        assert!(m.healthy());
    }

    #[test]
    fn a_stale_heartbeat_is_unhealthy() {
        let m = Metrics::new(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!m.healthy());
        m.heartbeat();
        // Equal ages count as healthy; a zero budget still flips soon after.
        std::thread::sleep(Duration::from_millis(5));
        assert!(!m.healthy());
    }
}
