//! `[sources.NAME]`: URL, schedule in its zone, limits, and GENESIS credentials.

use std::time::Duration;

use chrono_tz::Tz;
use url::Url;

use super::super::ident::check_name;
use super::super::locate::Seg;
use super::super::raw::RawSource;
use super::super::{
    ConfigError, SourceConfig, SourceKind, DEADLINE_TIMEOUTS, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_ROWS_PER_TABLE,
};
use super::{parse_tz, Validator};
use crate::scheduler::Schedule;

/// A source's caps, checked and with their defaults filled in.
struct Limits {
    timeout_secs: u64,
    history_years: u32,
    max_rows_per_table: u64,
    max_response_bytes: u64,
    table_deadline_secs: u64,
}

impl Validator<'_, '_> {
    pub(super) fn source(
        &self,
        name: &str,
        s: &RawSource,
        default_tz: Tz,
        warnings: &mut Vec<String>,
    ) -> Result<SourceConfig, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("sources"), Seg::Key(name), Seg::Key(k)];
        check_name(name).map_err(|e| {
            loc.error(
                &[Seg::Key("sources"), Seg::Key(name)],
                format!("source name {name:?} {e}"),
            )
        })?;
        let default_url = match s.kind {
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
        let schedule = Schedule::parse(&s.schedule, tz)
            .map_err(|e| loc.error(&at("schedule"), e.to_string()))?;
        let limits = self.limits(name, s)?;
        let (username, password) = self.credentials(name, s, warnings)?;
        let language = s.language.clone().unwrap_or_else(|| "de".into());
        if !matches!(language.as_str(), "de" | "en") {
            return Err(loc.error(&at("language"), "expected de or en"));
        }
        if s.kind == SourceKind::Cbs && s.language.is_some() {
            return Err(loc.error(&at("language"), "only GENESIS sources take a language"));
        }
        Ok(SourceConfig {
            name: name.to_string(),
            kind: s.kind,
            base_url,
            schedule,
            timeout: Duration::from_secs(limits.timeout_secs),
            history_years: limits.history_years,
            max_rows_per_table: usize::try_from(limits.max_rows_per_table).unwrap_or(usize::MAX),
            max_response_bytes: usize::try_from(limits.max_response_bytes).unwrap_or(usize::MAX),
            table_deadline: Duration::from_secs(limits.table_deadline_secs),
            username,
            password,
            language,
        })
    }

    fn limits(&self, name: &str, s: &RawSource) -> Result<Limits, ConfigError> {
        let at = |k: &'static str| [Seg::Key("sources"), Seg::Key(name), Seg::Key(k)];
        let at_least = |key: &'static str, v: u64, min: u64| {
            if v < min {
                Err(self.loc.error(&at(key), format!("must be at least {min}")))
            } else {
                Ok(v)
            }
        };
        let timeout_secs = at_least("timeout_secs", s.timeout_secs.unwrap_or(30), 1)?;
        let history_years = s.history_years.unwrap_or(5);
        at_least("history_years", u64::from(history_years), 1)?;
        let max_rows_per_table = at_least(
            "max_rows_per_table",
            s.max_rows_per_table.unwrap_or(DEFAULT_MAX_ROWS_PER_TABLE),
            1,
        )?;
        let max_response_bytes = at_least(
            "max_response_bytes",
            s.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            1024,
        )?;
        // Every request may take `timeout_secs` and a table needs several (metadata, pages,
        // retries): the default leaves room for that, and for a GENESIS job (up to 10 min).
        let table_deadline_secs = at_least(
            "table_deadline_secs",
            s.table_deadline_secs
                .unwrap_or(timeout_secs.saturating_mul(DEADLINE_TIMEOUTS)),
            1,
        )?;
        Ok(Limits {
            timeout_secs,
            history_years,
            max_rows_per_table,
            max_response_bytes,
            table_deadline_secs,
        })
    }

    /// GENESIS takes a token (in `username`, with an empty password); CBS takes nothing.
    fn credentials(
        &self,
        name: &str,
        s: &RawSource,
        warnings: &mut Vec<String>,
    ) -> Result<(Option<super::Secret>, Option<super::Secret>), ConfigError> {
        let base = [Seg::Key("sources"), Seg::Key(name)];
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
        if s.kind == SourceKind::Cbs && (username.is_some() || password.is_some()) {
            return Err(self.loc.error(
                &[base[0], base[1], Seg::Key("username")],
                "CBS StatLine needs no credentials",
            ));
        }
        if s.kind == SourceKind::Destatis && username.as_ref().is_none_or(|u| u.is_empty()) {
            warnings.push(format!(
                "source {name}: no GENESIS credentials (username is empty); its polls will fail \
                 until username (an API token, with password = \"\") or username_file is set"
            ));
        }
        Ok((username, password))
    }
}
