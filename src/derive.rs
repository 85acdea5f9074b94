//! Pure: growth rates derived from stored levels (`derive = yoy_pct | mom_pct | diff`).
//! Recomputed from the levels after every change of them, so a revised level revises the
//! derived values it feeds.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Observation, Period, StoredObservation};

/// How a derived series is computed from its levels (`derive = "yoy_pct"` in a series).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derive {
    YoyPct,
    MomPct,
    Diff,
}

impl Derive {
    pub fn name(self) -> &'static str {
        match self {
            Derive::YoyPct => "yoy_pct",
            Derive::MomPct => "mom_pct",
            Derive::Diff => "diff",
        }
    }
}

/// The derived series for every period whose comparison level is known, oldest first.
/// Values are rounded to one decimal, as statistics offices publish them, and carry the
/// status of the newer level.
pub fn derive(levels: &[StoredObservation], how: Derive) -> Vec<Observation> {
    let by_period: BTreeMap<Period, &StoredObservation> =
        levels.iter().map(|o| (o.period, o)).collect();
    by_period
        .values()
        .filter_map(|o| {
            let base_period = match how {
                Derive::YoyPct => o.period.year_ago(),
                Derive::MomPct | Derive::Diff => o.period.prev(),
            };
            let base = by_period.get(&base_period)?.value;
            let value = match how {
                Derive::YoyPct | Derive::MomPct => {
                    if base == 0.0 {
                        return None;
                    }
                    (o.value / base - 1.0) * 100.0
                }
                Derive::Diff => o.value - base,
            };
            Some(Observation {
                period: o.period,
                source_period: o.source_period.clone(),
                value: (value * 10.0).round() / 10.0,
                status: o.status.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn level(y: i32, m: u8, v: f64) -> StoredObservation {
        StoredObservation {
            period: Period::Month(y, m),
            source_period: format!("{y}-{m:02}").into(),
            value: v,
            status: Default::default(),
            first_seen: Utc::now(),
            value_seen: Utc::now(),
            revisions: vec![],
        }
    }

    #[test]
    fn growth_rates_round_to_one_decimal() {
        let levels = [
            level(2024, 2, 95.0),
            level(2025, 1, 92.1),
            level(2025, 2, 93.2),
        ];
        let yoy = derive(&levels, Derive::YoyPct);
        assert_eq!(yoy.len(), 1);
        assert_eq!(yoy[0].period, Period::Month(2025, 2));
        assert_eq!(yoy[0].value, -1.9); // 93.2 / 95.0 - 1 = -1.894..%
        let mom = derive(&levels, Derive::MomPct);
        assert_eq!(mom[0].value, 1.2); // 93.2 / 92.1 - 1 = 1.194..%
        assert_eq!(derive(&levels, Derive::Diff)[0].value, 1.1);
    }
}
