//! Helpers shared by the notify tests (`tests/webhook.rs`, `tests/email.rs`,
//! `tests/email_content.rs`, `tests/chat.rs`, `tests/upgrade.rs`): their config, alert
//! fixtures, the outbox of a store in a temp dir, and a log capture that lets a test check
//! that no secret ever reaches a log line.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use statwatch::config::Config;
use statwatch::model::{Alert, Cause, Delivery, Details, Period, Previous, Severity};
use statwatch::notify::Notifier;
use statwatch::store::{PollWrite, Store};

use super::config::{ConfigText, Series, Source};
use super::{BRANCH_DIM, INDUSTRY, YOY};

pub mod chat;
pub mod platforms;

/// The rule every notify test config carries.
const STREAK_RULE: &str = r#"[[rules]]
id = "nl-industry-streak"
series = "nl.*"
kind = "streak"
direction = "positive"
length = 3
severity = "info"
"#;

/// The source, series and rule a notify test's config needs to be valid; receivers go in its
/// `extra`.
pub fn notify_config(state_dir: &Path) -> ConfigText {
    ConfigText::new(state_dir)
        .timezone("Europe/Amsterdam")
        .source(Source::new("cbs", "cbs").schedule("0 */5 6-9 * * Mon-Fri"))
        .series(
            Series::new("nl.industry.yoy", "cbs", INDUSTRY, YOY)
                .dimension(BRANCH_DIM, "307500")
                .unit("%"),
        )
        .rules(STREAK_RULE)
}

/// [`notify_config`] with `extra`, parsed.
pub fn config(extra: &str) -> Config {
    notify_config(Path::new("/tmp/statwatch-notify-test"))
        .extra(extra)
        .parse()
}

/// A notifier for `extra`'s receivers that retries within a poll after short pauses.
pub fn notifier(extra: &str) -> Notifier {
    Notifier::new(&config(extra))
        .expect("notifier")
        .with_retry_base(Duration::from_millis(20))
}

/// The secret of `ops`, the signed webhook receiver of the webhook tests.
pub const WEBHOOK_SECRET: &str = "hook-secret-Zq81xv";

/// A notifier for `ops`, a signed webhook receiver at `url`.
pub fn ops_notifier(url: &str) -> Notifier {
    notifier(&format!(
        "[receivers.ops]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{WEBHOOK_SECRET}\"\n\
         timeout_secs = 2\n"
    ))
}

/// Asserts that `ops`'s secret is in no log line and not in `extra`.
pub fn check_no_secret(extra: &str) {
    assert_no_secret(WEBHOOK_SECRET, "the logs", &logs());
    assert_no_secret(WEBHOOK_SECRET, "a report or error", extra);
}

pub fn alert(id: &str, severity: Severity, summary: &str) -> Alert {
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
        period: Some(Period::Month(2025, 3)),
        source_period: "2025MM03".into(),
        value: Some(1.3),
        previous: Some(Previous {
            period: Period::Month(2025, 2),
            value: 1.0,
        }),
        cause: Cause::NewPeriod,
        summary: summary.into(),
        details: Details::Streak { streak: 3 },
        detected_at: Utc::now(),
    }
}

/// Commits alerts for one receiver, as a poll would.
pub fn enqueue(store: &Store, receiver: &str, alerts: &[Alert]) -> usize {
    store
        .commit(&PollWrite {
            alerts: alerts
                .iter()
                .map(|a| (a.clone(), vec![receiver.to_string()]))
                .collect(),
            ..Default::default()
        })
        .expect("commit")
        .enqueued
}

pub fn delivery(store: &Store, receiver: &str, id: &str) -> Delivery {
    store
        .deliveries()
        .expect("deliveries")
        .into_iter()
        .find(|d| d.receiver == receiver && d.alert_id == id)
        .unwrap_or_else(|| panic!("no outbox entry for {receiver}/{id}"))
}

pub fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Buf> = OnceLock::new();

/// Installs (once per test binary) a global subscriber that records every log line of every
/// test at TRACE level, so a secret in any line of any test is caught.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Buf::default();
        let writer = buf.clone();
        statwatch::logline::install(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish(),
        );
        buf
    });
}

/// Everything logged so far in this test binary.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| {
            String::from_utf8_lossy(&b.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
        })
        .unwrap_or_default()
}

pub fn assert_no_secret(secret: &str, what: &str, text: &str) {
    assert!(
        !text.contains(secret),
        "the secret appears in {what}:\n{text}"
    );
}
