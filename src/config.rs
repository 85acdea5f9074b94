//! The config file: raw TOML (unknown keys rejected) turned, in one place, into a validated
//! [`Config`] whose values are ready to use. Every error names the file, the key and the
//! line:column; secrets are wrapped in [`Secret`] so they cannot reach a log line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use croner::Cron;
use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use url::Url;

use crate::model::{Frequency, Severity};

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

/// A secret value: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A validated cron schedule, with the zone it is evaluated in.
#[derive(Clone)]
pub struct Schedule {
    pub expr: String,
    pub cron: Cron,
    pub tz: Tz,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} in {}", self.expr, self.tz)
    }
}

impl Schedule {
    /// Parses a 6-field cron expression (with seconds) the way tokio-cron-scheduler does.
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, String> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
        let now = Utc::now().with_timezone(&tz);
        cron.find_next_occurrence(&now, false)
            .map_err(|_| format!("cron expression {expr:?} never fires"))?;
        Ok(Schedule {
            expr: expr.to_string(),
            cron,
            tz,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub receivers: BTreeMap<String, ReceiverConfig>,
    pub smtp: Option<SmtpConfig>,
    pub metrics: Option<MetricsConfig>,
    /// Things worth telling the operator that do not stop the config from working.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    YoyPct,
    MomPct,
    Diff,
}

impl Derive {
    pub fn name(self) -> &'static str {
        match self {
            Derive::YoyPct => "yoy_pct",
            Derive::MomPct => "mom_pct",
            Derive::Diff => "diff",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SeriesConfig {
    pub id: String,
    pub source: String,
    pub table: String,
    pub measure: String,
    /// Dimension key -> attribute key, trimmed of spaces.
    pub dimensions: BTreeMap<String, String>,
    pub title: String,
    pub unit: String,
    pub derive: Option<Derive>,
    /// `None`: the finest frequency the table publishes.
    pub frequency: Option<Frequency>,
}

impl SeriesConfig {
    /// The id under which the raw levels of a derived series are stored.
    pub fn level_id(&self) -> String {
        format!("{}#level", self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Positive,
    Negative,
    Rising,
    Falling,
    Up,
    Down,
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Release,
    SignChange {
        dead_band: f64,
    },
    Streak {
        direction: Direction,
        length: u32,
    },
    Change {
        direction: Direction,
        min: f64,
        relative: bool,
    },
    Threshold {
        above: Option<f64>,
        below: Option<f64>,
    },
    Revision {
        min: f64,
    },
}

impl RuleKind {
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Release => "release",
            RuleKind::SignChange { .. } => "sign_change",
            RuleKind::Streak { .. } => "streak",
            RuleKind::Change { .. } => "change",
            RuleKind::Threshold { .. } => "threshold",
            RuleKind::Revision { .. } => "revision",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub id: String,
    /// The series id or glob as written.
    pub series: String,
    pub matcher: GlobMatcher,
    pub kind: RuleKind,
    pub severity: Severity,
}

impl RuleConfig {
    pub fn applies_to(&self, series_id: &str) -> bool {
        self.matcher.is_match(series_id)
    }
}

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
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub name: String,
    pub kind: ReceiverKind,
    /// Rule-id globs; empty means every rule.
    pub subscribe: Vec<GlobMatcher>,
    pub min_severity: Severity,
}

impl ReceiverConfig {
    /// Whether an alert of this rule and severity goes to this receiver.
    pub fn wants(&self, rule_id: &str, severity: Severity) -> bool {
        severity >= self.min_severity
            && (self.subscribe.is_empty() || self.subscribe.iter().any(|g| g.is_match(rule_id)))
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ReceiverKind::Email { .. } => "email",
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Log => "log",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}

// ---------------------------------------------------------------------------------------
// Raw TOML, exactly as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<String>,
    timezone: Option<String>,
    log_format: Option<String>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    series: Vec<RawSeries>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    receivers: BTreeMap<String, RawReceiver>,
    smtp: Option<RawSmtp>,
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    base_url: Option<String>,
    schedule: String,
    timezone: Option<String>,
    timeout_secs: Option<u64>,
    history_years: Option<u32>,
    max_rows_per_table: Option<u64>,
    max_response_bytes: Option<u64>,
    table_deadline_secs: Option<u64>,
    username: Option<String>,
    username_file: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
    language: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    id: String,
    source: String,
    table: String,
    measure: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    title: Option<String>,
    unit: Option<String>,
    derive: Option<String>,
    frequency: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    series: String,
    kind: String,
    severity: Option<String>,
    dead_band: Option<f64>,
    direction: Option<String>,
    length: Option<i64>,
    min: Option<f64>,
    relative: Option<bool>,
    above: Option<f64>,
    below: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    kind: String,
    to: Option<Vec<String>>,
    url: Option<String>,
    secret: Option<String>,
    secret_file: Option<String>,
    timeout_secs: Option<u64>,
    subscribe: Option<Vec<String>>,
    min_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
    from: String,
    ca_file: Option<String>,
    timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Locating keys in the source text.

/// One step of a key path: a table key or an index into an array of tables.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Turns error positions into `file:line:column` messages.
struct Locator<'a> {
    file: String,
    src: &'a str,
    doc: Option<toml_edit::ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    fn new(file: &Path, src: &'a str) -> Self {
        Locator {
            file: file.display().to_string(),
            src,
            doc: toml_edit::ImDocument::parse(src).ok(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The span of the value (or, failing that, of the deepest table) at `path`.
    fn span(&self, path: &[Seg]) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut item: &toml_edit::Item = doc.as_item();
        let mut best = None;
        for (n, seg) in path.iter().enumerate() {
            match *seg {
                Seg::Key(k) => {
                    let table = item.as_table_like()?;
                    let (key, next) = table.get_key_value(k)?;
                    best = next.span().or_else(|| key.span()).or(best);
                    item = next;
                }
                Seg::Index(i) => {
                    let arr = item.as_array_of_tables()?;
                    let t = arr.get(i)?;
                    best = t.span().or(best);
                    // An array element is a bare Table, not an Item: walk on from the table.
                    return Self::span_in_table(t, &path[n + 1..], best);
                }
            }
        }
        best
    }

    fn span_in_table(
        table: &toml_edit::Table,
        rest: &[Seg],
        mut best: Option<Range<usize>>,
    ) -> Option<Range<usize>> {
        let mut current: &dyn toml_edit::TableLike = table;
        for seg in rest {
            let Seg::Key(k) = *seg else { break };
            let Some((key, next)) = current.get_key_value(k) else {
                break;
            };
            best = next.span().or_else(|| key.span()).or(best);
            match next.as_table_like() {
                Some(t) => current = t,
                None => break,
            }
        }
        best
    }

    fn error(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let (line, column) = self
            .span(path)
            .map(|s| self.line_col(s.start))
            .unwrap_or((1, 1));
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key_name(path),
            line,
            column,
            message: message.into(),
        }
    }

    /// A TOML syntax or shape error from the deserializer, which knows the span but not the key.
    fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let src = self.src;
        let start = err.span().map_or(0, |s| s.start).min(src.len());
        let (line, column) = self.line_col(start);
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        // The key written on the error's line (`key = value`), if the error is at or after it.
        let key_here = src[line_start..line_end]
            .split_once('=')
            .map(|(k, _)| k.trim())
            .filter(|k| !k.is_empty() && is_bare_key(k) && !k.starts_with('['));
        // The table the line belongs to; `[[name]]` headers are numbered like `name[0]`.
        let mut table: Option<String> = None;
        let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
        for l in src[..line_end].lines().map(str::trim) {
            if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = name.trim().to_string();
                let n = arrays.entry(name.clone()).or_insert(0);
                table = Some(format!("{name}[{n}]"));
                *n += 1;
            } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
                table = Some(name.trim().to_string());
            }
        }
        let key = match (table, key_here) {
            (Some(t), Some(k)) => format!("{t}.{k}"),
            (Some(t), None) => t,
            (None, Some(k)) => k.to_string(),
            (None, None) => "(document)".to_string(),
        };
        let message = err.message().trim();
        // An inline table puts a secret on a line whose first key is another one.
        let line_text = &src[line_start..line_end];
        let message = if is_secret_key(&key) || SECRET_KEYS.iter().any(|k| line_text.contains(k)) {
            redact_quoted(message)
        } else {
            message.to_string()
        };
        ConfigError::Invalid {
            file: self.file.clone(),
            key,
            line,
            column,
            message,
        }
    }
}

/// Keys whose values are secrets, or may carry one (a chat webhook's URL holds its token).
fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    SECRET_KEYS.contains(&last)
}

const SECRET_KEYS: [&str; 6] = ["secret", "password", "username", "url", "urls", "token"];

/// The deserializer quotes the offending value (``invalid type: integer `12345`, expected a
/// string``): for a secret key, the quoted parts are dropped.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push_str("(value hidden)");
            }
            Some(_) => {}
            None if c == '`' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push_str("(value hidden)");
    }
    out
}

