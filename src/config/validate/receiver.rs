//! `[receivers.NAME]` and `[smtp]`: each receiver kind's keys, subscriptions, and the mail
//! server. (`ReceiverKind` and `SmtpTls` stay in `config` while notify is being reshaped.)

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::super::ident::check_name;
use super::super::locate::Seg;
use super::super::raw::{RawReceiver, RawReceiverKind, RawSmtp};
use super::super::{
    BatchLimits, ChatPlatform, ConfigError, ReceiverConfig, ReceiverKind, SecretUrl, SmtpConfig,
    SmtpTls, DEFAULT_DIGEST_AFTER, DEFAULT_RESOLVE_AFTER_HOURS,
};
use super::{glob, is_loopback_host, Validator};
use crate::model::Severity;

impl Validator<'_, '_> {
    pub(super) fn receiver(
        &self,
        name: &str,
        r: &RawReceiver,
        rules: &[&str],
        has_smtp: bool,
    ) -> Result<ReceiverConfig, ConfigError> {
        let at = |k: &'static str| [Seg::Key("receivers"), Seg::Key(name), Seg::Key(k)];
        check_name(name).map_err(|e| {
            let here = [Seg::Key("receivers"), Seg::Key(name)];
            self.loc.error(&here, format!("receiver name {name:?} {e}"))
        })?;
        self.kind_keys(name, r)?;
        let kind = match r.kind {
            RawReceiverKind::Email => self.email(name, r, has_smtp)?,
            RawReceiverKind::Webhook => self.webhook(name, r)?,
            RawReceiverKind::Log => ReceiverKind::Log,
            RawReceiverKind::Slack => self.chat(name, r, ChatPlatform::Slack)?,
            RawReceiverKind::Mattermost => self.chat(name, r, ChatPlatform::Mattermost)?,
            RawReceiverKind::Teams => self.chat(name, r, ChatPlatform::Teams)?,
            RawReceiverKind::Alertmanager => self.alertmanager(name, r)?,
        };
        let mut subscribe = Vec::new();
        for pattern in r.subscribe.iter().flatten() {
            let g = glob(pattern).map_err(|m| self.loc.error(&at("subscribe"), m))?;
            if !rules.is_empty() && !rules.iter().any(|id| g.is_match(id)) {
                return Err(self.loc.error(
                    &at("subscribe"),
                    format!("{pattern:?} matches no configured rule or brief"),
                ));
            }
            subscribe.push(g);
        }
        Ok(ReceiverConfig {
            name: name.to_string(),
            batch: self.batch(name, r)?,
            digest_after: match r.digest_after {
                None => DEFAULT_DIGEST_AFTER,
                Some(v) if (1..=100_000).contains(&v) => v as usize,
                Some(v) => {
                    return Err(self.loc.error(
                        &at("digest_after"),
                        format!("{v} is out of range: 1 to 100000"),
                    ))
                }
            },
            kind,
            subscribe,
            min_severity: r.min_severity.unwrap_or(Severity::Info),
        })
    }

    /// A key that a receiver of this kind does not take.
    fn only(&self, name: &str, key: &str, is_set: bool, kind: &str) -> Result<(), ConfigError> {
        if is_set {
            let at = [Seg::Key("receivers"), Seg::Key(name), Seg::Key(key)];
            Err(self
                .loc
                .error(&at, format!("a {kind} receiver takes no {key}")))
        } else {
            Ok(())
        }
    }

