//! Wiring for the daemon: config -> store, sources, notifier -> scheduler; signals; reload.

use std::path::PathBuf;

use crate::cli::CliError;
use crate::config::Config;

/// `statwatch run` (placeholder until the daemon work lands).
pub async fn run_daemon(_path: PathBuf, _config: Config) -> Result<(), CliError> {
    Err(CliError::Runtime(
        "the daemon is not implemented yet".into(),
    ))
}
