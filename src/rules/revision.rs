//! `revision`: a published value is revised by at least `min`; a release that revises more
//! than [`SUM_AFTER`] periods of a series at once (a new base year) is one event, and fires
//! one alert that sums it (how many, and the largest revision) instead of one per period.

use serde_json::json;

use super::{Check, Fired, Series};
use crate::model::{detail, Period, Revision as Revised};

/// Up to this many revised periods of one series in one release fire one alert each; more
/// fire one alert for them all.
pub const SUM_AFTER: usize = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub min: f64,
}

impl Check for Revision {
    fn name(&self) -> &'static str {
        "revision"
    }

    fn on_revision(&self, s: &Series, r: &Revised) -> Option<Fired> {
        ((r.new - r.old).abs() + 1e-9 >= self.min).then(|| Fired {
            discriminator: format!("{}>{}", r.old, r.new),
            summary: format!(
                "{} revised from {} to {}",
                r.period,
                s.signed(r.old),
                s.signed(r.new)
            ),
            details: json!({ detail::OLD_VALUE: r.old }),
        })
    }

    fn sum_revisions(&self, s: &Series, fired: &[&Revised]) -> Option<(Period, Fired)> {
        if fired.len() <= SUM_AFTER {
            return None;
        }
        let largest = fired
            .iter()
            .max_by(|a, b| (a.new - a.old).abs().total_cmp(&(b.new - b.old).abs()))?;
        let first = fired.iter().map(|r| r.period).min()?;
        let last = fired.iter().map(|r| r.period).max()?;
        // The same release seen again sums the same revisions: the same id.
        let discriminator = fired
            .iter()
            .map(|r| format!("{}:{}>{}", r.period, r.old, r.new))
            .collect::<Vec<_>>()
            .join(",");
        Some((
            largest.period,
            Fired {
                discriminator: format!("sum {discriminator}"),
                summary: format!(
                    "{} periods revised at once ({first} to {last}); the largest: {} from {} to {}",
                    fired.len(),
                    largest.period,
                    s.signed(largest.old),
                    s.signed(largest.new)
                ),
                details: json!({
                    detail::OLD_VALUE: largest.old,
                    detail::REVISED: fired.len(),
                    detail::LARGEST: {
                        "period": largest.period.to_string(),
                        "old_value": largest.old,
                        "new_value": largest.new,
                    },
                }),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{history, obs, rule, run};
    use super::super::{RuleConfig, RuleKind};
    use super::*;
    use crate::model::Cause;

    /// The rule these tests try, as a config would make it.
    fn rev() -> RuleConfig {
        rule("rev", "nl.*", RuleKind::Revision(Revision { min: 0.5 }))
    }

    /// `n` months from 2020-01 with the value `base + i`.
    fn months(n: usize, base: f64) -> Vec<(i32, u8, f64)> {
        (0..n)
            .map(|i| (2020 + (i / 12) as i32, (i % 12) as u8 + 1, base + i as f64))
            .collect()
    }

    /// The revision alerts of a release that revises the first `revised` of 30 months.
    fn revise(revised: usize) -> Vec<crate::model::Alert> {
        revise_series("nl.industry.yoy", revised)
    }

    fn revise_series(series: &str, revised: usize) -> Vec<crate::model::Alert> {
        let before = months(30, 0.0);
        let mut after = before.clone();
        for (i, m) in after.iter_mut().enumerate().take(revised) {
            // Each revised by a different amount; the 6th (2020-06) the most.
            m.2 += if i == 5 { 9.0 } else { 1.0 + i as f64 / 100.0 };
        }
        let v1 = [history(), obs(&before)].concat();
        let v2 = [history(), obs(&after)].concat();
        run(series, &rev(), &[v1, v2])
    }

    #[test]
    fn a_release_revising_30_periods_of_one_series_and_3_of_another() {
        let summed = revise_series("nl.industry.yoy", 30);
        assert_eq!(summed.len(), 1);
        assert_eq!(summed[0].revised(), Some(30));
        assert!(summed[0].summary.contains("(2020-01 to 2022-06)"));
        let each = revise_series("nl.confidence", 3);
        assert_eq!(each.len(), 3);
        assert!(each.iter().all(|a| a.revised().is_none()));
    }

    #[test]
    fn thirteen_revised_periods_are_one_alert_twelve_are_twelve() {
        let twelve = revise(12);
        assert_eq!(twelve.len(), 12);
        assert!(twelve.iter().all(|a| a.revised().is_none()));
        let thirteen = revise(13);
        assert_eq!(thirteen.len(), 1, "{thirteen:#?}");
        let a = &thirteen[0];
        assert_eq!(a.cause, Cause::Revision);
        assert_eq!(a.revised(), Some(13));
        let largest = &a.details["largest"];
        assert_eq!(largest["period"], "2020-06");
        assert_eq!(largest["old_value"], 5.0);
        assert_eq!(largest["new_value"], 14.0);
        assert_eq!(a.period.unwrap().to_string(), "2020-06");
        assert!(
            a.summary
                .contains("13 periods revised at once (2020-01 to 2021-01)"),
            "{}",
            a.summary
        );
        // The same release again: the same id.
        assert_eq!(revise(13)[0].id, a.id);
        assert_ne!(revise(14)[0].id, a.id);
    }

    #[test]
    fn only_revisions_of_at_least_min_fire() {
        let v1 = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
        let v2 = [
            history(),
            obs(&[(2025, 1, 0.1), (2025, 2, -0.3), (2025, 3, 1.4)]),
        ]
        .concat();
        let rev = run("nl.industry.yoy", &rev(), &[v1, v2]);
        // 0.3 -> 0.1 is below min = 0.5; 1.0 -> -0.3 is not.
        assert_eq!(rev.len(), 1);
        assert!(
            rev[0]
                .summary
                .ends_with("2025-02 revised from +1.0 to -0.3"),
            "{}",
            rev[0].summary
        );
    }
}