    /// Refuses every key the receiver's kind does not take, so a key copied from another kind
    /// (a webhook `secret` on a Slack receiver) is named rather than silently ignored.
    fn kind_keys(&self, name: &str, r: &RawReceiver) -> Result<(), ConfigError> {
        let (kind, takes): (&str, &[&str]) = match r.kind {
            RawReceiverKind::Email => ("email", &["to", "max_batch_alerts", "digest_after"]),
            RawReceiverKind::Webhook => (
                "webhook",
                &[
                    "url",
                    "secret",
                    "timeout_secs",
                    "max_batch_alerts",
                    "max_batch_bytes",
                ],
            ),
            RawReceiverKind::Log => ("log", &[]),
            RawReceiverKind::Slack => (
                "slack",
                &["url", "url_file", "timeout_secs", "digest_after"],
            ),
            RawReceiverKind::Mattermost => (
                "mattermost",
                &["url", "url_file", "timeout_secs", "digest_after"],
            ),
            RawReceiverKind::Teams => (
                "teams",
                &["url", "url_file", "timeout_secs", "digest_after"],
            ),
            RawReceiverKind::Alertmanager => (
                "alertmanager",
                &[
                    "urls",
                    "resolve_after_hours",
                    "timeout_secs",
                    "max_batch_alerts",
                    "max_batch_bytes",
                ],
            ),
        };
        let set = [
            ("to", r.to.is_some()),
            ("url", r.url.is_some()),
            ("url_file", r.url_file.is_some()),
            ("secret", r.secret.is_some() || r.secret_file.is_some()),
            ("urls", r.urls.is_some()),
            ("resolve_after_hours", r.resolve_after_hours.is_some()),
            ("max_batch_alerts", r.max_batch_alerts.is_some()),
            ("max_batch_bytes", r.max_batch_bytes.is_some()),
            // Webhook and Alertmanager feed programs, which get every alert: no digest.
            ("digest_after", r.digest_after.is_some()),
            // Email and log never took timeout_secs but never refused it either; keep it so.
            (
                "timeout_secs",
                r.timeout_secs.is_some() && !matches!(kind, "email" | "log"),
            ),
        ];
        for (key, is_set) in set {
            self.only(name, key, is_set && !takes.contains(&key), kind)?;
        }
        Ok(())
    }

