//! The facts of a brief, computed from stored series and nothing else: the lead's run, each
//! context series' latest change, and the breakdown's counts and movers. Pure functions of
//! `(Period, value)` lists, so they are unit-tested with the real published figures.

use serde::{Deserialize, Serialize};

use crate::model::Period;
use crate::rules::round;

/// The sign of a value as the brief words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sign {
    Positive,
    Negative,
    Zero,
}

impl Sign {
    pub fn of(v: f64) -> Sign {
        if v > 0.0 {
            Sign::Positive
        } else if v < 0.0 {
            Sign::Negative
        } else {
            Sign::Zero
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sign::Positive => "positive",
            Sign::Negative => "negative",
            Sign::Zero => "zero",
        }
    }
}

/// The run the lead's latest value is in, and the run before it (webhook `facts.lead.run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub sign: Sign,
    pub length: usize,
    pub previous_sign: Option<Sign>,
    pub previous_length: Option<usize>,
    /// The first period of the previous run.
    pub previous_since: Option<Period>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub series: String,
    pub period: Period,
    pub value: f64,
    pub run: Run,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub series: String,
    pub period: Period,
    pub value: f64,
    pub previous_value: Option<f64>,
    pub change: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mover {
    pub series: String,
    pub title: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub glob: String,
    pub period: Period,
    pub rose: usize,
    pub fell: usize,
    pub total: usize,
    /// Highest first.
    pub top: Vec<Mover>,
    /// Lowest first.
    pub bottom: Vec<Mover>,
}

/// `facts` of webhook payload v1, in the contract's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub lead: Lead,
    pub context: Vec<Context>,
    pub breakdown: Option<Breakdown>,
}

/// The run ending at `at` in `series` (oldest first). Runs are of consecutive periods: a
/// gap in the series ends a run, since "the 3rd month in a row" must not span a hole.
/// `None` when `at` is not in the series.
pub fn run(series: &[(Period, f64)], at: Period) -> Option<Run> {
    let end = series.iter().position(|(p, _)| *p == at)?;
    let upto = &series[..=end];
    let (len, sign) = run_back(upto);
    let rest = &upto[..upto.len() - len];
    let continues = rest
        .last()
        .is_some_and(|(p, _)| upto[upto.len() - len].0.prev() == *p);
    let previous = if continues {
        let (plen, psign) = run_back(rest);
        Some((psign, plen, rest[rest.len() - plen].0))
    } else {
        None
    };
    Some(Run {
        sign,
        length: len,
        previous_sign: previous.map(|p| p.0),
        previous_length: previous.map(|p| p.1),
        previous_since: previous.map(|p| p.2),
    })
}

/// Length and sign of the run at the end of a non-empty slice.
fn run_back(s: &[(Period, f64)]) -> (usize, Sign) {
    let sign = Sign::of(s[s.len() - 1].1);
    let mut len = 1;
    while len < s.len() {
        let (p, v) = s[s.len() - 1 - len];
        let later = s[s.len() - len].0;
        if Sign::of(v) != sign || later.prev() != p {
            break;
        }
        len += 1;
    }
    (len, sign)
}

/// The latest period of a series with its change on the stored period before; `None` for a
/// series with no data (it is left out of the brief).
pub fn context(series_id: &str, series: &[(Period, f64)]) -> Option<Context> {
    let (period, value) = *series.last()?;
    let previous_value = series.len().checked_sub(2).map(|i| series[i].1);
    Some(Context {
        series: series_id.to_string(),
        period,
        value,
        previous_value,
        change: previous_value.map(|p| round(value - p)),
    })
}

/// Counts and movers over `(series, title, value)` at one period. Ties are broken by id so
/// the same data always names the same movers.
pub fn breakdown(glob: &str, period: Period, values: &[Mover], top: usize) -> Breakdown {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.series.cmp(&b.series))
    });
    let n = top.min(sorted.len());
    let highest: Vec<Mover> = sorted[..n].to_vec();
    let lowest: Vec<Mover> = sorted.iter().rev().take(n).cloned().collect();
    Breakdown {
        glob: glob.to_string(),
        period,
        rose: values.iter().filter(|m| m.value > 0.0).count(),
        fell: values.iter().filter(|m| m.value < 0.0).count(),
        total: values.len(),
        top: highest,
        bottom: lowest,
    }
}

/// The most bars a brief's breakdown chart draws: the highest and lowest half of them each
/// when the breakdown has more series (a chart of 834 municipalities would be unreadable).
pub const MAX_BARS: usize = 30;

