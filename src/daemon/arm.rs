//! Arming sources: build each configured source, and work out its next tick (at start-up
//! from the stored last success, catching up once if a scheduled time passed; on reload,
//! keeping the tick of a source whose schedule did not change).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::info;

use super::AppError;
use crate::config::{Config, SourceConfig};
use crate::metrics::Metrics;
use crate::scheduler::{needs_catch_up, next_fire};
use crate::sources::Source;
use crate::store::{Store, StoreError};

/// One armed source.
pub(super) struct Armed {
    pub source: Arc<Source>,
    /// The schedule as configured, to tell on reload whether it changed.
    pub schedule_key: String,
    pub next: Option<DateTime<Utc>>,
    pub outcome: String,
}

pub(super) fn schedule_key(cfg: &SourceConfig) -> String {
    format!("{} in {}", cfg.schedule.expr, cfg.schedule.tz)
}

pub(super) fn build_sources(config: &Config) -> Result<BTreeMap<String, Arc<Source>>, AppError> {
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

pub(super) async fn open_store(dir: &std::path::Path) -> Result<Store, StoreError> {
    let deadline = tokio::time::Instant::now() + STORE_LOCK_WAIT;
    let mut logged = false;
    loop {
        // Opening may upgrade an earlier schema (seconds on a large store) and flushes:
        // on the blocking pool, not on an async worker.
        let owned = dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || Store::open(&owned))
            .await
            .map_err(StoreError::Join)?;
        match opened {
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

/// Arms every source at start-up: a source whose last successful poll is older than its most
/// recent scheduled time (or that never polled) polls now, once; the others at their next tick.
pub(super) fn at_start(
    config: &Config,
    store: &Store,
    metrics: &Metrics,
    built: BTreeMap<String, Arc<Source>>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Armed>, StoreError> {
    let mut sources = BTreeMap::new();
    for (name, source) in built {
        let cfg = &config.sources[&name];
        let record = store.poll_record(&name)?;
        let last_success = record.as_ref().and_then(|r| r.last_success);
        if let Some(t) = last_success {
            metrics.set_last_success(&name, t);
        }
        let next = if needs_catch_up(&cfg.schedule, last_success, now) {
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
                outcome: record
                    .map(|r| r.last_outcome)
                    .unwrap_or_else(|| format!("{name}: not polled yet")),
            },
        );
    }
    Ok(sources)
}

/// Arms the sources of a reloaded config. A source keeps its last outcome and, if its
/// schedule is unchanged, its next tick (a running poll keeps running: it is a duty); a new or rescheduled one is armed as at
/// start-up.
pub(super) fn on_reload(
    config: &Config,
    store: &Store,
    old: &BTreeMap<String, Armed>,
    built: BTreeMap<String, Arc<Source>>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Armed>, StoreError> {
    let mut sources = BTreeMap::new();
    for (name, source) in built {
        let cfg = &config.sources[&name];
        let key = schedule_key(cfg);
        let before = old.get(&name);
        let outcome = before
            .map(|o| o.outcome.clone())
            .unwrap_or_else(|| format!("{name}: not polled yet"));
        let next = match before {
            Some(o) if o.schedule_key == key => o.next,
            _ => {
                let last = store.poll_record(&name)?.and_then(|r| r.last_success);
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
                outcome,
            },
        );
    }
    for name in old.keys().filter(|n| !sources.contains_key(*n)) {
        info!(source = %name, "source removed by reload");
    }
    Ok(sources)
}
