//! Raw config in, validated [`Config`] out: the one place that checks values, resolves
//! references between sections and builds each module's own types. Every error is located
//! (`file:line:col: key: message`). Sources, rules and receivers each have a file here.

mod brief;
mod receiver;
mod rule;
mod series;
mod source;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use globset::{Glob, GlobMatcher};

use super::env::{expand_env, read_secret_file};
use super::locate::{Locator, Seg};
use super::raw::{RawConfig, RawHeartbeat, RawStore};
use super::{
    Config, ConfigError, HeartbeatConfig, LogFormat, Secret, SeriesConfig, SourceConfig,
    StoreConfig, WebConfig,
};
use crate::rules::RuleConfig;

/// Validates `raw`, read from `path`, whose text `loc` knows.
pub(super) fn config(loc: &Locator, path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
    let v = Validator { loc };
    let mut warnings = Vec::new();
    let timezone = match &raw.timezone {
        Some(tz) => parse_tz(tz).map_err(|m| loc.error(&[Seg::Key("timezone")], m))?,
        None => Tz::UTC,
    };
    let state_dir = match &raw.state_dir {
        Some(s) => PathBuf::from(v.expand(&[Seg::Key("state_dir")], s)?),
        None => std::env::var_os("STATE_DIRECTORY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/statwatch")),
    };
    let mut sources = BTreeMap::new();
    for (name, s) in &raw.sources {
        sources.insert(name.clone(), v.source(name, s, timezone, &mut warnings)?);
    }
    let mut series: Vec<SeriesConfig> = Vec::new();
    for (i, s) in raw.series.iter().enumerate() {
        let built = v.series(i, s, &series, &sources, &mut warnings)?;
        series.push(built);
    }
    let rules = v.rules(&raw, &series, &sources)?;
    let briefs = v.briefs(&raw.briefs, &series, &rules)?;
    // Receivers subscribe to rule and brief ids alike.
    let subscribable: Vec<&str> = rules
        .iter()
        .map(|r| r.id.as_str())
        .chain(briefs.iter().map(|b| b.id.as_str()))
        .collect();
    let smtp = raw.smtp.as_ref().map(|s| v.smtp(s)).transpose()?;
    let mut receivers = BTreeMap::new();
    for (name, r) in &raw.receivers {
        let rc = v.receiver(name, r, &subscribable, smtp.is_some())?;
        receivers.insert(name.clone(), rc);
    }
    let web = v.web(&raw, &mut warnings)?;
    let heartbeat = raw.heartbeat.as_ref().map(|h| v.heartbeat(h)).transpose()?;
    let store = v.store(raw.store.as_ref())?;
    for s in sources.keys() {
        if !series.iter().any(|x| &x.source == s) {
            warnings.push(format!("source {s} has no series: it will not be polled"));
        }
    }
    Ok(Config {
        path: path.to_path_buf(),
        state_dir,
        timezone,
        log_format: raw.log_format.unwrap_or(LogFormat::Text),
        sources,
        series,
        rules,
        briefs,
        receivers,
        smtp,
        web,
        heartbeat,
        store,
        warnings,
    })
}

/// Builds validated values, locating every error through its [`Locator`].
struct Validator<'a, 'b> {
    loc: &'a Locator<'b>,
}

