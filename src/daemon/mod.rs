//! The daemon (`statwatch run`): config -> store, sources, notifier -> one scheduling loop;
//! signals and the shutdown token; what each task hands back to the loop (`Done`). The
//! duties the loop runs as tasks, by name, are in [`duty`], arming sources in [`arm`], the
//! poll, delivery and prune tasks in [`tasks`], the overdue check and heartbeat in [`watch`],
//! SIGHUP in [`reload`], sd_notify in [`systemd`].
//!
//! One tokio loop owns all scheduling. Each turn it starts the polls whose tick has come
//! (one per source at a time: a tick that lands while that source's poll runs is skipped and
//! logged), retries due deliveries from the outbox, sends `WATCHDOG=1`, and sleeps until the
//! next tick, the next due delivery or a short cap, whichever is first. Because the watchdog
//! is fed from this loop and nowhere else, a stalled schedule stops the pings and systemd
//! restarts us. Every wait is on the monotonic clock; a step of the wall clock is noticed
//! within a turn and the ticks recomputed ([`clock`]). Polls and deliveries run as tasks; everything they detect is committed to the
//! store before it is sent, so stopping at any point loses nothing.
//!
//! `run` takes its shutdown trigger as a future (as mini-redis does), so tests drive it.
//!
//! A store that cannot be written (a full disk, an I/O error) ends the daemon with an error:
//! sled refuses every later write after one fails, so carrying on would re-detect and
//! re-send without ever recording anything. Exiting non-zero lets systemd (`Restart=`)
//! start us again once the store works; what was pending is still in the outbox.

mod arm;
mod clock;
mod duty;
mod reload;
mod systemd;
mod tasks;
mod watch;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sd_notify::NotifyState;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::{DeliveryReport, Notifier, NotifyError};
use crate::pipeline::PollReport;
use crate::scheduler::sleep_for;
use crate::sources::HttpError;
use crate::store::{Store, StoreError};
use crate::web::{Templates, WebError, WebServer, WebState};

use arm::Armed;
use duty::Duties;
pub use duty::Duty;
use systemd::notify;

/// How long SIGTERM/SIGINT waits for running polls and deliveries.
pub const DRAIN: Duration = Duration::from_secs(10);
/// After [`DRAIN`], how long told tasks get to wind down before they are aborted.
const WIND_DOWN: Duration = Duration::from_secs(2);
/// The loop wakes at least this often (and at least every WATCHDOG_USEC/2).
const MAX_SLEEP: Duration = Duration::from_secs(5);
/// `/healthz` reports the loop stalled when its heartbeat is older than this.
const MAX_HEARTBEAT_AGE: Duration = Duration::from_secs(30);
/// A delivery round never starts sooner than this after the previous one, so a receiver
/// that leaves entries due immediately cannot make the loop spin.
const MIN_DELIVERY_GAP: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create state_dir {path}: {source}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{duty}: the store at {path} cannot be written, stopped: {source}")]
    StoreFailed {
        /// The duty whose write failed.
        duty: Duty,
        path: String,
        #[source]
        source: StoreError,
    },
    #[error("source {name}: {source}")]
    Source {
        name: String,
        #[source]
        source: HttpError,
    },
    #[error("receivers: {0}")]
    Notifier(#[from] NotifyError),
    #[error(transparent)]
    Web(#[from] WebError),
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// `statwatch run`: the daemon with real signals. SIGTERM/SIGINT drain and exit 0; SIGHUP
/// reloads. Any start-up failure (store, web port taken) is a runtime failure (exit 1).
pub async fn run_daemon(path: PathBuf, config: Config) -> Result<(), AppError> {
    // Installed before anything else: until a handler exists, SIGTERM/SIGINT/SIGHUP kill the
    // process without a drain.
    let mut term = signal(SignalKind::terminate()).map_err(|source| AppError::Signal {
        signal: "SIGTERM",
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| AppError::Signal {
        signal: "SIGINT",
        source,
    })?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
            _ = int.recv() => info!(signal = "SIGINT", "shutdown requested"),
        }
    };
    run(path, config, shutdown).await
}

/// The daemon until `shutdown` completes; SIGHUP reloads `config_path`.
pub async fn run(
    config_path: PathBuf,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    let mut hup = signal(SignalKind::hangup()).map_err(|source| AppError::Signal {
        signal: "SIGHUP",
        source,
    })?;
    let (tx, rx) = mpsc::channel(1);
    let forward = tokio::spawn(async move {
        while hup.recv().await.is_some() {
            // A reload already queued covers this one too.
            let _ = tx.try_send(());
        }
    });
    let result = run_with_reloads(config_path, config, shutdown, rx).await;
    forward.abort();
    result
}

/// The daemon with its reload trigger as a channel (each message: re-read `config_path`).
pub async fn run_with_reloads(
    config_path: PathBuf,
    config: Config,
    shutdown: impl Future<Output = ()>,
    mut reloads: mpsc::Receiver<()>,
) -> Result<(), AppError> {
    let mut daemon = Daemon::start(config_path, config).await?;
    daemon.expect_all(Utc::now());
    tokio::pin!(shutdown);
    loop {
        if let Some((duty, e)) = daemon.store_failure.take() {
            return Err(daemon.fail(duty, e).await);
        }
        let (now, step) = daemon.clock.read();
        if let Some(step) = step {
            daemon.clock_stepped(now, step);
        }
        daemon.fire_due(now);
        daemon.deliver_due(now);
        daemon.watch_due();
        daemon.prune_if_due();
        daemon.heartbeat();
        let wake = daemon.next_wake(now);
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(()) = reloads.recv() => daemon.reload().await,
            Some((duty, ended)) = daemon.duties.next(), if !daemon.duties.is_empty() => {
                daemon.finished(duty, ended);
            }
            _ = tokio::time::sleep(wake) => {}
        }
    }
    daemon.stop().await;
    Ok(())
}

