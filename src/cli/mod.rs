//! The command line: clap definitions and the one-shot commands (`check`, `poll`, `series`,
//! `alerts`, `backtest`, `test-notify`, and the hidden `package-assets`). `run` lives in
//! `daemon`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::notify::{Mode, Notifier};
use crate::pipeline::{self, TableResult};
use crate::query::{Query, QueryError};
use crate::sources::Source;
use crate::store::{Store, StoreError};

mod alerts;
mod assets;
mod check;
mod describe;
mod online;
mod tables;

pub use alerts::{alerts, AlertsArgs};
pub use assets::{package_assets, package_assets_dir};
pub use check::check;
pub use describe::describe;
pub use online::check_online;
pub use tables::tables;

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
    Check {
        /// Then resolve every series against its table's live metadata (never its data).
        #[arg(long)]
        online: bool,
    },
    /// Search the configured sources' catalogues for tables (every word must match).
    Tables {
        #[arg(required = true, value_name = "QUERY")]
        query: Vec<String>,
        /// Only this source.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Also discontinued tables (marked).
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// A table's dimensions, keys and measures, and a [[series]] entry to paste.
    Describe {
        /// A configured source's name.
        source: String,
        table: String,
        #[arg(long)]
        json: bool,
    },
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
        /// Only the N newest entries (still listed oldest first).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// With --limit: skip the M newest entries first (the page before).
        #[arg(long, value_name = "M", requires = "limit", default_value_t = 0)]
        offset: usize,
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

/// A source named on the command line must be configured (bad usage otherwise).
fn known_source(config: &Config, name: Option<&str>) -> Result<(), CliError> {
    match name {
        Some(name) if !config.sources.contains_key(name) => Err(CliError::Usage(format!(
            "{}: no source {name:?} (configured: {})",
            config.path.display(),
            crate::config::names(config.sources.keys())
        ))),
        _ => Ok(()),
    }
}

fn print(s: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", s.as_ref());
}

/// `statwatch poll`: one cycle of every (or one) source, then delivery. Returns whether
/// everything succeeded.
pub async fn poll(config: &Config, only: Option<&str>, dry_run: bool) -> Result<bool, CliError> {
    known_source(config, only)?;
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
        ok &= print_report(name, &report, dry_run, config.store.flood_alerts);
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

/// What one source's poll did, table by table (with `--dry-run`, what would be stored);
/// whether every table succeeded.
fn print_report(
    name: &str,
    report: &pipeline::PollReport,
    dry_run: bool,
    flood_alerts: usize,
) -> bool {
    let mut ok = true;
    for t in &report.tables {
        ok &= t.result.is_ok();
        print(format!("{name} {t}"));
        if let (true, Ok(TableResult::Updated { series, .. })) = (dry_run, &t.result) {
            for id in series {
                print_would_store(report, id);
            }
        }
    }
    for (id, what) in &report.broken {
        ok = false;
        print(format!(
            "{name} series {id}: BROKEN: {what}; skipped, its stored data kept"
        ));
    }
    for id in &report.vanished {
        print(format!(
            "{name} series {id}: its key is no longer in the table (stored data kept)"
        ));
    }
    if let Some(flood) = report.flood(flood_alerts) {
        print(format!("{name} flood: {flood}"));
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
    ok
}

/// `--dry-run`: the observations of series `id` (and of its levels) a poll would store.
fn print_would_store(report: &pipeline::PollReport, id: &str) {
    let level = crate::config::ident::level_id(id);
    for c in report
        .changes
        .iter()
        .filter(|c| c.series == id || c.series == level)
    {
        for o in &c.updates {
            let was = o
                .revisions
                .last()
                .map(|v| format!(" (was {})", v.value))
                .unwrap_or_default();
            print(format!(
                "  would store {} {} = {} {}{was}",
                c.series, o.period, o.value, o.status
            ));
        }
    }
}

/// Where queries are answered: the running daemon, or the store opened by this process.
enum Reader {
    Daemon,
    Store(Store),
}

impl Reader {
    fn answer(&self, config: &Config, q: &Query) -> Result<String, CliError> {
        settle(match self {
            Reader::Store(store) => crate::query::run(config, store, q),
            Reader::Daemon => crate::control::ask(&config.state_dir, q).map_err(|e| {
                CliError::Runtime(format!("the running daemon did not answer: {e}"))
            })?,
        })
    }
}

/// A query's answer as the CLI reports it.
fn settle(answer: crate::control::Answer) -> Result<String, CliError> {
    answer.map_err(|e| match e {
        QueryError::UnknownSeries { .. } | QueryError::Argument(_) => {
            CliError::Usage(e.to_string())
        }
        QueryError::Store(_) | QueryError::Daemon(_) => CliError::Runtime(e.to_string()),
    })
}

/// Asks the running daemon if one answers, else opens the store; returns the answer and
/// where later queries go. The socket is tried first so that a query never holds the store's
/// lock while a daemon wants it; a daemon that is starting (lock taken, socket not yet bound)
/// is waited for briefly.
fn first_answer(config: &Config, q: &Query) -> Result<(Reader, String), CliError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        CliError::Runtime(format!(
            "cannot create state_dir {}: {e}",
            config.state_dir.display()
        ))
    })?;
    let deadline = std::time::Instant::now() + DAEMON_START_WAIT;
    let (reader, asked) = loop {
        match crate::control::ask(&config.state_dir, q) {
            Ok(answer) => break (Reader::Daemon, Some(answer)),
            Err(e) if !e.no_daemon() => {
                return Err(CliError::Runtime(format!(
                    "the running daemon did not answer: {e}"
                )))
            }
            Err(_) => {}
        }
        match Store::open(&config.state_dir) {
            Ok(store) => break (Reader::Store(store), None),
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
    let text = match asked {
        Some(answer) => settle(answer)?,
        None => reader.answer(config, q)?,
    };
    Ok((reader, text))
}

/// Runs one query and prints its answer.
fn query(config: &Config, q: Query) -> Result<(), CliError> {
    let (_, text) = first_answer(config, &q)?;
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
