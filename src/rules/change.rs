//! `change`: the period-on-period change of a new period reaches `min` in `direction`,
//! in units of the series or, with `relative`, in percent.

use serde_json::json;

use super::{round, Check, Fired, Series};
use crate::model::Period;

/// Which moves count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDirection {
    Up,
    Down,
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub direction: ChangeDirection,
    pub min: f64,
    pub relative: bool,
}

impl Check for Change {
    fn name(&self) -> &'static str {
        "change"
    }

    fn on_new_period(&self, s: &Series, p: Period, v: f64) -> Option<Fired> {
        let pv = s.value(p.prev())?;
        let delta = if self.relative {
            if pv == 0.0 {
                return None;
            }
            (v - pv) / pv.abs() * 100.0
        } else {
            v - pv
        };
        let min = self.min;
        let hit = match self.direction {
            ChangeDirection::Up => delta + 1e-9 >= min && delta > 0.0,
            ChangeDirection::Down => -delta + 1e-9 >= min && delta < 0.0,
            ChangeDirection::Any => delta.abs() + 1e-9 >= min && delta != 0.0,
        };
        if !hit {
            return None;
        }
        let by = if self.relative {
            // A computed rate: one decimal, as the offices round theirs.
            let pct = (delta.abs() * 10.0).round() / 10.0;
            format!("{}%", crate::model::figure(pct, "%"))
        } else {
            s.figure(delta.abs())
        };
        Some(Fired {
            discriminator: String::new(),
            summary: format!(
                "{} {by} to {} in {p} (from {} in {})",
                if delta > 0.0 { "up" } else { "down" },
                s.figure(v),
                s.figure(pv),
                p.prev()
            ),
            details: json!({ "change": round(delta), "relative": self.relative }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{obs, rule, run};
    use super::super::{RuleConfig, RuleKind};
    use super::*;

    /// The rule these tests try, as a config would make it.
    fn drop() -> RuleConfig {
        rule(
            "drop",
            "nl.confidence",
            RuleKind::Change(Change {
                direction: ChangeDirection::Down,
                min: 1.0,
                relative: false,
            }),
        )
    }

    #[test]
    fn a_confidence_drop_fires() {
        let v1 = obs(&[(2025, 2, -1.2), (2025, 3, -1.5)]);
        let v2 = [v1.clone(), obs(&[(2025, 4, -3.3)])].concat();
        let a = run("nl.confidence", &drop(), &[v1.clone(), v2]);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].summary,
            "Producer confidence NL: down 1.8 to -3.3 in 2025-04 (from -1.5 in 2025-03)"
        );
        // A rise does not fire a `down` rule.
        let up = [v1.clone(), obs(&[(2025, 4, 0.4)])].concat();
        assert!(run("nl.confidence", &drop(), &[v1, up]).is_empty());
    }
}
