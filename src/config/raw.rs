//! The config file exactly as written: serde structs (unknown keys rejected) and enums for
//! the closed sets, so a misspelt word is a deserializer error with its line and column.
//! Nothing here is checked beyond its shape; `validate` does the rest.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{LogFormat, SmtpTls, SourceKind};
use crate::derive::Derive;
use crate::model::{Frequency, Severity};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// Where the sled database lives (default: `$STATE_DIRECTORY`, else /var/lib/statwatch).
    pub state_dir: Option<String>,
    /// The default time zone of schedules (default UTC).
    pub timezone: Option<String>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub series: Vec<RawSeries>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub briefs: Vec<RawBrief>,
    #[serde(default)]
    pub receivers: BTreeMap<String, RawReceiver>,
    pub smtp: Option<RawSmtp>,
    /// The pages, `/metrics` and `/healthz`.
    pub web: Option<RawWeb>,
    /// The first stage's name for `[web]`, still accepted.
    pub metrics: Option<RawWeb>,
    pub heartbeat: Option<RawHeartbeat>,
    pub store: Option<RawStore>,
}

/// `[heartbeat]`: a dead-man service pinged while the daemon is healthy.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    /// The ping URL: a secret (it identifies the check).
    pub url: Option<String>,
    pub url_file: Option<String>,
    /// Seconds between pings (fractions allowed); default 300.
    pub interval_secs: Option<f64>,
}

/// `[store]`: how long the store keeps what it no longer needs, and how many alerts of one
/// poll it takes without warning.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    /// Days delivered and failed deliveries are kept (default 400).
    pub keep_days: Option<u32>,
    /// More alerts than this in one poll are a flood: stored and sent, with a warning
    /// (default 10,000).
    pub flood_alerts: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    pub kind: SourceKind,
    pub base_url: Option<String>,
    /// Six-field cron with seconds.
    pub schedule: String,
    pub timezone: Option<String>,
    pub timeout_secs: Option<u64>,
    pub history_years: Option<u32>,
    pub max_rows_per_table: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub table_deadline_secs: Option<u64>,
    pub username: Option<String>,
    pub username_file: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    /// GENESIS answer language, `de` or `en`.
    pub language: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSeries {
    pub id: String,
    pub source: String,
    pub table: String,
    pub measure: RawKeys,
    #[serde(default)]
    pub dimensions: BTreeMap<String, RawKeys>,
    pub title: Option<String>,
    pub unit: Option<String>,
    pub derive: Option<Derive>,
    pub frequency: Option<Frequency>,
}

/// A dimension key or measure as written: one key (`"*"` for every key), or a list of keys.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawKeys {
    One(String),
    List(Vec<String>),
}

/// The rule kinds as written. Each takes the parameters [`RawRuleKind::params`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawRuleKind {
    Release,
    SignChange,
    Streak,
    Change,
    Threshold,
    Revision,
    Overdue,
    SourceFailing,
    TableChanged,
}

impl RawRuleKind {
    pub fn name(self) -> &'static str {
        match self {
            RawRuleKind::Release => "release",
            RawRuleKind::SignChange => "sign_change",
            RawRuleKind::Streak => "streak",
            RawRuleKind::Change => "change",
            RawRuleKind::Threshold => "threshold",
            RawRuleKind::Revision => "revision",
            RawRuleKind::Overdue => "overdue",
            RawRuleKind::SourceFailing => "source_failing",
            RawRuleKind::TableChanged => "table_changed",
        }
    }

    /// The parameters this kind takes; any other one set is a mistake worth naming.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            RawRuleKind::Release => &[],
            RawRuleKind::SignChange => &["dead_band"],
            RawRuleKind::Streak => &["direction", "length"],
            RawRuleKind::Change => &["direction", "min", "relative"],
            RawRuleKind::Threshold => &["above", "below"],
            RawRuleKind::Revision => &["min"],
            RawRuleKind::Overdue => &["after_days"],
            RawRuleKind::SourceFailing => &["source", "after_hours"],
            RawRuleKind::TableChanged => &["source"],
        }
    }
}

