//! Pure: what a fetch changed in one series, compared with what the store holds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{
    Observation, Period, Release, Revision, StatusChange, StoredObservation, Vintage,
};

/// Values closer than this are the same published figure (they come from decimal text).
const EPSILON: f64 = 1e-9;

/// The release and the observations to write for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub release: Release,
    /// New and changed observations, ready for the store.
    pub updates: Vec<StoredObservation>,
}

/// Compares a fetch with the stored observations of the same series.
///
/// A period missing from the fetch is left alone: downloads only reach back
/// `history_years`, so absence is not deletion. An empty store makes the fetch a baseline.
pub fn diff(stored: &[StoredObservation], fetched: &[Observation], seen_at: DateTime<Utc>) -> Diff {
    let by_period: HashMap<Period, &StoredObservation> =
        stored.iter().map(|o| (o.period, o)).collect();
    let mut release = Release {
        baseline: stored.is_empty(),
        ..Release::default()
    };
    let mut updates = Vec::new();
    let mut fetched: Vec<&Observation> = fetched.iter().collect();
    fetched.sort_by_key(|o| o.period);
    fetched.dedup_by_key(|o| o.period);
    for f in fetched {
        match by_period.get(&f.period) {
            None => {
                release.new_periods.push(f.period);
                updates.push(StoredObservation {
                    period: f.period,
                    source_period: f.source_period.clone(),
                    value: f.value,
                    status: f.status.clone(),
                    first_seen: seen_at,
                    value_seen: seen_at,
                    revisions: Vec::new(),
                });
            }
            Some(old) => {
                let revised = (old.value - f.value).abs() > EPSILON;
                let restated = old.status != f.status;
                if !revised && !restated {
                    continue;
                }
                let mut new = (*old).clone();
                if revised {
                    release.revisions.push(Revision {
                        period: f.period,
                        old: old.value,
                        new: f.value,
                    });
                    new.revisions.push(Vintage {
                        value: old.value,
                        status: old.status.clone(),
                        seen_at: old.value_seen,
                    });
                    new.value = f.value;
                    new.value_seen = seen_at;
                }
                if restated {
                    release.status_changes.push(StatusChange {
                        period: f.period,
                        old: old.status.clone(),
                        new: f.status.clone(),
                    });
                    new.status = f.status.clone();
                }
                new.source_period = f.source_period.clone();
                updates.push(new);
            }
        }
    }
    Diff { release, updates }
}

/// The series as it stands after applying `updates`, oldest period first: each update
/// replaces the observation of its period, earlier vintages and all. The one merge of
/// observations: the rules read it, a derived series is derived from it, and the store
/// merges a poll's updates into its records (`store::series`) and stages them (`Staged`)
/// with it.
pub fn merged(
    stored: Vec<StoredObservation>,
    updates: &[StoredObservation],
) -> Vec<StoredObservation> {
    let mut map: std::collections::BTreeMap<Period, StoredObservation> =
        stored.into_iter().map(|o| (o.period, o)).collect();
    for u in updates {
        map.insert(u.period, u.clone());
    }
    map.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: u32) -> DateTime<Utc> {
        format!("2025-04-{day:02}T06:30:00Z").parse().unwrap()
    }

    fn fetched(rows: &[(u8, f64, &str)]) -> Vec<Observation> {
        rows.iter()
            .map(|&(m, v, s)| Observation {
                period: Period::Month(2025, m),
                source_period: format!("2025MM{m:02}").into(),
                value: v,
                status: s.into(),
            })
            .collect()
    }

    #[test]
    fn first_sync_is_a_baseline() {
        let d = diff(
            &[],
            &fetched(&[(1, 0.3, "Voorlopig"), (2, 1.0, "Voorlopig")]),
            t(10),
        );
        assert!(d.release.baseline);
        assert_eq!(d.release.new_periods.len(), 2);
        assert_eq!(d.updates.len(), 2);
    }

    #[test]
    fn new_periods_revisions_and_status_changes() {
        let base = diff(
            &[],
            &fetched(&[(1, 0.3, "Voorlopig"), (2, 1.0, "Voorlopig")]),
            t(10),
        )
        .updates;
        let next = fetched(&[
            (1, 0.3, "NaderVoorlopig"),
            (2, -0.3, "Voorlopig"),
            (3, 1.4, "Voorlopig"),
        ]);
        let d = diff(&base, &next, t(11));
        assert!(!d.release.baseline);
        assert_eq!(d.release.new_periods, vec![Period::Month(2025, 3)]);
        assert_eq!(
            d.release.revisions,
            vec![Revision {
                period: Period::Month(2025, 2),
                old: 1.0,
                new: -0.3
            }]
        );
        assert_eq!(d.release.status_changes.len(), 1);
        assert_eq!(
            d.release.to_string(),
            "1 new period, 1 revision, 1 status change"
        );
        let feb = d
            .updates
            .iter()
            .find(|o| o.period == Period::Month(2025, 2))
            .unwrap();
        assert_eq!(feb.value, -0.3);
        assert_eq!(
            feb.revisions,
            vec![Vintage {
                value: 1.0,
                status: "Voorlopig".into(),
                seen_at: t(10)
            }]
        );
        assert_eq!(feb.first_seen, t(10));
        assert_eq!(feb.value_seen, t(11));
    }

    #[test]
    fn the_same_release_twice_changes_nothing() {
        let rows = fetched(&[(1, 0.3, "Voorlopig")]);
        let base = diff(&[], &rows, t(10)).updates;
        let d = diff(&base, &rows, t(11));
        assert!(d.release.is_empty());
        assert!(d.updates.is_empty());
        assert_eq!(d.release.to_string(), "unchanged");
    }

    #[test]
    fn absent_periods_are_not_deletions() {
        let base = diff(&[], &fetched(&[(1, 0.3, ""), (2, 1.0, "")]), t(10)).updates;
        let d = diff(&base, &fetched(&[(2, 1.0, "")]), t(11));
        assert!(d.release.is_empty());
        assert_eq!(merged(base, &d.updates).len(), 2);
    }
}
