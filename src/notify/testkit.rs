//! Sample alerts and briefs for the receivers' unit tests, as the rules and `briefs` make
//! them (the March 2025 release of C Industrie).

use crate::model::{Alert, AlertKind, Brief, Cause, Details, Period, Previous, Severity};

pub(crate) fn alert(id: &str, severity: Severity, summary: &str) -> Alert {
    Alert {
        id: id.into(),
        rule: "nl-industry-streak".into(),
        kind: AlertKind::Streak,
        severity,
        series: "nl.industry.yoy".into(),
        title: "Industrial production NL, y/y % (calendar adjusted)".into(),
        source: "cbs".into(),
        table: "85806NED".into(),
        unit: "%".into(),
        period: Some(Period::Month(2025, 3)),
        source_period: "2025MM03".into(),
        value: Some(1.3),
        previous: Some(Previous {
            period: Period::Month(2025, 2),
            value: 1.0,
        }),
        cause: Cause::NewPeriod,
        summary: summary.into(),
        details: Details::Streak { streak: 3 },
        detected_at: "2025-05-09T06:31:01Z".parse().unwrap(),
    }
}

/// A brief record as `briefs::record` makes it: kind `brief`, its text in `details`.
pub(crate) fn brief(id: &str, text: &str) -> Alert {
    let mut b = alert(id, Severity::Info, "Dutch manufacturing: +1.3 % in 2025-03");
    b.kind = AlertKind::Brief;
    b.rule = "nl-industry".into();
    b.title = "Dutch manufacturing".into();
    b.details = Details::Brief(Brief {
        text: text.into(),
        facts: Some(serde_json::json!({})),
        drawn: None,
    });
    b
}
