//! The store's own tests: commits round-trip, refusals leave nothing behind, arbitrary
//! records read back exactly or are refused, schemas are checked.

mod ahead;
mod encoding;
mod latest;
mod log;

pub(super) use ahead::{after_write_ahead, STOP_BEFORE_INDEX};

use super::*;
use crate::model::{AlertKind, Cause, Delivery, DeliveryState, Period, Severity};
use chrono::{DateTime, Utc};

fn obs(p: Period, v: f64) -> StoredObservation {
    let t = Utc::now();
    StoredObservation {
        period: p,
        source_period: p.to_string().into(),
        value: v,
        status: "Voorlopig".into(),
        first_seen: t,
        value_seen: t,
        revisions: vec![],
    }
}

fn alert(id: &str) -> Alert {
    Alert {
        id: id.into(),
        rule: "r".into(),
        kind: AlertKind::Release,
        severity: Severity::Info,
        series: "s".into(),
        title: "t".into(),
        source: "cbs".into(),
        table: "T".into(),
        unit: "%".into(),
        period: Some(Period::Month(2025, 3)),
        source_period: "2025MM03".into(),
        value: Some(1.0),
        previous: None,
        cause: Cause::NewPeriod,
        summary: "x".into(),
        details: Default::default(),
        detected_at: Utc::now(),
    }
}

#[test]
fn commit_round_trips_and_dedupes_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = PollWrite {
        observations: vec![(
            "s".into(),
            vec![
                obs(Period::Month(2025, 2), 1.0),
                obs(Period::Month(2024, 12), -4.5),
            ],
        )],
        alerts: vec![(alert("a1"), vec!["ops".into(), "mail".into()])],
        ..Default::default()
    };
    let s = store.commit(&w).unwrap();
    assert_eq!(s.new_alerts, vec!["a1".to_string()]);
    assert_eq!(s.enqueued, 2);
    // Observations come back in period order; a prefix never leaks into "s2".
    let got = store.observations("s").unwrap();
    assert_eq!(got[0].period, Period::Month(2024, 12));
    assert!(store.observations("s2").unwrap().is_empty());
    // The same alert again enqueues nothing.
    let again = store.commit(&w).unwrap();
    assert_eq!(again.enqueued, 0);
    assert!(again.new_alerts.is_empty());
    drop(store);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.pending().unwrap().len(), 2);
}

#[test]
fn non_finite_values_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut a = alert("a-nan");
        a.value = Some(bad);
        let w = PollWrite {
            observations: vec![("s".into(), vec![obs(Period::Month(2025, 2), 1.0)])],
            alerts: vec![(a, vec!["ops".into()])],
            ..Default::default()
        };
        let e = store.commit(&w).unwrap_err();
        assert!(
            matches!(e, StoreError::Unreadable { tree: "alerts", .. }),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("a-nan") && msg.contains("NaN"), "{msg}");
        // The transaction never started: the good observation is not there either.
        assert!(store.observations("s").unwrap().is_empty());
        assert!(store.alert("a-nan").unwrap().is_none());
        assert!(store.deliveries().unwrap().is_empty());

        let e = store
            .commit(&PollWrite {
                observations: vec![("s".into(), vec![obs(Period::Month(2025, 2), bad)])],
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("s/2025-02"), "{e}");
    }
}

#[test]
fn a_foreign_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.meta.insert("schema_version", "99").unwrap();
        s.db.flush().unwrap();
    }
    let e = Store::open(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("schema version 99") && e.contains(&format!("schema version {SCHEMA_VERSION}")),
        "{e}"
    );
    // Refused before anything is written: the version is still the newer one.
    drop(Store::open(dir.path()).err());
    let db = sled::open(dir.path()).unwrap();
    let v = db.open_tree("meta").unwrap().get("schema_version").unwrap();
    assert_eq!(v.as_deref(), Some(&b"99"[..]));
}

fn delivered(mut d: Delivery, at: DateTime<Utc>) -> Delivery {
    d.state = DeliveryState::Delivered;
    d.delivered_at = Some(at);
    d
}

