//! Every kind's alert, byte for byte, as the store keeps it and webhook payload v1 carries it
//! (docs/payloads.md, docs/rules.md "Rule kinds"): one golden JSON per kind and event in
//! `tests/fixtures/alerts/`. Each alert is made by its rule's own code, so a changed key,
//! value or key order fails here; each golden reads back to the same alert, typed, and to the
//! same bytes, so stored alerts of every kind stay readable.

use chrono::{DateTime, Utc};

use super::change::{Change, ChangeDirection};
use super::overdue::Overdue;
use super::release::Release;
use super::revision::Revision;
use super::sign_change::SignChange;
use super::source_failing::SourceFailing;
use super::streak::{Streak, StreakDirection};
use super::table_changed::{Candidate, Event, Place, TableChanged};
use super::testkit::{self, history, obs, revise_series, run};
use super::threshold::Threshold;
use super::{RuleConfig, RuleKind, Subject};
use crate::model::{Alert, Cause, Details, Period, Severity, StoredObservation};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn rule(id: &str, kind: RuleKind) -> RuleConfig {
    RuleConfig {
        id: id.into(),
        series: "nl.*".into(),
        matcher: globset::Glob::new("nl.*").unwrap().compile_matcher(),
        kind,
        severity: Severity::Warning,
    }
}

/// A rule of each kind a release fires, by id, as a config would make it (the ids are in
/// the golden alerts' ids).
fn released(id: &str) -> RuleConfig {
    let (series, kind) = match id {
        "turn" => (
            "nl.industry.yoy",
            RuleKind::SignChange(SignChange { dead_band: 0.0 }),
        ),
        "streak" => (
            "nl.industry.yoy",
            RuleKind::Streak(Streak {
                direction: StreakDirection::Positive,
                length: 3,
            }),
        ),
        "drop" => (
            "nl.confidence",
            RuleKind::Change(Change {
                direction: ChangeDirection::Down,
                min: 1.0,
                relative: false,
            }),
        ),
        "rev" => ("nl.*", RuleKind::Revision(Revision { min: 0.5 })),
        "rel" => ("nl.*", RuleKind::Release(Release)),
        "zero" => (
            "nl.confidence",
            RuleKind::Threshold(Threshold {
                above: Some(0.0),
                below: None,
            }),
        ),
        other => panic!("no test rule {other}"),
    };
    testkit::rule(id, series, kind)
}

fn one(mut alerts: Vec<Alert>, cause: Cause) -> Alert {
    alerts.retain(|a| a.cause == cause);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    alerts.remove(0)
}

/// The alerts of the kinds a release fires.
fn on_release() -> Vec<(&'static str, Alert)> {
    let v1 = [history(), obs(&[(2025, 1, 0.3), (2025, 2, 1.0)])].concat();
    let flipped = [
        history(),
        obs(&[(2025, 1, 0.1), (2025, 2, -0.3), (2025, 3, 1.4)]),
    ]
    .concat();
    let three = [v1.clone(), obs(&[(2025, 3, 1.3)])].concat();
    let turned = [history(), obs(&[(2025, 1, 0.3)])].concat();
    let confidence = obs(&[(2025, 2, -1.2), (2025, 3, -1.5)]);
    let dropped = [confidence.clone(), obs(&[(2025, 4, -3.3)])].concat();
    let crossed = [confidence.clone(), obs(&[(2025, 4, 0.4)])].concat();
    let new = Cause::NewPeriod;
    let yoy = |id: &str, releases: &[Vec<_>], cause| {
        one(run("nl.industry.yoy", &released(id), releases), cause)
    };
    let conf =
        |id: &str, releases: &[Vec<_>]| one(run("nl.confidence", &released(id), releases), new);
    vec![
        ("release", yoy("rel", &[v1.clone(), three.clone()], new)),
        ("sign_change", yoy("turn", &[history(), turned], new)),
        (
            "sign_change_revised",
            yoy("turn", &[v1.clone(), flipped.clone()], Cause::Revision),
        ),
        ("streak", yoy("streak", &[v1.clone(), three], new)),
        ("change", conf("drop", &[confidence.clone(), dropped])),
        ("threshold", conf("zero", &[confidence, crossed])),
        ("revision", yoy("rev", &[v1, flipped], Cause::Revision)),
        (
            "revision_summed",
            one(
                revise_series("nl.industry.yoy", &released("rev"), 13),
                Cause::Revision,
            ),
        ),
    ]
}

