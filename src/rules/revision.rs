//! `revision`: a published value is revised by at least `min`.

use serde_json::json;

use super::{Check, Fired, Series};
use crate::model::Revision as Revised;

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
            details: json!({ "old_value": r.old }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{history, obs, run};

    #[test]
    fn only_revisions_of_at_least_min_fire() {
        let v1 = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
        let v2 = [
            history(),
            obs(&[(2025, 1, 0.1), (2025, 2, -0.3), (2025, 3, 1.4)]),
        ]
        .concat();
        let rev = run("nl.industry.yoy", "rev", &[v1, v2]);
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