fn is_bare_key(k: &str) -> bool {
    k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn key_name(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Expands `${NAME}` from the environment; `${NAME:-fallback}` uses the fallback when NAME
/// is unset or empty (so a shipped config can run before its secrets are provisioned).
fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated ${...} reference".to_string())?;
        let (name, fallback) = match after[..end].split_once(":-") {
            Some((n, f)) => (n, Some(f)),
            None => (&after[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // Not echoed: the text around a reference may be part of a secret.
            return Err(
                "invalid environment reference (names are letters, digits and _)".to_string(),
            );
        }
        match (std::env::var(name).ok().filter(|v| !v.is_empty()), fallback) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(f)) => out.push_str(f),
            (None, None) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_tz(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {s:?} (use an IANA name such as Europe/Amsterdam)"))
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    match s {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        other => Err(format!(
            "unknown severity {other:?} (expected info, warning or critical)"
        )),
    }
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {pattern:?}: {e}"))
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
        let raw: RawConfig = toml::from_str(src).map_err(|e| loc.toml_error(&e))?;
        Validator { loc: &loc }.config(path, raw)
    }

    pub fn series(&self, id: &str) -> Option<&SeriesConfig> {
        self.series.iter().find(|s| s.id == id)
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

struct Validator<'a, 'b> {
    loc: &'a Locator<'b>,
}

impl Validator<'_, '_> {
    fn expand(&self, path: &[Seg], s: &str) -> Result<String, ConfigError> {
        expand_env(s).map_err(|m| self.loc.error(path, m))
    }

    /// Resolves a secret from `key` or its `key_file` twin (at most one may be set).
    fn secret(
        &self,
        base: &[Seg],
        key: &str,
        value: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<Secret>, ConfigError> {
        let file_key = format!("{key}_file");
        let at = |k| [base, &[Seg::Key(k)]].concat();
        match (value, file) {
            (Some(_), Some(_)) => Err(self.loc.error(
                &at(&file_key),
                format!("set either {key} or {file_key}, not both"),
            )),
            (Some(v), None) => Ok(Some(Secret(self.expand(&at(key), v)?))),
            (None, Some(f)) => {
                let f = self.expand(&at(&file_key), f)?;
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    self.loc
                        .error(&at(&file_key), format!("cannot read {f}: {e}"))
                })?;
                Ok(Some(Secret(
                    text.trim_end_matches(['\r', '\n']).to_string(),
                )))
            }
            (None, None) => Ok(None),
        }
    }

    fn config(&self, path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
        let loc = self.loc;
        let mut warnings = Vec::new();
        let timezone = match &raw.timezone {
            Some(tz) => parse_tz(tz).map_err(|m| loc.error(&[Seg::Key("timezone")], m))?,
            None => Tz::UTC,
        };
        let state_dir = match &raw.state_dir {
            Some(s) => PathBuf::from(self.expand(&[Seg::Key("state_dir")], s)?),
            None => std::env::var_os("STATE_DIRECTORY")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/lib/statwatch")),
        };
        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(loc.error(
                    &[Seg::Key("log_format")],
                    format!("unknown log format {other:?} (expected text or json)"),
                ))
            }
        };

        let mut sources = BTreeMap::new();
        for (name, s) in &raw.sources {
            sources.insert(name.clone(), self.source(name, s, timezone, &mut warnings)?);
        }

        let mut series: Vec<SeriesConfig> = Vec::new();
        for (i, s) in raw.series.iter().enumerate() {
            let at = |k: &'static str| [Seg::Key("series"), Seg::Index(i), Seg::Key(k)];
            if s.id.trim().is_empty() || s.id.contains('#') {
                return Err(loc.error(&at("id"), "a series id must be non-empty and without '#'"));
            }
            if series.iter().any(|o| o.id == s.id) {
                return Err(loc.error(&at("id"), format!("duplicate series id {:?}", s.id)));
            }
            let Some(src) = sources.get(&s.source) else {
                let known: Vec<_> = sources.keys().cloned().collect();
                return Err(loc.error(
                    &at("source"),
                    format!(
                        "unknown source {:?} (configured: {})",
                        s.source,
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            if s.table.trim().is_empty() {
                return Err(loc.error(&at("table"), "table must not be empty"));
            }
            if s.measure.trim().is_empty() {
                return Err(loc.error(&at("measure"), "measure must not be empty"));
            }
            let derive = match s.derive.as_deref() {
                None => None,
                Some("yoy_pct") => Some(Derive::YoyPct),
                Some("mom_pct") => Some(Derive::MomPct),
                Some("diff") => Some(Derive::Diff),
                Some(other) => {
                    return Err(loc.error(
                        &at("derive"),
                        format!("unknown derive {other:?} (expected yoy_pct, mom_pct or diff)"),
                    ))
                }
            };
            let frequency = match s.frequency.as_deref() {
                None => None,
                Some("month") => Some(Frequency::Month),
                Some("quarter") => Some(Frequency::Quarter),
                Some("year") => Some(Frequency::Year),
                Some(other) => {
                    return Err(loc.error(
                        &at("frequency"),
                        format!("unknown frequency {other:?} (expected month, quarter or year)"),
                    ))
                }
            };
            if src.kind == SourceKind::Destatis && s.unit.is_none() {
                warnings.push(format!(
                    "series {}: no unit set; Destatis publishes some measures in several units, \
                     and a table that does will be rejected until `unit` picks one",
                    s.id
                ));
            }
            series.push(SeriesConfig {
                id: s.id.clone(),
                source: s.source.clone(),
                table: s.table.trim().to_string(),
                measure: s.measure.trim().to_string(),
                dimensions: s
                    .dimensions
                    .iter()
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect(),
                title: s.title.clone().unwrap_or_else(|| s.id.clone()),
                unit: s.unit.clone().unwrap_or_default(),
                derive,
                frequency,
            });
        }

        let mut rules: Vec<RuleConfig> = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let rule = self.rule(i, r, &series)?;
            if rules.iter().any(|o| o.id == rule.id) {
                return Err(loc.error(
                    &[Seg::Key("rules"), Seg::Index(i), Seg::Key("id")],
                    format!("duplicate rule id {:?}", rule.id),
                ));
            }
            rules.push(rule);
        }

        let smtp = raw.smtp.as_ref().map(|s| self.smtp(s)).transpose()?;

        let mut receivers = BTreeMap::new();
        for (name, r) in &raw.receivers {
            let rc = self.receiver(name, r, &rules, smtp.is_some())?;
            receivers.insert(name.clone(), rc);
        }

        let metrics = match &raw.metrics {
            None => None,
            Some(m) => {
                let at = [Seg::Key("metrics"), Seg::Key("listen")];
                // An empty [metrics] section listens on loopback only.
                let text = m.listen.as_deref().unwrap_or("127.0.0.1:9464");
                let listen: SocketAddr = self
                    .expand(&at, text)?
                    .parse()
                    .map_err(|e| loc.error(&at, format!("not an address:port: {e}")))?;
                if !listen.ip().is_loopback() {
                    warnings.push(format!(
                        "metrics.listen {listen} is not a loopback address: /metrics will be \
                         reachable from the network"
                    ));
                }
                Some(MetricsConfig { listen })
            }
        };

        for s in sources.keys() {
            if !series.iter().any(|x| &x.source == s) {
                warnings.push(format!("source {s} has no series: it will not be polled"));
            }
        }

        Ok(Config {
            path: path.to_path_buf(),
            state_dir,
            timezone,
            log_format,
            sources,
            series,
            rules,
            receivers,
            smtp,
            metrics,
            warnings,
        })
    }

    fn source(
        &self,
        name: &str,
        s: &RawSource,
        default_tz: Tz,
        warnings: &mut Vec<String>,
    ) -> Result<SourceConfig, ConfigError> {
        let loc = self.loc;
        let base = [Seg::Key("sources"), Seg::Key(name)];
        let at = |k: &'static str| [Seg::Key("sources"), Seg::Key(name), Seg::Key(k)];
        let kind = match s.kind.as_str() {
            "cbs" => SourceKind::Cbs,
            "destatis" => SourceKind::Destatis,
            other => {
                return Err(loc.error(
                    &at("kind"),
                    format!("unknown source kind {other:?} (expected cbs or destatis)"),
                ))
            }
        };
        let default_url = match kind {
            SourceKind::Cbs => "https://opendata.cbs.nl",
            SourceKind::Destatis => "https://www-genesis.destatis.de/genesisWS/rest/2020",
        };
        let url_text = match &s.base_url {
            Some(u) => self.expand(&at("base_url"), u)?,
            None => default_url.to_string(),
        };
        let base_url = Url::parse(&url_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                loc.error(&at("base_url"), format!("not an http(s) URL: {url_text:?}"))
            })?;
        let tz = match &s.timezone {
            Some(t) => parse_tz(t).map_err(|m| loc.error(&at("timezone"), m))?,
            None => default_tz,
        };
        let schedule =
            Schedule::parse(&s.schedule, tz).map_err(|m| loc.error(&at("schedule"), m))?;
        let timeout_secs = s.timeout_secs.unwrap_or(30);
        if timeout_secs == 0 {
            return Err(loc.error(&at("timeout_secs"), "must be at least 1"));
        }
        let history_years = s.history_years.unwrap_or(5);
        if history_years == 0 {
            return Err(loc.error(&at("history_years"), "must be at least 1"));
        }
        let max_rows_per_table = s.max_rows_per_table.unwrap_or(DEFAULT_MAX_ROWS_PER_TABLE);
        if max_rows_per_table == 0 {
            return Err(loc.error(&at("max_rows_per_table"), "must be at least 1"));
        }
        let max_response_bytes = s.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        if max_response_bytes < 1024 {
            return Err(loc.error(&at("max_response_bytes"), "must be at least 1024"));
        }
        // Every request may take `timeout_secs` and a table needs several (metadata, pages,
        // retries): the default leaves room for that, and for a GENESIS job (up to 10 min).
        let table_deadline_secs = s
            .table_deadline_secs
            .unwrap_or(timeout_secs.saturating_mul(DEADLINE_TIMEOUTS));
        if table_deadline_secs == 0 {
            return Err(loc.error(&at("table_deadline_secs"), "must be at least 1"));
        }
        let username = self.secret(
            &base,
            "username",
            s.username.as_deref(),
            s.username_file.as_deref(),
        )?;
        let password = self.secret(
            &base,
            "password",
            s.password.as_deref(),
            s.password_file.as_deref(),
        )?;
        if kind == SourceKind::Cbs && (username.is_some() || password.is_some()) {
            return Err(loc.error(&at("username"), "CBS StatLine needs no credentials"));
        }
        if kind == SourceKind::Destatis && username.as_ref().is_none_or(|u| u.is_empty()) {
            warnings.push(format!(
                "source {name}: no GENESIS credentials (username is empty); its polls will fail \
                 until username (an API token, with password = \"\") or username_file is set"
            ));
        }
        let language = s.language.clone().unwrap_or_else(|| "de".into());
        if !matches!(language.as_str(), "de" | "en") {
            return Err(loc.error(&at("language"), "expected de or en"));
        }
        if kind == SourceKind::Cbs && s.language.is_some() {
            return Err(loc.error(&at("language"), "only GENESIS sources take a language"));
        }
        Ok(SourceConfig {
            name: name.to_string(),
            kind,
            base_url,
            schedule,
            timeout: Duration::from_secs(timeout_secs),
            history_years,
            max_rows_per_table: usize::try_from(max_rows_per_table).unwrap_or(usize::MAX),
            max_response_bytes: usize::try_from(max_response_bytes).unwrap_or(usize::MAX),
            table_deadline: Duration::from_secs(table_deadline_secs),
            username,
            password,
            language,
        })
    }

    fn rule(
        &self,
        i: usize,
        r: &RawRule,
        series: &[SeriesConfig],
    ) -> Result<RuleConfig, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("rules"), Seg::Index(i), Seg::Key(k)];
        if r.id.trim().is_empty() {
            return Err(loc.error(&at("id"), "a rule id must not be empty"));
        }
        let matcher = glob(&r.series).map_err(|m| loc.error(&at("series"), m))?;
        if !series.iter().any(|s| matcher.is_match(&s.id)) {
            return Err(loc.error(
                &at("series"),
                format!("{:?} matches no configured series", r.series),
            ));
        }
        let severity = match &r.severity {
            Some(s) => parse_severity(s).map_err(|m| loc.error(&at("severity"), m))?,
            None => Severity::Info,
        };
        // Which parameters each kind takes; any other one set is a mistake worth naming.
        let allowed: &[&str] = match r.kind.as_str() {
            "release" => &[],
            "sign_change" => &["dead_band"],
            "streak" => &["direction", "length"],
            "change" => &["direction", "min", "relative"],
            "threshold" => &["above", "below"],
            "revision" => &["min"],
            other => {
                return Err(loc.error(
                    &at("kind"),
                    format!(
                        "unknown rule kind {other:?} (expected release, sign_change, streak, \
                         change, threshold or revision)"
                    ),
                ))
            }
        };
        let set = [
            ("dead_band", r.dead_band.is_some()),
            ("direction", r.direction.is_some()),
            ("length", r.length.is_some()),
            ("min", r.min.is_some()),
            ("relative", r.relative.is_some()),
            ("above", r.above.is_some()),
            ("below", r.below.is_some()),
        ];
        for (name, is_set) in set {
            if is_set && !allowed.contains(&name) {
                let key: &'static str = name;
                return Err(loc.error(&at(key), format!("a {} rule takes no {name}", r.kind)));
            }
        }
        let direction = |valid: &[(&str, Direction)]| -> Result<Direction, ConfigError> {
            let Some(d) = r.direction.as_deref() else {
                return Err(loc.error(&at("kind"), format!("a {} rule needs direction", r.kind)));
            };
            valid
                .iter()
                .find(|(n, _)| *n == d)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let names: Vec<_> = valid.iter().map(|(n, _)| *n).collect();
                    loc.error(
                        &at("direction"),
                        format!("unknown direction {d:?} (expected {})", names.join(", ")),
                    )
                })
        };
        let non_negative = |key: &'static str, v: Option<f64>| -> Result<f64, ConfigError> {
            let v = v.unwrap_or(0.0);
            if v < 0.0 || !v.is_finite() {
                Err(loc.error(&at(key), "must be a non-negative number"))
            } else {
                Ok(v)
            }
        };
        let kind = match r.kind.as_str() {
            "release" => RuleKind::Release,
            "sign_change" => RuleKind::SignChange {
                dead_band: non_negative("dead_band", r.dead_band)?,
            },
            "streak" => {
                let direction = direction(&[
                    ("positive", Direction::Positive),
                    ("negative", Direction::Negative),
                    ("rising", Direction::Rising),
                    ("falling", Direction::Falling),
                ])?;
                let length = match r.length {
                    Some(n) if (2..=1000).contains(&n) => n as u32,
                    Some(_) => return Err(loc.error(&at("length"), "must be between 2 and 1000")),
                    None => return Err(loc.error(&at("kind"), "a streak rule needs length")),
                };
                RuleKind::Streak { direction, length }
            }
            "change" => RuleKind::Change {
                direction: direction(&[
                    ("up", Direction::Up),
                    ("down", Direction::Down),
                    ("any", Direction::Any),
                ])?,
                min: match r.min {
                    Some(_) => non_negative("min", r.min)?,
                    None => return Err(loc.error(&at("kind"), "a change rule needs min")),
                },
                relative: r.relative.unwrap_or(false),
            },
            "threshold" => {
                if r.above.is_none() && r.below.is_none() {
                    return Err(loc.error(&at("kind"), "a threshold rule needs above or below"));
                }
                RuleKind::Threshold {
                    above: r.above,
                    below: r.below,
                }
            }
            "revision" => RuleKind::Revision {
                min: non_negative("min", r.min)?,
            },
            _ => unreachable!("rejected above"),
        };
        Ok(RuleConfig {
            id: r.id.clone(),
            series: r.series.clone(),
            matcher,
            kind,
            severity,
        })
    }

    fn receiver(
        &self,
        name: &str,
        r: &RawReceiver,
        rules: &[RuleConfig],
        has_smtp: bool,
    ) -> Result<ReceiverConfig, ConfigError> {
        let loc = self.loc;
        let base = [Seg::Key("receivers"), Seg::Key(name)];
        let at = |k: &'static str| [Seg::Key("receivers"), Seg::Key(name), Seg::Key(k)];
        let only = |key: &'static str, is_set: bool, kind: &str| -> Result<(), ConfigError> {
            if is_set {
                Err(loc.error(&at(key), format!("a {kind} receiver takes no {key}")))
            } else {
                Ok(())
            }
        };
        let kind = match r.kind.as_str() {
            "email" => {
                only("url", r.url.is_some(), "email")?;
                only(
                    "secret",
                    r.secret.is_some() || r.secret_file.is_some(),
                    "email",
                )?;
                let to = r.to.clone().unwrap_or_default();
                if to.is_empty() {
                    return Err(
                        loc.error(&base, "an email receiver needs `to` (a list of addresses)")
                    );
                }
                let mut expanded = Vec::new();
                for addr in &to {
                    let a = self.expand(&at("to"), addr)?;
                    a.parse::<lettre::Address>().map_err(|e| {
                        loc.error(&at("to"), format!("not an email address {a:?}: {e}"))
                    })?;
                    expanded.push(a);
                }
                if !has_smtp {
                    return Err(loc.error(&at("kind"), "an email receiver needs an [smtp] section"));
                }
                ReceiverKind::Email { to: expanded }
            }
            "webhook" => {
                only("to", r.to.is_some(), "webhook")?;
                let Some(u) = &r.url else {
                    return Err(loc.error(&base, "a webhook receiver needs url"));
                };
                let u = self.expand(&at("url"), u)?;
                let url = Url::parse(&u)
                    .ok()
                    .filter(|x| matches!(x.scheme(), "http" | "https"))
                    .ok_or_else(|| loc.error(&at("url"), "not an http(s) URL"))?;
                let secret = self.secret(
                    &base,
                    "secret",
                    r.secret.as_deref(),
                    r.secret_file.as_deref(),
                )?;
                let timeout = Duration::from_secs(r.timeout_secs.unwrap_or(10).max(1));
                ReceiverKind::Webhook {
                    url,
                    secret,
                    timeout,
                }
            }
            "log" => {
                only("to", r.to.is_some(), "log")?;
                only("url", r.url.is_some(), "log")?;
                only(
                    "secret",
                    r.secret.is_some() || r.secret_file.is_some(),
                    "log",
                )?;
                ReceiverKind::Log
            }
            other => {
                return Err(loc.error(
                    &at("kind"),
                    format!("unknown receiver kind {other:?} (expected email, webhook or log)"),
                ))
            }
        };
        let mut subscribe = Vec::new();
        for pattern in r.subscribe.iter().flatten() {
            let g = glob(pattern).map_err(|m| loc.error(&at("subscribe"), m))?;
            if !rules.is_empty() && !rules.iter().any(|rule| g.is_match(&rule.id)) {
                return Err(loc.error(
                    &at("subscribe"),
                    format!("{pattern:?} matches no configured rule"),
                ));
            }
            subscribe.push(g);
        }
        let min_severity = match &r.min_severity {
            Some(s) => parse_severity(s).map_err(|m| loc.error(&at("min_severity"), m))?,
            None => Severity::Info,
        };
        Ok(ReceiverConfig {
            name: name.to_string(),
            kind,
            subscribe,
            min_severity,
        })
    }

    fn smtp(&self, s: &RawSmtp) -> Result<SmtpConfig, ConfigError> {
        let loc = self.loc;
        let base = [Seg::Key("smtp")];
        let at = |k: &'static str| [Seg::Key("smtp"), Seg::Key(k)];
        let host = self.expand(&at("host"), &s.host)?;
        let tls = match s.tls.as_deref().unwrap_or("starttls") {
            "starttls" => SmtpTls::Starttls,
            "implicit" => SmtpTls::Implicit,
            "none" => SmtpTls::None,
            other => {
                return Err(loc.error(
                    &at("tls"),
                    format!("unknown tls {other:?} (expected starttls, implicit or none)"),
                ))
            }
        };
        if tls == SmtpTls::None && !is_loopback_host(&host) {
            return Err(loc.error(
                &at("tls"),
                "tls = \"none\" sends mail and passwords in clear text: only allowed to a loopback host",
            ));
        }
        let port = s.port.unwrap_or(match tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        });
        let username = s
            .username
            .as_deref()
            .map(|u| self.expand(&at("username"), u))
            .transpose()?;
        let password = self.secret(
            &base,
            "password",
            s.password.as_deref(),
            s.password_file.as_deref(),
        )?;
        if password.is_some() && username.is_none() {
            return Err(loc.error(&at("password"), "a password needs a username"));
        }
        let from = self.expand(&at("from"), &s.from)?;
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| loc.error(&at("from"), format!("not a mailbox {from:?}: {e}")))?;
        let ca_file = match &s.ca_file {
            Some(f) => {
                let f = PathBuf::from(self.expand(&at("ca_file"), f)?);
                if !f.is_file() {
                    return Err(loc.error(
                        &at("ca_file"),
                        format!("{} is not a readable file", f.display()),
                    ));
                }
                Some(f)
            }
            None => None,
        };
        Ok(SmtpConfig {
            host,
            port,
            tls,
            username,
            password,
            from,
            ca_file,
            timeout: Duration::from_secs(s.timeout_secs.unwrap_or(30).max(1)),
        })
    }
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
        assert!(c.receivers["journal"].wants("nl-industry-turn", Severity::Info));
        assert!(!c.receivers["journal"].wants("de-x", Severity::Info));
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
    fn clear_text_smtp_only_on_loopback() {
        let src = format!(
            "{GOOD}\n[smtp]\nhost = \"smtp.example.org\"\ntls = \"none\"\nfrom = \"a@example.org\"\n"
        );
        assert!(err(&src).contains("smtp.tls"));
        assert!(parse(&src.replace("smtp.example.org", "127.0.0.1")).is_ok());
    }
}
