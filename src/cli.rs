//! The command line: clap definitions and the one-shot commands (`check`, `poll`, `series`,
//! `alerts`, `backtest`, `test-notify`). `run` lives in `daemon`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ReceiverKind};
use crate::notify::{Mode, Notifier};
use crate::pipeline::{self, TableResult};
use crate::query::{Query, QueryError};
use crate::rules::RuleKind;
use crate::sources::Source;
use crate::store::{Store, StoreError};

#[derive(Debug, Parser)]
#[command(
    name = "statwatch",
    version,
    about = "Watches CBS and Destatis releases and alerts on what matters"
)]
pub struct Cli {
    /// Config file [default: $STATWATCH_CONFIG, else /etc/statwatch/statwatch.toml if it exists,
    /// else config/statwatch.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every source on its schedule, diff, evaluate, deliver.
    Run,
    /// Validate the config and print a summary.
    Check,
    /// One full cycle now (all sources, or one), then exit.
    Poll {
        /// Only this source.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Store nothing and send nothing: print what would be stored and which alerts would fire.
        #[arg(long)]
        dry_run: bool,
    },
    /// Without ID: every series with its latest value. With ID: every stored observation.
    Series {
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every stored observation as CSV (series,period,value,status,first_seen); with
    /// --vintages also every earlier value, with the time it was replaced.
    Export {
        /// Only series whose id matches this glob.
        glob: Option<String>,
        #[arg(long)]
        vintages: bool,
    },
    /// The delivery log: each alert per receiver, its state and attempts.
    Alerts {
        /// Only alerts still waiting for delivery.
        #[arg(long)]
        pending: bool,
        #[arg(long)]
        json: bool,
    },
    /// Replay the store's history through the configured rules: what would have fired.
    Backtest {
        /// Only rules whose id matches this glob.
        #[arg(long, value_name = "GLOB")]
        rules: Option<String>,
        /// Only series whose id matches this glob.
        #[arg(long, value_name = "GLOB")]
        series: Option<String>,
        /// Only alerts about this period or later (YYYY-MM, YYYY-Qn, YYYY).
        #[arg(long, value_name = "PERIOD")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send a clearly marked test alert through one receiver.
    TestNotify { receiver: String },
}

/// A command's failure: the user's mistake, or the world's (`main` turns it into an exit code).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage or config: exit 2.
    #[error("{0}")]
    Usage(String),
    /// A source, receiver or the store failed: exit 1.
    #[error("{0}")]
    Runtime(String),
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Runtime(e.to_string())
    }
}

fn open_store(config: &Config) -> Result<Store, CliError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        CliError::Runtime(format!(
            "cannot create state_dir {}: {e}",
            config.state_dir.display()
        ))
    })?;
    Ok(Store::open(&config.state_dir)?)
}

fn print(s: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", s.as_ref());
}

