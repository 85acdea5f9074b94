//! A private query channel into the running daemon. sled lets one process open the store at
//! a time, so while the daemon runs, `statwatch series` and `statwatch alerts` ask it instead:
//! a Unix socket in the state directory (mode 0600, so only the daemon's own user), one JSON
//! request line, one JSON answer. It answers read-only queries only.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tracing::{debug, warn};

use crate::cli::{self, CliError};
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot ask the running daemon through {path}: {source}")]
    Ask {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A read-only query, as the CLI would run it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Query {
    Series { id: Option<String>, json: bool },
    Alerts { pending: bool, json: bool },
}

/// The query's output, or its error with the exit code it deserves.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub output: String,
    pub error: Option<(i32, String)>,
}

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

/// Runs a query against a store (the CLI's own, or the daemon's).
pub fn run(config: &Config, store: &Store, q: &Query) -> Result<String, CliError> {
    match q {
        Query::Series { id, json } => cli::render_series(config, store, id.as_deref(), *json),
        Query::Alerts { pending, json } => cli::render_alerts(store, *pending, *json),
    }
}

/// Serves queries until the task is dropped. `config` follows reloads.
pub async fn serve(
    state_dir: &Path,
    config: Arc<RwLock<Arc<Config>>>,
    store: Store,
) -> Result<tokio::task::JoinHandle<()>, ControlError> {
    let path = socket_path(state_dir);
    // A socket left by a daemon that died; nothing else is ever at this path.
    let _ = std::fs::remove_file(&path);
    let listen_err = |source| ControlError::Listen {
        path: path.display().to_string(),
        source,
    };
    let listener = tokio::net::UnixListener::bind(&path).map_err(listen_err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(listen_err)?;
    }
    Ok(tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let config = config
                .read()
                .map(|c| c.clone())
                .unwrap_or_else(|e| e.into_inner().clone());
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut line = String::new();
                if tokio::io::BufReader::new(r)
                    .read_line(&mut line)
                    .await
                    .is_err()
                {
                    return;
                }
                let answer = match serde_json::from_str::<Query>(&line) {
                    Ok(q) => {
                        debug!(query = ?q, "control query");
                        match tokio::task::spawn_blocking(move || run(&config, &store, &q)).await {
                            Ok(Ok(output)) => Answer {
                                output,
                                error: None,
                            },
                            Ok(Err(e)) => Answer {
                                output: String::new(),
                                error: Some((e.exit_code(), e.to_string())),
                            },
                            Err(e) => Answer {
                                output: String::new(),
                                error: Some((1, format!("query failed: {e}"))),
                            },
                        }
                    }
                    Err(e) => Answer {
                        output: String::new(),
                        error: Some((2, format!("bad query: {e}"))),
                    },
                };
                let mut text = serde_json::to_vec(&answer).unwrap_or_default();
                text.push(b'\n');
                if let Err(e) = w.write_all(&text).await {
                    warn!(error = %e, "control answer not sent");
                }
            });
        }
    }))
}

/// Asks the running daemon (blocking; the CLI's one call).
pub fn ask(state_dir: &Path, q: &Query) -> Result<Answer, ControlError> {
    let path = socket_path(state_dir);
    let err = |source| ControlError::Ask {
        path: path.display().to_string(),
        source,
    };
    let mut sock = std::os::unix::net::UnixStream::connect(&path).map_err(err)?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .map_err(err)?;
    let mut line = serde_json::to_vec(q).expect("queries serialize");
    line.push(b'\n');
    sock.write_all(&line).map_err(err)?;
    let mut answer = String::new();
    BufReader::new(sock).read_line(&mut answer).map_err(err)?;
    serde_json::from_str(&answer)
        .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}
