//! `[[rules]]`: the series glob, the severity, and each kind's parameters, built into the
//! kind's own type from `rules`.

use std::collections::BTreeMap;

use globset::GlobMatcher;

use super::super::locate::Seg;
use super::super::raw::{RawDirection, RawRule, RawRuleKind};
use super::super::{ConfigError, SeriesConfig, SourceConfig};
use super::{glob, Validator};
use crate::model::Severity;
use crate::rules::change::{Change, ChangeDirection};
use crate::rules::overdue::Overdue;
use crate::rules::release::Release;
use crate::rules::revision::Revision;
use crate::rules::sign_change::SignChange;
use crate::rules::source_failing::SourceFailing;
use crate::rules::streak::{Streak, StreakDirection};
use crate::rules::table_changed::TableChanged;
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
        sources: &BTreeMap<String, SourceConfig>,
    ) -> Result<RuleConfig, ConfigError> {
        let at = At { v: self, i, r };
        if r.id.trim().is_empty() {
            return Err(at.error("id", "a rule id must not be empty"));
        }
        // A source_failing rule watches sources, not series: its series matcher matches no
        // id (ids are never empty).
        let on_source = matches!(
            r.kind,
            RawRuleKind::SourceFailing | RawRuleKind::TableChanged
        );
        let watched = match (&r.series, on_source) {
            (Some(_), true) => {
                return Err(at.error(
                    "series",
                    format!(
                        "a {} rule watches a source: use source = \"<name or glob>\"",
                        r.kind.name()
                    ),
                ))
            }
            (None, true) => String::new(),
            (Some(s), _) => s.clone(),
            (None, _) => {
                return Err(at.error("kind", format!("a {} rule needs series", r.kind.name())))
            }
        };
        let matcher = glob(&watched).map_err(|m| at.error("series", m))?;
        // A group's ids are only known at a poll: a glob that could match one of them counts.
        let plain = series
            .iter()
            .any(|s| s.group.is_none() && matcher.is_match(&s.id));
        if !watched.is_empty() && !plain && !crate::config::group::could_match(&watched, series) {
            return Err(at.error(
                "series",
                format!("{watched:?} matches no configured series"),
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
            series: watched,
            matcher,
            kind: at.kind(sources)?,
            severity: r.severity.unwrap_or(Severity::Info),
        })
    }
}

