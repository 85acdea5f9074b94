//! `source_failing`: a source whose polls have failed, with no success in between, for
//! `after`. Fires once per outage (the id comes from the rule, the source and the first failed
//! poll of the outage), with the last error; when a poll of the source succeeds again, one
//! alert of the same rule with `recovered = true` follows, if the outage was alerted.
//!
//! The outage is timed from its first failed poll and judged when a poll fails, so the quiet
//! hours after a good poll (no poll scheduled overnight, say) are never an outage. Only the
//! pipeline's end of a poll asks this, in `run` and `poll` alike.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use globset::GlobMatcher;

use super::overdue::span;
use super::{alert_id, Check, RuleConfig};
use crate::model::{Alert, Cause, Details};

/// `source` (a name or glob) and `after_hours` as a duration.
#[derive(Debug, Clone)]
pub struct SourceFailing {
    /// The source glob as written.
    pub source: String,
    pub matcher: GlobMatcher,
    pub after: chrono::Duration,
}

impl PartialEq for SourceFailing {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.after == other.after
    }
}

impl Check for SourceFailing {
    fn name(&self) -> &'static str {
        "source_failing"
    }
}

impl SourceFailing {
    pub fn applies_to(&self, source: &str) -> bool {
        self.matcher.is_match(source)
    }

    /// The id of the outage that began at `since` (its recovery has another).
    pub fn outage_id(rule: &RuleConfig, source: &str, since: DateTime<Utc>) -> String {
        alert_id(
            &rule.id,
            "",
            "",
            "source_failing",
            &format!("{source}@{}", stamp(since)),
        )
    }

    /// After a failed poll at `now`: the outage alert, once the source has failed since
    /// `since` for at least `after`.
    pub fn failing(
        &self,
        rule: &RuleConfig,
        source: &str,
        since: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        if now - since < self.after {
            return None;
        }
        let summary = format!(
            "source {source}: every poll failed for {} (since {}); last error: {error}",
            span(now - since),
            since.format("%Y-%m-%d %H:%M UTC"),
        );
        let details = Details::SourceFailing {
            last_error: error.to_string(),
            // Whole seconds, as written: the alert equals the record it becomes.
            failing_since: since.trunc_subsecs(0),
            recovered: false,
        };
        Some(self.alert(
            rule,
            source,
            Self::outage_id(rule, source, since),
            summary,
            details,
            now,
        ))
    }

    /// After a good poll at `now` that ended the outage begun at `since`.
    pub fn recovered(
        &self,
        rule: &RuleConfig,
        source: &str,
        since: DateTime<Utc>,
        last_error: &str,
        now: DateTime<Utc>,
    ) -> Alert {
        let id = alert_id(
            &rule.id,
            "",
            "",
            "source_failing",
            &format!("{source}@{} recovered", stamp(since)),
        );
        let summary = format!(
            "source {source}: polls again after failing for {} (since {})",
            span(now - since),
            since.format("%Y-%m-%d %H:%M UTC"),
        );
        let details = Details::SourceFailing {
            last_error: last_error.to_string(),
            failing_since: since.trunc_subsecs(0),
            recovered: true,
        };
        self.alert(rule, source, id, summary, details, now)
    }

    fn alert(
        &self,
        rule: &RuleConfig,
        source: &str,
        id: String,
        summary: String,
        details: Details,
        now: DateTime<Utc>,
    ) -> Alert {
        Alert {
            id,
            rule: rule.id.clone(),
            kind: self.name().into(),
            severity: rule.severity,
            series: String::new(),
            title: format!("source {source}"),
            source: source.to_string(),
            table: String::new(),
            unit: String::new(),
            period: None,
            source_period: String::new(),
            value: None,
            previous: None,
            cause: Cause::SourceFailing,
            summary,
            details,
            detected_at: now,
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn rule() -> (RuleConfig, SourceFailing) {
        let kind = SourceFailing {
            source: "*".into(),
            matcher: globset::Glob::new("*").unwrap().compile_matcher(),
            after: chrono::Duration::hours(24),
        };
        let rule = RuleConfig {
            id: "sources-failing".into(),
            series: String::new(),
            matcher: globset::Glob::new("").unwrap().compile_matcher(),
            kind: super::super::RuleKind::SourceFailing(kind.clone()),
            severity: Severity::Critical,
        };
        (rule, kind)
    }

    #[test]
    fn an_outage_fires_once_it_lasts_and_its_recovery_differs() {
        let (r, k) = rule();
        let since: DateTime<Utc> = "2025-05-09T06:30:00Z".parse().unwrap();
        let hours = chrono::Duration::hours;
        assert!(k
            .failing(&r, "cbs", since, "HTTP 500", since + hours(23))
            .is_none());
        let a = k
            .failing(&r, "cbs", since, "HTTP 500", since + hours(25))
            .unwrap();
        assert_eq!(a.cause, Cause::SourceFailing);
        assert_eq!((a.series.as_str(), a.period, a.value), ("", None, None));
        assert_eq!(a.last_error(), Some("HTTP 500"));
        assert!(
            matches!(a.details, Details::SourceFailing { failing_since, .. } if failing_since == since)
        );
        assert!(a.summary.contains("failed for 25 hours"), "{}", a.summary);
        // Later failed polls of the same outage: the same id.
        let again = k
            .failing(&r, "cbs", since, "reset", since + hours(30))
            .unwrap();
        assert_eq!(again.id, a.id);
        assert_eq!(a.id, SourceFailing::outage_id(&r, "cbs", since));
        let ok = k.recovered(&r, "cbs", since, "reset", since + hours(31));
        assert!(ok.recovered());
        assert_ne!(ok.id, a.id);
        // Another outage, another id.
        let next = since + hours(48);
        assert_ne!(SourceFailing::outage_id(&r, "cbs", next), a.id);
    }

    #[test]
    fn the_payload_writes_no_period_and_a_null_value() {
        let (r, k) = rule();
        let since: DateTime<Utc> = "2025-05-09T06:30:00Z".parse().unwrap();
        let a = k
            .failing(&r, "cbs", since, "x", since + chrono::Duration::hours(25))
            .unwrap();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["period"], "");
        assert_eq!(v["value"], serde_json::Value::Null);
        assert_eq!(v["series"], "");
        assert_eq!(v["cause"], "source_failing");
        assert_eq!(v["kind"], "source_failing");
    }
}
