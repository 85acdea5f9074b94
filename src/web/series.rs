//! `GET /series/{id}`: a chart of the series (latest values as a line, each period's first
//! print as a point, so revisions show) and its observations with their revisions, newest
//! first. `GET /api/series/{id}`: exactly the JSON of `statwatch series ID --json`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use serde::Serialize;

use super::overview::time;
use super::{chart, PageError, WebState};
use crate::config::Config;
use crate::model::figure;
use crate::query::{self, Query, QueryError};
use crate::store::Store;

/// Values are written as every message writes them ([`figure`]), so the page and the alert
/// a reader came from show the same "-4.0".
#[derive(Serialize)]
struct Vintage {
    value: String,
    status: String,
    seen_at: String,
}

#[derive(Serialize)]
struct Row {
    period: String,
    value: String,
    status: String,
    first_seen: String,
    first_print: String,
    revisions: Vec<Vintage>,
}

#[derive(Serialize)]
struct SeriesPage {
    title: String,
    id: String,
    source: String,
    table: String,
    unit: String,
    chart: String,
    revised: usize,
    rows: Vec<Row>,
}

fn series(config: &Config, store: &Store, id: &str) -> Result<SeriesPage, PageError> {
    let s = config
        .series(id)
        .ok_or_else(|| PageError::UnknownSeries(id.into()))?;
    let obs = store.observations(&s.id)?;
    let unit = s.value_unit();
    let rows = obs
        .iter()
        .rev()
        .map(|o| Row {
            period: o.period.to_string(),
            value: figure(o.value, unit),
            status: o.status.to_string(),
            first_seen: time(o.first_seen),
            first_print: figure(o.revisions.first().map_or(o.value, |r| r.value), unit),
            revisions: o
                .revisions
                .iter()
                .map(|r| Vintage {
                    value: figure(r.value, unit),
                    status: r.status.to_string(),
                    seen_at: time(r.seen_at),
                })
                .collect(),
        })
        .collect();
    Ok(SeriesPage {
        title: s.title.clone(),
        id: s.id.clone(),
        source: s.source.clone(),
        table: s.table.clone(),
        unit: unit.to_string(),
        chart: chart::series_chart(&obs),
        revised: obs.iter().filter(|o| !o.revisions.is_empty()).count(),
        rows,
    })
}

pub(super) async fn page(
    State(s): State<WebState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    s.page("series.html", move |c, st| series(c, st, &id)).await
}

pub(super) async fn api(
    State(s): State<WebState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, PageError> {
    let (config, store) = (s.config(), s.store.clone());
    let q = Query::Series {
        id: Some(id.clone()),
        json: true,
    };
    let text = tokio::task::spawn_blocking(move || query::run(&config, &store, &q)).await?;
    let text = text.map_err(|e| match e {
        QueryError::UnknownSeries { .. } => PageError::UnknownSeries(id),
        QueryError::Store(m) | QueryError::Daemon(m) | QueryError::Argument(m) => {
            PageError::Query(m)
        }
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text))
}
