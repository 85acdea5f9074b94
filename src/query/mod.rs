//! Read-only views of the store for people and scripts (`series`, `alerts`, `backtest`,
//! whose replay is in [`crate::backtest`], and `export` in `export`): the same
//! text whether the CLI opened the store itself or asked the running daemon for it, so both
//! the command line and the control socket sit on top of this module.

mod export;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backtest::{self, BacktestError, Filter};
use crate::config::{ident, Config, SeriesConfig};
use crate::model::{figure, signed, StoredObservation};
use crate::store::{LogCursor, LogOrder, Store, StoreError};

/// A read-only query, as the CLI would run it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Query {
    Series {
        id: Option<String>,
        json: bool,
    },
    /// A chunk of `statwatch alerts` (see [`AlertChunk`]): at most [`ALERT_CHUNK`] entries
    /// of the delivery log beyond the cursor `from`, answered as the chunk's JSON.
    AlertLog {
        pending: bool,
        order: LogOrder,
        from: Option<String>,
        limit: usize,
    },
    Export {
        glob: Option<String>,
        vintages: bool,
    },
    Backtest {
        filter: Filter,
        json: bool,
    },
}

/// Why a query gave no answer. It crosses the control socket as it is, so the CLI reports
/// the daemon's answer exactly as it would its own.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum QueryError {
    /// The id is not in the config: the user's mistake.
    #[error("{file}: no series {id:?} in the config (configured: {configured})")]
    UnknownSeries {
        file: String,
        id: String,
        configured: String,
    },
    /// A malformed argument (a glob, a period): the user's mistake.
    #[error("{0}")]
    Argument(String),
    /// The store could not be read.
    #[error("{0}")]
    Store(String),
    /// The daemon could not run the query (a request it does not understand, a panic).
    #[error("the daemon could not answer: {0}")]
    Daemon(String),
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        QueryError::Store(e.to_string())
    }
}

/// Runs a query against a store (the CLI's own, or the daemon's).
pub fn run(config: &Config, store: &Store, q: &Query) -> Result<String, QueryError> {
    match q {
        Query::Series { id, json } => series(config, store, id.as_deref(), *json),
        Query::AlertLog {
            pending,
            order,
            from,
            limit,
        } => {
            let chunk = alert_chunk(store, *pending, *order, from.as_deref(), *limit)?;
            Ok(serde_json::to_string(&chunk).expect("json"))
        }
        Query::Backtest { filter, json } => match backtest::run(config, store, filter) {
            Ok(fired) => Ok(backtest::render(&fired, *json)),
            Err(e @ BacktestError::Argument { .. }) => Err(QueryError::Argument(e.to_string())),
            Err(BacktestError::Store(e)) => Err(e.into()),
        },
        Query::Export { glob, vintages } => export::csv(store, glob.as_deref(), *vintages),
    }
}

/// `statwatch series [ID] [--json]` as text.
fn series(
    config: &Config,
    store: &Store,
    id: Option<&str>,
    as_json: bool,
) -> Result<String, QueryError> {
    match id {
        None => series_list(config, store, as_json),
        Some(id) => {
            let Some(s) = config.series(id) else {
                return Err(QueryError::UnknownSeries {
                    file: config.path.display().to_string(),
                    id: id.to_string(),
                    configured: crate::config::names(config.series.iter().map(|s| &s.id)),
                });
            };
            let obs = store.observations(&s.id)?;
            Ok(if as_json {
                series_json(&s, &obs)
            } else {
                series_text(&s, &obs)
            })
        }
    }
}

/// `series [--json]`: every series with its latest period and value.
fn series_list(config: &Config, store: &Store, as_json: bool) -> Result<String, QueryError> {
    let mut out = String::new();
    let mut rows = Vec::new();
    for s in &listed(config, store)? {
        let obs = store.observations(&s.id)?;
        let last = obs.last();
        rows.push(json!({
            "id": s.id, "source": s.source, "table": s.table,
            "latest_period": last.map(|o| o.period.to_string()),
            "latest_value": last.map(|o| o.value),
        }));
        let latest = last
            .map(|o| format!("{} {}", o.period, signed(o.value, s.value_unit())))
            .unwrap_or_else(|| "(no data yet)".into());
        out.push_str(&format!(
            "{:<28} {:<10} {:<12} {latest}\n",
            s.id, s.source, s.table
        ));
    }
    if as_json {
        out = serde_json::to_string_pretty(&rows).expect("json") + "\n";
    }
    Ok(out)
}

