//! `statwatch check`: the validated config on one screen, so an operator sees what will run.
//! It never prints a secret, nor a URL part that may carry one (a chat or dead-man URL keeps
//! its token in the path; any URL may in its query or user info).

use crate::config::{Config, ReceiverConfig, ReceiverKind};
use crate::rules::RuleKind;

use super::print;

/// `statwatch check`: a one-screen summary; never prints a secret.
pub fn check(config: &Config) {
    print(format!("config {} is valid", config.path.display()));
    print(format!("state_dir  {}", config.state_dir.display()));
    sources(config);
    for s in &config.series {
        print(format!(
            "series     {} = {} {} {}{}{}",
            s.id,
            s.source,
            s.table,
            s.measure,
            s.dimensions
                .iter()
                .map(|(k, v)| format!(" {k}={v}"))
                .collect::<String>(),
            s.derive
                .map(|d| format!(" derive={d:?}"))
                .unwrap_or_default(),
        ));
    }
    for r in &config.rules {
        let on = match &r.kind {
            RuleKind::SourceFailing(k) => format!("source {}", k.source),
            RuleKind::TableChanged(k) => format!("source {}", k.source),
            _ => r.series.clone(),
        };
        print(format!(
            "rule       {} ({}, {}) on {on}",
            r.id,
            r.kind.name(),
            r.severity,
        ));
    }
    for b in &config.briefs {
        print(format!(
            "brief      {} ({:?}) lead {}, context {}, breakdown {}, top {}",
            b.id,
            b.title,
            b.lead,
            b.context.join(" "),
            b.breakdown.as_ref().map_or("none", |(g, _)| g.as_str()),
            b.top
        ));
    }
    for r in config.receivers.values() {
        print(format!(
            "receiver   {} ({}) -> {}, min severity {}",
            r.name,
            r.kind_name(),
            target(r),
            r.min_severity
        ));
    }
    services(config);
    for w in &config.warnings {
        print(format!("warning    {w}"));
    }
}

fn sources(config: &Config) {
    for (name, s) in &config.sources {
        // The daemon's own rule (DST folds included), shown in the schedule's zone.
        let next = crate::scheduler::next_fire(&s.schedule, chrono::Utc::now())
            .map(|t| {
                t.with_timezone(&s.schedule.tz)
                    .format("%Y-%m-%d %H:%M:%S %Z")
                    .to_string()
            })
            .unwrap_or_else(|| "never".into());
        let n = config.series.iter().filter(|x| &x.source == name).count();
        print(format!(
            "source     {name} ({}) {} schedule {:?} in {}, next {next}; {n} series{}",
            s.kind,
            redacted_url(&s.base_url),
            s.schedule.expr,
            s.schedule.tz,
            if s.username.as_ref().is_some_and(|u| !u.is_empty()) {
                ", credentials set"
            } else {
                ""
            },
        ));
    }
}

/// Where a receiver sends, without secrets.
fn target(r: &ReceiverConfig) -> String {
    match &r.kind {
        ReceiverKind::Email { to } => to.join(", "),
        ReceiverKind::Webhook { url, secret, .. } => format!(
            "{}{}",
            origin_only(url),
            if secret.is_some() {
                " (signed)"
            } else {
                " (unsigned)"
            }
        ),
        ReceiverKind::Log => "log lines".into(),
        // Display of a SecretUrl is its origin only: the path is the token.
        ReceiverKind::Chat { url, .. } => format!("{url} (URL is a secret)"),
        ReceiverKind::Alertmanager {
            urls,
            resolve_after,
            ..
        } => format!(
            "{} (resolve after {} h)",
            urls.iter().map(origin_only).collect::<Vec<_>>().join(", "),
            resolve_after.as_secs() / 3600
        ),
    }
}

/// SMTP, the web listener and the heartbeat.
fn services(config: &Config) {
    if let Some(s) = &config.smtp {
        print(format!(
            "smtp       {}:{} tls={:?}{}",
            s.host,
            s.port,
            s.tls,
            if s.password.is_some() {
                ", password set"
            } else {
                ""
            }
        ));
    }
    if let Some(w) = &config.web {
        print(format!(
            "web        http://{}/ (pages, /metrics, /healthz)",
            w.listen
        ));
    }
    if let Some(h) = &config.heartbeat {
        // The URL is a secret (a dead-man service's check id): its origin at most.
        let to = url::Url::parse(h.url.expose())
            .map(|u| origin_only(&u))
            .unwrap_or_default();
        print(format!(
            "heartbeat  every {} s to {to}",
            h.interval.as_secs_f64()
        ));
    }
}

/// A receiver's URL as scheme, host and port only: chat and webhook services put the token in
/// the path (`https://hooks.slack.com/services/T0/B0/XXXX`).
fn origin_only(u: &url::Url) -> String {
    let path = if u.path().trim_matches('/').is_empty() {
        ""
    } else {
        "/..."
    };
    format!("{}{path}", u.origin().ascii_serialization())
}

/// A URL without user info or query (either may carry a token).
fn redacted_url(u: &url::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.query().is_some() {
        u.set_query(Some("..."));
    }
    u.to_string()
}
