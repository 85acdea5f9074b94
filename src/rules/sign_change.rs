//! `sign_change`: a new period's value has the opposite sign of the last earlier period that
//! has one, or a revision flips the sign of a published period. Values with
//! `|v| <= dead_band` have no sign.

use serde_json::json;

use super::{frequency_word, plural, sign, sign_name, Check, Fired, Series};
use crate::model::{Period, Revision};

#[derive(Debug, Clone, PartialEq)]
pub struct SignChange {
    pub dead_band: f64,
}

impl Check for SignChange {
    fn name(&self) -> &'static str {
        "sign_change"
    }

    fn on_new_period(&self, s: &Series, p: Period, v: f64) -> Option<Fired> {
        let dead_band = self.dead_band;
        let new = sign(v, dead_band);
        let (earlier, old) = s.last_signed_before(p, dead_band)?;
        if new == 0 || old == new {
            return None;
        }
        let run = s.run(earlier, |x| sign(x, dead_band) == old, dead_band);
        let unit = frequency_word(p.frequency());
        Some(Fired {
            discriminator: sign_name(new).to_string(),
            summary: format!(
                "turned {} ({} in {p}) after {} {} of {} values",
                sign_name(new),
                s.signed(v),
                run,
                plural(unit, run),
                sign_name(old)
            ),
            details: json!({ "new_sign": sign_name(new), "broken_run": run }),
        })
    }

    fn on_revision(&self, s: &Series, r: &Revision) -> Option<Fired> {
        let (old, new) = (sign(r.old, self.dead_band), sign(r.new, self.dead_band));
        (old != 0 && new != 0 && old != new).then(|| Fired {
            discriminator: sign_name(new).to_string(),
            summary: format!(
                "{} revised from {} to {}: now {}",
                r.period,
                s.signed(r.old),
                s.signed(r.new),
                sign_name(new)
            ),
            details: json!({ "old_value": r.old, "new_sign": sign_name(new) }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{history, obs, rule, run};
    use super::super::{RuleConfig, RuleKind};
    use super::*;
    use crate::model::{Cause, Period, Previous};

    /// The rule these tests try, as a config would make it.
    fn turn() -> RuleConfig {
        rule(
            "turn",
            "nl.industry.yoy",
            RuleKind::SignChange(SignChange { dead_band: 0.0 }),
        )
    }

    #[test]
    fn sign_change_names_the_run_it_broke() {
        let next = [history(), obs(&[(2025, 1, 0.3)])].concat();
        let a = run("nl.industry.yoy", &turn(), &[history(), next]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].period, Some(Period::Month(2025, 1)));
        assert_eq!(a[0].details["broken_run"], 18);
        assert_eq!(
            a[0].summary,
            "Industrial production NL, y/y %: turned positive (+0.3 in 2025-01) after 18 months of negative values"
        );
        assert_eq!(
            a[0].previous,
            Some(Previous {
                period: Period::Month(2024, 12),
                value: -4.7
            })
        );
    }

    #[test]
    fn sign_change_skips_the_dead_band() {
        // -1.1, 0.0, +2.1 fires at +2.1 (0.0 has no sign).
        let base = obs(&[(2025, 1, -1.1)]);
        let a = run(
            "nl.industry.yoy",
            &turn(),
            &[
                base.clone(),
                [base.clone(), obs(&[(2025, 2, 0.0)])].concat(),
            ],
        );
        assert!(a.is_empty());
        let all = [base, obs(&[(2025, 2, 0.0)])].concat();
        let a = run(
            "nl.industry.yoy",
            &turn(),
            &[all.clone(), [all, obs(&[(2025, 3, 2.1)])].concat()],
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].period, Some(Period::Month(2025, 3)));
    }

    #[test]
    fn a_revision_that_flips_the_sign_fires() {
        let v1 = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
        let v2 = [
            history(),
            obs(&[(2025, 1, 0.1), (2025, 2, -0.3), (2025, 3, 1.4)]),
        ]
        .concat();
        let turn = run("nl.industry.yoy", &turn(), &[v1, v2]);
        let flipped: Vec<_> = turn.iter().filter(|a| a.cause == Cause::Revision).collect();
        assert_eq!(flipped.len(), 1);
        assert_eq!(flipped[0].period, Some(Period::Month(2025, 2)));
        assert_eq!(flipped[0].details["old_value"], 1.0);
        // 2025-03 (+1.4) follows the revised -0.3: a new sign change as well.
        assert!(turn
            .iter()
            .any(|a| a.cause == Cause::NewPeriod && a.period == Some(Period::Month(2025, 3))));
    }
}
