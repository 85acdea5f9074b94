//! The daemon (`statwatch run`): config -> store, sources, notifier -> one scheduling loop;
//! signals; reload; sd_notify; the optional metrics listener.
//!
//! One tokio loop owns all scheduling. Each turn it starts the polls whose tick has come
//! (one per source at a time: a tick that lands while that source's poll runs is skipped and
//! logged), retries due deliveries from the outbox, sends `WATCHDOG=1`, and sleeps until the
//! next tick, the next due delivery or a short cap, whichever is first. Because the watchdog
//! is fed from this loop and nowhere else, a stalled schedule stops the pings and systemd
//! restarts us. Polls and deliveries run as tasks; everything they detect is committed to the
//! store before it is sent, so stopping at any point loses nothing.
//!
//! `run` takes its shutdown trigger as a future (as mini-redis does), so tests drive it.
//!
//! A store that cannot be written (a full disk, an I/O error) ends the daemon with an error:
//! sled refuses every later write after one fails, so carrying on would re-detect and
//! re-send without ever recording anything. Exiting non-zero lets systemd (`Restart=`)
//! start us again once the store works; what was pending is still in the outbox.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sd_notify::NotifyState;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::cli::CliError;
use crate::config::Config;
use crate::metrics::{Metrics, MetricsError, MetricsServer};
use crate::notify::{DeliveryReport, Mode, Notifier, NotifyError};
use crate::pipeline::{self, PollReport};
use crate::scheduler::{needs_catch_up, next_fire, sleep_for};
use crate::sources::{HttpError, Source};
use crate::store::{Store, StoreError};

/// How long SIGTERM/SIGINT waits for running polls and deliveries.
pub const DRAIN: Duration = Duration::from_secs(10);
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
    #[error("the store at {path} cannot be written, stopped: {source}")]
    StoreFailed {
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
    Metrics(#[from] MetricsError),
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// `statwatch run`: the daemon with real signals. SIGTERM/SIGINT drain and exit 0; SIGHUP
/// reloads. Any start-up failure (store, metrics port taken) is a runtime failure (exit 1).
pub async fn run_daemon(path: PathBuf, config: Config) -> Result<(), CliError> {
    let fail = |e: AppError| CliError::Runtime(e.to_string());
    // Installed before anything else: until a handler exists, SIGTERM/SIGINT/SIGHUP kill the
    // process without a drain.
    let mut term = signal(SignalKind::terminate()).map_err(|source| {
        fail(AppError::Signal {
            signal: "SIGTERM",
            source,
        })
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| {
        fail(AppError::Signal {
            signal: "SIGINT",
            source,
        })
    })?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
            _ = int.recv() => info!(signal = "SIGINT", "shutdown requested"),
        }
    };
    run(path, config, shutdown).await.map_err(fail)
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
    tokio::pin!(shutdown);
    loop {
        if let Some(e) = daemon.store_failure.take() {
            return Err(daemon.fail(e).await);
        }
        let now = Utc::now();
        daemon.fire_due(now);
        daemon.deliver_due(now);
        daemon.heartbeat();
        let wake = daemon.next_wake(now);
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(()) = reloads.recv() => daemon.reload().await,
            Some(done) = daemon.tasks.join_next_with_id(), if !daemon.tasks.is_empty() => {
                daemon.finished(done);
            }
            _ = tokio::time::sleep(wake) => {}
        }
    }
    daemon.stop().await;
    Ok(())
}

/// One armed source.
struct Armed {
    source: Arc<Source>,
    /// The schedule as configured, to tell on reload whether it changed.
    schedule_key: String,
    next: Option<DateTime<Utc>>,
    running: bool,
    outcome: String,
}

enum Task {
    Poll(String),
    Delivery,
}

enum Done {
    Poll {
        source: String,
        result: Result<PollReport, StoreError>,
        delivery: Option<Result<DeliveryReport, StoreError>>,
    },
    Delivery(Result<DeliveryReport, StoreError>),
}

