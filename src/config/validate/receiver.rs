//! `[receivers.NAME]` and `[smtp]`: each receiver kind's keys, subscriptions, and the mail
//! server. (`ReceiverKind` and `SmtpTls` stay in `config` while notify is being reshaped.)

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::super::locate::Seg;
use super::super::raw::{RawReceiver, RawReceiverKind, RawSmtp};
use super::super::{ConfigError, ReceiverConfig, ReceiverKind, SmtpConfig, SmtpTls};
use super::{glob, is_loopback_host, Validator};
use crate::model::Severity;
use crate::rules::RuleConfig;

impl Validator<'_, '_> {
    pub(super) fn receiver(
        &self,
        name: &str,
        r: &RawReceiver,
        rules: &[RuleConfig],
        has_smtp: bool,
    ) -> Result<ReceiverConfig, ConfigError> {
        let at = |k: &'static str| [Seg::Key("receivers"), Seg::Key(name), Seg::Key(k)];
        let kind = match r.kind {
            RawReceiverKind::Email => self.email(name, r, has_smtp)?,
            RawReceiverKind::Webhook => self.webhook(name, r)?,
            RawReceiverKind::Log => {
                self.only(name, "to", r.to.is_some(), "log")?;
                self.only(name, "url", r.url.is_some(), "log")?;
                let secret = r.secret.is_some() || r.secret_file.is_some();
                self.only(name, "secret", secret, "log")?;
                ReceiverKind::Log
            }
        };
        let mut subscribe = Vec::new();
        for pattern in r.subscribe.iter().flatten() {
            let g = glob(pattern).map_err(|m| self.loc.error(&at("subscribe"), m))?;
            if !rules.is_empty() && !rules.iter().any(|rule| g.is_match(&rule.id)) {
                return Err(self.loc.error(
                    &at("subscribe"),
                    format!("{pattern:?} matches no configured rule"),
                ));
            }
            subscribe.push(g);
        }
        Ok(ReceiverConfig {
            name: name.to_string(),
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

    fn email(
        &self,
        name: &str,
        r: &RawReceiver,
        has_smtp: bool,
    ) -> Result<ReceiverKind, ConfigError> {
        let loc = self.loc;
        let at = |k: &'static str| [Seg::Key("receivers"), Seg::Key(name), Seg::Key(k)];
        self.only(name, "url", r.url.is_some(), "email")?;
        let secret = r.secret.is_some() || r.secret_file.is_some();
        self.only(name, "secret", secret, "email")?;
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
        self.only(name, "to", r.to.is_some(), "webhook")?;
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
