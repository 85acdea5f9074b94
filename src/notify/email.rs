//! The email receiver: one plain-text UTF-8 message per delivery, over SMTP with lettre.
//!
//! `tls = "starttls"` requires STARTTLS (never falls back to clear text), `implicit` speaks TLS
//! from the first byte, `none` is clear text (the config allows it only to a loopback host).
//! An optional `ca_file` adds trust anchors (an internal CA) on top of the built-in roots;
//! certificates are always verified.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{chain, subject, NotifyError, SendError};
use crate::config::{SmtpConfig, SmtpTls};
use crate::model::{signed, Alert, Cause};

/// The SMTP side, shared by every email receiver of a config.
pub(super) struct Transport {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// A bound on a whole send: lettre's timeout is per command, and a server that trickles
    /// answers must not hold a poll (or the daemon's shutdown) for minutes.
    ///
    /// It is also the only bound on what a hostile server can make us read: lettre 0.11.23
    /// refuses replies over 100 KB or lines over 1,000 bytes, but checks only after
    /// `read_line` returns, so one endless line without a newline grows in memory until
    /// this timeout (its own timeout covers the connect only). Capping that needs a change in
    /// lettre (a `take` on the reader); see the delivery hardening notes.
    total_timeout: Duration,
}

impl Transport {
    pub(super) fn new(cfg: &SmtpConfig) -> Result<Transport, NotifyError> {
        let from: Mailbox = cfg.from.parse().map_err(|_| NotifyError::Address {
            what: "smtp.from".into(),
            address: cfg.from.clone(),
        })?;
        // `builder_dangerous` only means "no TLS preset": TLS, with certificate verification,
        // is set just below for every mode but `none` (which config allows to loopback only).
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(cfg.timeout));
        if cfg.tls != SmtpTls::None {
            let mut params = TlsParameters::builder(cfg.host.clone());
            if let Some(path) = &cfg.ca_file {
                let ca_err = |message: String| NotifyError::CaFile {
                    path: path.display().to_string(),
                    message,
                };
                let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| ca_err(chain(&e)))?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build()
                .map_err(|e| NotifyError::SmtpSetup(chain(&e)))?;
            builder = builder.tls(match cfg.tls {
                SmtpTls::Implicit => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let Some(user) = &cfg.username {
            let password = cfg
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Transport {
            smtp: builder.build(),
            from,
            total_timeout: cfg.timeout * 3,
        })
    }
}

pub(super) struct Email {
    transport: Arc<Transport>,
    to: Vec<Mailbox>,
}

impl Email {
    pub(super) fn new(
        receiver: &str,
        transport: Arc<Transport>,
        to: &[String],
    ) -> Result<Email, NotifyError> {
        let to = to
            .iter()
            .map(|a| {
                a.parse::<Mailbox>().map_err(|_| NotifyError::Address {
                    what: format!("receivers.{receiver}.to"),
                    address: a.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Email { transport, to })
    }

    pub(super) async fn send(&self, alerts: &[Alert], test: bool) -> Result<(), SendError> {
        let mut builder = Message::builder()
            .from(self.transport.from.clone())
            .subject(subject(alerts, test))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder
            .body(body(alerts, test))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        let sent = tokio::time::timeout(
            self.transport.total_timeout,
            self.transport.smtp.send(message),
        )
        .await;
        let Ok(sent) = sent else {
            return Err(SendError::Transient {
                error: format!(
                    "SMTP timed out: no complete exchange within {} s",
                    self.transport.total_timeout.as_secs()
                ),
                retry_after: None,
            });
        };
        match sent {
            Ok(_) => Ok(()),
            // A 5xx reply is the server's final word (unknown mailbox, bad credentials,
            // message refused); everything else (4xx, connection, TLS, timeout) may pass.
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP {}", chain(&e)))),
            Err(e) => Err(SendError::Transient {
                error: format!("SMTP {}", chain(&e)),
                retry_after: None,
            }),
        }
    }
}

/// The plain-text body: every alert with what it is about, then every alert id.
pub(crate) fn body(alerts: &[Alert], test: bool) -> String {
    let mut s = String::new();
    if test {
        s.push_str(
            "[statwatch test] This is a test message from `statwatch test-notify`.\n\
             No rule fired; if you can read this, the receiver works.\n\n",
        );
    }
    let n = alerts.len();
    let _ = writeln!(s, "statwatch: {n} alert{}\n", if n == 1 { "" } else { "s" });
    for a in alerts {
        let unit = if a.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", a.unit)
        };
        let _ = writeln!(
            s,
            "[{}] {}",
            a.severity.to_string().to_uppercase(),
            a.summary
        );
        let _ = writeln!(s, "  series:   {} ({})", a.series, a.title);
        let _ = writeln!(s, "  period:   {} ({})", a.period, a.source_period);
        let _ = writeln!(s, "  value:    {}{unit}", signed(a.value));
        match &a.previous {
            Some(p) => {
                let _ = writeln!(s, "  previous: {}{unit} in {}", signed(p.value), p.period);
            }
            None => s.push_str("  previous: none\n"),
        }
        let _ = writeln!(s, "  source:   {} table {}", a.source, a.table);
        let cause = match a.cause {
            Cause::NewPeriod => "new period".to_string(),
            Cause::Revision => match a.details.get("old_value") {
                Some(old) => format!("revision (was {old})"),
                None => "revision".to_string(),
            },
        };
        let _ = writeln!(s, "  cause:    {cause}");
        let _ = writeln!(s, "  rule:     {} ({}, {})", a.rule, a.kind, a.severity);
        let _ = writeln!(s, "  id:       {}\n", a.id);
    }
    s.push_str("Alert ids:\n");
    for a in alerts {
        let _ = writeln!(s, "  {}", a.id);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::tests::alert;

    #[test]
    fn body_lists_every_alert_and_id() {
        let a = alert("id-a", Severity::Info, "Industrie: groei (+1.3 in 2025-03)");
        let mut b = alert("id-b", Severity::Critical, "sign flipped");
        b.cause = Cause::Revision;
        b.details.insert("old_value".into(), serde_json::json!(1.0));
        let text = body(&[a, b], false);
        for needle in [
            "id-a",
            "id-b",
            "Industrie: groei (+1.3 in 2025-03)",
            "sign flipped",
            "+1.3 %",
            "previous: +1 % in 2025-02",
            "cbs table 85806NED",
            "2025-03 (2025MM03)",
            "cause:    new period",
            "revision (was 1.0)",
            "[CRITICAL]",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        assert!(!text.contains("[statwatch test]"));
        assert!(body(&[], true).starts_with("[statwatch test]"));
    }
}
