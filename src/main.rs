//! The `statwatch` binary: parse the command line, set up logging, run one command, and turn
//! its outcome into an exit code (0 ok, 1 runtime failure, 2 bad usage or config).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use statwatch::cli::{self, Cli, CliError, Command};
use statwatch::config::{self, Config, LogFormat};

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // journald stamps every line itself: a second timestamp only adds noise.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        // One line per event: control characters from a source are escaped.
        .with_writer(statwatch::logline::OneLine { ansi: colour })
        .with_ansi(colour);
    match (format, under_journald) {
        (LogFormat::Json, _) => statwatch::logline::install(builder.json().finish()),
        (LogFormat::Text, true) => statwatch::logline::install(builder.without_time().finish()),
        (LogFormat::Text, false) => statwatch::logline::install(builder.finish()),
    }
}

/// glibc gives each thread that allocates an arena of its own (up to eight per core), and
/// memory freed in one arena is not reused by another: a first sync parses on one thread and
/// commits on another (tokio's blocking pool, sled's flusher). Measured on a 2-million-cell
/// table: 82-86 MB peak RSS with glibc's default, 68-71 MB with one arena, at the same CPU
/// (0.65-0.7 s): statwatch's threads mostly wait, so they hardly contend for its lock.
/// `MALLOC_ARENA_MAX` in the environment wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets one allocator parameter, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 1;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    // The package build runs this from a checkout with no config: it needs none.
    if let Some(dir) = cli::package_assets_dir() {
        return exit_code(cli::package_assets(&dir).map(|()| true));
    }
    let cli = Cli::parse();
    let path = cli.config.clone().unwrap_or_else(config::default_path);
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("statwatch: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("statwatch: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli.command, path, config));
    exit_code(result)
}

/// A command's outcome as the process's exit code; the error goes to stderr.
fn exit_code(result: Result<bool, CliError>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("statwatch: {e}");
            ExitCode::from(match e {
                CliError::Usage(_) => 2,
                CliError::Runtime(_) => 1,
            })
        }
    }
}

/// Runs one command to its outcome: `Ok(false)` is a finding (exit 1), not an error.
async fn dispatch(command: Command, path: PathBuf, config: Config) -> Result<bool, CliError> {
    match command {
        Command::Check { online } => {
            cli::check(&config);
            if online {
                cli::check_online(&config).await
            } else {
                Ok(true)
            }
        }
        Command::Tables {
            query,
            source,
            all,
            json,
        } => cli::tables(&config, &query, source.as_deref(), all, json).await,
        Command::Describe {
            source,
            table,
            json,
        } => cli::describe(&config, &source, &table, json)
            .await
            .map(|_| true),
        Command::Poll { source, dry_run } => cli::poll(&config, source.as_deref(), dry_run).await,
        Command::Series { id, json } => cli::series(&config, id.as_deref(), json).map(|_| true),
        Command::Alerts {
            pending,
            json,
            limit,
            offset,
        } => {
            let args = cli::AlertsArgs {
                pending,
                json,
                limit,
                offset,
            };
            cli::alerts(&config, args).map(|_| true)
        }
        Command::Backtest {
            rules,
            series,
            since,
            json,
        } => {
            let filter = statwatch::backtest::Filter {
                rules,
                series,
                since,
            };
            cli::backtest(&config, filter, json).map(|_| true)
        }
        Command::Export { glob, vintages } => {
            cli::export(&config, glob.as_deref(), vintages).map(|_| true)
        }
        Command::TestNotify { receiver } => {
            cli::test_notify(&config, &receiver).await.map(|_| true)
        }
        Command::Run => statwatch::daemon::run_daemon(path, config)
            .await
            .map(|_| true)
            // Every daemon failure is the world's, not the user's: exit 1.
            .map_err(|e| CliError::Runtime(e.to_string())),
    }
}
