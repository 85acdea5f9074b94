//! Pure: what one series of a downloaded table comes to, from its config entry, what the
//! store holds of it, the values fetched and the poll's time. Where the store holds no record
//! of it, a first sync: the download becomes its record as it is, and fires nothing. Else its
//! release against what is stored: the new and changed observations to store and the alerts
//! its rules fire. A derived series is planned twice over: its levels from the download, its
//! values from the levels as they will stand. Nothing here reads or writes the store or the
//! poll's report: `gather` folds a table's plans into the poll's write, and a dry run builds
//! the same plans and does not commit them.

use chrono::{DateTime, Utc};

use super::TableError;
use crate::config::SeriesConfig;
use crate::derive::derive;
use crate::diff::{diff, merged};
use crate::model::{Alert, Release, StoredObservation};
use crate::rules::{self, RuleConfig};
use crate::sources::{FetchError, Fetched};
use crate::store::EncodedSeries;

/// What the store holds of one stored series (a configured one, or a derived one's levels),
/// read where its records are until the commit (a renamed series' under its old id).
#[derive(Default)]
pub(super) struct Held {
    /// Whether it has any record: one can hold no observations (a series whose first answer
    /// had none), and then the next values are its release, not its first sync.
    pub(super) recorded: bool,
    pub(super) observations: Vec<StoredObservation>,
}

/// What the store holds of a configured series.
pub(super) struct Stored {
    pub(super) own: Held,
    /// Its levels: a derived series' (`#level`), or, when the answer has no values, any
    /// series' (it may have been derived before).
    pub(super) levels: Held,
}

/// What one stored series gets from this poll.
pub(super) enum Plan {
    /// Nothing stored: `record` (made by the one first-sync encoding) becomes its record.
    FirstSync {
        release: Release,
        record: EncodedSeries,
    },
    /// A change against what is stored: what to store and what fires (a baseline, of a
    /// series with an empty record, fires nothing).
    Release {
        release: Release,
        updates: Vec<StoredObservation>,
        alerts: Vec<Alert>,
    },
    Unchanged,
}

impl Plan {
    /// The release this poll finds in the series (none when it is unchanged).
    pub(super) fn release(&self) -> Option<&Release> {
        match self {
            Plan::FirstSync { release, .. } | Plan::Release { release, .. } => Some(release),
            Plan::Unchanged => None,
        }
    }
}

/// What one configured series comes to.
pub(super) struct SeriesPlan {
    /// A derived series' levels.
    pub(super) levels: Option<Plan>,
    pub(super) own: Plan,
}

/// Plans series `s` of a downloaded table. An answer with no value at all for a series the
/// store holds values of is not a release but a broken answer: taking it would store the
/// table's new stamp, and the real release would never be fetched.
pub(super) fn series(
    rules: &[RuleConfig],
    s: &SeriesConfig,
    stored: Stored,
    fetched: Fetched,
    now: DateTime<Utc>,
) -> Result<SeriesPlan, TableError> {
    let Stored { own, levels } = stored;
    let held = levels.observations.len().max(own.observations.len());
    if fetched.is_empty() && held > 0 {
        return Err(TableError::Fetch(FetchError::Series {
            series: s.id.clone(),
            message: format!(
                "the answer has no values for it, the store holds {held} periods: \
                 an incomplete answer, nothing stored"
            ),
        }));
    }
    let (levels, values) = match s.derive {
        None => (None, fetched),
        Some(how) => {
            let (plan, after) = levels_of(&s.level_id(), levels, fetched, now)?;
            (Some(plan), Fetched::from(derive(&after, how)))
        }
    };
    let mut plan = against(&s.id, &own, &values, now)?;
    drop(values);
    if let Plan::Release {
        release,
        updates,
        alerts,
    } = &mut plan
    {
        // Nothing fires on a baseline (see `rules`).
        if !release.baseline {
            let after = merged(own.observations, updates);
            *alerts = fired(rules, s, &after, release, now);
        }
    }
    Ok(SeriesPlan { levels, own: plan })
}

/// A derived series' levels `id`: their plan, and the levels as they will stand (what its
/// values are derived from). A configured series' record is written even when its first
/// answer is empty (it names a group's key the table lists); its levels' only with values.
fn levels_of(
    id: &str,
    held: Held,
    fetched: Fetched,
    now: DateTime<Utc>,
) -> Result<(Plan, Vec<StoredObservation>), TableError> {
    let plan = match against(id, &held, &fetched, now)? {
        Plan::FirstSync { release, .. } if release.new_periods.is_empty() => Plan::Unchanged,
        plan => plan,
    };
    drop(fetched);
    let after = match &plan {
        Plan::FirstSync { record, .. } => record.observations(id)?,
        Plan::Release { updates, .. } => merged(held.observations, updates),
        Plan::Unchanged => held.observations,
    };
    Ok((plan, after))
}

/// Stored series `id` against the values it is to hold now: its first sync when it has no
/// record, else what `diff` finds.
fn against(
    id: &str,
    held: &Held,
    values: &Fetched,
    now: DateTime<Utc>,
) -> Result<Plan, TableError> {
    if !held.recorded {
        let record = EncodedSeries::first_sync(id, values, now)?;
        let release = Release {
            baseline: true,
            new_periods: values.cells().map(|(l, _)| l.period).collect(),
            ..Release::default()
        };
        return Ok(Plan::FirstSync { release, record });
    }
    let d = diff(&held.observations, &values.to_vec(), now);
    if d.release.is_empty() {
        return Ok(Plan::Unchanged);
    }
    Ok(Plan::Release {
        release: d.release,
        updates: d.updates,
        alerts: Vec::new(),
    })
}

