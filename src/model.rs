//! Plain data shared by every stage: periods, observations, releases and alerts. No I/O.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How often a series is published. Ordered from finest to coarsest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    Month,
    Quarter,
    Year,
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Frequency::Month => "month",
            Frequency::Quarter => "quarter",
            Frequency::Year => "year",
        })
    }
}

/// A reporting period. Displays as `YYYY-MM`, `YYYY-Qn` or `YYYY`.
///
/// The derived `Ord` sorts by year first and then by variant, which is only meaningful
/// between periods of one frequency: a series never mixes frequencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Year(i32),
    Quarter(i32, u8),
    Month(i32, u8),
}

/// The years a period may have. A key outside (`-999MM01`, `0000`, `9999KW01`) is a broken
/// answer, not a period: storing it would make a record whose key and display do not parse
/// back (a negative year prints as `-999`), so every later read of the series would fail.
pub const YEARS: std::ops::RangeInclusive<i32> = 1800..=2200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a period: {0:?} (expected YYYY-MM, YYYY-Qn or YYYY, year 1800 to 2200)")]
pub struct PeriodParseError(pub String);

impl Period {
    pub fn frequency(self) -> Frequency {
        match self {
            Period::Year(_) => Frequency::Year,
            Period::Quarter(..) => Frequency::Quarter,
            Period::Month(..) => Frequency::Month,
        }
    }

    pub fn year(self) -> i32 {
        match self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => y,
        }
    }

    /// The period immediately before this one, of the same frequency.
    pub fn prev(self) -> Period {
        match self {
            Period::Year(y) => Period::Year(y - 1),
            Period::Quarter(y, 1) => Period::Quarter(y - 1, 4),
            Period::Quarter(y, q) => Period::Quarter(y, q - 1),
            Period::Month(y, 1) => Period::Month(y - 1, 12),
            Period::Month(y, m) => Period::Month(y, m - 1),
        }
    }

    /// The same period one year earlier (for year-on-year growth).
    pub fn year_ago(self) -> Period {
        match self {
            Period::Year(y) => Period::Year(y - 1),
            Period::Quarter(y, q) => Period::Quarter(y - 1, q),
            Period::Month(y, m) => Period::Month(y - 1, m),
        }
    }

    /// A fixed-width key that sorts chronologically within one frequency
    /// (used as the sled key suffix, so range scans come out in period order).
    pub fn sort_key(self) -> String {
        match self {
            Period::Year(y) => format!("{y:04}"),
            Period::Quarter(y, q) => format!("{y:04}-Q{q}"),
            Period::Month(y, m) => format!("{y:04}-{m:02}"),
        }
    }

    pub fn month(year: i32, month: u8) -> Option<Period> {
        ((1..=12).contains(&month) && YEARS.contains(&year)).then_some(Period::Month(year, month))
    }

    pub fn quarter(year: i32, quarter: u8) -> Option<Period> {
        ((1..=4).contains(&quarter) && YEARS.contains(&year))
            .then_some(Period::Quarter(year, quarter))
    }

    pub fn year_of(year: i32) -> Option<Period> {
        YEARS.contains(&year).then_some(Period::Year(year))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sort_key())
    }
}

impl FromStr for Period {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodParseError(s.to_string());
        let year = |y: &str| -> Result<i32, PeriodParseError> {
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) {
                y.parse().map_err(|_| err())
            } else {
                Err(err())
            }
        };
        match s.split_once('-') {
            None => Period::year_of(year(s)?).ok_or_else(err),
            Some((y, rest)) => {
                let y = year(y)?;
                if let Some(q) = rest.strip_prefix('Q') {
                    let q: u8 = q.parse().map_err(|_| err())?;
                    Period::quarter(y, q).ok_or_else(err)
                } else if rest.len() == 2 {
                    let m: u8 = rest.parse().map_err(|_| err())?;
                    Period::month(y, m).ok_or_else(err)
                } else {
                    Err(err())
                }
            }
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One published value of a series as a source delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub period: Period,
    /// The source's own period code (`2025MM03`, `MONAT03 2025`), kept for people.
    pub source_period: String,
    pub value: f64,
    /// The source's status word (`Voorlopig`, `Definitief`, a Destatis quality flag), or empty.
    pub status: String,
}

/// An earlier value of a stored observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vintage {
    pub value: f64,
    pub status: String,
    pub seen_at: DateTime<Utc>,
}

/// An observation as the store holds it: the latest value and every earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredObservation {
    pub period: Period,
    pub source_period: String,
    pub value: f64,
    pub status: String,
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
    pub old: String,
    pub new: String,
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
        if self.is_empty() {
            return f.write_str("unchanged");
        }
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}{}, {}, {}",
            if self.baseline { "baseline: " } else { "" },
            plural(self.new_periods.len(), "new period", "new periods"),
            plural(self.revisions.len(), "revision", "revisions"),
            plural(self.status_changes.len(), "status change", "status changes"),
        )
    }
}

/// Why an alert fired: a newly published period, a revision of a published one, or a
/// silence (a series that stopped getting new periods, a source whose polls keep failing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    NewPeriod,
    Revision,
    Overdue,
    SourceFailing,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::NewPeriod => "new_period",
            Cause::Revision => "revision",
            Cause::Overdue => "overdue",
            Cause::SourceFailing => "source_failing",
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