/// `series ID --json`: the contract's document, oldest period first.
fn series_json(s: &SeriesConfig, obs: &[StoredObservation]) -> String {
    let stamp =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let observations: Vec<_> = obs
        .iter()
        .map(|o| {
            json!({
                "period": o.period.to_string(), "source_period": o.source_period,
                "value": o.value, "status": o.status,
                "first_seen": stamp(&o.first_seen),
                "revisions": o.revisions.iter().map(|r| json!({
                    "value": r.value, "status": r.status, "seen_at": stamp(&r.seen_at),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "id": s.id, "source": s.source, "table": s.table, "unit": s.unit,
        "observations": observations,
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

/// `series ID`: one line per observation, with its revisions.
fn series_text(s: &SeriesConfig, obs: &[StoredObservation]) -> String {
    let mut out = format!(
        "{} ({}, {} {}) {}\n",
        s.id,
        s.value_unit(),
        s.source,
        s.table,
        s.title
    );
    let unit = s.value_unit();
    for o in obs {
        let revised = if o.revisions.is_empty() {
            String::new()
        } else {
            let was: Vec<String> = o.revisions.iter().map(|r| figure(r.value, unit)).collect();
            format!("revised {}x (was {})", o.revisions.len(), was.join(" -> "))
        };
        out.push_str(&format!(
            "{:<8} {:>10} {:<16} first seen {}  {revised}\n",
            o.period,
            figure(o.value, unit),
            o.status,
            o.first_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ));
    }
    out
}

/// Every configured series, a group's as the series it expanded into (those the store
/// holds), in config order.
fn listed(config: &Config, store: &Store) -> Result<Vec<SeriesConfig>, QueryError> {
    let mut stored = None;
    let mut out = Vec::new();
    for s in &config.series {
        if s.group.is_none() {
            out.push(s.clone());
            continue;
        }
        let ids = match &stored {
            Some(ids) => ids,
            None => stored.insert(store.series_ids()?),
        };
        out.extend(
            ids.iter()
                .filter(|id| !ident::is_level_id(id) && s.produces(id))
                .filter_map(|id| config.series(id)),
        );
    }
    Ok(out)
}

/// The most entries one [`Query::AlertLog`] answers: the daemon's answer, and what either
/// side holds of the log, stays this size however long the log is (a few MB). A chunk reads
/// its own entries through the log's index, so the whole listing is linear in the log.
pub const ALERT_CHUNK: usize = 10_000;

/// One entry of the delivery log as `statwatch alerts` shows it, with its place in the log.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertRow {
    pub cursor: String,
    pub id: String,
    pub rule: String,
    pub kind: String,
    pub series: String,
    pub period: String,
    pub summary: String,
    pub receiver: String,
    pub state: String,
    pub attempts: u32,
    pub created_at: String,
    pub last_error: Option<String>,
}

/// A chunk of the delivery log in the order asked for; `more` if the log goes on after it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertChunk {
    pub rows: Vec<AlertRow>,
    pub more: bool,
}

/// Up to `limit` (at most [`ALERT_CHUNK`]) entries beyond the cursor `from`, each with what
/// its alert says.
pub fn alert_chunk(
    store: &Store,
    pending_only: bool,
    order: LogOrder,
    from: Option<&str>,
    limit: usize,
) -> Result<AlertChunk, QueryError> {
    let from = from
        .map(|t| {
            LogCursor::parse(t).ok_or_else(|| {
                QueryError::Argument(format!("{t:?} is not a place in the delivery log"))
            })
        })
        .transpose()?;
    let page = store.delivery_log_page(
        order,
        from.as_ref(),
        limit.clamp(1, ALERT_CHUNK),
        pending_only,
    )?;
    let mut rows = Vec::with_capacity(page.rows.len());
    for (cursor, d) in page.rows {
        let alert = store.alert(&d.alert_id)?;
        let (rule, kind, series, period, summary) = match alert {
            Some(a) => {
                let period = a.period_text();
                (a.rule, a.kind.to_string(), a.series, period, a.summary)
            }
            None => Default::default(),
        };
        rows.push(AlertRow {
            cursor: cursor.token(),
            id: d.alert_id,
            rule,
            kind,
            series,
            period,
            summary,
            receiver: d.receiver,
            state: d.state.to_string(),
            attempts: d.attempts,
            created_at: d
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            last_error: d.last_error,
        });
    }
    Ok(AlertChunk {
        rows,
        more: page.more,
    })
}

/// `statwatch alerts`' text for one entry (two lines, the second the alert's summary).
pub fn alert_text(r: &AlertRow) -> String {
    format!(
        "{} {:<9} {:<12} attempts {} {}{}\n    {}\n",
        &r.id[..r.id.len().min(12)],
        r.state,
        r.receiver,
        r.attempts,
        r.created_at,
        r.last_error
            .as_ref()
            .map(|e| format!(" last error: {e}"))
            .unwrap_or_default(),
        r.summary,
    )
}

/// `statwatch alerts --json`'s object for one entry (docs/cli.md, "alerts").
pub fn alert_json(r: &AlertRow) -> serde_json::Value {
    json!({
        "id": r.id, "rule": r.rule, "kind": r.kind, "series": r.series, "period": r.period,
        "receiver": r.receiver, "state": r.state, "attempts": r.attempts, "last_error": r.last_error,
    })
}