impl Validator<'_, '_> {
    fn expand(&self, path: &[Seg], s: &str) -> Result<String, ConfigError> {
        expand_env(s).map_err(|e| self.loc.error(path, e.to_string()))
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
            (Some(v), None) => Ok(Some(Secret::new(self.expand(&at(key), v)?))),
            (None, Some(f)) => {
                let f = self.expand(&at(&file_key), f)?;
                read_secret_file(&f)
                    .map(Some)
                    .map_err(|e| self.loc.error(&at(&file_key), e.to_string()))
            }
            (None, None) => Ok(None),
        }
    }

    /// Every rule, in order; ids are unique.
    fn rules(
        &self,
        raw: &RawConfig,
        series: &[SeriesConfig],
        sources: &BTreeMap<String, SourceConfig>,
    ) -> Result<Vec<RuleConfig>, ConfigError> {
        let mut rules: Vec<RuleConfig> = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let rule = self.rule(i, r, series, sources)?;
            if rules.iter().any(|o| o.id == rule.id) {
                return Err(self.loc.error(
                    &[Seg::Key("rules"), Seg::Index(i), Seg::Key("id")],
                    format!("duplicate rule id {:?}", rule.id),
                ));
            }
            rules.push(rule);
        }
        Ok(rules)
    }

    /// `[web]`, or `[metrics]` as its alias (not both: which one would win is a guess).
    fn web(
        &self,
        raw: &RawConfig,
        warnings: &mut Vec<String>,
    ) -> Result<Option<WebConfig>, ConfigError> {
        let (section, m) = match (&raw.web, &raw.metrics) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(self.loc.error(
                    &[Seg::Key("metrics")],
                    "[metrics] is the old name of [web]: keep one of them".to_string(),
                ))
            }
            (Some(w), None) => ("web", w),
            (None, Some(m)) => ("metrics", m),
        };
        let at = [Seg::Key(section), Seg::Key("listen")];
        // An empty section listens on loopback only.
        let text = m.listen.as_deref().unwrap_or("127.0.0.1:9464");
        let listen: SocketAddr = self
            .expand(&at, text)?
            .parse()
            .map_err(|e| self.loc.error(&at, format!("not an address:port: {e}")))?;
        if !listen.ip().is_loopback() {
            warnings.push(format!(
                "{section}.listen {listen} is not a loopback address: the pages and /metrics \
                 (which have no login) will be reachable from the network"
            ));
        }
        let public_url = match &m.public_url {
            None => None,
            Some(text) => Some(self.public_url(section, text)?),
        };
        Ok(Some(WebConfig { listen, public_url }))
    }

    /// `[web] public_url`: an absolute http(s) URL without query or fragment, where the
    /// pages are reached from outside (a proxy's path prefix is kept).
    fn public_url(&self, section: &'static str, text: &str) -> Result<url::Url, ConfigError> {
        let at = [Seg::Key(section), Seg::Key("public_url")];
        let u = url::Url::parse(&self.expand(&at, text)?)
            .map_err(|e| self.loc.error(&at, format!("not a URL: {e}")))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(self.loc.error(&at, "must be an http:// or https:// URL"));
        }
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
            return Err(self.loc.error(
                &at,
                "must have no query, fragment or user: the page paths are added to it",
            ));
        }
        Ok(u)
    }
}

impl Validator<'_, '_> {
    /// `[heartbeat]`: the URL is a secret (a dead-man service's check id is in it), so it
    /// is never echoed; it must be http(s).
    fn heartbeat(&self, h: &RawHeartbeat) -> Result<HeartbeatConfig, ConfigError> {
        let base = [Seg::Key("heartbeat")];
        let Some(url) = self.secret(&base, "url", h.url.as_deref(), h.url_file.as_deref())? else {
            return Err(self.loc.error(&base, "[heartbeat] needs url (or url_file)"));
        };
        let at = [Seg::Key("heartbeat"), Seg::Key("url")];
        match url::Url::parse(url.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(self.loc.error(&at, "not an http(s) URL")),
        }
        let secs = h.interval_secs.unwrap_or(300.0);
        if !(0.05..=86_400.0).contains(&secs) {
            return Err(self.loc.error(
                &[Seg::Key("heartbeat"), Seg::Key("interval_secs")],
                "must be between 0.05 and 86400 seconds",
            ));
        }
        Ok(HeartbeatConfig {
            url,
            interval: std::time::Duration::from_secs_f64(secs),
        })
    }
}

impl Validator<'_, '_> {
    fn store(&self, s: Option<&RawStore>) -> Result<StoreConfig, ConfigError> {
        let mut out = StoreConfig::default();
        if let Some(days) = s.and_then(|s| s.keep_days) {
            if days == 0 {
                let at = [Seg::Key("store"), Seg::Key("keep_days")];
                return Err(self.loc.error(&at, "must be at least 1 (days)".to_string()));
            }
            out.keep_days = days;
        }
        if let Some(n) = s.and_then(|s| s.flood_alerts) {
            if n == 0 {
                let at = [Seg::Key("store"), Seg::Key("flood_alerts")];
                return Err(self
                    .loc
                    .error(&at, "must be at least 1 (alerts)".to_string()));
            }
            out.flood_alerts = n;
        }
        Ok(out)
    }
}

fn parse_tz(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {s:?} (use an IANA name such as Europe/Amsterdam)"))
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
