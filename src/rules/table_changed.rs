//! `table_changed`: an office changed a watched table under the watch. Three events
//! (`details.event`): `discontinued` (the table is stopped; its successor when the office names
//! one, or other tables of the same statistic), `structure` (a watched measure or key left the
//! table's metadata: one alert per series, with the closest keys) and `rebased` (a watched
//! measure's unit changed, a new base year). The pipeline finds the events (`pipeline::drift`);
//! this file only words them. Each has a stable id from the rule, the source, the table and
//! what changed, so it fires once however many polls see it; `period` is "" and `value` null.

use chrono::{DateTime, Utc};
use globset::GlobMatcher;

use super::{alert_id, Check, RuleConfig};
use crate::model::{Alert, Cause, Details, KeyChoice, TableChange, TableChoice};

/// `source` (a name or glob).
#[derive(Debug, Clone)]
pub struct TableChanged {
    /// The source glob as written.
    pub source: String,
    pub matcher: GlobMatcher,
}

impl PartialEq for TableChanged {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Check for TableChanged {
    fn name(&self) -> &'static str {
        "table_changed"
    }
}

/// What the office changed in one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The table is stopped. `candidates` are other tables (id, title) that may carry on.
    Discontinued {
        successor: Option<String>,
        successor_title: Option<String>,
        candidates: Vec<Candidate>,
        why: String,
    },
    /// A watched series' `dimension` (or `measure`) no longer has `key`.
    Structure {
        series: String,
        title: String,
        dimension: String,
        key: String,
        candidates: Vec<Candidate>,
    },
    /// A watched measure's unit changed from `old` to `new`.
    Rebased {
        measure: String,
        old: String,
        new: String,
        series: Vec<String>,
    },
}

/// A table (id, title) or a key (key, title) the user may move to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub key: String,
    pub title: String,
}

/// Where an event happened.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub source: &'a str,
    pub table: &'a str,
}

impl TableChanged {
    pub fn applies_to(&self, source: &str) -> bool {
        self.matcher.is_match(source)
    }

    /// The id of `event` in `at` for `rule`: the same change seen again has the same id.
    pub fn id(rule: &RuleConfig, at: Place, event: &Event) -> String {
        let Place { source, table } = at;
        let (series, what) = match event {
            Event::Discontinued { .. } => (String::new(), "discontinued".to_string()),
            Event::Structure {
                series,
                dimension,
                key,
                ..
            } => (series.clone(), format!("structure {dimension}={key}")),
            Event::Rebased {
                measure, old, new, ..
            } => (String::new(), format!("rebased {measure}: {old} -> {new}")),
        };
        alert_id(
            &rule.id,
            &series,
            "",
            "table_changed",
            &format!("{source}/{table} {what}"),
        )
    }

    pub fn alert(&self, rule: &RuleConfig, at: Place, event: &Event, now: DateTime<Utc>) -> Alert {
        let Place { source, table } = at;
        let (series, title, summary, details) = match event {
            Event::Discontinued { .. } => discontinued(at, event),
            Event::Structure { .. } => structure(at, event),
            Event::Rebased {
                measure,
                old,
                new,
                series,
            } => (
                String::new(),
                format!("table {source} {table}"),
                format!(
                    "table {source} {table}: measure {measure} is now in {new} (was {old}): \
                     expect every period revised"
                ),
                TableChange::Rebased {
                    measure: measure.clone(),
                    old_unit: old.clone(),
                    new_unit: new.clone(),
                    series: series.clone(),
                },
            ),
        };
        Alert {
            id: Self::id(rule, at, event),
            rule: rule.id.clone(),
            kind: self.name().into(),
            severity: rule.severity,
            series,
            title,
            source: source.to_string(),
            table: table.to_string(),
            unit: String::new(),
            period: None,
            source_period: String::new(),
            value: None,
            previous: None,
            cause: Cause::TableChanged,
            summary,
            details: Details::TableChanged(details),
            detected_at: now,
        }
    }
}

/// What an alert says: its series (or ""), title, summary and details.
type Words = (String, String, String, TableChange);

