//! The validated config: [`Config`] and the small types its sections share, and
//! [`Config::load`]. The file as written is in `raw`, its key positions in `locate`, the
//! environment and secrets in `env`, and `validate` turns the one into the other, so every
//! error names the file, the key and the line:column. Each module owns its validated types
//! (rule kinds in `rules`, `Derive` in `derive`, `Schedule` in `scheduler`); receivers' and
//! SMTP types live here for now.

mod env;
pub mod group;
pub mod ident;
mod locate;
mod raw;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use globset::GlobMatcher;
use serde::Deserialize;
use url::Url;

pub use self::env::{Secret, SecretUrl};
use self::locate::Locator;
use crate::derive::Derive;
use crate::model::{Frequency, Severity};
use crate::rules::RuleConfig;
use crate::scheduler::Schedule;

/// Where the config lives when nothing says otherwise (docs/config.md, "Config path").
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("STATWATCH_CONFIG") {
        return PathBuf::from(p);
    }
    let etc = PathBuf::from("/etc/statwatch/statwatch.toml");
    if etc.exists() {
        etc
    } else {
        PathBuf::from("config/statwatch.toml")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// `log_format`: text lines, or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from, for messages.
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub timezone: Tz,
    pub log_format: LogFormat,
    pub sources: BTreeMap<String, SourceConfig>,
    pub series: Vec<SeriesConfig>,
    pub rules: Vec<RuleConfig>,
    pub briefs: Vec<BriefConfig>,
    pub receivers: BTreeMap<String, ReceiverConfig>,
    pub smtp: Option<SmtpConfig>,
    /// `[web]` (or its alias `[metrics]`): the pages, `/metrics` and `/healthz`.
    pub web: Option<WebConfig>,
    pub heartbeat: Option<HeartbeatConfig>,
    pub store: StoreConfig,
    /// Things worth telling the operator that do not stop the config from working.
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads, parses and validates the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Config::parse(path, &src)
    }

    /// Parses and validates config text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let loc = Locator::new(path, src);
        let raw: raw::RawConfig = toml::from_str(src).map_err(|e| loc.toml_error(&e))?;
        validate::config(&loc, path, raw)
    }

    /// The configured series of this id, a group's expanded series included (its title then
    /// has keys where the source's titles would be: those are only known at a poll).
    /// An id no series can have (too long, a reserved or control character: a client's, or
    /// another record's such as `ID#level`) is none, before any matching.
    pub fn series(&self, id: &str) -> Option<SeriesConfig> {
        ident::check_id(id).ok()?;
        if let Some(s) = self.series.iter().find(|s| s.id == id && s.group.is_none()) {
            return Some(s.clone());
        }
        let s = self.series.iter().find(|s| s.produces(id))?;
        let g = s.group.as_ref()?;
        let chosen =
            g.id.captures(id)?
                .into_iter()
                .map(|(n, k)| {
                    (
                        n,
                        vec![group::Choice {
                            key: k.clone(),
                            title: k,
                        }],
                    )
                })
                .collect();
        s.expand(&chosen).ok()?.into_iter().next()
    }

    /// The series of one source, grouped by table (so a table is fetched once).
    pub fn tables_of(&self, source: &str) -> BTreeMap<String, Vec<SeriesConfig>> {
        let mut out: BTreeMap<String, Vec<SeriesConfig>> = BTreeMap::new();
        for s in self.series.iter().filter(|s| s.source == source) {
            out.entry(s.table.clone()).or_default().push(s.clone());
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Cbs,
    Destatis,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Cbs => "cbs",
            SourceKind::Destatis => "destatis",
        })
    }
}

/// Default `max_rows_per_table`: the largest table statwatch watches has some ten thousand
/// rows after filtering; a few million leaves room without letting memory run away.
pub const DEFAULT_MAX_ROWS_PER_TABLE: u64 = 5_000_000;
/// Default `max_response_bytes`: a CBS page of 10,000 cells is about 2 MB, a GENESIS ffcsv
/// of a large table some tens of MB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;
/// Default `table_deadline_secs`, in multiples of `timeout_secs`.
pub const DEADLINE_TIMEOUTS: u64 = 30;

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub base_url: Url,
    pub schedule: Schedule,
    pub timeout: Duration,
    pub history_years: u32,
    /// Rows one table download may hold (data rows, and the rows of each metadata set);
    /// the page cap is derived from it. A server that pages forever fails at this cap.
    pub max_rows_per_table: usize,
    /// Bytes one response body may have (after decompression), and one unpacked zip file.
    pub max_response_bytes: usize,
    /// The whole fetch of one table (every page, the GENESIS job flow) must finish within
    /// this; a slow drip of pages must not hold a poll forever.
    pub table_deadline: Duration,
    /// GENESIS credentials (a token goes in `username`, with an empty password).
    pub username: Option<Secret>,
    pub password: Option<Secret>,
    /// GENESIS answer language, `de` or `en`.
    pub language: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesConfig {
    pub id: String,
    pub source: String,
    pub table: String,
    /// The measure; empty for a group with an open or listed measure.
    pub measure: String,
    /// Dimension key -> attribute key, trimmed of spaces (a group's pinned ones).
    pub dimensions: BTreeMap<String, String>,
    pub title: String,
    pub unit: String,
    pub derive: Option<Derive>,
    /// `None`: the finest frequency the table publishes.
    pub frequency: Option<Frequency>,
    /// `Some` for an entry with open or listed keys: `id` and `title` are then templates,
    /// and the source expands it into concrete series at every poll.
    pub group: Option<group::Group>,
    /// For a series expanded from a group: the group's id template (so a key the table no
    /// longer has can be told from a broken answer, and logs can name the entry).
    pub template: Option<String>,
}

