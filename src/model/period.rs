//! Reporting periods (`2025-03`, `2025-Q1`, `2025`) and their frequency: ordering, the
//! period before and a year before, the sane range of years, text and serde forms.

use std::fmt;
use std::str::FromStr;

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
}
