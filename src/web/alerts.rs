//! `GET /alerts`: the delivery log, newest first, [`PAGE`] rows a page: each alert, receiver,
//! state, attempts and last error, the counts of each state on top, and links to the newer
//! and older pages (`?after=` and `?before=` a row's cursor; plain links, no JavaScript).
//!
//! A page is read by [`Store::delivery_log_page`], which reads the page's records through the
//! log's index and the counts from counters: a log of 200,000 entries once made every view
//! render all of them (70 MB of HTML), then read all of them (seconds a view).

use axum::extract::{RawQuery, State};
use axum::response::Html;
use serde::Serialize;

use super::overview::time;
use super::{PageError, WebState};
use crate::config::Config;
use crate::model::Delivery;
use crate::store::{LogCounts, LogCursor, LogOrder, Store};

/// Rows on one page.
pub(super) const PAGE: usize = 100;

#[derive(Serialize)]
struct Row {
    id: String,
    rule: String,
    kind: String,
    series: String,
    period: String,
    summary: String,
    receiver: String,
    state: String,
    attempts: u32,
    created_at: String,
    last_error: Option<String>,
}

#[derive(Serialize)]
struct AlertsPage {
    title: &'static str,
    rows: Vec<Row>,
    counts: LogCounts,
    total: u64,
    /// The cursors for the newer and older pages' links, where there are such pages.
    newer: Option<String>,
    older: Option<String>,
}

/// Where a page starts: `?before=CURSOR` (older entries), `?after=CURSOR` (newer ones), or
/// the newest entries.
fn start(query: Option<&str>) -> Result<(LogOrder, Option<LogCursor>), PageError> {
    let mut start = (LogOrder::NewestFirst, None);
    for (name, value) in query
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
    {
        let order = match name {
            "before" => LogOrder::NewestFirst,
            "after" => LogOrder::OldestFirst,
            _ => continue,
        };
        let cursor = LogCursor::parse(value)
            .ok_or_else(|| PageError::BadRequest(format!("{name}: not a place in the log")))?;
        start = (order, Some(cursor));
    }
    Ok(start)
}

fn alerts(
    store: &Store,
    order: LogOrder,
    from: Option<LogCursor>,
) -> Result<AlertsPage, PageError> {
    let page = store.delivery_log_page(order, from.as_ref(), PAGE, false)?;
    let mut entries = page.rows;
    // Beyond the cursor, toward the newer end (later) or the older end (earlier).
    let (newer, older) = match order {
        LogOrder::NewestFirst => (page.behind, page.more),
        LogOrder::OldestFirst => {
            entries.reverse();
            (page.more, page.behind)
        }
    };
    let token = |c: Option<&(LogCursor, Delivery)>| c.map(|(c, _)| c.token());
    let newer = newer.then(|| token(entries.first())).flatten();
    let older = older.then(|| token(entries.last())).flatten();
    let mut rows = Vec::with_capacity(entries.len());
    for (_, d) in entries {
        rows.push(row(store, d)?);
    }
    let c = page.counts;
    Ok(AlertsPage {
        title: "statwatch: alerts",
        rows,
        counts: c,
        total: c.pending + c.delivered + c.failed,
        newer,
        older,
    })
}

/// One delivery with what its alert says (blank if the alert record is gone).
fn row(store: &Store, d: Delivery) -> Result<Row, PageError> {
    let a = store.alert(&d.alert_id)?;
    Ok(Row {
        id: d.alert_id.chars().take(12).collect(),
        rule: a.as_ref().map(|a| a.rule.clone()).unwrap_or_default(),
        kind: a.as_ref().map(|a| a.kind.to_string()).unwrap_or_default(),
        series: a.as_ref().map(|a| a.series.clone()).unwrap_or_default(),
        period: a.as_ref().map(|a| a.period_text()).unwrap_or_default(),
        summary: a.map(|a| a.summary).unwrap_or_default(),
        receiver: d.receiver,
        state: d.state.to_string(),
        attempts: d.attempts,
        created_at: time(d.created_at),
        last_error: d.last_error,
    })
}

pub(super) async fn page(
    State(s): State<WebState>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, PageError> {
    let (order, from) = start(query.as_deref())?;
    s.page("alerts.html", move |_: &Config, store: &Store| {
        alerts(store, order, from)
    })
    .await
}