/// The alerts of the silences and of a changed table.
fn off_release() -> Vec<(&'static str, Alert)> {
    let seen = at("2025-05-09T06:30:00Z");
    let overdue = Overdue {
        after: chrono::Duration::days(40),
    };
    let latest = StoredObservation {
        period: Period::Month(2025, 3),
        source_period: "2025MM03".into(),
        value: 1.3,
        status: "Voorlopig".into(),
        first_seen: seen,
        value_seen: seen,
        revisions: Vec::new(),
    };
    let subject = Subject {
        id: "nl.industry.yoy",
        title: "Industrial production NL",
        source: "cbs",
        table: "85806NED",
        unit: "%",
    };
    let late = rule("late", RuleKind::Overdue(overdue.clone()));
    let failing = SourceFailing {
        source: "*".into(),
        matcher: globset::Glob::new("*").unwrap().compile_matcher(),
        after: chrono::Duration::hours(24),
    };
    let down = rule("down", RuleKind::SourceFailing(failing.clone()));
    let hours = chrono::Duration::hours;
    let mut out = vec![
        (
            "overdue",
            overdue
                .check(&late, subject, &latest, seen + chrono::Duration::days(41))
                .unwrap(),
        ),
        (
            "source_failing",
            failing
                .failing(&down, "cbs", seen, "HTTP 500", seen + hours(25))
                .unwrap(),
        ),
        (
            "source_failing_recovered",
            failing.recovered(&down, "cbs", seen, "HTTP 500", seen + hours(31)),
        ),
    ];
    out.extend(table_changed(seen));
    out
}

fn table_changed(now: DateTime<Utc>) -> Vec<(&'static str, Alert)> {
    let changed = TableChanged {
        source: "*".into(),
        matcher: globset::Glob::new("*").unwrap().compile_matcher(),
    };
    let r = rule("tables", RuleKind::TableChanged(changed.clone()));
    let place = Place {
        source: "cbs",
        table: "85806NED",
    };
    let candidate = |key: &str, title: &str| Candidate {
        key: key.into(),
        title: title.into(),
    };
    let discontinued = Event::Discontinued {
        successor: Some("84098NED".into()),
        successor_title: None,
        candidates: vec![candidate("84099NED", "Lopende transacties \"oud\"")],
        why: "OutputStatus Gediscontinueerd".into(),
    };
    let structure = Event::Structure {
        series: "nl.industry.yoy".into(),
        title: "Industrial production NL".into(),
        dimension: "BedrijfstakkenBranchesSBI2008".into(),
        key: "307500".into(),
        candidates: vec![candidate("C", "Industrie"), candidate("B-E", "Nijverheid")],
    };
    let rebased = Event::Rebased {
        measure: "Index_1".into(),
        old: "2015=100".into(),
        new: "2021=100".into(),
        series: vec!["nl.a".into(), "nl.b".into()],
    };
    [
        ("table_changed_discontinued", discontinued),
        ("table_changed_structure", structure),
        ("table_changed_rebased", rebased),
    ]
    .into_iter()
    .map(|(name, event)| (name, changed.alert(&r, place, &event, now)))
    .collect()
}

fn golden(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/alerts/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim_end()
        .to_string()
}

#[test]
fn every_kind_writes_its_golden_bytes_and_reads_them_back() {
    for (name, alert) in on_release().into_iter().chain(off_release()) {
        let json = serde_json::to_string(&alert).unwrap();
        let want = golden(name);
        assert_eq!(json, want, "{name}: the alert as written now:\n{json}");
        let read: Alert = serde_json::from_str(&want).unwrap();
        assert_eq!(read, alert, "{name}");
        assert!(!matches!(read.details, Details::Other(_)), "{name}");
        assert_eq!(serde_json::to_string(&read).unwrap(), want, "{name}");
    }
}
