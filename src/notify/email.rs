//! The email receiver: one message per delivery, over SMTP with lettre:
//! `multipart/alternative` with the complete plain text (it stands on its own) and an HTML
//! part (`multipart/related` with the charts as inline PNGs, see mail_html).
//!
//! `tls = "starttls"` requires STARTTLS (never falls back to clear text), `implicit` speaks TLS
//! from the first byte, `none` is clear text (the config allows it only to a loopback host).
//! An optional `ca_file` adds trust anchors (an internal CA) on top of the built-in roots;
//! certificates are always verified.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use tracing::warn;

use super::digest::Digesting;
use super::mail_html::MailHtml;
use super::mail_images::SeriesData;
use super::render::{body, chain, subject};
use super::{NotifyError, SendError};
use crate::config::{SmtpConfig, SmtpTls};
use crate::model::Alert;

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
                let shown = || path.display().to_string();
                let pem = std::fs::read(path).map_err(|e| NotifyError::CaFileRead(shown(), e))?;
                let cert =
                    Certificate::from_pem(&pem).map_err(|e| NotifyError::CaFile(shown(), e))?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build().map_err(NotifyError::SmtpSetup)?;
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
    /// Above `digest_after` alerts, the digest's summary opens the mail.
    digesting: Digesting,
    html: Arc<MailHtml>,
    to: Vec<Mailbox>,
}

impl Email {
    pub(super) fn new(
        receiver: &str,
        transport: Arc<Transport>,
        html: Arc<MailHtml>,
        digesting: Digesting,
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
        Ok(Email {
            transport,
            digesting,
            html,
            to,
        })
    }

    /// The whole message: plain text and HTML alternatives, the charts inline.
    fn message(
        &self,
        alerts: &[Alert],
        test: bool,
        data: &SeriesData,
    ) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .from(self.transport.from.clone())
            .subject(subject(alerts, test));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let digest = self.digesting.of(alerts);
        let text = SinglePart::plain(body(alerts, test, digest.as_ref()));
        let body = match self.html.render(alerts, test, data, digest.as_ref()) {
            Ok(r) => {
                let png = ContentType::parse("image/png").expect("a valid MIME type");
                let mut related = MultiPart::related().singlepart(SinglePart::html(r.html));
                for image in r.images {
                    related = related
                        .singlepart(Attachment::new_inline(image.cid).body(image.png, png.clone()));
                }
                MultiPart::alternative().singlepart(text).multipart(related)
            }
            // The plain text is complete on its own: a chart that cannot be drawn must not
            // keep the alerts from going out.
            Err(e) => {
                warn!(error = %chain(&e), "the HTML part cannot be rendered; sending plain text only");
                MultiPart::alternative().singlepart(text)
            }
        };
        builder
            .multipart(body)
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }

    pub(super) async fn send(
        &self,
        alerts: &[Alert],
        test: bool,
        data: &SeriesData,
    ) -> Result<(), SendError> {
        let message = self.message(alerts, test, data)?;
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
            // 552: "message size exceeds fixed maximum": fewer alerts in a mail may pass.
            Err(e) if e.status().map(u16::from) == Some(552) => {
                Err(SendError::TooLarge(format!("SMTP {}", chain(&e))))
            }
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
