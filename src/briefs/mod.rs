//! Briefs (`[[briefs]]`): the story of a release in one message. Each brief whose lead got a
//! new period in a poll (never on a baseline) is made from what the store will hold once the
//! poll commits ([`Staged`]: the stored series with the poll's writes merged in), and goes into
//! that same commit as an alert record of kind `brief` (its text and facts in its
//! [`Details::Brief`]). So
//! it goes through the outbox like any alert (durable, retried, once per receiver), and a
//! crash cannot store a release without its brief.
//!
//! The facts are pure functions in `facts`, the words in `text`; this file reads the series.

pub mod facts;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::info;

use crate::config::{ident, BriefConfig, Config};
use crate::model::{Alert, AlertKind, Brief, Cause, Details, Period, Previous, Severity};
use crate::store::{Staged, StoreError};
use facts::{Facts, Lead, Mover};
use text::Labels;

#[derive(Debug, thiserror::Error)]
pub enum BriefError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("brief {brief}: cannot encode its facts: {source}")]
    Encode {
        brief: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What a poll knows that the store does not: the titles and units of the series it
/// expanded (a group's titles come from the source), and the alerts it fired.
#[derive(Debug, Default)]
pub struct Cycle<'a> {
    /// Series id -> its release's new periods (baselines left out).
    pub new_periods: BTreeMap<String, Vec<Period>>,
    pub labels: Labels,
    pub alerts: &'a [Alert],
    pub now: DateTime<Utc>,
}

/// The briefs this cycle opens, made from the series as the poll's commit will leave them.
pub fn make(
    config: &Config,
    store: &Staged<'_>,
    cycle: &Cycle<'_>,
) -> Result<Vec<Alert>, BriefError> {
    let mut out = Vec::new();
    for b in &config.briefs {
        let Some(new) = cycle.new_periods.get(&b.lead) else {
            continue;
        };
        let lead_obs = values(store, &b.lead)?;
        let Some(&(period, _)) = lead_obs.last() else {
            continue;
        };
        // Only a brief on the latest period: an older period filled in late is not news.
        if !new.contains(&period) {
            continue;
        }
        out.push(one(config, store, cycle, b, &lead_obs)?);
    }
    Ok(out)
}

fn values(store: &Staged<'_>, id: &str) -> Result<Vec<(Period, f64)>, StoreError> {
    Ok(store
        .observations(id)?
        .into_iter()
        .map(|o| (o.period, o.value))
        .collect())
}

/// Title and unit of a series: the poll's (a group's real titles), else the config's.
fn labels(config: &Config, cycle: &Cycle<'_>, ids: &BTreeSet<String>) -> Labels {
    let mut l = Labels::default();
    for id in ids {
        let conf = config.series(id);
        let title = cycle
            .labels
            .titles
            .get(id)
            .cloned()
            .or_else(|| conf.as_ref().map(|s| s.title.clone()));
        let unit = cycle
            .labels
            .units
            .get(id)
            .cloned()
            .or_else(|| conf.as_ref().map(|s| s.value_unit().to_string()));
        if let Some(t) = title {
            l.titles.insert(id.clone(), t);
        }
        if let Some(u) = unit {
            l.units.insert(id.clone(), u);
        }
    }
    l
}