struct Daemon {
    config_path: PathBuf,
    config: Arc<Config>,
    /// The config the control socket answers with; follows reloads.
    shared_config: Arc<std::sync::RwLock<Arc<Config>>>,
    control: Option<tokio::task::JoinHandle<()>>,
    store: Store,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    server: Option<MetricsServer>,
    sources: BTreeMap<String, Armed>,
    tasks: JoinSet<Done>,
    kinds: HashMap<Id, Task>,
    /// Serialises outbox rounds: two concurrent rounds could send the same entry twice.
    delivery_lock: Arc<tokio::sync::Mutex<()>>,
    delivering: bool,
    last_delivery: Option<Instant>,
    next_due: Option<DateTime<Utc>>,
    watchdog: Option<Duration>,
    last_watchdog: Instant,
    /// Set when a poll or a delivery could not write the store: the loop stops at once.
    store_failure: Option<StoreError>,
}

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// Half of `WATCHDOG_USEC` when the watchdog applies to this process. As libsystemd's
/// `sd_watchdog_enabled`: an unset `WATCHDOG_PID` means any process, a set one must be ours.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

fn schedule_key(cfg: &crate::config::SourceConfig) -> String {
    format!("{} in {}", cfg.schedule.expr, cfg.schedule.tz)
}

fn build_sources(config: &Config) -> Result<BTreeMap<String, Arc<Source>>, AppError> {
    config
        .sources
        .iter()
        .map(|(name, cfg)| {
            Source::new(cfg)
                .map(|s| (name.clone(), Arc::new(s)))
                .map_err(|source| AppError::Source {
                    name: name.clone(),
                    source,
                })
        })
        .collect()
}

/// How long start-up waits for the store's lock: a `statwatch series` typed while the daemon
/// starts holds it for a moment, which must not fail the start.
const STORE_LOCK_WAIT: Duration = Duration::from_secs(30);

