//! `streak`: a new period makes a run of exactly `length` consecutive periods in `direction`
//! (so it fires once per run).

use serde_json::json;

use super::{frequency_word, ordinal, Check, Fired, Series};
use crate::model::Period;

/// Which run a streak counts: of signs (`positive`, `negative`) or of moves (`rising`,
/// `falling`, each period against the one before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakDirection {
    Positive,
    Negative,
    Rising,
    Falling,
}

impl StreakDirection {
    pub fn name(self) -> &'static str {
        match self {
            StreakDirection::Positive => "positive",
            StreakDirection::Negative => "negative",
            StreakDirection::Rising => "rising",
            StreakDirection::Falling => "falling",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Streak {
    pub direction: StreakDirection,
    pub length: u32,
}

impl Check for Streak {
    fn name(&self) -> &'static str {
        "streak"
    }

    fn on_new_period(&self, s: &Series, p: Period, v: f64) -> Option<Fired> {
        let n = match self.direction {
            StreakDirection::Positive => s.run(p, |x| x > 0.0, 0.0),
            StreakDirection::Negative => s.run(p, |x| x < 0.0, 0.0),
            StreakDirection::Rising => s.trend_run(p, true),
            StreakDirection::Falling => s.trend_run(p, false),
        };
        (n == self.length).then(|| Fired {
            discriminator: self.length.to_string(),
            summary: format!(
                "{} for the {} {} in a row ({} in {p})",
                self.direction.name(),
                ordinal(n),
                frequency_word(p.frequency()),
                s.signed(v)
            ),
            details: json!({ "streak": n }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{history, obs, rule, run};
    use super::super::{RuleConfig, RuleKind};
    use super::*;

    /// The rule these tests try, as a config would make it.
    fn streak() -> RuleConfig {
        rule(
            "streak",
            "nl.industry.yoy",
            RuleKind::Streak(Streak {
                direction: StreakDirection::Positive,
                length: 3,
            }),
        )
    }

    #[test]
    fn third_positive_month_fires_the_streak_once() {
        let two = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
        let three = [two.clone(), obs(&[(2025, 3, 1.3)])].concat();
        let a = run("nl.industry.yoy", &streak(), &[two.clone(), three.clone()]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].details["streak"], 3);
        assert!(
            a[0].summary
                .ends_with("positive for the 3rd month in a row (+1.3 in 2025-03)"),
            "{}",
            a[0].summary
        );
        // A fourth month does not fire a length-3 streak again.
        let four = [three.clone(), obs(&[(2025, 4, 0.2)])].concat();
        assert!(run("nl.industry.yoy", &streak(), &[three, four]).is_empty());
    }
}