impl At<'_, '_, '_, '_> {
    /// The kind with its parameters; only the ones [`RawRuleKind::params`] allows are set.
    fn kind(&self, sources: &BTreeMap<String, SourceConfig>) -> Result<RuleKind, ConfigError> {
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
            RawRuleKind::Overdue => RuleKind::Overdue(Overdue {
                after: self.span("after_days", r.after_days, 86_400.0)?,
            }),
            RawRuleKind::SourceFailing => RuleKind::SourceFailing(self.source_failing(sources)?),
            RawRuleKind::TableChanged => {
                let (source, matcher) = self.sources(sources)?;
                RuleKind::TableChanged(TableChanged { source, matcher })
            }
        })
    }

    /// A positive span given in `unit_secs` units (fractions allowed: tests use seconds).
    fn span(
        &self,
        key: &str,
        v: Option<f64>,
        unit_secs: f64,
    ) -> Result<chrono::Duration, ConfigError> {
        let v = self.needs(key, v)?;
        let ms = v * unit_secs * 1000.0;
        if !(1.0..1e15).contains(&ms) {
            return Err(self.error(key, "must be a positive number"));
        }
        Ok(chrono::Duration::milliseconds(ms as i64))
    }

    /// `source`: a name or glob that matches a configured source.
    fn sources(
        &self,
        sources: &BTreeMap<String, SourceConfig>,
    ) -> Result<(String, GlobMatcher), ConfigError> {
        let pattern = self.needs("source", self.r.source.clone())?;
        let matcher = glob(&pattern).map_err(|m| self.error("source", m))?;
        if !sources.keys().any(|s| matcher.is_match(s)) {
            return Err(self.error(
                "source",
                format!("{pattern:?} matches no configured source"),
            ));
        }
        Ok((pattern, matcher))
    }

    fn source_failing(
        &self,
        sources: &BTreeMap<String, SourceConfig>,
    ) -> Result<SourceFailing, ConfigError> {
        let (pattern, matcher) = self.sources(sources)?;
        Ok(SourceFailing {
            source: pattern,
            matcher,
            after: self.span("after_hours", self.r.after_hours, 3_600.0)?,
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;
    use crate::rules::change::{Change, ChangeDirection};
    use crate::rules::streak::{Streak, StreakDirection};
    use crate::rules::RuleKind;

    const BASE: &str = r#"[sources.cbs]
kind = "cbs"
schedule = "0 30 6 * * Mon-Fri"
[[series]]
id = "nl.x"
source = "cbs"
table = "85806NED"
measure = "M"
[[rules]]
id = "r"
series = "nl.*"
"#;

    fn parse(rule: &str) -> Result<Config, String> {
        Config::parse(Path::new("t.toml"), &format!("{BASE}{rule}")).map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_gets_its_own_direction_type() {
        let c = parse("kind = \"streak\"\ndirection = \"rising\"\nlength = 3\n").unwrap();
        assert_eq!(
            c.rules[0].kind,
            RuleKind::Streak(Streak {
                direction: StreakDirection::Rising,
                length: 3
            })
        );
        let c = parse("kind = \"change\"\ndirection = \"any\"\nmin = 0.5\n").unwrap();
        assert_eq!(
            c.rules[0].kind,
            RuleKind::Change(Change {
                direction: ChangeDirection::Any,
                min: 0.5,
                relative: false
            })
        );
    }

    #[test]
    fn a_direction_of_another_kind_is_refused_where_it_is_written() {
        let e = parse("kind = \"change\"\ndirection = \"rising\"\nmin = 1\n").unwrap_err();
        assert_eq!(
            e,
            "t.toml:13:13: rules[0].direction: unknown direction \"rising\" (expected up, down, any)"
        );
        let e = parse("kind = \"streak\"\ndirection = \"up\"\nlength = 3\n").unwrap_err();
        assert!(e.starts_with("t.toml:13:13: rules[0].direction:"), "{e}");
    }

    #[test]
    fn a_misspelt_word_keeps_its_key_and_position() {
        let e = parse("kind = \"sign_chang\"\n").unwrap_err();
        assert!(
            e.starts_with("t.toml:12:8: rules[0].kind: unknown variant `sign_chang`"),
            "{e}"
        );
        let e = parse("kind = \"release\"\nseverity = \"fatal\"\n").unwrap_err();
        assert!(
            e.starts_with("t.toml:13:12: rules[0].severity: unknown variant `fatal`"),
            "{e}"
        );
    }

    #[test]
    fn missing_parameters_are_named_at_the_kind() {
        let e = parse("kind = \"threshold\"\n").unwrap_err();
        assert_eq!(
            e,
            "t.toml:12:8: rules[0].kind: a threshold rule needs above or below"
        );
        let e = parse("kind = \"change\"\ndirection = \"up\"\n").unwrap_err();
        assert!(e.ends_with("rules[0].kind: a change rule needs min"), "{e}");
        let e = parse("kind = \"revision\"\nmin = -1\n").unwrap_err();
        assert!(
            e.ends_with("rules[0].min: must be a non-negative number"),
            "{e}"
        );
    }

    #[test]
    fn silence_kinds_take_spans_and_source_failing_a_source() {
        let c = parse("kind = \"overdue\"\nafter_days = 1.5\n").unwrap();
        let RuleKind::Overdue(o) = &c.rules[0].kind else {
            panic!("{:?}", c.rules[0].kind)
        };
        assert_eq!(o.after, chrono::Duration::hours(36));
        let failing = BASE.replace("series = \"nl.*\"\n", "");
        let c = Config::parse(
            Path::new("t.toml"),
            &format!("{failing}kind = \"source_failing\"\nsource = \"c*\"\nafter_hours = 0.001\n"),
        )
        .unwrap();
        let RuleKind::SourceFailing(f) = &c.rules[0].kind else {
            panic!()
        };
        assert!(f.applies_to("cbs") && !f.applies_to("destatis"));
        assert_eq!(f.after, chrono::Duration::milliseconds(3600));
        assert!(!c.rules[0].applies_to("nl.x"), "it watches no series");
        let e =
            parse("kind = \"source_failing\"\nsource = \"cbs\"\nafter_hours = 1\n").unwrap_err();
        assert!(
            e.contains("rules[0].series") && e.contains("watches a source"),
            "{e}"
        );
        let e = Config::parse(
            Path::new("t.toml"),
            &format!("{failing}kind = \"source_failing\"\nsource = \"x*\"\nafter_hours = 1\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("matches no configured source"), "{e}");
        let e = parse("kind = \"overdue\"\n").unwrap_err();
        assert!(
            e.ends_with("an overdue rule needs after_days") || e.contains("needs after_days"),
            "{e}"
        );
        let e = parse("kind = \"overdue\"\nafter_days = 0\n").unwrap_err();
        assert!(
            e.contains("rules[0].after_days: must be a positive number"),
            "{e}"
        );
        let e = parse("kind = \"release\"\nafter_days = 3\n").unwrap_err();
        assert!(e.contains("a release rule takes no after_days"), "{e}");
    }

    #[test]
    fn a_heartbeat_url_is_checked_but_never_echoed() {
        let ok = format!("{BASE}kind = \"release\"\n[heartbeat]\nurl = \"https://hc.example.org/ping/5ecret-uuid\"\ninterval_secs = 0.5\n");
        let c = Config::parse(Path::new("t.toml"), &ok).unwrap();
        let h = c.heartbeat.as_ref().unwrap();
        assert_eq!(h.interval, std::time::Duration::from_millis(500));
        assert!(!format!("{c:?}").contains("5ecret"));
        let bad = ok.replace("https://hc.example.org/ping/5ecret-uuid", "ftp:5ecret-uuid");
        let e = Config::parse(Path::new("t.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("heartbeat.url: not an http(s) URL") && !e.contains("5ecret"),
            "{e}"
        );
    }
}