async fn open_store(dir: &std::path::Path) -> Result<Store, StoreError> {
    let deadline = tokio::time::Instant::now() + STORE_LOCK_WAIT;
    let mut logged = false;
    loop {
        match Store::open(dir) {
            Err(StoreError::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                if !logged {
                    info!(path = %dir.display(), "store held by another statwatch process; waiting for it");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

impl Daemon {
    async fn start(config_path: PathBuf, config: Config) -> Result<Daemon, AppError> {
        std::fs::create_dir_all(&config.state_dir).map_err(|source| AppError::StateDir {
            path: config.state_dir.clone(),
            source,
        })?;
        let store = open_store(&config.state_dir).await?;
        let notifier = Arc::new(Notifier::new(&config)?);
        let config = Arc::new(config);
        let shared_config = Arc::new(std::sync::RwLock::new(config.clone()));
        // The control socket only serves `series`/`alerts` while we run; without it (a state
        // directory path too long for a socket, say) the daemon still does its job.
        let control = match crate::control::serve(
            &config.state_dir,
            shared_config.clone(),
            store.clone(),
        )
        .await
        {
            Ok(handle) => Some(handle),
            Err(e) => {
                warn!(error = %e, "no control socket: `statwatch series` and `alerts` cannot ask this daemon");
                None
            }
        };
        let built = build_sources(&config)?;
        let metrics = Arc::new(Metrics::new(MAX_HEARTBEAT_AGE));
        let server = match &config.metrics {
            Some(m) => Some(MetricsServer::start(m.listen, metrics.clone()).await?),
            None => None,
        };
        let now = Utc::now();
        let mut sources = BTreeMap::new();
        for (name, source) in built {
            let cfg = &config.sources[&name];
            let record = store.poll_record(&name)?;
            let last_success = record.as_ref().and_then(|r| r.last_success);
            if let Some(t) = last_success {
                metrics.set_last_success(&name, t);
            }
            let catch_up = needs_catch_up(&cfg.schedule, last_success, now);
            let next = if catch_up {
                info!(source = %name, last_success = ?last_success, "catch-up poll at start-up: a scheduled time passed since the last successful poll");
                Some(now)
            } else {
                next_fire(&cfg.schedule, now)
            };
            info!(source = %name, schedule = ?cfg.schedule, next = ?next, "schedule armed");
            sources.insert(
                name.clone(),
                Armed {
                    source,
                    schedule_key: schedule_key(cfg),
                    next,
                    running: false,
                    outcome: record
                        .map(|r| r.last_outcome)
                        .unwrap_or_else(|| format!("{name}: not polled yet")),
                },
            );
        }
        metrics.set_outbox_pending(store.pending()?.len());
        let watchdog = watchdog_interval();
        let mut daemon = Daemon {
            config_path,
            config,
            shared_config,
            control,
            store,
            notifier,
            metrics,
            server,
            sources,
            tasks: JoinSet::new(),
            kinds: HashMap::new(),
            delivery_lock: Arc::new(tokio::sync::Mutex::new(())),
            delivering: false,
            last_delivery: None,
            next_due: None,
            watchdog,
            last_watchdog: Instant::now(),
            store_failure: None,
        };
        daemon.refresh_next_due();
        let status = daemon.status();
        notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
        if watchdog.is_some() {
            notify(&[NotifyState::Watchdog]);
        }
        info!(
            config = %daemon.config_path.display(),
            state_dir = %daemon.config.state_dir.display(),
            sources = daemon.sources.len(),
            watchdog_interval = ?watchdog,
            "statwatch ready"
        );
        Ok(daemon)
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
        let due = if self.delivering { None } else { self.next_due };
        let next = ticks.chain(due).min();
        // A zero sleep would spin if a tick is somehow not consumed; a millisecond is enough.
        sleep_for(now, next, self.cap()).max(Duration::from_millis(1))
    }

    /// Starts every poll whose tick has come.
    fn fire_due(&mut self, now: DateTime<Utc>) {
        let mut start = Vec::new();
        for (name, armed) in &mut self.sources {
            let Some(at) = armed.next.filter(|t| *t <= now) else {
                continue;
            };
            let schedule = &self.config.sources[name].schedule;
            armed.next = next_fire(schedule, now);
            if armed.running {
                warn!(source = %name, tick = %at, "tick skipped: the previous poll of this source is still running");
                self.metrics.record_skipped_tick(name);
                continue;
            }
            armed.running = true;
            start.push((name.clone(), armed.source.clone()));
        }
        for (name, source) in start {
            self.spawn_poll(name, source);
        }
    }

    fn spawn_poll(&mut self, name: String, source: Arc<Source>) {
        let config = self.config.clone();
        let store = self.store.clone();
        let notifier = self.notifier.clone();
        let lock = self.delivery_lock.clone();
        let task_name = name.clone();
        debug!(source = %name, "poll started");
        let handle = self.tasks.spawn(async move {
            let result = pipeline::poll_source(&config, &store, &name, &source, false).await;
            // This cycle's alerts go out right away (new outbox entries are due at once);
            // older entries ride along only if their backoff has expired.
            let enqueued = result
                .as_ref()
                .ok()
                .and_then(|r| r.committed.as_ref())
                .is_some_and(|c| c.enqueued > 0);
            let delivery = if enqueued {
                let _guard = lock.lock().await;
                Some(notifier.deliver(&store, Mode::Due).await)
            } else {
                None
            };
            Done::Poll {
                source: name,
                result,
                delivery,
            }
        });
        self.kinds.insert(handle.id(), Task::Poll(task_name));
    }

    /// Retries pending deliveries whose backoff has expired.
    fn deliver_due(&mut self, now: DateTime<Utc>) {
        if self.delivering || !matches!(self.next_due, Some(t) if t <= now) {
            return;
        }
        if self
            .last_delivery
            .is_some_and(|t| t.elapsed() < MIN_DELIVERY_GAP)
        {
            return;
        }
        self.delivering = true;
        let store = self.store.clone();
        let notifier = self.notifier.clone();
        let lock = self.delivery_lock.clone();
        debug!("retrying due deliveries");
        let handle = self.tasks.spawn(async move {
            let _guard = lock.lock().await;
            Done::Delivery(notifier.deliver(&store, Mode::Due).await)
        });
        self.kinds.insert(handle.id(), Task::Delivery);
    }

    fn refresh_next_due(&mut self) {
        match Notifier::next_due(&self.store) {
            Ok(t) => self.next_due = t,
            Err(e) => {
                error!(error = %e, "cannot read the outbox");
                // Try again after a while rather than on every turn.
                self.next_due = Some(Utc::now() + chrono::Duration::seconds(30));
            }
        }
        match self.store.pending() {
            Ok(p) => self.metrics.set_outbox_pending(p.len()),
            Err(e) => error!(error = %e, "cannot count the outbox"),
        }
    }

    fn finished(&mut self, done: Result<(Id, Done), tokio::task::JoinError>) {
        let done = match done {
            Ok((id, done)) => {
                self.kinds.remove(&id);
                done
            }
            Err(e) => {
                // A panicking task must not leave its source marked running forever.
                match self.kinds.remove(&e.id()) {
                    Some(Task::Poll(name)) => {
                        error!(source = %name, error = %e, "poll task died");
                        if let Some(a) = self.sources.get_mut(&name) {
                            a.running = false;
                            a.outcome = format!("{name}: poll task died");
                        }
                    }
                    Some(Task::Delivery) | None => {
                        error!(error = %e, "delivery task died");
                        self.delivering = false;
                        self.last_delivery = Some(Instant::now());
                    }
                }
                self.refresh_next_due();
                return;
            }
        };
        match done {
            Done::Poll {
                source,
                result,
                delivery,
            } => {
                let outcome = match &result {
                    Ok(report) => {
                        self.metrics.record_poll(report);
                        report.summary()
                    }
                    Err(e) => {
                        error!(source = %source, error = %e, "poll could not be stored");
                        self.metrics.record_store_failure(&source);
                        format!("{source}: store error")
                    }
                };
                if let Err(e) = result {
                    self.store_failed(e);
                }
                if let Some(d) = delivery {
                    self.delivered(d);
                }
                match self.sources.get_mut(&source) {
                    Some(a) => {
                        a.running = false;
                        a.outcome = outcome;
                    }
                    None => debug!(source = %source, "a poll of a source removed by reload ended"),
                }
                let status = self.status();
                notify(&[NotifyState::Status(&status)]);
            }
            Done::Delivery(d) => {
                self.delivering = false;
                self.last_delivery = Some(Instant::now());
                self.delivered(d);
            }
        }
        self.refresh_next_due();
    }

    /// Remembers the first store I/O failure; the loop ends the daemon with it.
    fn store_failed(&mut self, e: StoreError) {
        if e.is_io() && self.store_failure.is_none() {
            self.store_failure = Some(e);
        }
    }

    /// The store failed: stop everything now (running work would only fail the same way,
    /// or send what it cannot record), say so, and hand back the error for a non-zero exit.
    async fn fail(mut self, e: StoreError) -> AppError {
        let path = self.store.path().to_string();
        error!(store = %path, error = %e, "the store cannot be written: delivery stopped; exiting so that the service manager restarts statwatch (pending alerts stay in the outbox)");
        notify(&[NotifyState::Status("store write failed; exiting")]);
        self.tasks.shutdown().await;
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(c) = self.control.take() {
            c.abort();
        }
        let _ = std::fs::remove_file(crate::control::socket_path(&self.config.state_dir));
        AppError::StoreFailed { path, source: e }
    }

    fn delivered(&mut self, d: Result<DeliveryReport, StoreError>) {
        match d {
            Ok(report) => {
                self.metrics.record_delivery(&report);
                for r in &report.receivers {
                    let fields = (r.delivered, r.failed, r.pending);
                    match &r.error {
                        Some(e) => {
                            warn!(receiver = %r.receiver, delivered = fields.0, failed = fields.1, pending = fields.2, error = %e, "delivery incomplete")
                        }
                        None if fields.0 + fields.1 > 0 => {
                            info!(receiver = %r.receiver, delivered = fields.0, failed = fields.1, pending = fields.2, "delivery round")
                        }
                        // An idle round (nothing was due for this receiver) is not news.
                        None => {
                            debug!(receiver = %r.receiver, pending = fields.2, "delivery round: nothing sent")
                        }
                    }
                }
            }
            Err(e) => {
                error!(error = %e, "delivery round failed on the store");
                self.store_failed(e);
            }
        }
    }

    /// SIGHUP: re-read and validate; apply everything but `state_dir`, or keep the running
    /// config if anything about the new one is wrong.
    async fn reload(&mut self) {
        notify(&reloading());
        info!(config = %self.config_path.display(), "reloading the config");
        let ok = match Config::load(&self.config_path) {
            Err(e) => {
                error!(error = %e, "reload rejected: the new config is invalid; the running config stays");
                false
            }
            Ok(new) => match self.apply(new).await {
                Ok(()) => true,
                Err(e) => {
                    error!(error = %e, "reload rejected; the running config stays");
                    false
                }
            },
        };
        self.metrics.record_reload(ok);
        let status = self.status();
        notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    async fn apply(&mut self, mut new: Config) -> Result<(), AppError> {
        if new.state_dir != self.config.state_dir {
            warn!(
                running = %self.config.state_dir.display(),
                configured = %new.state_dir.display(),
                "state_dir changed: that needs a restart; keeping the running one"
            );
            new.state_dir = self.config.state_dir.clone();
        }
        // Build everything first, so a failure leaves the running config untouched.
        let notifier = Arc::new(Notifier::new(&new)?);
        let built = build_sources(&new)?;
        let old_listen: Option<SocketAddr> = self.config.metrics.as_ref().map(|m| m.listen);
        let new_listen: Option<SocketAddr> = new.metrics.as_ref().map(|m| m.listen);
        let mut new_server = None;
        if new_listen != old_listen {
            if let Some(addr) = new_listen {
                new_server = Some(MetricsServer::start(addr, self.metrics.clone()).await?);
            }
        }

        // Commit.
        if new_listen != old_listen {
            if let Some(old) = self.server.take() {
                old.stop().await;
                info!(addr = ?old_listen, "metrics listener closed");
            }
            self.server = new_server;
        }
        let now = Utc::now();
        let mut sources = BTreeMap::new();
        for (name, source) in built {
            let cfg = &new.sources[&name];
            let key = schedule_key(cfg);
            let old = self.sources.remove(&name);
            let (running, outcome) = old
                .as_ref()
                .map(|o| (o.running, o.outcome.clone()))
                .unwrap_or_else(|| (false, format!("{name}: not polled yet")));
            let next = match old {
                Some(o) if o.schedule_key == key => o.next,
                _ => {
                    let last = self.store.poll_record(&name)?.and_then(|r| r.last_success);
                    if needs_catch_up(&cfg.schedule, last, now) {
                        info!(source = %name, "new or rescheduled source: polling now");
                        Some(now)
                    } else {
                        next_fire(&cfg.schedule, now)
                    }
                }
            };
            info!(source = %name, schedule = ?cfg.schedule, next = ?next, "schedule armed");
            sources.insert(
                name,
                Armed {
                    source,
                    schedule_key: key,
                    next,
                    running,
                    outcome,
                },
            );
        }
        for name in self.sources.keys() {
            info!(source = %name, "source removed by reload");
        }
        self.sources = sources;
        self.notifier = notifier;
        self.config = Arc::new(new);
        if let Ok(mut shared) = self.shared_config.write() {
            *shared = self.config.clone();
        }
        info!(
            sources = self.config.sources.len(),
            series = self.config.series.len(),
            rules = self.config.rules.len(),
            receivers = self.config.receivers.len(),
            "config reloaded"
        );
        for w in &self.config.warnings {
            warn!(warning = %w, "config warning");
        }
        Ok(())
    }

    /// Stop scheduling, give running work up to [`DRAIN`], then `STOPPING=1`.
    async fn stop(mut self) {
        let running = self.tasks.len();
        info!(
            running,
            "shutting down: no new polls; waiting up to {}s for running work",
            DRAIN.as_secs()
        );
        notify(&[NotifyState::Status("stopping")]);
        let deadline = Instant::now() + DRAIN;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(done)) => self.finished(done),
                Ok(None) => break,
                Err(_) => {
                    warn!(
                        unfinished = self.tasks.len(),
                        "drain deadline passed: stopping the rest; undelivered alerts stay pending in the store"
                    );
                    self.tasks.shutdown().await;
                    break;
                }
            }
        }
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(c) = self.control.take() {
            c.abort();
        }
        let _ = std::fs::remove_file(crate::control::socket_path(&self.config.state_dir));
        notify(&[NotifyState::Stopping]);
        info!("stopped");
    }
}

/// `RELOADING=1` with `MONOTONIC_USEC`, which systemd 253+ requires alongside it.
fn reloading() -> Vec<NotifyState<'static>> {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    states
}
