//! `threshold`: a new period and the period before it lie on different sides of `above`
//! (or, failing that, of `below`).

use serde_json::json;

use super::{Check, Fired, Series};
use crate::model::Period;

/// At least one of the two levels is set (`validate` makes sure).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub above: Option<f64>,
    pub below: Option<f64>,
}

impl Threshold {
    /// The level crossed between `pv` and `v`, and which way, if any.
    fn crossed(&self, pv: f64, v: f64) -> Option<(f64, &'static str)> {
        if let Some(level) = self.above {
            if (pv > level) != (v > level) {
                let dir = if v > level {
                    "rose above"
                } else {
                    "fell back to or below"
                };
                return Some((level, dir));
            }
        }
        let level = self.below?;
        ((pv < level) != (v < level)).then(|| {
            let dir = if v < level {
                "fell below"
            } else {
                "rose back to or above"
            };
            (level, dir)
        })
    }
}

impl Check for Threshold {
    fn name(&self) -> &'static str {
        "threshold"
    }

    fn on_new_period(&self, s: &Series, p: Period, v: f64) -> Option<Fired> {
        let pv = s.value(p.prev())?;
        let (level, dir) = self.crossed(pv, v)?;
        Some(Fired {
            discriminator: format!("{dir} {level}"),
            summary: format!(
                "{dir} {} ({} in {p}, from {} in {})",
                // The level as configured; the values as the series' figures.
                crate::model::figure(level, ""),
                s.figure(v),
                s.figure(pv),
                p.prev()
            ),
            details: json!({ "level": level }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{obs, rule, run};
    use super::super::{RuleConfig, RuleKind};
    use super::*;

    /// The rule these tests try, as a config would make it.
    fn zero() -> RuleConfig {
        rule(
            "zero",
            "nl.confidence",
            RuleKind::Threshold(Threshold {
                above: Some(0.0),
                below: None,
            }),
        )
    }

    #[test]
    fn crossing_zero_fires_staying_below_does_not() {
        let v1 = obs(&[(2025, 2, -1.2), (2025, 3, -1.5)]);
        let down = [v1.clone(), obs(&[(2025, 4, -3.3)])].concat();
        assert!(run("nl.confidence", &zero(), &[v1.clone(), down]).is_empty());
        let up = [v1.clone(), obs(&[(2025, 4, 0.4)])].concat();
        let a = run("nl.confidence", &zero(), &[v1, up]);
        assert_eq!(a.len(), 1);
        assert!(a[0].summary.contains("rose above 0"), "{}", a[0].summary);
    }

    #[test]
    fn above_wins_over_below_and_each_names_its_way() {
        let t = Threshold {
            above: Some(1.0),
            below: Some(-1.0),
        };
        assert_eq!(t.crossed(0.0, 2.0), Some((1.0, "rose above")));
        assert_eq!(t.crossed(2.0, -2.0), Some((1.0, "fell back to or below")));
        assert_eq!(t.crossed(0.0, -2.0), Some((-1.0, "fell below")));
        assert_eq!(t.crossed(-2.0, 0.0), Some((-1.0, "rose back to or above")));
        assert_eq!(t.crossed(0.0, 0.5), None);
    }
}