/// The alerts every rule fires on the release of `s`, the series being `after` it.
fn fired(
    rules: &[RuleConfig],
    s: &SeriesConfig,
    after: &[StoredObservation],
    release: &Release,
    now: DateTime<Utc>,
) -> Vec<Alert> {
    let input = rules::Input {
        series: s.into(),
        after,
        release,
        detected_at: now,
    };
    rules
        .iter()
        .flat_map(|rule| rules::evaluate(rule, &input))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Observation, Period};

    fn config() -> Config {
        let text = r#"
state_dir = "/tmp/unused"
[sources.cbs]
kind = "cbs"
schedule = "0 0 6 * * *"
[[series]]
id = "plain"
source = "cbs"
table = "T"
measure = "M"
unit = "%"
[[series]]
id = "yoy"
source = "cbs"
table = "T"
measure = "L"
unit = "%"
derive = "yoy_pct"
[[rules]]
id = "new"
series = "*"
kind = "release"
[receivers.journal]
kind = "log"
"#;
        Config::parse(std::path::Path::new("t.toml"), text).unwrap()
    }

    fn t(day: u32) -> DateTime<Utc> {
        format!("2025-04-{day:02}T06:30:00Z").parse().unwrap()
    }

    /// Monthly values from January 2024, one a month.
    fn months(values: &[f64]) -> Fetched {
        let obs: Vec<Observation> = values
            .iter()
            .enumerate()
            .map(|(i, &value)| {
                let p = Period::Month(2024 + i as i32 / 12, (i % 12) as u8 + 1);
                Observation {
                    period: p,
                    source_period: p.to_string().into(),
                    value,
                    status: "Voorlopig".into(),
                }
            })
            .collect();
        obs.into()
    }

    fn held(fetched: &Fetched, at: DateTime<Utc>) -> Held {
        Held {
            recorded: true,
            observations: diff(&[], &fetched.to_vec(), at).updates,
        }
    }

    fn nothing() -> Stored {
        Stored {
            own: Held::default(),
            levels: Held::default(),
        }
    }

    fn plan(id: &str, stored: Stored, fetched: Fetched) -> Result<SeriesPlan, TableError> {
        let c = config();
        series(&c.rules, &c.series(id).unwrap(), stored, fetched, t(10))
    }

    #[test]
    fn nothing_stored_is_a_first_sync_holding_what_diff_would_store() {
        let fetched = months(&[1.0, 2.0, 3.0]);
        let p = plan("plain", nothing(), fetched.clone()).unwrap();
        let Plan::FirstSync { release, record } = p.own else {
            panic!("not a first sync")
        };
        let d = diff(&[], &fetched.to_vec(), t(10));
        assert_eq!(release, d.release);
        assert_eq!(record.observations("plain").unwrap(), d.updates);
    }

    #[test]
    fn a_release_stores_its_updates_and_fires_and_the_same_answer_changes_nothing() {
        let before = months(&[1.0, 2.0]);
        let stored = || Stored {
            own: held(&before, t(9)),
            levels: Held::default(),
        };
        let p = plan("plain", stored(), months(&[1.0, 2.5, 3.0])).unwrap();
        let Plan::Release {
            release,
            updates,
            alerts,
        } = p.own
        else {
            panic!("not a release")
        };
        assert_eq!((release.new_periods.len(), release.revisions.len()), (1, 1));
        assert_eq!(updates.len(), 2);
        assert_eq!(alerts.len(), 1, "the new period fires the release rule");
        let p = plan("plain", stored(), before.clone()).unwrap();
        assert!(matches!(p.own, Plan::Unchanged));
    }

    /// A record without observations (its first answer was empty): the next values are a
    /// baseline release merged into it, never a first sync written over it.
    #[test]
    fn an_empty_record_takes_its_first_values_as_a_baseline_release() {
        let stored = Stored {
            own: Held {
                recorded: true,
                observations: Vec::new(),
            },
            levels: Held::default(),
        };
        let p = plan("plain", stored, months(&[1.0])).unwrap();
        let Plan::Release {
            release, alerts, ..
        } = p.own
        else {
            panic!("not a release")
        };
        assert!(release.baseline && alerts.is_empty());
    }

    #[test]
    fn an_empty_answer_for_a_series_with_values_is_a_broken_answer() {
        let stored = Stored {
            own: held(&months(&[1.0]), t(9)),
            levels: Held::default(),
        };
        let e = plan("plain", stored, Fetched::default()).err().unwrap();
        assert!(e.to_string().contains("no values for it"), "{e}");
    }

    /// A derived series' first sync: its levels' record and its values' record, each by the
    /// one first-sync encoding; under a year of levels, the values' record is empty and the
    /// levels are still stored.
    #[test]
    fn a_derived_first_sync_stores_levels_and_values() {
        let levels: Vec<f64> = (0..14).map(|i| 100.0 + f64::from(i)).collect();
        let p = plan("yoy", nothing(), months(&levels)).unwrap();
        let (Some(Plan::FirstSync { record: l, .. }), Plan::FirstSync { record: v, .. }) =
            (p.levels, p.own)
        else {
            panic!("not two first syncs")
        };
        assert_eq!(l.observations("yoy#level").unwrap().len(), 14);
        assert_eq!(v.observations("yoy").unwrap().len(), 2);
        let p = plan("yoy", nothing(), months(&[100.0])).unwrap();
        assert!(matches!(p.levels, Some(Plan::FirstSync { .. })));
        let p = plan("yoy", nothing(), Fetched::default()).unwrap();
        assert!(matches!(p.levels, Some(Plan::Unchanged)));
        assert!(matches!(p.own, Plan::FirstSync { ref release, .. } if release.is_empty()));
    }
}
