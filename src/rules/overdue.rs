//! `overdue`: a series that stopped getting new periods. Fires once per gap: when the time
//! since its latest period was first seen passes `after`. The id comes from the rule, the
//! series and that latest period, so the same gap never fires twice and the next gap (after a
//! new period) fires anew.
//!
//! Not a release-time check: the pipeline asks [`Overdue::check`] after every poll of the
//! series' source, and the daemon at least hourly, with the series as the store holds it.

use chrono::{DateTime, SubsecRound, Utc};

use super::{alert_id, Check, RuleConfig, Subject};
use crate::model::{Alert, Cause, Details, StoredObservation};

/// `after_days` as a duration (fractions allowed: tests use seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Overdue {
    pub after: chrono::Duration,
}

impl Check for Overdue {
    fn name(&self) -> &'static str {
        "overdue"
    }
}

impl Overdue {
    /// The alert for `latest` (the series' newest period) if it is overdue at `now`.
    pub fn check(
        &self,
        rule: &RuleConfig,
        series: Subject,
        latest: &StoredObservation,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        let waited = now - latest.first_seen;
        if waited < self.after {
            return None;
        }
        let p = latest.period;
        Some(Alert {
            id: alert_id(&rule.id, series.id, &p.to_string(), "overdue", ""),
            rule: rule.id.clone(),
            kind: self.name().into(),
            severity: rule.severity,
            series: series.id.to_string(),
            title: series.title.to_string(),
            source: series.source.to_string(),
            table: series.table.to_string(),
            unit: series.unit.to_string(),
            period: Some(p),
            source_period: latest.source_period.to_string(),
            value: Some(latest.value),
            previous: None,
            cause: Cause::Overdue,
            summary: format!(
                "{}: no new period for {} (the latest, {p}, came {})",
                series.title,
                span(waited),
                latest.first_seen.format("%Y-%m-%d %H:%M UTC"),
            ),
            details: Details::Overdue {
                // Whole seconds, as written: the alert equals the record it becomes.
                last_seen_at: latest.first_seen.trunc_subsecs(0),
                recovered: false,
            },
            detected_at: now,
        })
    }
}

/// A duration as people say it: "41 days", "5 hours", "30 seconds".
pub(crate) fn span(d: chrono::Duration) -> String {
    let (n, unit) = if d.num_days() >= 2 {
        (d.num_days(), "day")
    } else if d.num_hours() >= 2 {
        (d.num_hours(), "hour")
    } else if d.num_minutes() >= 2 {
        (d.num_minutes(), "minute")
    } else {
        (d.num_seconds(), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Details, Period, Severity};

    fn rule(after: chrono::Duration) -> (RuleConfig, Overdue) {
        let kind = Overdue { after };
        let rule = RuleConfig {
            id: "nl-overdue".into(),
            series: "nl.*".into(),
            matcher: globset::Glob::new("nl.*").unwrap().compile_matcher(),
            kind: super::super::RuleKind::Overdue(kind.clone()),
            severity: Severity::Warning,
        };
        (rule, kind)
    }

    fn subject() -> Subject<'static> {
        Subject {
            id: "nl.industry.yoy",
            title: "Industrial production NL",
            source: "cbs",
            table: "85806NED",
            unit: "%",
        }
    }

    fn latest(first_seen: DateTime<Utc>) -> StoredObservation {
        StoredObservation {
            period: Period::Month(2025, 3),
            source_period: "2025MM03".into(),
            value: 1.3,
            status: "Voorlopig".into(),
            first_seen,
            value_seen: first_seen,
            revisions: Vec::new(),
        }
    }

    #[test]
    fn fires_once_the_gap_passes_with_an_id_per_gap() {
        let seen: DateTime<Utc> = "2025-05-09T06:30:00Z".parse().unwrap();
        let (r, k) = rule(chrono::Duration::days(40));
        let obs = latest(seen);
        assert!(k
            .check(&r, subject(), &obs, seen + chrono::Duration::days(39))
            .is_none());
        let a = k
            .check(&r, subject(), &obs, seen + chrono::Duration::days(41))
            .unwrap();
        assert_eq!(a.cause, Cause::Overdue);
        assert_eq!(a.period, Some(Period::Month(2025, 3)));
        assert!(
            a.summary.contains("no new period for 41 days"),
            "{}",
            a.summary
        );
        assert!(matches!(a.details, Details::Overdue { last_seen_at, .. } if last_seen_at == seen));
        // Checked again later: the same gap, the same id.
        let again = k
            .check(&r, subject(), &obs, seen + chrono::Duration::days(60))
            .unwrap();
        assert_eq!(again.id, a.id);
        // A later period is another gap.
        let mut next = latest(seen + chrono::Duration::days(45));
        next.period = Period::Month(2025, 4);
        let later = k
            .check(&r, subject(), &next, seen + chrono::Duration::days(90))
            .unwrap();
        assert_ne!(later.id, a.id);
    }

    #[test]
    fn an_alert_reads_back_equal_though_its_first_seen_had_a_fraction() {
        let seen: DateTime<Utc> = "2025-05-09T06:30:00.250Z".parse().unwrap();
        let (r, k) = rule(chrono::Duration::days(40));
        let a = k
            .check(
                &r,
                subject(),
                &latest(seen),
                seen + chrono::Duration::days(41),
            )
            .unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            json.contains(r#""last_seen_at":"2025-05-09T06:30:00Z""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Alert>(&json).unwrap(), a);
    }

    #[test]
    fn spans_read_like_speech() {
        assert_eq!(span(chrono::Duration::days(41)), "41 days");
        assert_eq!(span(chrono::Duration::hours(30)), "30 hours");
        assert_eq!(span(chrono::Duration::seconds(1)), "1 second");
    }
}
