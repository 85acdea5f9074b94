//! `[[rules]]`: the series glob, the severity, and each kind's parameters, built into the
//! kind's own type from `rules`.

use super::super::locate::Seg;
use super::super::raw::{RawDirection, RawRule, RawRuleKind};
use super::super::{ConfigError, SeriesConfig};
use super::{glob, Validator};
use crate::model::Severity;
use crate::rules::change::{Change, ChangeDirection};
use crate::rules::release::Release;
use crate::rules::revision::Revision;
use crate::rules::sign_change::SignChange;
use crate::rules::streak::{Streak, StreakDirection};
use crate::rules::threshold::Threshold;
use crate::rules::{RuleConfig, RuleKind};

/// The rule being validated: its raw form and where it is written.
struct At<'r, 'v, 'a, 'b> {
    v: &'v Validator<'a, 'b>,
    i: usize,
    r: &'r RawRule,
}

impl At<'_, '_, '_, '_> {
    fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.v.loc.error(
            &[Seg::Key("rules"), Seg::Index(self.i), Seg::Key(key)],
            message,
        )
    }

    /// A parameter the kind cannot do without; its absence is reported at `kind`.
    fn needs<T>(&self, name: &str, value: Option<T>) -> Result<T, ConfigError> {
        value.ok_or_else(|| {
            self.error(
                "kind",
                format!("a {} rule needs {name}", self.r.kind.name()),
            )
        })
    }

    fn non_negative(&self, key: &str, v: Option<f64>) -> Result<f64, ConfigError> {
        let v = v.unwrap_or(0.0);
        if v < 0.0 || !v.is_finite() {
            Err(self.error(key, "must be a non-negative number"))
        } else {
            Ok(v)
        }
    }

    /// Directions are written with one set of words; each kind takes some of them.
    fn wrong_direction(&self, d: RawDirection, expected: &str) -> ConfigError {
        self.error(
            "direction",
            format!("unknown direction {:?} (expected {expected})", d.name()),
        )
    }
}

impl Validator<'_, '_> {
    pub(super) fn rule(
        &self,
        i: usize,
        r: &RawRule,
        series: &[SeriesConfig],
    ) -> Result<RuleConfig, ConfigError> {
        let at = At { v: self, i, r };
        if r.id.trim().is_empty() {
            return Err(at.error("id", "a rule id must not be empty"));
        }
        let matcher = glob(&r.series).map_err(|m| at.error("series", m))?;
        if !series.iter().any(|s| matcher.is_match(&s.id)) {
            return Err(at.error(
                "series",
                format!("{:?} matches no configured series", r.series),
            ));
        }
        let allowed = r.kind.params();
        for (name, is_set) in r.params_set() {
            if is_set && !allowed.contains(&name) {
                return Err(at.error(name, format!("a {} rule takes no {name}", r.kind.name())));
            }
        }
        Ok(RuleConfig {
            id: r.id.clone(),
            series: r.series.clone(),
            matcher,
            kind: at.kind()?,
            severity: r.severity.unwrap_or(Severity::Info),
        })
    }
}

impl At<'_, '_, '_, '_> {
    /// The kind with its parameters; only the ones [`RawRuleKind::params`] allows are set.
    fn kind(&self) -> Result<RuleKind, ConfigError> {
        let r = self.r;
        Ok(match r.kind {
            RawRuleKind::Release => RuleKind::Release(Release),
            RawRuleKind::SignChange => RuleKind::SignChange(SignChange {
                dead_band: self.non_negative("dead_band", r.dead_band)?,
            }),
            RawRuleKind::Streak => RuleKind::Streak(self.streak()?),
            RawRuleKind::Change => RuleKind::Change(self.change()?),
            RawRuleKind::Threshold => {
                self.needs("above or below", r.above.or(r.below))?;
                RuleKind::Threshold(Threshold {
                    above: r.above,
                    below: r.below,
                })
            }
            RawRuleKind::Revision => RuleKind::Revision(Revision {
                min: self.non_negative("min", r.min)?,
            }),
        })
    }

    fn streak(&self) -> Result<Streak, ConfigError> {
        let direction = match self.needs("direction", self.r.direction)? {
            RawDirection::Positive => StreakDirection::Positive,
            RawDirection::Negative => StreakDirection::Negative,
            RawDirection::Rising => StreakDirection::Rising,
            RawDirection::Falling => StreakDirection::Falling,
            d @ (RawDirection::Up | RawDirection::Down | RawDirection::Any) => {
                return Err(self.wrong_direction(d, "positive, negative, rising, falling"))
            }
        };
        let length = match self.needs("length", self.r.length)? {
            n @ 2..=1000 => n as u32,
            _ => return Err(self.error("length", "must be between 2 and 1000")),
        };
        Ok(Streak { direction, length })
    }

    fn change(&self) -> Result<Change, ConfigError> {
        let direction = match self.needs("direction", self.r.direction)? {
            RawDirection::Up => ChangeDirection::Up,
            RawDirection::Down => ChangeDirection::Down,
            RawDirection::Any => ChangeDirection::Any,
            d @ (RawDirection::Positive
            | RawDirection::Negative
            | RawDirection::Rising
            | RawDirection::Falling) => return Err(self.wrong_direction(d, "up, down, any")),
        };
        let min = self.needs("min", self.r.min)?;
        Ok(Change {
            direction,
            min: self.non_negative("min", Some(min))?,
            relative: self.r.relative.unwrap_or(false),
        })
    }
}
