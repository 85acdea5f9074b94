//! The store's own tests: commits round-trip, refusals leave nothing behind, arbitrary
//! records read back exactly or are refused, schemas are checked.

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

mod encoding {
    //! Arbitrary records either come back exactly or are refused with a clear error;
    //! the store never holds a record it cannot read back.
    use super::*;
    use crate::model::{Previous, Vintage};
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn period() -> impl Strategy<Value = Period> {
        // Out-of-range months and quarters too: they must be refused, not stored.
        prop_oneof![
            any::<i32>().prop_map(Period::Year),
            (any::<i32>(), any::<u8>()).prop_map(|(y, q)| Period::Quarter(y, q)),
            (any::<i32>(), any::<u8>()).prop_map(|(y, m)| Period::Month(y, m)),
            (1900..2100i32, 1..=12u8).prop_map(|(y, m)| Period::Month(y, m)),
        ]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (-400_000_000_000i64..400_000_000_000i64, 0u32..2_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap_or_default())
    }

    fn value() -> impl Strategy<Value = f64> {
        // Every bit pattern: NaNs, infinities, subnormals, -0.0, and the long tails.
        prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits)]
    }

    fn observation() -> impl Strategy<Value = StoredObservation> {
        (
            period(),
            ".*",
            value(),
            ".*",
            time(),
            time(),
            prop::collection::vec((value(), ".*", time()), 0..3),
        )
            .prop_map(
                |(period, sp, value, status, first, seen, revs)| StoredObservation {
                    period,
                    source_period: sp.into(),
                    value,
                    status: status.into(),
                    first_seen: first,
                    value_seen: seen,
                    revisions: revs
                        .into_iter()
                        .map(|(value, status, seen_at)| Vintage {
                            value,
                            status: status.into(),
                            seen_at,
                        })
                        .collect(),
                },
            )
    }

    fn arb_alert() -> impl Strategy<Value = Alert> {
        (
            (".*", ".*", period(), ".*", value()),
            prop::option::of((period(), value())),
            any::<bool>(),
            time(),
            prop::collection::btree_map("[a-z_]{1,8}", value(), 0..3),
        )
            .prop_map(|((rule, title, p, summary, v), prev, rev, at, details)| {
                let mut a = alert("x");
                a.rule = rule;
                a.title = title;
                a.period = Some(p);
                a.summary = summary;
                a.value = Some(v);
                a.previous = prev.map(|(period, value)| Previous { period, value });
                a.cause = if rev {
                    Cause::Revision
                } else {
                    Cause::NewPeriod
                };
                a.detected_at = at;
                // What a rule puts in details: numbers JSON can hold (from_f64 refuses
                // the others, as the rules do by construction).
                a.details = details
                    .into_iter()
                    .filter_map(|(k, x)| {
                        serde_json::Number::from_f64(x).map(|n| (k, serde_json::Value::Number(n)))
                    })
                    .collect();
                a
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn records_round_trip_exactly_or_are_refused(o in observation(), a in arb_alert()) {
            static DIR: std::sync::OnceLock<(tempfile::TempDir, Store)> = std::sync::OnceLock::new();
            static N: AtomicU64 = AtomicU64::new(0);
            let (_, store) = DIR.get_or_init(|| {
                let d = tempfile::tempdir().unwrap();
                let s = Store::open(d.path()).unwrap();
                (d, s)
            });
            let n = N.fetch_add(1, Ordering::Relaxed);
            let series = format!("s{n}");
            let mut a = a;
            a.id = format!("a{n}");
            for w in [
                PollWrite { observations: vec![(series.clone(), vec![o.clone()])], ..Default::default() },
                PollWrite { alerts: vec![(a.clone(), vec!["ops".into()])], ..Default::default() },
            ] {
                match store.commit(&w) {
                    Ok(_) => {}
                    Err(e @ StoreError::Unreadable { .. }) => {
                        let msg = e.to_string();
                        prop_assert!(msg.contains("refusing to write") && msg.contains("could not be read back"), "{}", msg);
                    }
                    Err(e) => prop_assert!(false, "unexpected error: {}", e),
                }
            }
            // Whatever was written reads back, exactly.
            match store.observations(&series) {
                Ok(got) if got.is_empty() => {}
                Ok(got) => prop_assert_eq!(got, vec![o]),
                Err(e) => prop_assert!(false, "a stored observation does not read back: {}", e),
            }
            match store.alert(&a.id) {
                Ok(None) => prop_assert!(store.deliveries().unwrap().iter().all(|d| d.alert_id != a.id)),
                Ok(Some(got)) => prop_assert_eq!(got, a),
                Err(e) => prop_assert!(false, "a stored alert does not read back: {}", e),
            }
        }
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
fn an_encoded_first_sync_is_written_as_is_or_merged_into_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = vec![
        obs(Period::Month(2025, 1), 1.0),
        obs(Period::Month(2025, 2), 2.5),
    ];
    let e = Store::encode_baseline(&first).unwrap();
    let w = PollWrite {
        encoded: vec![("s".into(), e)],
        ..Default::default()
    };
    store.commit(&w).unwrap();
    assert_eq!(store.observations("s").unwrap(), first);
    // The store has the series by the commit: merged, not overwritten.
    let more = vec![obs(Period::Month(2025, 3), 3.0)];
    let w = PollWrite {
        encoded: vec![("s".into(), Store::encode_baseline(&more).unwrap())],
        ..Default::default()
    };
    store.commit(&w).unwrap();
    assert_eq!(store.observations("s").unwrap().len(), 3);
    // Not a first sync's updates: left to the commit.
    let mut unordered = first.clone();
    unordered.reverse();
    assert!(Store::encode_baseline(&unordered).is_none());
    assert!(Store::encode_baseline(&[obs(Period::Month(2025, 4), f64::NAN)]).is_none());
}

/// A poll's first syncs and their log entries (written ahead of the transaction) with an
/// alert of another series and the table's stamp.
fn first_sync_write(ids: &[&str]) -> PollWrite {
    let baseline = crate::model::Release {
        baseline: true,
        new_periods: vec![Period::Month(2025, 1), Period::Month(2025, 2)],
        ..Default::default()
    };
    let first = vec![
        obs(Period::Month(2025, 1), 1.0),
        obs(Period::Month(2025, 2), 2.5),
    ];
    PollWrite {
        encoded: ids
            .iter()
            .map(|id| (id.to_string(), Store::encode_baseline(&first).unwrap()))
            .collect(),
        releases: ids
            .iter()
            .map(|id| ReleaseLogEntry::compact(Utc::now(), "cbs", "T", id, &baseline))
            .collect(),
        stamps: vec![(
            "cbs".into(),
            "T".into(),
            TableStamp {
                stamp: "m1".into(),
                fetched_at: Utc::now(),
                selection: String::new(),
            },
        )],
        alerts: vec![(alert("a1"), vec!["ops".into()])],
        ..Default::default()
    }
}

#[test]
fn first_syncs_written_ahead_commit_with_the_poll_and_leave_no_undo_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = first_sync_write(&["a", "b"]);
    assert_eq!(store.commit(&w).unwrap().new_alerts, vec!["a1".to_string()]);
    assert_eq!(store.series_ids().unwrap(), vec!["a", "b"]);
    assert_eq!(store.observations("b").unwrap().len(), 2);
    assert_eq!(store.releases().unwrap().len(), 2);
    assert!(store.stamp("cbs", "T").unwrap().is_some());
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.series_ids().unwrap(), vec!["a", "b"]);
}