impl<'a> From<&'a SeriesConfig> for crate::rules::Subject<'a> {
    fn from(s: &'a SeriesConfig) -> Self {
        crate::rules::Subject {
            id: &s.id,
            title: &s.title,
            source: &s.source,
            table: &s.table,
            unit: s.value_unit(),
        }
    }
}

impl SeriesConfig {
    /// The id under which the raw levels of a derived series are stored.
    pub fn level_id(&self) -> String {
        ident::level_id(&self.id)
    }

    /// The unit of the series' values: `unit` names the levels a derived series is made of
    /// (it selects the Destatis rows), but a growth rate derived from them is in percent.
    pub fn value_unit(&self) -> &str {
        match self.derive {
            Some(Derive::YoyPct | Derive::MomPct) => "%",
            Some(Derive::Diff) | None => &self.unit,
        }
    }
}

/// One validated `[[briefs]]` entry.
#[derive(Debug, Clone)]
pub struct BriefConfig {
    pub id: String,
    pub title: String,
    pub lead: String,
    pub context: Vec<String>,
    /// The glob as written, and its matcher.
    pub breakdown: Option<(String, GlobMatcher)>,
    pub top: usize,
}

/// What a receiver is. It and [`SmtpTls`] belong with `notify`; they stay here until the
/// reshaping of notify under way elsewhere has landed, so the two changes do not collide.
#[derive(Debug, Clone)]
pub enum ReceiverKind {
    Email {
        to: Vec<String>,
    },
    Webhook {
        url: Url,
        secret: Option<Secret>,
        timeout: Duration,
    },
    Log,
    /// Slack, Mattermost or Teams: an incoming-webhook URL, which is a secret.
    Chat {
        platform: ChatPlatform,
        url: SecretUrl,
        timeout: Duration,
    },
    /// Every member of one Alertmanager cluster.
    Alertmanager {
        urls: Vec<Url>,
        resolve_after: Duration,
        timeout: Duration,
    },
}

/// The chat services statwatch speaks to, each through its incoming-webhook format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatPlatform {
    Slack,
    Mattermost,
    Teams,
}

impl ChatPlatform {
    pub fn name(self) -> &'static str {
        match self {
            ChatPlatform::Slack => "slack",
            ChatPlatform::Mattermost => "mattermost",
            ChatPlatform::Teams => "teams",
        }
    }
}

/// Default `digest_after` of a chat or email receiver (docs/config.md, `[receivers.NAME]`).
pub const DEFAULT_DIGEST_AFTER: usize = 50;

/// Default `resolve_after_hours` of an alertmanager receiver (docs/config.md,
/// `[receivers.NAME]`).
pub const DEFAULT_RESOLVE_AFTER_HOURS: u64 = 24;

/// How big one message to a receiver may be (`max_batch_alerts`, `max_batch_bytes`): a
/// backlog goes out as several messages within these bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_alerts: usize,
    /// The most bytes of a message's body (JSON receivers; others: no byte bound).
    pub max_bytes: usize,
}

impl BatchLimits {
    /// Webhook and Alertmanager: 500 alerts and 512 KiB a POST, well under the 1 MB body
    /// limit nginx has by default in front of a receiver.
    pub const HTTP: BatchLimits = BatchLimits {
        max_alerts: 500,
        max_bytes: 512 * 1024,
    };
    /// Email: 100 alerts a mail (each may carry a chart), so a backlog is a few mails of a few
    /// megabytes, not one mail a server refuses.
    pub const EMAIL: BatchLimits = BatchLimits {
        max_alerts: 100,
        max_bytes: usize::MAX,
    };
    /// Chat and log: the platform's own limits split a message; a round reads this many at a time.
    pub const OTHER: BatchLimits = BatchLimits {
        max_alerts: 500,
        max_bytes: usize::MAX,
    };
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub name: String,
    pub kind: ReceiverKind,
    /// How big one message may be.
    pub batch: BatchLimits,
    /// Chat and email: a message of more alerts than this is a digest (docs/payloads.md, "Digests":
    /// one event, one message); webhook and Alertmanager get every alert whatever it says.
    pub digest_after: usize,
    /// Rule-id globs; empty means every rule.
    pub subscribe: Vec<GlobMatcher>,
    pub min_severity: Severity,
}

impl ReceiverConfig {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ReceiverKind::Email { .. } => "email",
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Log => "log",
            ReceiverKind::Chat { platform, .. } => platform.name(),
            ReceiverKind::Alertmanager { .. } => "alertmanager",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// `[store]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Delivered and failed deliveries older than this many days are pruned (a marker keeps
    /// them from ever being sent again).
    pub keep_days: u32,
    /// A poll that fires more alerts than this is a flood (a whole-table group under a broken
    /// or hostile source): every alert is still stored and delivered, and the poll warns,
    /// naming the source, its tables and the count.
    pub flood_alerts: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            keep_days: 400,
            flood_alerts: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// Where readers reach the pages, for links in messages (http or https, no query).
    pub public_url: Option<url::Url>,
}

/// `[heartbeat]`: `GET url` every `interval` while the daemon is healthy.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// A secret: a dead-man service identifies the check by it.
    pub url: Secret,
    pub interval: std::time::Duration,
}

/// Lists the names of configured things, for messages.
pub fn names<'a>(it: impl IntoIterator<Item = &'a String>) -> String {
    let v: BTreeSet<&String> = it.into_iter().collect();
    v.into_iter().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
