//! What an alert says besides the fields every alert has: webhook payload v1's `details`, one
//! variant per rule kind (and per event, where a kind says two different things), built by
//! the rules and read by the renderers through this type, never by a key's spelling
//! (docs/rules.md, "Rule kinds" and "Tables that change"; docs/payloads.md).
//!
//! On the wire and in the store `details` is a JSON object whose keys are sorted (payload v1
//! has always written them so). [`wire`] keeps both: it writes a variant through a JSON map,
//! and reads an object back as the variant whose keys it has (no two variants have the same
//! keys, so the alert's `kind` is not needed) only when that variant writes it back to the very
//! same JSON; anything else (a newer statwatch's keys, a record written by hand) stays
//! [`Details::Other`], as read, so every stored record reads and re-encodes unchanged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An alert's details. Field names are the payload's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Details {
    /// `release`, and any alert with nothing more to say: `{}`.
    Release {},
    /// `sign_change` on a new period: the new sign and how many periods the broken run had.
    SignChange { new_sign: Sign, broken_run: u32 },
    /// `sign_change` on a revision: the value before it and the new sign.
    SignRevised { old_value: f64, new_sign: Sign },
    /// `streak`: the run length reached.
    Streak { streak: u32 },
    /// `change`: the change against the period before (rounded), and whether in percent.
    Change { change: f64, relative: bool },
    /// `threshold`: the level crossed.
    Threshold { level: f64 },
    /// `revision`: the value before the revision.
    Revision { old_value: f64 },
    /// `revision` summing more than 12 revised periods of one release: how many, the
    /// largest, and its value before.
    RevisionSummed {
        old_value: f64,
        revised: usize,
        largest: Largest,
    },
    /// `overdue`: when the series' latest period was first seen; never recovered (yet).
    Overdue {
        #[serde(with = "seconds")]
        last_seen_at: DateTime<Utc>,
        recovered: bool,
    },
    /// `source_failing`: the last poll error, the first failed poll of the outage, and
    /// whether this alert says the source polls again.
    SourceFailing {
        last_error: String,
        #[serde(with = "seconds")]
        failing_since: DateTime<Utc>,
        recovered: bool,
    },
    /// `table_changed`: what the office changed (`event`).
    TableChanged(TableChange),
    /// `test-notify`'s alert: `{"test": true}`.
    Test { test: bool },
    /// A brief (`[[briefs]]`, kind `brief`): its text, facts and what the mail draws.
    Brief(Brief),
    /// Details this statwatch cannot type, kept exactly as read.
    Other(Map<String, Value>),
}

/// No details: `{}`, what a `release` alert carries.
impl Default for Details {
    fn default() -> Self {
        Details::Release {}
    }
}

/// A sign a `sign_change` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sign {
    Positive,
    Negative,
}

impl Sign {
    pub fn name(self) -> &'static str {
        match self {
            Sign::Positive => "positive",
            Sign::Negative => "negative",
        }
    }
}

/// The largest revision of a summed `revision` alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Largest {
    pub period: super::Period,
    pub old_value: f64,
    pub new_value: f64,
}

/// A `table_changed` alert's event and what the alert says about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum TableChange {
    /// The table is stopped: its successor, when the office names one, and other tables.
    Discontinued {
        successor: Option<String>,
        successor_title: Option<String>,
        candidates: Vec<TableChoice>,
    },
    /// A watched series' `dimension` (or measure) no longer has `key`: the closest keys.
    Structure {
        dimension: String,
        key: String,
        candidates: Vec<KeyChoice>,
    },
    /// A watched measure's unit changed: the series on it.
    Rebased {
        measure: String,
        old_unit: String,
        new_unit: String,
        series: Vec<String>,
    },
}

/// A table the user may move to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableChoice {
    pub id: String,
    pub title: String,
}

/// A key the user may move to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChoice {
    pub key: String,
    pub title: String,
}

/// A brief record's details. `facts` and `drawn` are the briefs module's own shapes (payload
/// v1 `facts`; what the HTML mail draws), carried as JSON; a brief stored before `drawn`
/// existed has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawn: Option<Value>,
}

/// Reads an object as the variant it is, or keeps it as it is (see the module doc).
impl From<Map<String, Value>> for Details {
    fn from(map: Map<String, Value>) -> Details {
        let object = Value::Object(map.clone());
        serde_json::from_value::<Details>(object.clone())
            .ok()
            .filter(|d| serde_json::to_value(d).ok().as_ref() == Some(&object))
            .unwrap_or(Details::Other(map))
    }
}

/// `Alert::details` as payload v1 and the store write it (see the module doc).
pub(super) mod wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::{Map, Value};

    use super::Details;

    /// Through a JSON map, whose keys are sorted at every level.
    pub fn serialize<S: Serializer>(d: &Details, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_value(d)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
        Map::<String, Value>::deserialize(d).map(Details::from)
    }
}

/// A time as the details write it: RFC 3339 in whole seconds, UTC as `Z`.
mod seconds {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire(d: &Details) -> String {
        #[derive(Serialize)]
        struct Alert<'a> {
            #[serde(with = "wire")]
            details: &'a Details,
        }
        serde_json::to_string(&Alert { details: d }).unwrap()
    }

    fn read(json: Value) -> Details {
        Details::from(json.as_object().unwrap().clone())
    }

    #[test]
    fn briefs_and_test_alerts_write_their_golden_bytes() {
        let brief = Details::Brief(Brief {
            text: "Dutch manufacturing, 2025-03".into(),
            facts: Some(json!({"lead": {"series": "nl.industry.yoy", "value": 1.3}})),
            drawn: Some(json!({"titles": {}, "units": {}, "bars": [], "hidden": 0})),
        });
        let golden = r#"{"details":{"drawn":{"bars":[],"hidden":0,"titles":{},"units":{}},"facts":{"lead":{"series":"nl.industry.yoy","value":1.3}},"text":"Dutch manufacturing, 2025-03"}}"#;
        assert_eq!(wire(&brief), golden);
        assert_eq!(
            wire(&Details::Test { test: true }),
            r#"{"details":{"test":true}}"#
        );
        assert_eq!(wire(&Details::default()), r#"{"details":{}}"#);
        // A brief stored before `drawn` existed reads as a brief.
        let old = read(json!({"text": "t", "facts": {}}));
        assert!(matches!(old, Details::Brief(Brief { drawn: None, .. })));
    }

    #[test]
    fn what_this_version_cannot_type_is_kept_as_read() {
        for other in [
            // A key a newer statwatch added.
            json!({"streak": 3, "longest": 5}),
            // A number written otherwise than this statwatch writes it.
            json!({"level": 0}),
            json!({"last_seen_at": "2025-05-09T08:30:00+02:00", "recovered": false}),
            json!({"event": "renamed", "to": "x"}),
        ] {
            let d = read(other.clone());
            assert!(matches!(d, Details::Other(_)), "{d:?}");
            assert_eq!(wire(&d), format!(r#"{{"details":{other}}}"#));
        }
        assert_eq!(
            read(json!({"level": 0.0})),
            Details::Threshold { level: 0.0 }
        );
    }
}
