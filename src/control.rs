//! A private query channel into the running daemon. sled lets one process open the store at
//! a time, so while the daemon runs, `statwatch series` and `statwatch alerts` ask it instead:
//! a Unix socket in the state directory (mode 0600, so only the daemon's own user), one JSON
//! [`Query`] line in, one JSON [`Answer`] line out. It answers read-only queries only; what
//! they show is [`crate::query`]'s business.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::serve::Listener as _;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tracing::{debug, warn};

use crate::config::Config;
use crate::listen::Bounded;
use crate::query::{self, Query, QueryError};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens on the socket: no daemon runs (or it has not bound it yet).
    #[error("no daemon answers on {path}: {source}")]
    NoDaemon {
        path: String,
        #[source]
        source: std::io::Error,
    },
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

/// The daemon's answer to one query: the query's own result, error included.
pub type Answer = Result<String, QueryError>;

/// Queries answered at once; more wait in the kernel's backlog (see [`crate::listen`]).
const MAX_CONNECTIONS: usize = 16;
/// A connection that sends no complete request in this time is closed.
const IDLE: Duration = Duration::from_secs(10);
/// A request is one short JSON line; anything longer is refused, not buffered.
const MAX_REQUEST: u64 = 64 * 1024;

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

/// Serves queries until the task is aborted. `config` follows reloads.
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
    let mut listener = Bounded::new(listener, MAX_CONNECTIONS, IDLE);
    Ok(tokio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await;
            let config = config
                .read()
                .map(|c| c.clone())
                .unwrap_or_else(|e| e.into_inner().clone());
            let store = store.clone();
            tokio::spawn(answer(conn, config, store));
        }
    }))
}

/// Reads one request line (bounded in size and time), answers it, closes the connection.
async fn answer<S>(conn: S, config: Arc<Config>, store: Store)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (r, mut w) = tokio::io::split(conn);
    let mut line = Vec::new();
    let mut reader = tokio::io::BufReader::new(r.take(MAX_REQUEST));
    let read = reader.read_until(b'\n', &mut line);
    let answer = match tokio::time::timeout(IDLE, read).await {
        Err(_) | Ok(Err(_)) => return,
        // The client went away without asking anything.
        Ok(Ok(0)) => return,
        Ok(Ok(_)) if line.last() != Some(&b'\n') => Err(QueryError::Daemon(format!(
            "no complete request line in {MAX_REQUEST} bytes"
        ))),
        Ok(Ok(_)) => match serde_json::from_slice::<Query>(&line) {
            Ok(q) => {
                debug!(query = ?q, "control query");
                tokio::task::spawn_blocking(move || query::run(&config, &store, &q))
                    .await
                    .unwrap_or_else(|e| Err(QueryError::Daemon(format!("query failed: {e}"))))
            }
            Err(e) => Err(QueryError::Daemon(format!("bad query: {e}"))),
        },
    };
    let mut text = serde_json::to_vec(&answer).unwrap_or_default();
    text.push(b'\n');
    if let Err(e) = w.write_all(&text).await {
        warn!(error = %e, "control answer not sent");
    }
}

impl ControlError {
    /// No daemon runs, so the caller may open the store itself.
    pub fn no_daemon(&self) -> bool {
        matches!(self, ControlError::NoDaemon { .. })
    }
}

/// Asks the running daemon (blocking; the CLI's one call).
pub fn ask(state_dir: &Path, q: &Query) -> Result<Answer, ControlError> {
    let path = socket_path(state_dir);
    let err = |source| ControlError::Ask {
        path: path.display().to_string(),
        source,
    };
    let mut sock = std::os::unix::net::UnixStream::connect(&path).map_err(|source| {
        ControlError::NoDaemon {
            path: path.display().to_string(),
            source,
        }
    })?;
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
