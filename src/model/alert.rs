//! Alerts as webhook payload v1 carries them: kind, cause, severity, the series and period
//! (none for an alert about a whole source), their [`Details`] and what renderers read of
//! them, and the guards that keep a record readable (finite values only, `""` for no period).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Brief, Details, Period};

/// Why an alert fired: a newly published period, a revision of a published one, or a
/// silence (a series that stopped getting new periods, a source whose polls keep failing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    NewPeriod,
    Revision,
    Overdue,
    SourceFailing,
    /// An office changed a watched table (stopped it, recoded a key, rebased a measure).
    TableChanged,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::NewPeriod => "new_period",
            Cause::Revision => "revision",
            Cause::Overdue => "overdue",
            Cause::SourceFailing => "source_failing",
            Cause::TableChanged => "table_changed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// The value of the period before the alert's period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    pub period: Period,
    pub value: f64,
}

/// What kind of rule fired an alert (`test` for `test-notify`'s). Stored and sent as its
/// snake_case name, the same string as the rule's `kind`; a name this version does not know
/// (a newer statwatch wrote it) is kept as it is, so the record still reads and re-encodes to
/// the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlertKind {
    Release,
    SignChange,
    Streak,
    Change,
    Threshold,
    Revision,
    Overdue,
    SourceFailing,
    TableChanged,
    Test,
    /// Not a rule but a `[[briefs]]` entry: its text and facts are in `details`.
    Brief,
    Other(String),
}

impl AlertKind {
    pub fn name(&self) -> &str {
        match self {
            AlertKind::Release => "release",
            AlertKind::SignChange => "sign_change",
            AlertKind::Streak => "streak",
            AlertKind::Change => "change",
            AlertKind::Threshold => "threshold",
            AlertKind::Revision => "revision",
            AlertKind::Overdue => "overdue",
            AlertKind::SourceFailing => "source_failing",
            AlertKind::TableChanged => "table_changed",
            AlertKind::Test => "test",
            AlertKind::Brief => "brief",
            AlertKind::Other(name) => name,
        }
    }
}

impl From<&str> for AlertKind {
    fn from(name: &str) -> AlertKind {
        match name {
            "release" => AlertKind::Release,
            "sign_change" => AlertKind::SignChange,
            "streak" => AlertKind::Streak,
            "change" => AlertKind::Change,
            "threshold" => AlertKind::Threshold,
            "revision" => AlertKind::Revision,
            "overdue" => AlertKind::Overdue,
            "source_failing" => AlertKind::SourceFailing,
            "table_changed" => AlertKind::TableChanged,
            "test" => AlertKind::Test,
            "brief" => AlertKind::Brief,
            other => AlertKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for AlertKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for AlertKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(AlertKind::from(String::deserialize(d)?.as_str()))
    }
}

/// A fired rule, exactly as webhook payload v1 carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub series: String,
    pub title: String,
    pub source: String,
    pub table: String,
    pub unit: String,
    /// `None` only for an alert about a source (source_failing), written as `""`.
    #[serde(with = "period_or_empty")]
    pub period: Option<Period>,
    pub source_period: String,
    /// `None` only for an alert about a source (source_failing), written as `null`.
    #[serde(serialize_with = "finite_or_none")]
    pub value: Option<f64>,
    pub previous: Option<Previous>,
    pub cause: Cause,
    pub summary: String,
    /// Written as a JSON object with sorted keys (see [`Details`]).
    #[serde(with = "super::details::wire")]
    pub details: Details,
    pub detected_at: DateTime<Utc>,
}

/// JSON has no NaN or infinity (serde_json would write `null`, which reads back as "no
/// value"): such a value is an error to write, not a silent loss.
fn finite_or_none<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if !x.is_finite() => Err(serde::ser::Error::custom(format!(
            "the value {x} is not finite (NaN and infinity cannot be stored)"
        ))),
        other => other.serialize(s),
    }
}

/// A period as `"2025-03"`, or `""` where there is none (payload v1 keeps `period` a string).
mod period_or_empty {
    use super::Period;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<Period>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => p.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Period>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// What renderers read of [`Alert::details`], whatever the kind: `None` (or `false`) when the
/// alert's details do not say it.
impl Alert {
    /// The value before the revision (an alert caused by a revision).
    pub fn old_value(&self) -> Option<f64> {
        match self.details {
            Details::SignRevised { old_value, .. }
            | Details::Revision { old_value }
            | Details::RevisionSummed { old_value, .. } => Some(old_value),
            _ => None,
        }
    }

    /// How many periods a summed revision covers (`None` for one revision).
    pub fn revised(&self) -> Option<usize> {
        match self.details {
            Details::RevisionSummed { revised, .. } => Some(revised),
            _ => None,
        }
    }

    /// The period as written (`""` for an alert about a source).
    pub fn period_text(&self) -> String {
        self.period.map(|p| p.to_string()).unwrap_or_default()
    }

    /// Whether this alert says a silence is over.
    pub fn recovered(&self) -> bool {
        match self.details {
            Details::Overdue { recovered, .. } | Details::SourceFailing { recovered, .. } => {
                recovered
            }
            _ => false,
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        match &self.details {
            Details::SourceFailing { last_error, .. } => Some(last_error),
            _ => None,
        }
    }

    /// Whether this record is a brief (`[[briefs]]`), not a rule's alert.
    pub fn is_brief(&self) -> bool {
        self.kind == AlertKind::Brief
    }

    /// A brief's details.
    pub fn brief(&self) -> Option<&Brief> {
        match &self.details {
            Details::Brief(b) => Some(b),
            _ => None,
        }
    }

    /// A brief's plain text.
    pub fn brief_text(&self) -> Option<&str> {
        self.brief().map(|b| b.text.as_str())
    }

    /// A brief's facts (webhook payload v1 `facts`).
    pub fn brief_facts(&self) -> Option<&serde_json::Value> {
        self.brief()?.facts.as_ref()
    }

    /// Whether this is `test-notify`'s alert.
    pub fn is_test(&self) -> bool {
        matches!(self.details, Details::Test { test: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_kinds_keep_their_names_on_disk_and_on_the_wire() {
        for name in [
            "release",
            "sign_change",
            "streak",
            "change",
            "threshold",
            "revision",
            "test",
            "overdue",
            "source_failing",
            "table_changed",
        ] {
            let kind = AlertKind::from(name);
            assert_eq!(kind.name(), name);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("{name:?}"));
            assert_eq!(serde_json::from_str::<AlertKind>(&json).unwrap(), kind);
        }
        assert_eq!(AlertKind::from("sign_change"), AlertKind::SignChange);
        assert_eq!(
            AlertKind::from("backtest"),
            AlertKind::Other("backtest".into())
        );
    }
}