#[test]
fn the_due_index_and_count_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut a1 = alert("a1");
    a1.detected_at = "2025-05-09T04:31:00Z".parse().unwrap();
    let mut a2 = alert("a2");
    a2.detected_at = "2025-05-09T04:30:00Z".parse().unwrap();
    let w = PollWrite {
        alerts: vec![
            (a1.clone(), vec!["ops".into(), "mail".into()]),
            (a2.clone(), vec!["ops".into()]),
        ],
        ..Default::default()
    };
    assert_eq!(store.commit(&w).unwrap().enqueued, 3);
    assert_eq!(store.pending_count().unwrap(), 3);
    assert_eq!(store.next_due().unwrap(), Some(a2.detected_at));
    // Earliest due first.
    assert_eq!(store.pending().unwrap()[0].alert_id, "a2");

    // a2 backs off past a1; then it is delivered.
    let mut d = store.pending().unwrap().remove(0);
    d.next_attempt_at = a1.detected_at + chrono::Duration::seconds(30);
    d.attempts = 1;
    store.update_deliveries(&[d.clone()]).unwrap();
    assert_eq!(store.pending_count().unwrap(), 3);
    assert_eq!(store.next_due().unwrap(), Some(a1.detected_at));
    store
        .update_deliveries(&[delivered(d, a1.detected_at)])
        .unwrap();
    assert_eq!(store.pending_count().unwrap(), 2);
    assert!(store.pending().unwrap().iter().all(|d| d.alert_id == "a1"));
    // Settling the same entry twice does not count it twice.
    let rest: Vec<_> = store
        .pending()
        .unwrap()
        .into_iter()
        .map(|d| delivered(d, a1.detected_at))
        .collect();
    store.update_deliveries(&rest).unwrap();
    store.update_deliveries(&rest).unwrap();
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_eq!(store.next_due().unwrap(), None);
    assert_eq!(store.deliveries().unwrap().len(), 3);
}

#[test]
fn pruning_keeps_pending_and_recent_and_never_resends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    let old = now - chrono::Duration::days(401);
    let recent = now - chrono::Duration::days(10);
    let w = PollWrite {
        alerts: ["old", "recent", "waiting"]
            .iter()
            .map(|id| {
                let mut a = alert(id);
                a.detected_at = now - chrono::Duration::days(500);
                (a, vec!["ops".to_string()])
            })
            .collect(),
        ..Default::default()
    };
    store.commit(&w).unwrap();
    let settle: Vec<_> = store
        .pending()
        .unwrap()
        .into_iter()
        .filter_map(|d| match d.alert_id.as_str() {
            "old" => Some(delivered(d, old)),
            "recent" => Some(delivered(d, recent)),
            _ => None,
        })
        .collect();
    store.update_deliveries(&settle).unwrap();
    assert_eq!(store.prune(400, now).unwrap(), 1);
    let left: Vec<String> = store
        .deliveries()
        .unwrap()
        .into_iter()
        .map(|d| d.alert_id)
        .collect();
    assert_eq!(left, ["recent", "waiting"]);
    assert_eq!(store.pending_count().unwrap(), 1);
    // The pruned alert comes again (a rule re-evaluated, say): it is not sent again.
    assert_eq!(store.commit(&w).unwrap().enqueued, 0);
    assert_eq!(store.pending_count().unwrap(), 1);
    assert_eq!(store.prune(400, now).unwrap(), 0);
}

#[test]
fn revisions_live_beside_the_series_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = Period::Month(2025, 2);
    let first = obs(p, 1.0);
    let w = |o: StoredObservation| PollWrite {
        observations: vec![("s".into(), vec![o])],
        ..Default::default()
    };
    store.commit(&w(first.clone())).unwrap();
    store.commit(&w(obs(Period::Month(2025, 3), 2.0))).unwrap();
    let mut revised = obs(p, -0.3);
    revised.first_seen = first.first_seen;
    revised.revisions = vec![crate::model::Vintage {
        value: 1.0,
        status: "Voorlopig".into(),
        seen_at: first.value_seen,
    }];
    store.commit(&w(revised.clone())).unwrap();
    let got = store.observations("s").unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], revised);
    assert!(got[1].revisions.is_empty());
    // A later update of another period keeps the revisions record as it was.
    store.commit(&w(obs(Period::Month(2025, 4), 3.0))).unwrap();
    assert_eq!(store.observations("s").unwrap()[0], revised);
    assert_eq!(store.series_ids().unwrap(), ["s"]);
    // An update replaces the whole observation, its vintages too (as schema 1 did).
    let plain = obs(p, 7.0);
    store.commit(&w(plain.clone())).unwrap();
    assert_eq!(store.observations("s").unwrap()[0], plain);
    assert!(store.revisions.get("s").unwrap().is_none());
}

