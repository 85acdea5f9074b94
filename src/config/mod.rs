//! The validated config: [`Config`] and the small types its sections share, and
//! [`Config::load`]. The file as written is in `raw`, its key positions in `locate`, the
//! environment and secrets in `env`, and `validate` turns the one into the other, so every
//! error names the file, the key and the line:column. Each module owns its validated types
//! (rule kinds in `rules`, `Derive` in `derive`, `Schedule` in `scheduler`); receivers' and
//! SMTP types live here for now.

mod env;
pub mod group;
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

/// Where the config lives when nothing says otherwise (interface.md, "Config path").
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
    pub briefs: Vec<crate::briefs::BriefConfig>,
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
    pub fn series(&self, id: &str) -> Option<SeriesConfig> {
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
            unit: &s.unit,
        }
    }
}

impl SeriesConfig {
    /// The id under which the raw levels of a derived series are stored.
    pub fn level_id(&self) -> String {
        format!("{}#level", self.id)
    }
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

/// Default `resolve_after_hours` of an alertmanager receiver (interface.md).
pub const DEFAULT_RESOLVE_AFTER_HOURS: u64 = 24;

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub name: String,
    pub kind: ReceiverKind,
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
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { keep_days: 400 }
    }
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
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
mod tests {
    use super::*;