/// `statwatch check`: a one-screen summary; never prints a secret.
pub fn check(config: &Config) {
    print(format!("config {} is valid", config.path.display()));
    print(format!("state_dir  {}", config.state_dir.display()));
    for (name, s) in &config.sources {
        let next = s
            .schedule
            .cron
            .find_next_occurrence(&chrono::Utc::now().with_timezone(&s.schedule.tz), false)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string())
            .unwrap_or_else(|_| "never".into());
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
        let target = match &r.kind {
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
        };
        print(format!(
            "receiver   {} ({}) -> {target}, min severity {}",
            r.name,
            r.kind_name(),
            r.min_severity
        ));
    }
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
    for w in &config.warnings {
        print(format!("warning    {w}"));
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

/// `statwatch poll`: one cycle of every (or one) source, then delivery. Returns whether
/// everything succeeded.
pub async fn poll(config: &Config, only: Option<&str>, dry_run: bool) -> Result<bool, CliError> {
    if let Some(name) = only {
        if !config.sources.contains_key(name) {
            return Err(CliError::Usage(format!(
                "{}: no source {name:?} (configured: {})",
                config.path.display(),
                crate::config::names(config.sources.keys())
            )));
        }
    }
    let store = open_store(config)?;
    let notifier = Notifier::new(config).map_err(|e| CliError::Runtime(e.to_string()))?;
    let mut ok = true;
    for (name, cfg) in &config.sources {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let source = Source::new(cfg).map_err(|e| CliError::Runtime(format!("{name}: {e}")))?;
        let report = pipeline::poll_source(
            config,
            &store,
            name,
            &source,
            dry_run,
            &CancellationToken::new(),
        )
        .await?;
        for t in &report.tables {
            ok &= t.result.is_ok();
            print(format!("{name} {t}"));
            if dry_run {
                if let Ok(TableResult::Updated(series)) = &t.result {
                    for (id, _) in series {
                        for c in report
                            .changes
                            .iter()
                            .filter(|c| &c.series == id || c.series == format!("{id}#level"))
                        {
                            for o in &c.updates {
                                print(format!(
                                    "  would store {} {} = {} {}{}",
                                    c.series,
                                    o.period,
                                    o.value,
                                    o.status,
                                    if o.revisions.is_empty() {
                                        String::new()
                                    } else {
                                        format!(
                                            " (was {})",
                                            o.revisions.last().map(|v| v.value).unwrap_or_default()
                                        )
                                    }
                                ));
                            }
                        }
                    }
                }
            }
        }
        for id in &report.vanished {
            print(format!(
                "{name} series {id}: its key is no longer in the table (stored data kept)"
            ));
        }
        for a in &report.alerts {
            print(format!(
                "{} alert [{}] {} {} {}: {}",
                if dry_run { "would fire" } else { "fired" },
                a.severity,
                a.rule,
                a.series,
                a.period_text(),
                a.summary
            ));
        }
    }
    if dry_run {
        return Ok(ok);
    }
    let delivery = notifier.deliver(&store, Mode::Poll).await?;
    for r in &delivery.receivers {
        print(format!(
            "delivery {}: {} delivered, {} failed, {} pending{}",
            r.receiver,
            r.delivered,
            r.failed,
            r.pending,
            r.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
    Ok(ok && !delivery.failed())
}

/// Asks the running daemon if one answers, else opens the store. The socket is tried first
/// so that a query never holds the store's lock while a daemon wants it; a daemon that is
/// starting (lock taken, socket not yet bound) is waited for briefly.
fn query(config: &Config, q: Query) -> Result<(), CliError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        CliError::Runtime(format!(
            "cannot create state_dir {}: {e}",
            config.state_dir.display()
        ))
    })?;
    let deadline = std::time::Instant::now() + DAEMON_START_WAIT;
    let answer = loop {
        match crate::control::ask(&config.state_dir, &q) {
            Ok(answer) => break answer,
            Err(e) if !e.no_daemon() => {
                return Err(CliError::Runtime(format!(
                    "the running daemon did not answer: {e}"
                )))
            }
            Err(_) => {}
        }
        match Store::open(&config.state_dir) {
            Ok(store) => break crate::query::run(config, &store, &q),
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(StoreError::Locked { path }) => {
                return Err(CliError::Runtime(format!(
                    "the store at {path} is held by another statwatch process, which does not answer on its control socket"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    };
    let text = answer.map_err(|e| match e {
        QueryError::UnknownSeries { .. } | QueryError::Argument(_) => {
            CliError::Usage(e.to_string())
        }
        QueryError::Store(_) | QueryError::Daemon(_) => CliError::Runtime(e.to_string()),
    })?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// How long a query waits for a daemon that holds the store but has not yet opened its
/// control socket (it is starting).
const DAEMON_START_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `statwatch series [ID] [--json]`.
pub fn series(config: &Config, id: Option<&str>, json: bool) -> Result<(), CliError> {
    query(
        config,
        Query::Series {
            id: id.map(str::to_string),
            json,
        },
    )
}

/// `statwatch export [GLOB] [--vintages]`.
pub fn export(config: &Config, glob: Option<&str>, vintages: bool) -> Result<(), CliError> {
    query(
        config,
        Query::Export {
            glob: glob.map(str::to_string),
            vintages,
        },
    )
}

/// `statwatch alerts [--pending] [--json]`.
pub fn alerts(config: &Config, pending: bool, json: bool) -> Result<(), CliError> {
    query(config, Query::Alerts { pending, json })
}

/// `statwatch backtest [--rules GLOB] [--series GLOB] [--since PERIOD] [--json]`.
pub fn backtest(
    config: &Config,
    filter: crate::backtest::Filter,
    json: bool,
) -> Result<(), CliError> {
    query(config, Query::Backtest { filter, json })
}

/// `statwatch test-notify RECEIVER`.
pub async fn test_notify(config: &Config, receiver: &str) -> Result<(), CliError> {
    if !config.receivers.contains_key(receiver) {
        return Err(CliError::Usage(format!(
            "{}: no receiver {receiver:?} (configured: {})",
            config.path.display(),
            crate::config::names(config.receivers.keys())
        )));
    }
    let notifier = Notifier::new(config).map_err(|e| CliError::Runtime(e.to_string()))?;
    notifier
        .test(receiver)
        .await
        .map_err(|e| CliError::Runtime(format!("test alert through {receiver} failed: {e}")))?;
    print(format!("test alert sent through {receiver}"));
    Ok(())
}
