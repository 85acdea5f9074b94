//! `release`: fires on every new period.

use serde_json::json;

use super::{Check, Fired, Series};
use crate::model::Period;

/// Takes no parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Release;

impl Check for Release {
    fn name(&self) -> &'static str {
        "release"
    }

    fn on_new_period(&self, s: &Series, p: Period, v: f64) -> Option<Fired> {
        Some(Fired {
            discriminator: String::new(),
            summary: match s.value(p.prev()) {
                Some(pv) => format!(
                    "{} in {p} (previous {} in {})",
                    s.figure(v),
                    s.figure(pv),
                    p.prev()
                ),
                None => format!("{} in {p}", s.figure(v)),
            },
            details: json!({}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{obs, rule, run};
    use super::super::{RuleConfig, RuleKind};
    use super::*;
    use crate::model::Period;

    /// The rule these tests try, as a config would make it.
    fn rel() -> RuleConfig {
        rule("rel", "nl.*", RuleKind::Release(Release))
    }

    #[test]
    fn each_new_period_fires_with_the_one_before() {
        let v1 = obs(&[(2025, 1, 0.3)]);
        let v2 = [v1.clone(), obs(&[(2025, 2, 1.0)])].concat();
        let a = run("nl.industry.yoy", &rel(), &[v1, v2]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].period, Some(Period::Month(2025, 2)));
        assert!(
            a[0].summary
                .ends_with(": 1.0 in 2025-02 (previous 0.3 in 2025-01)"),
            "{}",
            a[0].summary
        );
    }
}