#[test]
fn a_crash_between_the_writes_ahead_and_the_transaction_is_undone_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Held before the poll: its update is undone, its record put back as it was.
    store.commit(&first_sync_write(&["old"])).unwrap();
    let before = store.observations("old").unwrap();
    let mut w = first_sync_write(&["a", "b"]);
    let mut revised = obs(Period::Month(2025, 2), 9.0);
    revised.revisions.push(crate::model::Vintage {
        value: 2.5,
        status: "Voorlopig".into(),
        seen_at: Utc::now(),
    });
    w.observations.push((
        "old".into(),
        vec![revised, obs(Period::Month(2025, 3), 3.0)],
    ));
    let rows = store.series_rows(&w).unwrap();
    let ahead = store.write_ahead(&w, &rows.releases).unwrap().unwrap();
    assert!(!ahead.keys.is_empty());
    assert_eq!(store.series_ids().unwrap(), vec!["a", "b", "old"]);
    assert_eq!(store.observations("old").unwrap().len(), 3);
    assert!(store.revisions.get("old").unwrap().is_some());
    // The process dies here: no transaction.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.series_ids().unwrap(), vec!["old"]);
    assert_eq!(store.observations("old").unwrap(), before);
    assert!(
        store.revisions.get("old").unwrap().is_none(),
        "no revisions before"
    );
    assert_eq!(
        store.releases().unwrap().len(),
        1,
        "the earlier poll's entry only"
    );
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
}