    /// `max_batch_alerts` (1 to 10,000) and `max_batch_bytes` (16 KiB to 64 MiB), each with
    /// its kind's default.
    fn batch(&self, name: &str, r: &RawReceiver) -> Result<BatchLimits, ConfigError> {
        let at = |k: &'static str| [Seg::Key("receivers"), Seg::Key(name), Seg::Key(k)];
        let default = match r.kind {
            RawReceiverKind::Webhook | RawReceiverKind::Alertmanager => BatchLimits::HTTP,
            RawReceiverKind::Email => BatchLimits::EMAIL,
            _ => BatchLimits::OTHER,
        };
        let within = |key: &'static str, v: Option<u64>, min: u64, max: u64, d: usize| match v {
            None => Ok(d),
            Some(v) if (min..=max).contains(&v) => Ok(v as usize),
            Some(v) => Err(self
                .loc
                .error(&at(key), format!("{v} is out of range: {min} to {max}"))),
        };
        Ok(BatchLimits {
            max_alerts: within(
                "max_batch_alerts",
                r.max_batch_alerts,
                1,
                10_000,
                default.max_alerts,
            )?,
            max_bytes: within(
                "max_batch_bytes",
                r.max_batch_bytes,
                16 * 1024,
                64 * 1024 * 1024,
                default.max_bytes,
            )?,
        })
    }

    /// Slack, Mattermost, Teams: the incoming-webhook URL, from `url` or `url_file`, kept as a
    /// secret from here on (its path is the token).
    fn chat(
        &self,
        name: &str,
        r: &RawReceiver,
        platform: ChatPlatform,
    ) -> Result<ReceiverKind, ConfigError> {
        let base = [Seg::Key("receivers"), Seg::Key(name)];
        let kind = platform.name();
        let Some(secret) = self.secret(&base, "url", r.url.as_deref(), r.url_file.as_deref())?
        else {
            return Err(self
                .loc
                .error(&base, format!("a {kind} receiver needs url (or url_file)")));
        };
        let key = if r.url.is_some() { "url" } else { "url_file" };
        let at = [base[0], base[1], Seg::Key(key)];
        // The message does not echo the value: it is a secret.
        let url = Url::parse(secret.expose().trim())
            .ok()
            .filter(|x| matches!(x.scheme(), "http" | "https") && x.has_host())
            .ok_or_else(|| self.loc.error(&at, "not an http(s) URL"))?;
        Ok(ReceiverKind::Chat {
            platform,
            url: SecretUrl::new(url),
            timeout: Duration::from_secs(r.timeout_secs.unwrap_or(10).max(1)),
        })
    }

    fn alertmanager(&self, name: &str, r: &RawReceiver) -> Result<ReceiverKind, ConfigError> {
        let base = [Seg::Key("receivers"), Seg::Key(name)];
        let at = |k: &'static str| [base[0], base[1], Seg::Key(k)];
        let raw = r.urls.clone().unwrap_or_default();
        if raw.is_empty() {
            return Err(self.loc.error(
                &base,
                "an alertmanager receiver needs urls (every member of the cluster)",
            ));
        }
        let mut urls = Vec::new();
        for u in &raw {
            let u = self.expand(&at("urls"), u)?;
            let url = Url::parse(&u)
                .ok()
                .filter(|x| matches!(x.scheme(), "http" | "https") && x.has_host())
                .ok_or_else(|| {
                    self.loc
                        .error(&at("urls"), format!("not an http(s) URL: {u:?}"))
                })?;
            urls.push(url);
        }
        let hours = r.resolve_after_hours.unwrap_or(DEFAULT_RESOLVE_AFTER_HOURS);
        if hours == 0 {
            return Err(self.loc.error(
                &at("resolve_after_hours"),
                "must be at least 1 (an alert that ends when it starts is never notified)",
            ));
        }
        Ok(ReceiverKind::Alertmanager {
            urls,
            resolve_after: Duration::from_secs(hours.min(24 * 365) * 3600),
            timeout: Duration::from_secs(r.timeout_secs.unwrap_or(10).max(1)),
        })
    }

    fn email(
        &self,
        name: &str,
        r: &RawReceiver,
        has_smtp: bool,
    ) -> Result<ReceiverKind, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("receivers"), Seg::Key(name), Seg::Key(k)];
        let to = r.to.clone().unwrap_or_default();
        if to.is_empty() {
            return Err(loc.error(
                &[Seg::Key("receivers"), Seg::Key(name)],
                "an email receiver needs `to` (a list of addresses)",
            ));
        }
        let mut expanded = Vec::new();
        for addr in &to {
            let a = self.expand(&at("to"), addr)?;
            a.parse::<lettre::Address>()
                .map_err(|e| loc.error(&at("to"), format!("not an email address {a:?}: {e}")))?;
            expanded.push(a);
        }
        if !has_smtp {
            return Err(loc.error(&at("kind"), "an email receiver needs an [smtp] section"));
        }
        Ok(ReceiverKind::Email { to: expanded })
    }

    fn webhook(&self, name: &str, r: &RawReceiver) -> Result<ReceiverKind, ConfigError> {
        let base = [Seg::Key("receivers"), Seg::Key(name)];
        let Some(u) = &r.url else {
            return Err(self.loc.error(&base, "a webhook receiver needs url"));
        };
        let at_url = [base[0], base[1], Seg::Key("url")];
        let u = self.expand(&at_url, u)?;
        let url = Url::parse(&u)
            .ok()
            .filter(|x| matches!(x.scheme(), "http" | "https"))
            .ok_or_else(|| self.loc.error(&at_url, "not an http(s) URL"))?;
        let secret = self.secret(
            &base,
            "secret",
            r.secret.as_deref(),
            r.secret_file.as_deref(),
        )?;
        let timeout = Duration::from_secs(r.timeout_secs.unwrap_or(10).max(1));
        Ok(ReceiverKind::Webhook {
            url,
            secret,
            timeout,
        })
    }

    pub(super) fn smtp(&self, s: &RawSmtp) -> Result<SmtpConfig, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("smtp"), Seg::Key(k)];
        let host = self.expand(&at("host"), &s.host)?;
        let tls = s.tls.unwrap_or(SmtpTls::Starttls);
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
            &[Seg::Key("smtp")],
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
        Ok(SmtpConfig {
            host,
            port,
            tls,
            username,
            password,
            from,
            ca_file: self.ca_file(s)?,
            timeout: Duration::from_secs(s.timeout_secs.unwrap_or(30).max(1)),
        })
    }

    fn ca_file(&self, s: &RawSmtp) -> Result<Option<PathBuf>, ConfigError> {
        let Some(f) = &s.ca_file else { return Ok(None) };
        let at = [Seg::Key("smtp"), Seg::Key("ca_file")];
        let f = PathBuf::from(self.expand(&at, f)?);
        if !f.is_file() {
            return Err(self
                .loc
                .error(&at, format!("{} is not a readable file", f.display())));
        }
        Ok(Some(f))
    }
}