/// The control socket only serves `series`/`alerts` while we run; without it (a state
/// directory path too long for a socket, say) the daemon still does its job.
async fn start_control(
    state_dir: &std::path::Path,
    shared_config: &Arc<std::sync::RwLock<Arc<Config>>>,
    store: &Store,
) -> Option<tokio::task::JoinHandle<()>> {
    match crate::control::serve(state_dir, shared_config.clone(), store.clone()).await {
        Ok(handle) => Some(handle),
        Err(e) => {
            warn!(error = %e, "no control socket: `statwatch series` and `alerts` cannot ask this daemon");
            None
        }
    }
}

/// What the web listener serves, its page templates compiled.
fn web_state(
    metrics: &Arc<Metrics>,
    store: &Store,
    config: &Arc<std::sync::RwLock<Arc<Config>>>,
) -> Result<WebState, WebError> {
    Ok(WebState {
        metrics: metrics.clone(),
        store: store.clone(),
        config: config.clone(),
        templates: Arc::new(Templates::load()?),
    })
}

/// What a task hands back to the loop when it finishes, by duty.
enum Done {
    Poll {
        source: String,
        /// Boxed: a report is large beside the other variants.
        result: Result<Box<PollReport>, StoreError>,
        delivery: Option<Result<DeliveryReport, StoreError>>,
    },
    Delivery(Result<DeliveryReport, StoreError>),
    /// How many `overdue` alerts were enqueued.
    Overdue(Result<usize, StoreError>),
    /// The store took the probe's write (the ping's own outcome is only logged).
    Ping(Result<(), StoreError>),
    /// How many old deliveries were pruned.
    Pruned(Result<usize, StoreError>),
}

pub(super) struct Daemon {
    config_path: PathBuf,
    config: Arc<Config>,
    /// The config the control socket answers with; follows reloads.
    shared_config: Arc<std::sync::RwLock<Arc<Config>>>,
    control: Option<tokio::task::JoinHandle<()>>,
    store: Store,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    /// What the web listener serves, made when one first starts (at start-up, or by a reload
    /// that adds `[web]`) and kept for later ones: a daemon without pages never compiles
    /// their templates.
    web: Option<WebState>,
    server: Option<WebServer>,
    sources: BTreeMap<String, Armed>,
    /// The tasks running, each under its duty.
    duties: Duties,
    /// Serialises outbox rounds: two concurrent rounds could send the same entry twice.
    delivery_lock: Arc<tokio::sync::Mutex<()>>,
    last_delivery: Option<Instant>,
    next_due: Option<DateTime<Utc>>,
    watchdog: Option<Duration>,
    last_watchdog: Instant,
    /// Set when a duty could not write the store: the loop stops at once.
    store_failure: Option<(Duty, StoreError)>,
    /// Cancelled at shutdown: running polls and deliveries see it and wind down.
    shutdown: CancellationToken,
    /// The hourly overdue check and the heartbeat.
    watch: watch::Watch,
    /// When old deliveries were last pruned (`None`: not yet, so at start).
    last_prune: Option<Instant>,
    /// The wall clock of the last turn, to notice a step.
    clock: clock::WallClock,
}

impl Daemon {
    async fn start(config_path: PathBuf, config: Config) -> Result<Daemon, AppError> {
        std::fs::create_dir_all(&config.state_dir).map_err(|source| AppError::StateDir {
            path: config.state_dir.clone(),
            source,
        })?;
        let store = arm::open_store(&config.state_dir).await?;
        // Before any reload can rename a series: its identity must be known under its id.
        crate::pipeline::index_stored(&config, &store)?;
        let notifier = Arc::new(Notifier::new(&config)?);
        let config = Arc::new(config);
        let shared_config = Arc::new(std::sync::RwLock::new(config.clone()));
        let control = start_control(&config.state_dir, &shared_config, &store).await;
        let built = arm::build_sources(&config)?;
        let metrics = Arc::new(Metrics::new(MAX_HEARTBEAT_AGE));
        metrics.declare(&config);
        let (web, server) = match &config.web {
            Some(w) => {
                let web = web_state(&metrics, &store, &shared_config)?;
                let server = WebServer::start(w.listen, web.clone()).await?;
                (Some(web), Some(server))
            }
            None => (None, None),
        };
        let sources = arm::at_start(&config, &store, &metrics, built, Utc::now())?;
        metrics.set_outbox_pending(store.pending_count()? as usize);
        let watchdog = systemd::watchdog_interval();
        let mut daemon = Daemon {
            config_path,
            config,
            shared_config,
            control,
            store,
            notifier,
            metrics,
            web,
            server,
            sources,
            duties: Duties::new(),
            delivery_lock: Arc::new(tokio::sync::Mutex::new(())),
            last_delivery: None,
            next_due: None,
            watchdog,
            last_watchdog: Instant::now(),
            store_failure: None,
            shutdown: CancellationToken::new(),
            watch: watch::Watch::new(Instant::now()),
            last_prune: None,
            clock: clock::WallClock::new(),
        };
        daemon.refresh_next_due();
        daemon.announce_ready();
        Ok(daemon)
    }

