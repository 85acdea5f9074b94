//! `GET /`: every series (title, latest period and value, change from the period before, a
//! sparkline of the last 36 periods, when it last changed) and each source's last poll.

use axum::extract::State;
use axum::response::Html;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{chart, PageError, WebState};
use crate::config::Config;
use crate::model::{signed, StoredObservation};
use crate::store::Store;

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    unit: String,
    period: Option<String>,
    value: Option<String>,
    change: Option<String>,
    /// The sign of `change`, for its colour: "up", "down" or "".
    direction: &'static str,
    spark: String,
    last_changed: Option<String>,
}

#[derive(Serialize)]
struct SourceRow {
    name: String,
    last_attempt: Option<String>,
    last_success: Option<String>,
    outcome: String,
}

#[derive(Serialize)]
struct Overview {
    title: &'static str,
    series: Vec<Row>,
    sources: Vec<SourceRow>,
}

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The latest moment anything about the series was learned (a new period or a revision).
fn last_changed(obs: &[StoredObservation]) -> Option<DateTime<Utc>> {
    obs.iter().map(|o| o.first_seen.max(o.value_seen)).max()
}

fn row(s: &crate::config::SeriesConfig, obs: &[StoredObservation]) -> Row {
    let last = obs.last();
    let change = match obs {
        [.., a, b] if b.period.prev() == a.period => Some(b.value - a.value),
        _ => None,
    };
    Row {
        id: s.id.clone(),
        title: s.title.clone(),
        unit: s.value_unit().to_string(),
        period: last.map(|o| o.period.to_string()),
        value: last.map(|o| signed(o.value, s.value_unit())),
        change: change.map(|c| signed(c, s.value_unit())),
        direction: match change {
            Some(c) if c > 0.0 => "up",
            Some(c) if c < 0.0 => "down",
            _ => "",
        },
        spark: chart::sparkline(obs),
        last_changed: last_changed(obs).map(time),
    }
}

fn overview(config: &Config, store: &Store) -> Result<Overview, PageError> {
    let mut series = Vec::new();
    for s in &config.series {
        series.push(row(s, &store.observations(&s.id)?));
    }
    let mut sources = Vec::new();
    for name in config.sources.keys() {
        let rec = store.poll_record(name)?;
        sources.push(SourceRow {
            name: name.clone(),
            last_attempt: rec.as_ref().map(|r| time(r.last_attempt)),
            last_success: rec.as_ref().and_then(|r| r.last_success).map(time),
            outcome: rec.map_or_else(|| "not polled yet".into(), |r| r.last_outcome),
        });
    }
    Ok(Overview {
        title: "statwatch",
        series,
        sources,
    })
}

pub(super) async fn page(State(s): State<WebState>) -> Result<Html<String>, PageError> {
    s.page("index.html", overview).await
}