/// Every direction word; `validate` narrows it to the kind's own direction type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawDirection {
    Positive,
    Negative,
    Rising,
    Falling,
    Up,
    Down,
    Any,
}

impl RawDirection {
    pub fn name(self) -> &'static str {
        match self {
            RawDirection::Positive => "positive",
            RawDirection::Negative => "negative",
            RawDirection::Rising => "rising",
            RawDirection::Falling => "falling",
            RawDirection::Up => "up",
            RawDirection::Down => "down",
            RawDirection::Any => "any",
        }
    }
}

/// `[[briefs]]`: the story of a release in one message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBrief {
    /// Receivers subscribe to it like to a rule id.
    pub id: String,
    pub title: Option<String>,
    /// A new period of this series opens a brief.
    pub lead: String,
    #[serde(default)]
    pub context: Vec<String>,
    /// A series glob: how many rose and fell, top and bottom.
    pub breakdown: Option<String>,
    /// Movers named at each end (default 3).
    pub top: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: String,
    /// A series id or glob (every kind but source_failing).
    pub series: Option<String>,
    /// A source name or glob (source_failing).
    pub source: Option<String>,
    pub kind: RawRuleKind,
    pub severity: Option<Severity>,
    pub dead_band: Option<f64>,
    pub direction: Option<RawDirection>,
    pub length: Option<i64>,
    pub min: Option<f64>,
    pub relative: Option<bool>,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub after_days: Option<f64>,
    pub after_hours: Option<f64>,
}

impl RawRule {
    /// Which parameters are set, by name (the names of [`RawRuleKind::params`]).
    pub fn params_set(&self) -> [(&'static str, bool); 10] {
        [
            ("source", self.source.is_some()),
            ("after_days", self.after_days.is_some()),
            ("after_hours", self.after_hours.is_some()),
            ("dead_band", self.dead_band.is_some()),
            ("direction", self.direction.is_some()),
            ("length", self.length.is_some()),
            ("min", self.min.is_some()),
            ("relative", self.relative.is_some()),
            ("above", self.above.is_some()),
            ("below", self.below.is_some()),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawReceiverKind {
    Email,
    Webhook,
    Log,
    Slack,
    Mattermost,
    Teams,
    Alertmanager,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReceiver {
    pub kind: RawReceiverKind,
    /// Email: the addresses.
    pub to: Option<Vec<String>>,
    /// Webhook: where to POST. Slack, Mattermost, Teams: the incoming-webhook URL (a secret).
    pub url: Option<String>,
    /// Slack, Mattermost, Teams: a file holding the URL (a systemd credential).
    pub url_file: Option<String>,
    /// Alertmanager: every member of the cluster.
    pub urls: Option<Vec<String>>,
    /// Alertmanager: `endsAt` = detection + this (default 24).
    pub resolve_after_hours: Option<u64>,
    /// Webhook: the HMAC key.
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub timeout_secs: Option<u64>,
    /// Webhook, Alertmanager, email: the most alerts one message carries.
    pub max_batch_alerts: Option<u64>,
    /// Webhook, Alertmanager: the most bytes one message's body takes.
    pub max_batch_bytes: Option<u64>,
    /// Slack, Mattermost, Teams, email: above this many alerts in one message, a digest.
    pub digest_after: Option<u64>,
    /// Rule-id globs; default every rule.
    pub subscribe: Option<Vec<String>>,
    pub min_severity: Option<Severity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    pub host: String,
    pub port: Option<u16>,
    pub tls: Option<SmtpTls>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub from: String,
    /// An extra trust anchor (an internal CA).
    pub ca_file: Option<String>,
    pub timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub listen: Option<String>,
    /// Where readers reach the pages (`https://stats.example.org/statwatch`): messages link
    /// the `/alerts` page under it.
    pub public_url: Option<String>,
}
