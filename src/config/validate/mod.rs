//! Raw config in, validated [`Config`] out: the one place that checks values, resolves
//! references between sections and builds each module's own types. Every error is located
//! (`file:line:col: key: message`). Sources, rules and receivers each have a file here.

mod receiver;
mod rule;
mod source;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use globset::{Glob, GlobMatcher};

use super::env::{expand_env, read_secret_file};
use super::locate::{Locator, Seg};
use super::raw::{RawConfig, RawMetrics, RawSeries, RawStore};
use super::{
    Config, ConfigError, LogFormat, MetricsConfig, Secret, SeriesConfig, SourceConfig, SourceKind,
    StoreConfig,
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
    let rules = v.rules(&raw, &series)?;
    let smtp = raw.smtp.as_ref().map(|s| v.smtp(s)).transpose()?;
    let mut receivers = BTreeMap::new();
    for (name, r) in &raw.receivers {
        let rc = v.receiver(name, r, &rules, smtp.is_some())?;
        receivers.insert(name.clone(), rc);
    }
    let metrics = raw
        .metrics
        .as_ref()
        .map(|m| v.metrics(m, &mut warnings))
        .transpose()?;
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
        receivers,
        smtp,
        metrics,
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

    fn series(
        &self,
        i: usize,
        s: &RawSeries,
        earlier: &[SeriesConfig],
        sources: &BTreeMap<String, SourceConfig>,
        warnings: &mut Vec<String>,
    ) -> Result<SeriesConfig, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("series"), Seg::Index(i), Seg::Key(k)];
        if s.id.trim().is_empty() || s.id.contains('#') {
            return Err(loc.error(&at("id"), "a series id must be non-empty and without '#'"));
        }
        if earlier.iter().any(|o| o.id == s.id) {
            return Err(loc.error(&at("id"), format!("duplicate series id {:?}", s.id)));
        }
        let Some(src) = sources.get(&s.source) else {
            let known = if sources.is_empty() {
                "none".to_string()
            } else {
                sources.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(loc.error(
                &at("source"),
                format!("unknown source {:?} (configured: {known})", s.source),
            ));
        };
        if s.table.trim().is_empty() {
            return Err(loc.error(&at("table"), "table must not be empty"));
        }
        if s.measure.trim().is_empty() {
            return Err(loc.error(&at("measure"), "measure must not be empty"));
        }
        if src.kind == SourceKind::Destatis && s.unit.is_none() {
            warnings.push(format!(
                "series {}: no unit set; Destatis publishes some measures in several units, \
                 and a table that does will be rejected until `unit` picks one",
                s.id
            ));
        }
        Ok(SeriesConfig {
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
            derive: s.derive,
            frequency: s.frequency,
        })
    }

    /// Every rule, in order; ids are unique.
    fn rules(
        &self,
        raw: &RawConfig,
        series: &[SeriesConfig],
    ) -> Result<Vec<RuleConfig>, ConfigError> {
        let mut rules: Vec<RuleConfig> = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let rule = self.rule(i, r, series)?;
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

    fn metrics(
        &self,
        m: &RawMetrics,
        warnings: &mut Vec<String>,
    ) -> Result<MetricsConfig, ConfigError> {
        let at = [Seg::Key("metrics"), Seg::Key("listen")];
        // An empty [metrics] section listens on loopback only.
        let text = m.listen.as_deref().unwrap_or("127.0.0.1:9464");
        let listen: SocketAddr = self
            .expand(&at, text)?
            .parse()
            .map_err(|e| self.loc.error(&at, format!("not an address:port: {e}")))?;
        if !listen.ip().is_loopback() {
            warnings.push(format!(
                "metrics.listen {listen} is not a loopback address: /metrics will be \
                 reachable from the network"
            ));
        }
        Ok(MetricsConfig { listen })
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
