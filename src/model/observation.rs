//! Observations as sources deliver them and as the store holds them (with every earlier
//! vintage), and the release a fetch makes of one series: new periods, revisions, status
//! changes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Period;

/// Short text that every observation repeats: the source's period code and status word.
/// Inline up to 23 bytes (every CBS and GENESIS code is shorter), so the millions of them a
/// whole table brings allocate nothing, and a clone is a copy.
pub type Label = smol_str::SmolStr;

/// One published value of a series as a source delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub period: Period,
    /// The source's own period code (`2025MM03`, `MONAT03 2025`), kept for people.
    pub source_period: Label,
    pub value: f64,
    /// The source's status word (`Voorlopig`, `Definitief`, a Destatis quality flag), or empty.
    pub status: Label,
}

/// An earlier value of a stored observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vintage {
    pub value: f64,
    pub status: Label,
    pub seen_at: DateTime<Utc>,
}

/// An observation as the store holds it: the latest value and every earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredObservation {
    pub period: Period,
    pub source_period: Label,
    pub value: f64,
    pub status: Label,
    pub first_seen: DateTime<Utc>,
    /// When the current value was first seen (equals `first_seen` until a revision).
    pub value_seen: DateTime<Utc>,
    /// Earlier values, oldest first.
    pub revisions: Vec<Vintage>,
}

/// A change of a published value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub period: Period,
    pub old: f64,
    pub new: f64,
}

/// A change of status without a change of value (Voorlopig -> Definitief).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub period: Period,
    pub old: Label,
    pub new: Label,
}

/// What one fetch changed in one series, compared with the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The first sync of a series: stored and logged, never alerted on.
    pub baseline: bool,
    pub new_periods: Vec<Period>,
    pub revisions: Vec<Revision>,
    pub status_changes: Vec<StatusChange>,
}

impl Release {
    pub fn is_empty(&self) -> bool {
        self.new_periods.is_empty() && self.revisions.is_empty() && self.status_changes.is_empty()
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = Tally::default();
        t.add(self);
        t.fmt(f)
    }
}

/// How much changed in one or more releases (a table's, for reports): counts only, so a
/// report of a first sync does not hold every new period twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub baseline: bool,
    pub new_periods: usize,
    pub revisions: usize,
    pub status_changes: usize,
}

impl Tally {
    pub fn add(&mut self, r: &Release) {
        self.baseline |= r.baseline;
        self.new_periods += r.new_periods.len();
        self.revisions += r.revisions.len();
        self.status_changes += r.status_changes.len();
    }

    pub fn is_empty(&self) -> bool {
        self.new_periods == 0 && self.revisions == 0 && self.status_changes == 0
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("unchanged");
        }
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}{}, {}, {}",
            if self.baseline { "baseline: " } else { "" },
            plural(self.new_periods, "new period", "new periods"),
            plural(self.revisions, "revision", "revisions"),
            plural(self.status_changes, "status change", "status changes"),
        )
    }
}
