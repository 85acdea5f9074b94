//! The daemon's counters and gauges, exposed at `GET /metrics` through the `prometheus-client`
//! crate (OpenMetrics text, which Prometheus scrapes as it does its own format).
//!
//! [`Metrics`] is what the daemon updates after every poll, delivery and reload, and what
//! `/healthz` asks about the scheduling loop. The HTTP side is in the `web` module. A maintained
//! encoder rather than hand-written text: escaping, `# EOF`, `_total` suffixes and types are
//! its business, and a metric added later cannot break the exposition's syntax.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::notify::DeliveryReport;
use crate::pipeline::PollReport;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    source: String,
    table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabel {
    receiver: String,
}

fn source(s: &str) -> SourceLabel {
    SourceLabel { source: s.into() }
}

fn receiver(r: &str) -> ReceiverLabel {
    ReceiverLabel { receiver: r.into() }
}

/// The daemon's counters and gauges, shared with the HTTP handlers.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// Milliseconds since `started` of the scheduling loop's last turn.
    heartbeat_ms: AtomicU64,
    /// How old a heartbeat may be before `/healthz` reports the loop as stalled.
    max_heartbeat_age: Duration,
    /// What must happen again for `/healthz` to stay 200 (a source's poll, the heartbeat
    /// ping): when it last did, and how long after that it may take. Monotonic, so a step
    /// of the wall clock neither hides a silence nor invents one.
    duties: Mutex<BTreeMap<String, (Instant, Duration)>>,
    registry: Registry,
    polls: Family<TableLabels, Counter>,
    poll_failures: Family<TableLabels, Counter>,
    store_failures: Family<SourceLabel, Counter>,
    skipped_ticks: Family<SourceLabel, Counter>,
    last_success: Family<SourceLabel, Gauge>,
    alerts_fired: Family<SourceLabel, Counter>,
    delivered: Family<ReceiverLabel, Counter>,
    delivery_failed: Family<ReceiverLabel, Counter>,
    outbox_pending: Gauge,
    reloads: Counter,
    reload_failures: Counter,
    heartbeat_age: Gauge<f64, AtomicU64>,
}

impl Metrics {
    pub fn new(max_heartbeat_age: Duration) -> Metrics {
        let mut m = Metrics {
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            max_heartbeat_age,
            duties: Mutex::default(),
            registry: Registry::default(),
            polls: Family::default(),
            poll_failures: Family::default(),
            store_failures: Family::default(),
            skipped_ticks: Family::default(),
            last_success: Family::default(),
            alerts_fired: Family::default(),
            delivered: Family::default(),
            delivery_failed: Family::default(),
            outbox_pending: Gauge::default(),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            heartbeat_age: Gauge::default(),
        };
        m.register();
        m
    }