/// The words of a `discontinued` event: series, title, summary, details.
fn discontinued(at: Place, event: &Event) -> Words {
    let Place { source, table } = at;
    let Event::Discontinued {
        successor,
        successor_title,
        candidates,
        why,
    } = event
    else {
        unreachable!("called for discontinued events only")
    };

    let next = match (successor, successor_title) {
        (Some(id), Some(t)) => format!("its successor is {id} ({t})"),
        (Some(id), None) => format!("its successor is {id}"),
        (None, Some(t)) => format!("its successor is named as {t:?}"),
        (None, None) if !candidates.is_empty() => {
            format!("tables of the same statistic: {}", listed(candidates))
        }
        (None, None) => "no successor is named".to_string(),
    };
    let tables = candidates
        .iter()
        .map(|c| TableChoice {
            id: c.key.clone(),
            title: c.title.clone(),
        })
        .collect();
    (
        String::new(),
        format!("table {source} {table}"),
        format!("table {source} {table} is discontinued ({why}); {next}"),
        TableChange::Discontinued {
            successor: successor.clone(),
            successor_title: successor_title.clone(),
            candidates: tables,
        },
    )
}

/// The words of a `structure` event: series, title, summary, details.
fn structure(at: Place, event: &Event) -> Words {
    let Place { source, table } = at;
    let Event::Structure {
        series,
        title,
        dimension,
        key,
        candidates,
    } = event
    else {
        unreachable!("called for structure events only")
    };

    let closest = match candidates.is_empty() {
        true => String::new(),
        false => format!(" (closest: {})", listed(candidates)),
    };
    let keys = candidates
        .iter()
        .map(|c| KeyChoice {
            key: c.key.clone(),
            title: c.title.clone(),
        })
        .collect();
    (
        series.clone(),
        title.clone(),
        format!(
            "series {series}: table {source} {table} no longer has {dimension} \
                         {key:?}{closest}; its stored data is kept"
        ),
        TableChange::Structure {
            dimension: dimension.clone(),
            key: key.clone(),
            candidates: keys,
        },
    )
}

/// `a (title a), b (title b)`.
fn listed(choices: &[Candidate]) -> String {
    choices
        .iter()
        .map(|c| format!("{} ({})", c.key, c.title))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn rule() -> (RuleConfig, TableChanged) {
        let kind = TableChanged {
            source: "*".into(),
            matcher: globset::Glob::new("*").unwrap().compile_matcher(),
        };
        let rule = RuleConfig {
            id: "tables".into(),
            series: String::new(),
            matcher: globset::Glob::new("").unwrap().compile_matcher(),
            kind: super::super::RuleKind::TableChanged(kind.clone()),
            severity: Severity::Warning,
        };
        (rule, kind)
    }

    #[test]
    fn each_event_has_a_stable_id_and_no_period_or_value() {
        let (r, k) = rule();
        let at = Place {
            source: "cbs",
            table: "85806NED",
        };
        let now = Utc::now();
        let stop = Event::Discontinued {
            successor: Some("84098NED".into()),
            successor_title: Some("Lopende transacties".into()),
            candidates: Vec::new(),
            why: "OutputStatus Gediscontinueerd".into(),
        };
        let a = k.alert(&r, at, &stop, now);
        assert_eq!(
            a.id,
            k.alert(&r, at, &stop, now + chrono::Duration::days(1)).id
        );
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["period"], "");
        assert_eq!(v["value"], serde_json::Value::Null);
        assert_eq!(v["kind"], "table_changed");
        assert_eq!(v["cause"], "table_changed");
        assert_eq!(v["details"]["event"], "discontinued");
        assert_eq!(v["details"]["successor"], "84098NED");
        let rebased = |new: &str| Event::Rebased {
            measure: "Index_1".into(),
            old: "2015=100".into(),
            new: new.into(),
            series: vec!["x".into()],
        };
        let b = k.alert(&r, at, &rebased("2021=100"), now);
        assert_ne!(b.id, a.id);
        assert_ne!(b.id, k.alert(&r, at, &rebased("2025=100"), now).id);
        let s = Event::Structure {
            series: "nl.x".into(),
            title: "X".into(),
            dimension: "Branche".into(),
            key: "307500".into(),
            candidates: vec![Candidate {
                key: "C".into(),
                title: "Industrie".into(),
            }],
        };
        let c = serde_json::to_value(k.alert(&r, at, &s, now)).unwrap();
        assert_eq!(c["series"], "nl.x");
        assert_eq!(c["details"]["candidates"][0]["key"], "C");
        assert_eq!(c["details"]["candidates"][0]["title"], "Industrie");
    }
}