#[test]
fn a_baseline_log_entry_names_its_periods_by_count_and_span_only() {
    let release = crate::model::Release {
        baseline: true,
        new_periods: vec![Period::Month(2025, 3), Period::Month(2025, 1)],
        ..Default::default()
    };
    let e = ReleaseLogEntry::compact(Utc::now(), "cbs", "T", "s", &release);
    assert!(e.release.baseline && e.release.new_periods.is_empty());
    let span = e.baseline.clone().unwrap();
    assert_eq!(
        (span.count, span.first, span.last),
        (2, Period::Month(2025, 1), Period::Month(2025, 3))
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = PollWrite {
        releases: vec![e.clone()],
        ..Default::default()
    };
    store.commit(&w).unwrap();
    assert_eq!(store.releases().unwrap(), vec![e]);
    let later = crate::model::Release {
        new_periods: vec![Period::Month(2025, 4)],
        ..Default::default()
    };
    let e = ReleaseLogEntry::compact(Utc::now(), "cbs", "T", "s", &later);
    assert_eq!((e.release, e.baseline), (later, None));
}

#[test]
fn an_encoded_first_sync_is_written_as_is_and_never_over_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = Utc::now();
    let first = vec![
        obs(Period::Month(2025, 1), 1.0),
        obs(Period::Month(2025, 2), 2.5),
    ];
    let w = PollWrite {
        encoded: vec![("s".into(), EncodedSeries::of(&first, t))],
        ..Default::default()
    };
    store.commit(&w).unwrap();
    let stored = store.observations("s").unwrap();
    assert_eq!(
        stored,
        EncodedSeries::of(&first, t).observations("s").unwrap()
    );
    // The store holds the series: a first sync of it is refused, and nothing is written
    // (a poll plans one only for a series with no record).
    let more = vec![obs(Period::Month(2025, 3), 3.0)];
    let w = PollWrite {
        encoded: vec![("s".into(), EncodedSeries::of(&more, t))],
        ..Default::default()
    };
    let e = store.commit(&w).unwrap_err();
    assert!(
        matches!(&e, StoreError::Unreadable { key, .. } if key == "s"),
        "{e}"
    );
    assert_eq!(store.observations("s").unwrap(), stored);
}

#[test]
fn a_receivers_backlog_reads_in_bounded_pages_and_orphans_never_come_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let base: DateTime<Utc> = "2025-05-09T04:30:00Z".parse().unwrap();
    let w = PollWrite {
        alerts: (0..7)
            .map(|i| {
                let mut a = alert(&format!("a{i}"));
                a.detected_at = base + chrono::Duration::seconds(i);
                (a, vec!["ops".to_string(), "gone".to_string()])
            })
            .collect(),
        ..Default::default()
    };
    store.commit(&w).unwrap();
    // Pages of 3, earliest due first, only this receiver's, then nothing more.
    let mut after = None;
    let mut pages = Vec::new();
    loop {
        let page = store
            .pending_page("ops", after.as_deref(), None, 3)
            .unwrap();
        let Some(next) = page.next else { break };
        assert!(page.entries.iter().all(|d| d.receiver == "ops"));
        pages.push(
            page.entries
                .iter()
                .map(|d| d.alert_id.clone())
                .collect::<Vec<_>>(),
        );
        after = Some(next);
    }
    assert_eq!(
        pages,
        [vec!["a0", "a1", "a2"], vec!["a3", "a4", "a5"], vec!["a6"]]
    );
    // Due at a time: only what has come.
    let until = base + chrono::Duration::seconds(1);
    let due = store.pending_page("ops", None, Some(until), 10).unwrap();
    assert_eq!(due.entries.len(), 2);
    assert_eq!(store.pending_count_of("ops"), 7);
    assert_eq!(
        store.pending_receivers().unwrap(),
        [("gone".to_string(), 7), ("ops".to_string(), 7)]
    );
    // Only wanted receivers make the next due time; a bounded walk says where it stopped.
    assert_eq!(
        store.next_due_of(|r| r == "nobody", 100).unwrap(),
        (None, false)
    );
    let (t, cut) = store.next_due_of(|r| r == "nobody", 3).unwrap();
    assert!(cut && t.is_some());
    assert_eq!(
        store.next_due_of(|r| r == "ops", 100).unwrap(),
        (Some(base), false)
    );
    // A receiver's hold reads back, never earlier than set.
    let hold = Hold {
        retry_after: Some(base + chrono::Duration::nanoseconds(1500)),
        until: base + chrono::Duration::seconds(30),
    };
    store.set_receiver_hold("ops", &hold).unwrap();
    let back = store.receiver_hold("ops").unwrap().unwrap();
    assert!(back.until >= hold.until && back.retry_after >= hold.retry_after);
    assert_eq!(store.receiver_hold("gone").unwrap(), None);
}