    /// Registers every family under its public name (counters get `_total` from the
    /// encoder, so they are registered without it).
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "statwatch_polls",
            "Table polls, by source and table",
            self.polls.clone(),
        );
        r.register(
            "statwatch_poll_failures",
            "Table polls that failed, by source and table",
            self.poll_failures.clone(),
        );
        r.register(
            "statwatch_poll_store_failures",
            "Polls whose results could not be written to the local store",
            self.store_failures.clone(),
        );
        r.register(
            "statwatch_ticks_skipped",
            "Scheduled ticks skipped because the source's previous poll was still running",
            self.skipped_ticks.clone(),
        );
        r.register(
            "statwatch_last_success_timestamp_seconds",
            "Start of the last successful poll, unix seconds",
            self.last_success.clone(),
        );
        r.register(
            "statwatch_alerts_fired",
            "Alerts detected and written to the outbox",
            self.alerts_fired.clone(),
        );
        r.register(
            "statwatch_alerts_delivered",
            "Alerts delivered, by receiver",
            self.delivered.clone(),
        );
        r.register(
            "statwatch_alerts_failed",
            "Alerts given up on (a permanent delivery error), by receiver",
            self.delivery_failed.clone(),
        );
        r.register(
            "statwatch_outbox_pending",
            "Deliveries waiting in the outbox",
            self.outbox_pending.clone(),
        );
        r.register(
            "statwatch_reloads",
            "SIGHUP reloads attempted",
            self.reloads.clone(),
        );
        r.register(
            "statwatch_reload_failures",
            "SIGHUP reloads rejected (the running config was kept)",
            self.reload_failures.clone(),
        );
        r.register(
            "statwatch_scheduler_heartbeat_age_seconds",
            "Seconds since the scheduling loop last ran",
            self.heartbeat_age.clone(),
        );
    }

    /// Creates every configured source's and receiver's series at zero, so a dashboard sees
    /// "no failures yet" rather than no data (an absent series breaks `rate()` and alerts on
    /// it). Called at start and after each reload; series of removed ones stay until restart.
    pub fn declare(&self, config: &Config) {
        for name in config.sources.keys() {
            let label = source(name);
            let _ = self.store_failures.get_or_create(&label);
            let _ = self.skipped_ticks.get_or_create(&label);
            let _ = self.alerts_fired.get_or_create(&label);
        }
        for name in config.receivers.keys() {
            let label = receiver(name);
            let _ = self.delivered.get_or_create(&label);
            let _ = self.delivery_failed.get_or_create(&label);
        }
    }

    /// The scheduling loop is alive.
    pub fn heartbeat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    fn heartbeat_age(&self) -> Duration {
        let last = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// `duty` (a source's poll, the heartbeat ping) just happened and must happen again
    /// within `within`, or `/healthz` fails.
    pub fn expect(&self, duty: &str, within: Duration) {
        if let Ok(mut duties) = self.duties.lock() {
            duties.insert(duty.to_string(), (Instant::now(), within));
        }
    }

    /// Drops the duties `keep` says no to (a source removed by reload, a schedule that
    /// never fires again).
    pub fn retain_duties(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut duties) = self.duties.lock() {
            duties.retain(|d, _| keep(d));
        }
    }

    /// `Ok` while the scheduling loop turns and every duty is on time; else one line saying
    /// what is late.
    pub fn health(&self) -> Result<(), String> {
        let age = self.heartbeat_age();
        if age > self.max_heartbeat_age {
            return Err(format!(
                "the scheduling loop has stalled: no turn for {}s",
                age.as_secs()
            ));
        }
        let duties = self
            .duties
            .lock()
            .map_err(|_| "health state poisoned".to_string())?;
        for (duty, (since, within)) in duties.iter() {
            let quiet = since.elapsed();
            if quiet > *within {
                return Err(format!(
                    "{}: nothing for {}s, its schedule allows {}s",
                    duty.escape_debug(),
                    quiet.as_secs(),
                    within.as_secs()
                ));
            }
        }
        Ok(())
    }

    pub fn healthy(&self) -> bool {
        self.health().is_ok()
    }

    pub fn record_poll(&self, report: &PollReport) {
        for t in &report.tables {
            let key = TableLabels {
                source: report.source.clone(),
                table: t.table.clone(),
            };
            self.polls.get_or_create(&key).inc();
            // Created at zero on the first poll, so a rate() sees the series from the start.
            let failures = self.poll_failures.get_or_create(&key);
            if t.result.is_err() {
                failures.inc();
            }
        }
        let fired = report
            .committed
            .as_ref()
            .map_or(0, |c| c.new_alerts.len() as u64);
        self.alerts_fired
            .get_or_create(&source(&report.source))
            .inc_by(fired);
        if !report.failed() {
            self.set_last_success(&report.source, report.started_at);
        }
    }

    /// A poll whose result could not be stored (the local store failed).
    pub fn record_store_failure(&self, name: &str) {
        self.store_failures.get_or_create(&source(name)).inc();
    }

    pub fn set_last_success(&self, name: &str, at: DateTime<Utc>) {
        self.last_success
            .get_or_create(&source(name))
            .set(at.timestamp());
    }

    pub fn record_skipped_tick(&self, name: &str) {
        self.skipped_ticks.get_or_create(&source(name)).inc();
    }

    pub fn record_delivery(&self, report: &DeliveryReport) {
        for r in &report.receivers {
            let who = receiver(&r.receiver);
            self.delivered
                .get_or_create(&who)
                .inc_by(r.delivered as u64);
            self.delivery_failed
                .get_or_create(&who)
                .inc_by(r.failed as u64);
        }
    }

    pub fn set_outbox_pending(&self, n: usize) {
        self.outbox_pending.set(n as i64);
    }

    pub fn record_reload(&self, ok: bool) {
        self.reloads.inc();
        if !ok {
            self.reload_failures.inc();
        }
    }

    /// The exposition, OpenMetrics text ending in `# EOF`.
    pub fn render(&self) -> String {
        self.heartbeat_age.set(self.heartbeat_age().as_secs_f64());
        let mut out = String::new();
        // Writing into a String cannot fail; the encoder only returns fmt errors.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_types_samples_and_escaped_labels() {
        let m = Metrics::new(Duration::from_secs(30));
        m.heartbeat();
        m.record_skipped_tick("cbs");
        m.record_skipped_tick("we\"ird\\one");
        m.set_outbox_pending(3);
        m.set_last_success("cbs", DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let text = m.render();
        assert!(
            text.contains("# TYPE statwatch_ticks_skipped counter"),
            "{text}"
        );
        assert!(text.contains("statwatch_ticks_skipped_total{source=\"cbs\"} 1"));
        assert!(text.contains(r#"statwatch_ticks_skipped_total{source="we\"ird\\one"} 1"#));
        assert!(text.contains("statwatch_outbox_pending 3"));
        assert!(
            text.contains("statwatch_last_success_timestamp_seconds{source=\"cbs\"} 1700000000")
        );
        assert!(text.contains("statwatch_scheduler_heartbeat_age_seconds "));
        assert!(text.ends_with("# EOF\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("statwatch_"), "{line}");
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

    #[test]
    fn a_late_duty_is_unhealthy_and_named() {
        let m = Metrics::new(Duration::from_secs(30));
        m.heartbeat();
        m.expect("source cbs", Duration::from_secs(60));
        assert_eq!(m.health(), Ok(()));
        m.expect("heartbeat", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let reason = m.health().unwrap_err();
        assert!(reason.starts_with("heartbeat: nothing for 0s"), "{reason}");
        // Done again in time: healthy; dropped: never late.
        m.expect("heartbeat", Duration::from_secs(60));
        assert_eq!(m.health(), Ok(()));
        m.expect("source gone", Duration::ZERO);
        m.retain_duties(|d| d != "source gone");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(m.health(), Ok(()));
    }
}
