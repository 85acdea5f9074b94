//! The daemon's HTTP side (`[web] listen`, alias `[metrics] listen`): read-only pages about
//! the series, their revisions and the delivery log, the JSON of `series ID --json`,
//! `/metrics` and `/healthz`.
//!
//! This file owns the router and the server's start and stop over [`Bounded`] (accepting
//! and serving connections, with the head deadline and the reserved slots, is [`serve`]'s);
//! each page
//! family is one file beside it ([`overview`] `/`, [`series`] `/series/{id}` and
//! `/api/series/{id}`, [`alerts`] `/alerts`, [`health`] `/metrics` and `/healthz`), with
//! [`templates`] (minijinja, embedded, autoescaped) and [`chart`] (inline SVG by plotters).
//!
//! The pages read the store through the same [`Store`] handle the daemon holds (sled lets
//! one process open it), with read-only calls only, and on the blocking pool: a sled scan
//! must not hold up the async workers that run polls and deliveries.

mod alerts;
pub(crate) mod chart;
mod health;
mod overview;
mod series;
mod serve;
mod templates;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::listen::Bounded;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

pub use templates::Templates;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// A connection that neither reads nor writes for this long is closed.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web: cannot listen on {addr}: {source} (is another statwatch or exporter using that port? change [web] listen)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("web: template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// Why a page could not be shown; each becomes a status and a short page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("no series {0:?} in the config")]
    UnknownSeries(String),
    /// A malformed query string (a cursor that is not one).
    #[error("{0}")]
    BadRequest(String),
    #[error("the store could not be read: {0}")]
    Store(#[from] StoreError),
    #[error("the page could not be rendered: {0}")]
    Render(#[from] minijinja::Error),
    #[error("{0}")]
    Query(String),
    #[error("the page's work failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self {
            PageError::UnknownSeries(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => {
                warn!(error = %self, "page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        // Plain text: the message may carry a user-typed id, which must not become markup.
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct WebState {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    /// Follows reloads, as the control socket's does.
    pub config: Arc<RwLock<Arc<Config>>>,
    pub templates: Arc<Templates>,
}

impl WebState {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Runs `f` with the config and store on the blocking pool, then renders `template`.
    async fn page<T, F>(&self, template: &'static str, f: F) -> Result<Html<String>, PageError>
    where
        T: serde::Serialize + Send + 'static,
        F: FnOnce(&Config, &Store) -> Result<T, PageError> + Send + 'static,
    {
        let (config, store) = (self.config(), self.store.clone());
        let data = tokio::task::spawn_blocking(move || f(&config, &store)).await??;
        Ok(Html(self.templates.render(template, &data)?))
    }
}

fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/series/{id}", get(series::page))
        .route("/api/series/{id}", get(series::api))
        .route("/alerts", get(alerts::page))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .with_state(state)
}

/// A running web listener; dropping it without [`WebServer::stop`] leaves it running
/// until the runtime ends.
pub struct WebServer {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl WebServer {
    /// Binds `listen` now (so a taken port fails start-up) and serves in the background.
    pub async fn start(listen: SocketAddr, state: WebState) -> Result<WebServer, WebError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| WebError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(listen);
        // A flood of idle connections must not take the file descriptors that the sources,
        // receivers and control socket need (see `listen`).
        // `/healthz` and `/metrics` get slots of their own beyond the cap (see `serve`).
        let listener = Bounded::new(listener, MAX_CONNECTIONS, IDLE).with_reserve(serve::RESERVED);
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve::run(listener, router(state), stop.clone()));
        info!(%addr, "web listening (/, /series/ID, /alerts, /api/series/ID, /metrics, /healthz)");
        Ok(WebServer { addr, stop, task })
    }

    /// Stops accepting and waits briefly for in-flight requests.
    pub async fn stop(mut self) {
        self.stop.cancel();
        // A browser holding a keep-alive connection must not hold up shutdown or a reload.
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}
