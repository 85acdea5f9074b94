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
use crate::query::{self, Query, QueryError};
use crate::store::Store;

#[derive(Serialize)]
struct Vintage {
    value: f64,
    status: String,
    seen_at: String,
}

#[derive(Serialize)]
struct Row {
    period: String,
    value: f64,
    status: String,
    first_seen: String,
    first_print: f64,
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
    let rows = obs
        .iter()
        .rev()
        .map(|o| Row {
            period: o.period.to_string(),
            value: o.value,
            status: o.status.to_string(),
            first_seen: time(o.first_seen),
            first_print: o.revisions.first().map_or(o.value, |r| r.value),
            revisions: o
                .revisions
                .iter()
                .map(|r| Vintage {
                    value: r.value,
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
        unit: s.unit.clone(),
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