    const GOOD: &str = r#"
state_dir = "/tmp/x"
timezone = "Europe/Amsterdam"

[sources.cbs]
kind = "cbs"
schedule = "0 */5 6-9 * * Mon-Fri"

[[series]]
id = "nl.industry.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = "307500   " }
unit = "%"

[[rules]]
id = "nl-industry-turn"
series = "nl.*"
kind = "sign_change"
severity = "warning"

[receivers.journal]
kind = "log"
subscribe = ["nl-*"]
"#;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.toml"), src)
    }

    fn err(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    #[test]
    fn a_good_config_validates() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.sources["cbs"].schedule.tz, chrono_tz::Europe::Amsterdam);
        assert_eq!(
            c.series[0].dimensions["BedrijfstakkenBranchesSBI2008"],
            "307500"
        );
        assert!(c.rules[0].applies_to("nl.industry.yoy"));
        let subscribed = |rule| {
            c.receivers["journal"]
                .subscribe
                .iter()
                .any(|g| g.is_match(rule))
        };
        assert!(subscribed("nl-industry-turn"));
        assert!(!subscribed("de-x"));
    }

    #[test]
    fn unknown_keys_name_file_key_and_line() {
        let src = GOOD.replace("kind = \"cbs\"", "kind = \"cbs\"\nshedule = \"x\"");
        let e = err(&src);
        assert!(e.starts_with("test.toml:7:1: sources.cbs.shedule:"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn shape_errors_name_the_key_and_the_array_element() {
        let e = err(&GOOD.replace("measure = \"KalendergecorrigeerdeProductie_14\"\n", ""));
        assert!(
            e.starts_with("test.toml:9:1: series[0]: missing field `measure`"),
            "{e}"
        );
        let e = err(&GOOD.replace("kind = \"cbs\"", "kind = \"cbs\"\ntimeout_secs = \"ten\""));
        assert!(
            e.starts_with("test.toml:7:16: sources.cbs.timeout_secs: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn bad_references_are_located() {
        let e = err(&GOOD.replace("source = \"cbs\"", "source = \"cbz\""));
        assert!(
            e.starts_with("test.toml:11:10: series[0].source: unknown source \"cbz\""),
            "{e}"
        );
        let e = err(&GOOD.replace("series = \"nl.*\"", "series = \"de.*\""));
        assert!(
            e.contains("rules[0].series") && e.contains("matches no configured series"),
            "{e}"
        );
        let e = err(&GOOD.replace("subscribe = [\"nl-*\"]", "subscribe = [\"de-*\"]"));
        assert!(
            e.contains("receivers.journal.subscribe") && e.contains("matches no configured rule"),
            "{e}"
        );
    }

    #[test]
    fn schedules_and_zones_are_checked() {
        let e = err(&GOOD.replace("0 */5 6-9 * * Mon-Fri", "*/5 6-9 * * Mon-Fri"));
        assert!(
            e.contains("sources.cbs.schedule") && e.contains("invalid cron"),
            "{e}"
        );
        let e = err(&GOOD.replace("0 */5 6-9 * * Mon-Fri", "0 0 0 30 Feb *"));
        assert!(e.contains("never fires"), "{e}");
        let e = err(&GOOD.replace("Europe/Amsterdam", "Europe/Amsterdamm"));
        assert!(e.starts_with("test.toml:3:12: timezone:"), "{e}");
    }

    #[test]
    fn rule_parameters_must_fit_the_kind() {
        let e = err(&GOOD.replace(
            "kind = \"sign_change\"",
            "kind = \"sign_change\"\nlength = 3",
        ));
        assert!(
            e.contains("rules[0].length") && e.contains("takes no length"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "kind = \"sign_change\"",
            "kind = \"streak\"\ndirection = \"positive\"",
        ));
        assert!(e.contains("needs length"), "{e}");
    }

    #[test]
    fn secrets_expand_and_never_print() {
        std::env::set_var("STATWATCH_TEST_HOOK_SECRET", "hunter2");
        let src = format!(
            "{GOOD}\n[receivers.ops]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"${{STATWATCH_TEST_HOOK_SECRET}}\"\n"
        );
        let c = parse(&src).unwrap();
        let ReceiverKind::Webhook { secret, .. } = &c.receivers["ops"].kind else {
            panic!()
        };
        assert_eq!(secret.as_ref().unwrap().expose(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let fallback = src.replace(
            "STATWATCH_TEST_HOOK_SECRET}",
            "STATWATCH_TEST_UNSET_VAR:-dev}",
        );
        let c = parse(&fallback).unwrap();
        let ReceiverKind::Webhook { secret, .. } = &c.receivers["ops"].kind else {
            panic!()
        };
        assert_eq!(secret.as_ref().unwrap().expose(), "dev");
        let e = err(&src.replace("STATWATCH_TEST_HOOK_SECRET", "STATWATCH_TEST_UNSET_VAR"));
        assert!(
            e.contains("receivers.ops.secret") && e.contains("STATWATCH_TEST_UNSET_VAR is not set"),
            "{e}"
        );
    }

    #[test]
    fn chat_and_alertmanager_receivers_validate_and_hide_the_url() {
        std::env::set_var(
            "STATWATCH_TEST_SLACK_URL",
            "https://hooks.slack.com/services/T0/B0/tok3n",
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("teams-url");
        std::fs::write(
            &file,
            "https://example.webhook.office.com/workflows/abc/tok3n\n",
        )
        .unwrap();
        let src = format!(
            "{GOOD}\n[receivers.chat]\nkind = \"slack\"\nurl = \"${{STATWATCH_TEST_SLACK_URL}}\"\n\
             [receivers.mm]\nkind = \"mattermost\"\nurl = \"http://127.0.0.1:8065/hooks/tok3n\"\n\
             [receivers.teams]\nkind = \"teams\"\nurl_file = \"{}\"\n\
             [receivers.am]\nkind = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\", \"http://127.0.0.1:9094/\"]\n",
            file.display()
        );
        let c = parse(&src).unwrap();
        let ReceiverKind::Chat { platform, url, .. } = &c.receivers["teams"].kind else {
            panic!()
        };
        assert_eq!(*platform, ChatPlatform::Teams);
        assert!(url.expose().as_str().ends_with("/tok3n"));
        assert_eq!(c.receivers["chat"].kind_name(), "slack");
        let ReceiverKind::Alertmanager {
            urls,
            resolve_after,
            ..
        } = &c.receivers["am"].kind
        else {
            panic!()
        };
        assert_eq!(urls.len(), 2);
        assert_eq!(resolve_after.as_secs(), 24 * 3600);
        assert!(
            !format!("{c:?}").contains("tok3n"),
            "a chat URL is a secret"
        );

        let e = err(&src.replace("kind = \"slack\"", "kind = \"slack\"\nsecret = \"x\""));
        assert!(
            e.contains("receivers.chat.secret") && e.contains("a slack receiver takes no secret"),
            "{e}"
        );
        let e = err(&src.replace("kind = \"mattermost\"\nurl", "kind = \"mattermost\"\nx_url"));
        assert!(e.contains("x_url"), "{e}");
        let e = err(&src.replace("http://127.0.0.1:8065/hooks/tok3n", "ftp://h/tok3n"));
        assert!(
            e.contains("receivers.mm.url: not an http(s) URL") && !e.contains("tok3n"),
            "{e}"
        );
        let e = err(&src.replace("urls = [", "resolve_after_hours = 0\nurls = ["));
        assert!(e.contains("receivers.am.resolve_after_hours"), "{e}");
        let e = err(&src.replace("kind = \"teams\"", "kind = \"teams\"\nurls = []"));
        assert!(e.contains("a teams receiver takes no urls"), "{e}");
    }

    #[test]
    fn clear_text_smtp_only_on_loopback() {
        let src = format!(
            "{GOOD}\n[smtp]\nhost = \"smtp.example.org\"\ntls = \"none\"\nfrom = \"a@example.org\"\n"
        );
        assert!(err(&src).contains("smtp.tls"));
        assert!(parse(&src.replace("smtp.example.org", "127.0.0.1")).is_ok());
    }
}