fn one(
    config: &Config,
    store: &Staged<'_>,
    cycle: &Cycle<'_>,
    b: &BriefConfig,
    lead_obs: &[(Period, f64)],
) -> Result<Alert, BriefError> {
    let (period, value) = *lead_obs.last().expect("checked by make");
    let run = facts::run(lead_obs, period).expect("the period is in the series");
    let mut ids: BTreeSet<String> = BTreeSet::from([b.lead.clone()]);
    let mut context = Vec::new();
    for c in &b.context {
        ids.insert(c.clone());
        // A series with no data at all is left out, as the contract says.
        context.extend(facts::context(c, &values(store, c)?));
    }
    let members: Vec<String> = match &b.breakdown {
        Some((_, m)) => store
            .series_ids()?
            .into_iter()
            .filter(|id| !ident::is_level_id(id) && m.is_match(id))
            .collect(),
        None => Vec::new(),
    };
    ids.extend(members.iter().cloned());
    let labels = labels(config, cycle, &ids);
    let mut bars = (Vec::new(), 0);
    let breakdown = match &b.breakdown {
        Some((glob, _)) => {
            let mut movers = Vec::new();
            for id in &members {
                if let Some((_, v)) = values(store, id)?.into_iter().find(|(p, _)| *p == period) {
                    let title = labels.titles.get(id).cloned().unwrap_or_else(|| id.clone());
                    movers.push(Mover {
                        series: id.clone(),
                        title,
                        value: v,
                    });
                }
            }
            bars = facts::bars(&movers);
            Some(facts::breakdown(glob, period, &movers, b.top))
        }
        None => None,
    };
    let facts = Facts {
        lead: Lead {
            series: b.lead.clone(),
            period,
            value,
            run,
        },
        context,
        breakdown,
    };
    let alerts: Vec<String> = cycle
        .alerts
        .iter()
        .filter(|a| ids.contains(&a.series))
        .map(|a| a.summary.clone())
        .collect();
    let text = text::render(&b.title, &facts, &labels, &alerts);
    let drawn = drawn(b, &labels, bars);
    record(config, store, cycle, b, facts, text, drawn)
}

/// What the HTML mail draws besides the facts ([`Brief::drawn`]): `{"titles": {series:
/// title}, "units": {series: unit}, "bars": [{series, title, value}] highest first, "hidden":
/// n}`. Titles of the lead and context only (the bars carry their own), units of them and of
/// the bars (never every member of a large breakdown), and the breakdown's bars (at most
/// `facts::MAX_BARS`) with how many were left out between.
fn drawn(b: &BriefConfig, labels: &Labels, (bars, hidden): (Vec<Mover>, usize)) -> Value {
    let named = |m: &BTreeMap<String, String>, with_bars: bool| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(id, _)| {
                **id == b.lead
                    || b.context.contains(id)
                    || (with_bars && bars.iter().any(|m| m.series == **id))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    serde_json::json!({
        "titles": named(&labels.titles, false),
        "units": named(&labels.units, true),
        "bars": bars,
        "hidden": hidden,
    })
}

/// The brief as an alert record: stable id per (brief id, lead period).
fn record(
    config: &Config,
    store: &Staged<'_>,
    cycle: &Cycle<'_>,
    b: &BriefConfig,
    facts: Facts,
    text: String,
    drawn: Value,
) -> Result<Alert, BriefError> {
    let period = facts.lead.period;
    let lead = config.series(&b.lead);
    let stored = store.observations(&b.lead)?;
    let source_period = stored
        .iter()
        .find(|o| o.period == period)
        .map(|o| o.source_period.clone())
        .unwrap_or_default();
    let previous = stored
        .iter()
        .rev()
        .find(|o| o.period < period)
        .map(|o| Previous {
            period: o.period,
            value: o.value,
        });
    let summary = text
        .lines()
        .nth(2)
        .map(|l| format!("{}: {l}", b.title))
        .unwrap_or_else(|| b.title.clone());
    let facts_json = serde_json::to_value(&facts).map_err(|source| BriefError::Encode {
        brief: b.id.clone(),
        source,
    })?;
    let details = Details::Brief(Brief {
        text,
        facts: Some(facts_json),
        drawn: Some(drawn),
    });
    info!(brief = %b.id, period = %period, "brief made");
    Ok(Alert {
        id: crate::rules::alert_id(&b.id, &b.lead, &period.to_string(), "brief", ""),
        rule: b.id.clone(),
        kind: AlertKind::Brief,
        severity: Severity::Info,
        series: b.lead.clone(),
        title: b.title.clone(),
        source: lead.as_ref().map(|s| s.source.clone()).unwrap_or_default(),
        table: lead.as_ref().map(|s| s.table.clone()).unwrap_or_default(),
        unit: lead
            .as_ref()
            .map(|s| s.value_unit().to_string())
            .unwrap_or_default(),
        period: Some(period),
        source_period: source_period.to_string(),
        value: Some(facts.lead.value),
        previous,
        cause: Cause::NewPeriod,
        summary,
        details,
        detected_at: cycle.now,
    })
}