/// The breakdown's bars, highest first: every series, or the [`MAX_BARS`] at both ends and
/// how many between them were left out.
pub fn bars(values: &[Mover]) -> (Vec<Mover>, usize) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.series.cmp(&b.series))
    });
    if sorted.len() <= MAX_BARS {
        return (sorted, 0);
    }
    let hidden = sorted.len() - MAX_BARS;
    let tail = sorted.split_off(sorted.len() - MAX_BARS / 2);
    sorted.truncate(MAX_BARS / 2);
    sorted.extend(tail);
    (sorted, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_sorted_and_bounded() {
        let m = |i: usize| Mover {
            series: format!("s{i:03}"),
            title: format!("t{i}"),
            value: i as f64 - 50.0,
        };
        let (b, hidden) = bars(&(0..5).map(m).collect::<Vec<_>>());
        assert_eq!((b.len(), hidden, b[0].series.as_str()), (5, 0, "s004"));
        let (b, hidden) = bars(&(0..100).map(m).collect::<Vec<_>>());
        assert_eq!((b.len(), hidden), (MAX_BARS, 70));
        assert_eq!((b[0].value, b[MAX_BARS - 1].value), (49.0, -50.0));
    }

    /// The y/y of manufacturing as CBS had it in May 2025 (85806NED, calendar adjusted):
    /// 2023-04 .. 2025-03.
    fn may_2025() -> Vec<(Period, f64)> {
        let values = [
            -1.2, -0.9, 1.3, -0.4, -1.5, -3.8, -4.0, -3.7, -0.5, // 2023-04 .. 2023-12
            -5.1, -2.9, -6.4, -4.2, -4.2, -5.2, -4.5, -0.9, -3.1, -1.9, -0.6, -4.7, // 2024
            0.3, 1.0, 1.3, // 2025-01 .. 2025-03
        ];
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let m = 3 + i as i32; // months since 2023-01, zero-based
                (Period::Month(2023 + m / 12, (m % 12 + 1) as u8), *v)
            })
            .collect()
    }

    #[test]
    fn the_march_2025_run_is_the_third_positive_after_18_negative_months() {
        let r = run(&may_2025(), Period::Month(2025, 3)).unwrap();
        assert_eq!(r.sign, Sign::Positive);
        assert_eq!(r.length, 3);
        assert_eq!(r.previous_sign, Some(Sign::Negative));
        assert_eq!(r.previous_length, Some(18));
        assert_eq!(r.previous_since, Some(Period::Month(2023, 7)));
    }

    #[test]
    fn a_run_stops_at_a_gap_and_at_the_start() {
        let s = vec![
            (Period::Month(2025, 1), -1.0),
            (Period::Month(2025, 3), 2.0),
        ];
        let r = run(&s, Period::Month(2025, 3)).unwrap();
        assert_eq!((r.length, r.previous_sign), (1, None));
        let r = run(&s, Period::Month(2025, 1)).unwrap();
        assert_eq!(
            (r.sign, r.length, r.previous_length),
            (Sign::Negative, 1, None)
        );
        assert!(run(&s, Period::Month(2025, 2)).is_none());
    }

    #[test]
    fn context_gives_the_change_on_the_period_before() {
        // Producer confidence, March and April 2025.
        let s = vec![
            (Period::Month(2025, 3), -1.5),
            (Period::Month(2025, 4), -3.3),
        ];
        let c = context("nl.confidence", &s).unwrap();
        assert_eq!(c.period, Period::Month(2025, 4));
        assert_eq!(
            (c.value, c.previous_value, c.change),
            (-3.3, Some(-1.5), Some(-1.8))
        );
        assert!(context("x", &[]).is_none());
    }

    #[test]
    fn breakdown_counts_and_names_the_movers() {
        let m = |s: &str, v: f64| Mover {
            series: s.into(),
            title: s.to_uppercase(),
            value: v,
        };
        let values = [
            m("a", 11.9),
            m("b", 9.2),
            m("c", 0.0),
            m("d", -7.1),
            m("e", -4.0),
            m("f", 2.0),
        ];
        let b = breakdown("x.*", Period::Month(2025, 3), &values, 2);
        assert_eq!((b.rose, b.fell, b.total), (3, 2, 6));
        assert_eq!(
            b.top.iter().map(|m| m.value).collect::<Vec<_>>(),
            [11.9, 9.2]
        );
        assert_eq!(
            b.bottom.iter().map(|m| m.value).collect::<Vec<_>>(),
            [-7.1, -4.0]
        );
        let one = breakdown("x.*", Period::Month(2025, 3), &values[..1], 3);
        assert_eq!((one.top.len(), one.bottom.len()), (1, 1));
    }
}