    /// Tells systemd (READY, STATUS, a first WATCHDOG) and the log that the loop starts.
    fn announce_ready(&self) {
        let status = self.status();
        notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
        if self.watchdog.is_some() {
            notify(&[NotifyState::Watchdog]);
        }
        info!(
            config = %self.config_path.display(),
            state_dir = %self.config.state_dir.display(),
            sources = self.sources.len(),
            watchdog_interval = ?self.watchdog,
            "statwatch ready"
        );
    }

    /// One line: the last outcome of every source.
    fn status(&self) -> String {
        let parts: Vec<&str> = self.sources.values().map(|a| a.outcome.as_str()).collect();
        if parts.is_empty() {
            "no sources configured".into()
        } else {
            parts.join("; ")
        }
    }

    fn heartbeat(&mut self) {
        self.metrics.heartbeat();
        if let Some(every) = self.watchdog {
            if self.last_watchdog.elapsed() >= every {
                notify(&[NotifyState::Watchdog]);
                self.last_watchdog = Instant::now();
            }
        }
    }

    fn cap(&self) -> Duration {
        let cap = self.watchdog.map_or(MAX_SLEEP, |w| w.min(MAX_SLEEP));
        match self.watchdog {
            // Wake in time for the next ping, not a full cap after it.
            Some(every) => cap.min(every.saturating_sub(self.last_watchdog.elapsed())),
            None => cap,
        }
    }

    fn next_wake(&self, now: DateTime<Utc>) -> Duration {
        // Running sources count too: their tick must be seen (and skipped) when it lands.
        let ticks = self.sources.values().filter_map(|a| a.next);
        let due = if self.duties.is_running(&Duty::Delivery) {
            None
        } else {
            self.next_due
        };
        let wall = sleep_for(now, ticks.chain(due).min(), self.cap());
        let watch = self
            .watch_next()
            .map(|t| t.saturating_duration_since(Instant::now()));
        // A zero sleep would spin if a tick is somehow not consumed; a millisecond is enough.
        watch
            .map_or(wall, |w| w.min(wall))
            .max(Duration::from_millis(1))
    }

    /// What `/healthz` expects after start-up or a reload: each source's next poll, the
    /// heartbeat's next ping, and nothing of a removed source.
    fn expect_all(&self, now: DateTime<Utc>) {
        self.metrics.retain_duties(|d| {
            self.sources
                .keys()
                .any(|name| d == Duty::Poll(name.clone()).to_string())
        });
        for name in self.sources.keys() {
            self.expect_poll(name, now);
        }
        self.expect_ping();
    }

    /// Stop scheduling, give running work up to [`DRAIN`], then `STOPPING=1`.
    /// Collects finished tasks until none is left or `deadline` passes.
    async fn drain_until(&mut self, deadline: Instant) {
        while let Ok(Some((duty, ended))) =
            tokio::time::timeout_at(deadline, self.duties.next()).await
        {
            self.finished(duty, ended);
        }
    }

    /// Stops the pages and the control socket, and removes the socket file (the CLI then
    /// opens the store itself).
    async fn close_listeners(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(c) = self.control.take() {
            c.abort();
        }
        let _ = std::fs::remove_file(crate::control::socket_path(&self.config.state_dir));
    }

    async fn stop(mut self) {
        let running = self.duties.len();
        info!(
            running,
            duties = %self.duties.names(),
            "shutting down: no new polls; waiting up to {}s for running work",
            DRAIN.as_secs()
        );
        notify(&[NotifyState::Status("stopping")]);
        self.drain_until(Instant::now() + DRAIN).await;
        if !self.duties.is_empty() {
            // Told, not killed: a download still running (a GENESIS job can take minutes)
            // gives up and its poll commits what it has; a delivery finishes its send.
            warn!(
                unfinished = self.duties.len(),
                duties = %self.duties.names(),
                "drain deadline passed: telling running work to stop; undelivered alerts stay pending in the store"
            );
            self.shutdown.cancel();
            self.drain_until(Instant::now() + WIND_DOWN).await;
        }
        if !self.duties.is_empty() {
            warn!(
                unfinished = self.duties.len(),
                duties = %self.duties.names(),
                "work still running after the wind-down: aborting it"
            );
            self.duties.shutdown().await;
        }
        self.close_listeners().await;
        notify(&[NotifyState::Stopping]);
        info!("stopped");
    }
}