/// The keys rules write into [`Alert::details`] (interface.md, webhook payload). Code reads
/// them back through the typed accessors on [`Alert`], never by spelling a key.
pub mod detail {
    /// The value before a revision (alerts caused by a revision).
    pub const OLD_VALUE: &str = "old_value";
    /// `positive` or `negative` (sign_change).
    pub const NEW_SIGN: &str = "new_sign";
    /// How many periods the broken run had (sign_change on a new period).
    pub const BROKEN_RUN: &str = "broken_run";
    /// The run length reached (streak).
    pub const STREAK: &str = "streak";
    /// The change against the previous period, rounded (change).
    pub const CHANGE: &str = "change";
    /// Whether `change` is in percent (change).
    pub const RELATIVE: &str = "relative";
    /// The level crossed (threshold).
    pub const LEVEL: &str = "level";
    /// Only on `test-notify`'s alert.
    pub const TEST: &str = "test";
    /// When the series' latest period was first seen (overdue), RFC 3339.
    pub const LAST_SEEN_AT: &str = "last_seen_at";
    /// The last poll error (source_failing).
    pub const LAST_ERROR: &str = "last_error";
    /// The first failed poll of the outage (source_failing), RFC 3339.
    pub const FAILING_SINCE: &str = "failing_since";
    /// Whether this alert says the silence is over (source_failing: the source polls again).
    pub const RECOVERED: &str = "recovered";
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
    pub details: serde_json::Map<String, serde_json::Value>,
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

/// Typed reads of [`Alert::details`]: `None` when the alert does not carry the key (or carries
/// something else under it).
impl Alert {
    fn detail(&self, key: &str) -> Option<&serde_json::Value> {
        self.details.get(key)
    }

    pub fn old_value(&self) -> Option<f64> {
        self.detail(detail::OLD_VALUE)?.as_f64()
    }

    pub fn new_sign(&self) -> Option<&str> {
        self.detail(detail::NEW_SIGN)?.as_str()
    }

    pub fn broken_run(&self) -> Option<u64> {
        self.detail(detail::BROKEN_RUN)?.as_u64()
    }

    pub fn streak(&self) -> Option<u64> {
        self.detail(detail::STREAK)?.as_u64()
    }

    pub fn change(&self) -> Option<f64> {
        self.detail(detail::CHANGE)?.as_f64()
    }

    pub fn relative(&self) -> Option<bool> {
        self.detail(detail::RELATIVE)?.as_bool()
    }

    pub fn level(&self) -> Option<f64> {
        self.detail(detail::LEVEL)?.as_f64()
    }

    /// The period as written (`""` for an alert about a source).
    pub fn period_text(&self) -> String {
        self.period.map(|p| p.to_string()).unwrap_or_default()
    }

    /// Whether this alert says a silence is over.
    pub fn recovered(&self) -> bool {
        self.detail(detail::RECOVERED)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    pub fn last_error(&self) -> Option<&str> {
        self.detail(detail::LAST_ERROR)?.as_str()
    }

    /// Whether this record is a brief (`[[briefs]]`), not a rule's alert.
    pub fn is_brief(&self) -> bool {
        self.kind == AlertKind::Brief
    }

    /// A brief's plain text.
    pub fn brief_text(&self) -> Option<&str> {
        self.detail("text")?.as_str()
    }

    /// A brief's facts (webhook payload v1 `facts`).
    pub fn brief_facts(&self) -> Option<&serde_json::Value> {
        self.detail("facts")
    }

    /// Whether this is `test-notify`'s alert.
    pub fn is_test(&self) -> bool {
        self.detail(detail::TEST)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }
}

/// Where an alert stands with one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        })
    }
}

/// One alert's delivery to one receiver: an outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub alert_id: String,
    pub receiver: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Not before this time (backoff, or a receiver's `Retry-After`).
    pub next_attempt_at: DateTime<Utc>,
    /// A `Retry-After` deadline that even a forced retry (`poll`) must honour.
    pub not_before: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Formats a value with an explicit sign, as the news releases do ("+1.3", "-0.3", "0.0").
pub fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{v}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_round_trip_and_order() {
        for s in ["2025-03", "2025-Q1", "2025", "1999-12"] {
            assert_eq!(s.parse::<Period>().unwrap().to_string(), s);
        }
        assert!("2025-13".parse::<Period>().is_err());
        assert!("2025-Q5".parse::<Period>().is_err());
        assert!("25-01".parse::<Period>().is_err());
        // Years outside 1800..=2200 are not periods, and negative ones never print as a key.
        for bad in ["0000", "9999-01", "1799-Q4", "2201", "-999-01"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        assert_eq!(Period::month(-999, 1), None);
        assert_eq!("1800-01".parse::<Period>(), Ok(Period::Month(1800, 1)));
        assert!(Period::Month(2024, 12) < Period::Month(2025, 1));
        assert_eq!(Period::Month(2025, 1).prev(), Period::Month(2024, 12));
        assert_eq!(Period::Quarter(2025, 1).prev(), Period::Quarter(2024, 4));
        assert_eq!(Period::Month(2025, 3).year_ago(), Period::Month(2024, 3));
    }

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

    #[test]
    fn signed_values_read_like_news() {
        assert_eq!(signed(1.3), "+1.3");
        assert_eq!(signed(-0.3), "-0.3");
        assert_eq!(signed(0.0), "0");
    }
}
