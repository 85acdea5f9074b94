//! `GET /alerts`: the delivery log, newest first: each alert, receiver, state, attempts and
//! last error.

use axum::extract::State;
use axum::response::Html;
use serde::Serialize;

use super::overview::time;
use super::{PageError, WebState};
use crate::config::Config;
use crate::store::Store;

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
}

fn alerts(_: &Config, store: &Store) -> Result<AlertsPage, PageError> {
    let mut deliveries = store.deliveries()?;
    deliveries.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let mut rows = Vec::new();
    for d in deliveries {
        let a = store.alert(&d.alert_id)?;
        rows.push(Row {
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
        });
    }
    Ok(AlertsPage {
        title: "statwatch: alerts",
        rows,
    })
}

pub(super) async fn page(State(s): State<WebState>) -> Result<Html<String>, PageError> {
    s.page("alerts.html", alerts).await
}