thread_local! {
    /// Makes the next commit's transaction fail on this thread (after its writes ahead).
    pub(super) static FAIL_TRANSACTION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[test]
fn a_failed_transaction_undoes_its_writes_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit(&first_sync_write(&["old"])).unwrap();
    let before = store.observations("old").unwrap();
    let mut w = first_sync_write(&["a"]);
    w.observations
        .push(("old".into(), vec![obs(Period::Month(2025, 3), 3.0)]));
    w.stamps[0].2.stamp = "m2".into();
    w.alerts = vec![(alert("a2"), vec!["ops".into()])];
    FAIL_TRANSACTION.with(|f| f.set(true));
    let e = store.commit(&w).unwrap_err();
    assert!(e.to_string().contains("a test failed"), "{e}");
    assert_eq!(store.series_ids().unwrap(), vec!["old"]);
    assert_eq!(store.observations("old").unwrap(), before);
    assert_eq!(store.releases().unwrap().len(), 1);
    assert_eq!(store.stamp("cbs", "T").unwrap().unwrap().stamp, "m1");
    assert!(store.alert("a2").unwrap().is_none());
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
    // The same write commits afterwards.
    store.commit(&w).unwrap();
    assert_eq!(store.observations("old").unwrap().len(), 3);
}

#[test]
fn a_first_sync_encoded_from_the_download_is_the_record_diff_would_make() {
    use crate::model::Observation;
    let t = Utc::now();
    let fetched: Vec<Observation> = [
        (Period::Month(2024, 11), "2024MM11", -1.25, "Definitief"),
        (Period::Month(2024, 12), "2024-12", 0.0, "Voorlopig"),
        (Period::Month(2025, 1), "MONAT01 2025", 1e-9, ""),
        (Period::Month(2025, 2), "2025MM02", 123456.789, "Voorlopig"),
    ]
    .into_iter()
    .map(|(period, code, value, status)| Observation {
        period,
        source_period: code.into(),
        value,
        status: status.into(),
    })
    .collect();
    let updates = crate::diff::diff(&[], &fetched, t).updates;
    let slow = Store::encode_baseline(&updates).unwrap();
    let fast =
        Store::encode_first_sync(&crate::sources::Fetched::from(fetched.clone()), t).unwrap();
    assert_eq!(fast.bytes(), slow.bytes());
    // Out of order or not finite: left to the usual path, like `encode_baseline`.
    let mut unordered = fetched.clone();
    unordered.swap(0, 1);
    assert!(Store::encode_first_sync(&unordered.into(), t).is_none());
    let mut nan = fetched;
    nan[0].value = f64::NAN;
    assert!(Store::encode_first_sync(&nan.into(), t).is_none());
}

#[test]
fn an_undo_log_of_several_chunks_puts_every_record_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let months: Vec<StoredObservation> = (0..240)
        .map(|i| {
            obs(
                Period::Month(2000 + i / 12, (i % 12 + 1) as u8),
                f64::from(i) * 1.37,
            )
        })
        .collect();
    let ids: Vec<String> = (0..1500).map(|i| format!("s{i:04}")).collect();
    let first = PollWrite {
        encoded: ids
            .iter()
            .map(|id| (id.clone(), Store::encode_baseline(&months).unwrap()))
            .collect(),
        ..Default::default()
    };
    store.commit(&first).unwrap();
    let before: Vec<_> = ids
        .iter()
        .map(|id| store.observations(id).unwrap())
        .collect();
    let update = PollWrite {
        observations: ids
            .iter()
            .map(|id| (id.clone(), vec![obs(Period::Month(2021, 1), -1.0)]))
            .collect(),
        ..Default::default()
    };
    let rows = store.series_rows(&update).unwrap();
    let ahead = store.write_ahead(&update, &rows.releases).unwrap().unwrap();
    assert!(ahead.keys.len() > 1, "{} chunk(s)", ahead.keys.len());
    assert_eq!(store.observations("s0000").unwrap().len(), 241);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    for (id, b) in ids.iter().zip(&before) {
        assert_eq!(&store.observations(id).unwrap(), b, "{id}");
    }
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
}
