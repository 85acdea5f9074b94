//! The commit's writes ahead of its transaction (`store::ahead`): they land with the
//! transaction, a crash or a failed transaction puts every value back, and a first sync
//! encoded straight from the download is the record `diff` would make.

use super::*;

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
            .map(|id| (id.to_string(), EncodedSeries::of(&first, Utc::now())))
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
                units: Default::default(),
                missing: 0,
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

/// Writes `w` ahead and stops there, as a crash would: no transaction, no destructor (the
/// commit stays registered, and its turn taken, until `store` is dropped).
pub(super) fn crash_after_write_ahead(store: &Store, w: &PollWrite) {
    let ahead = store.plan_commit(w).unwrap().write_ahead().unwrap();
    assert!(ahead.wrote_ahead());
    std::mem::forget(ahead);
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
    w.alerts = vec![(alert("a2"), vec!["ops".into(), "mail".into()])];
    crash_after_write_ahead(&store, &w);
    assert!(store.meta.scan_prefix(b"ahead:").count() > 0);
    // Written (readers are still shown the store as it was).
    assert!(store.series.get("a").unwrap().is_some());
    assert_eq!(store.series_ids().unwrap(), vec!["old"]);
    assert_eq!(store.observations("old").unwrap(), before);
    // The alert and its outbox records went ahead too, unseen by readers and not in the due
    // index.
    assert!(store.alerts.get("a2").unwrap().is_some());
    assert!(store.alert("a2").unwrap().is_none());
    assert_eq!(store.outbox.len(), 3);
    assert_eq!(store.deliveries().unwrap().len(), 1);
    assert_eq!(
        store.pending().unwrap().len(),
        1,
        "the earlier poll's a1 only"
    );
    assert!(store.revisions.get("old").unwrap().is_some());
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
    assert!(store.alert("a2").unwrap().is_none());
    assert_eq!(
        store.deliveries().unwrap().len(),
        1,
        "the earlier poll's a1 only"
    );
    assert_eq!(store.pending_count().unwrap(), 1);
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
}

/// Makes the next commit's transaction fail on this thread (after its writes ahead).
pub(in crate::store) fn fail_next_transaction() {
    crate::fault::arm(crate::fault::FAIL_POLL_TRANSACTION);
}

thread_local! {
    /// Runs once on this thread's next commit, between its writes ahead and its transaction.
    static AFTER_WRITE_AHEAD: std::cell::RefCell<Option<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(None) };
}

/// Called by the commit between its writes ahead and its transaction.
pub(in crate::store) fn after_write_ahead() {
    if let Some(f) = AFTER_WRITE_AHEAD.with(|f| f.borrow_mut().take()) {
        f();
    }
}

/// What a reader sees of the store through the reads the pages, `series`, `export`, the
/// control socket and the overdue check make: ids, every observation, the release log's
/// length, whether "a" is held, whether alert "a2" is known, the delivery records.
type Seen = (
    Vec<String>,
    Vec<Vec<StoredObservation>>,
    usize,
    bool,
    bool,
    Vec<Delivery>,
);

fn seen_by_reader(store: &Store) -> Seen {
    let ids = store.series_ids().unwrap();
    let obs = ids
        .iter()
        .map(|id| store.observations(id).unwrap())
        .collect();
    (
        ids,
        obs,
        store.releases().unwrap().len(),
        store.holds("a").unwrap(),
        store.alert("a2").unwrap().is_some(),
        store.deliveries().unwrap(),
    )
}

#[test]
fn readers_never_see_the_records_of_a_commit_that_is_then_undone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit(&first_sync_write(&["old"])).unwrap();
    let before = seen_by_reader(&store);
    let old = before.0.iter().position(|id| id == "old").unwrap();
    assert!(
        before.1[old]
            .iter()
            .any(|o| o.value == 2.5 && o.revisions.is_empty()),
        "{:?}",
        before.1[old]
    );
    // A new period and a revision of "old", a first sync of "a": written ahead, then the
    // transaction fails and everything is undone.
    let mut w = first_sync_write(&["a"]);
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
    w.alerts = vec![(alert("a2"), vec!["ops".into()])];
    let during = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (reader_store, out) = (store.clone(), during.clone());
    AFTER_WRITE_AHEAD.with(|f| {
        *f.borrow_mut() = Some(Box::new(move || {
            // The records are on disk (uncommitted) while another thread reads.
            assert!(reader_store.series.get("a").unwrap().is_some());
            assert!(reader_store.revisions.get("old").unwrap().is_some());
            assert!(reader_store.alerts.get("a2").unwrap().is_some());
            let s = reader_store.clone();
            let seen = std::thread::spawn(move || seen_by_reader(&s))
                .join()
                .unwrap();
            *out.lock().unwrap() = Some(seen);
        }))
    });
    fail_next_transaction();
    store.commit(&w).unwrap_err();
    let during = during.lock().unwrap().take().expect("the reader ran");
    assert_eq!(
        during, before,
        "a reader saw records of an unfinished commit"
    );
    assert_eq!(seen_by_reader(&store), before, "undone");
    // The same write committed: now readers see it.
    store.commit(&w).unwrap();
    let after = seen_by_reader(&store);
    assert_eq!(after.0, ["a", "old"]);
    assert_eq!(after.1[1].len(), 3);
    assert!(after.3 && after.4);
    assert_eq!(after.5.len(), before.5.len() + 1);
}

#[test]
fn a_commit_dropped_before_it_is_settled_is_undone_and_lets_the_next_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit(&first_sync_write(&["old"])).unwrap();
    let before = seen_by_reader(&store);
    let mut w = first_sync_write(&["a"]);
    w.alerts = vec![(alert("a2"), vec!["ops".into()])];
    let ahead = store.plan_commit(&w).unwrap().write_ahead().unwrap();
    assert!(store.series.get("a").unwrap().is_some());
    assert!(store.alerts.get("a2").unwrap().is_some());
    // An early return or a panic between the steps: the commit is never settled.
    drop(ahead);
    assert!(store.series.get("a").unwrap().is_none());
    assert!(store.alerts.get("a2").unwrap().is_none());
    assert_eq!(store.outbox.len(), 1);
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
    assert_eq!(seen_by_reader(&store), before);
    // Its turn was let go, and nothing of it stays registered.
    store.commit(&w).unwrap();
    assert!(seen_by_reader(&store).4);
    assert!(store.inflight.read().unwrap().is_empty());
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
    fail_next_transaction();
    let e = store.commit(&w).unwrap_err();
    assert!(matches!(e, StoreError::Fault { .. }), "{e}");
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
fn a_first_sync_encoded_from_the_download_holds_what_diff_against_nothing_stores() {
    use crate::model::Observation;
    use crate::sources::Fetched;
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
    let record = EncodedSeries::first_sync("s", &Fetched::from(fetched.clone()), t).unwrap();
    assert_eq!(record.observations("s").unwrap(), updates);
    // Out of order or not finite: refused as the commit refuses a value it cannot hold.
    let mut unordered = fetched.clone();
    unordered.swap(0, 1);
    let refused = EncodedSeries::first_sync("s", &unordered.into(), t).unwrap_err();
    assert!(matches!(refused, StoreError::Unreadable { key, .. } if key == "s/2024-11"));
    let mut nan = fetched;
    nan[0].value = f64::NAN;
    let refused = EncodedSeries::first_sync("s", &nan.into(), t).unwrap_err();
    assert!(matches!(refused, StoreError::Unreadable { key, .. } if key == "s/2024-11"));
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
            .map(|id| (id.clone(), EncodedSeries::of(&months, Utc::now())))
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
    crash_after_write_ahead(&store, &update);
    let chunks = store.meta.scan_prefix(b"ahead:").count();
    assert!(chunks > 1, "{chunks} chunk(s)");
    let written = store.series.get("s0000").unwrap().unwrap();
    assert_eq!(super::record::decode_series(&written).unwrap().len(), 241);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    for (id, b) in ids.iter().zip(&before) {
        assert_eq!(&store.observations(id).unwrap(), b, "{id}");
    }
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
}

#[test]
fn a_rename_moves_records_and_revisions_with_the_poll_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit(&first_sync_write(&["old"])).unwrap();
    let mut revised = obs(Period::Month(2025, 2), 9.0);
    revised.revisions.push(crate::model::Vintage {
        value: 2.5,
        status: "Voorlopig".into(),
        seen_at: Utc::now(),
    });
    store
        .commit(&PollWrite {
            observations: vec![("old".into(), vec![revised])],
            ..Default::default()
        })
        .unwrap();
    let before = store.observations("old").unwrap();
    let logged = |store: &Store| -> Vec<String> {
        store
            .releases()
            .unwrap()
            .into_iter()
            .map(|e| e.series)
            .collect()
    };
    assert_eq!(logged(&store), ["old"]);
    let identity = Identity::new(["cbs", "T", "M"]);
    let w = PollWrite {
        observations: vec![("new".into(), vec![obs(Period::Month(2025, 3), 3.0)])],
        renames: vec![Rename {
            from: "old".into(),
            to: "new".into(),
        }],
        identities: vec![(identity.clone(), "new".into())],
        ..Default::default()
    };
    // A failed transaction, then a crash after the writes ahead: no half rename.
    fail_next_transaction();
    store.commit(&w).unwrap_err();
    crash_after_write_ahead(&store, &w);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.series_ids().unwrap(), ["old"]);
    assert_eq!(store.observations("old").unwrap(), before);
    assert_eq!(store.identity_owner(&identity).unwrap(), None);
    assert_eq!(logged(&store), ["old"]);

    store.commit(&w).unwrap();
    assert_eq!(logged(&store), ["new"], "the log follows the series");
    assert_eq!(store.series_ids().unwrap(), ["new"]);
    assert!(!store.holds("old").unwrap());
    let moved = store.observations("new").unwrap();
    assert_eq!(moved[..2], before[..]);
    assert_eq!(moved[1].revisions.len(), 1, "revisions move along");
    assert_eq!(moved[2].period, Period::Month(2025, 3));
    assert_eq!(
        store.identity_owner(&identity).unwrap().as_deref(),
        Some("new")
    );
}

thread_local! {
    /// Makes the next commit on this thread stop right after its transaction, before its
    /// queued outbox entries are indexed (as a crash there would).
    pub(in crate::store) static STOP_BEFORE_INDEX: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A poll of many alerts: `n` alerts for two receivers.
fn flood_write(n: usize) -> PollWrite {
    PollWrite {
        alerts: (0..n)
            .map(|i| {
                (
                    alert(&format!("f{i:05}")),
                    vec!["ops".into(), "mail".into()],
                )
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn a_floods_entries_are_indexed_in_chunks_and_after_a_crash_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = flood_write(1_200);
    STOP_BEFORE_INDEX.with(|f| f.set(true));
    let s = store.commit(&w).unwrap();
    assert_eq!((s.new_alerts.len(), s.enqueued), (1_200, 2_400));
    // The transaction is on disk; the process dies before the entries are indexed: every
    // alert and record is stored, nothing is deliverable yet.
    assert!(store.alert("f01199").unwrap().is_some());
    assert_eq!(store.deliveries().unwrap().len(), 2_400);
    assert!(store.pending().unwrap().is_empty());
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_eq!(
        store.meta.scan_prefix(b"queue:").count(),
        5,
        "2,400 in chunks of 500"
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.pending().unwrap().len(), 2_400);
    assert_eq!(store.pending_count().unwrap(), 2_400);
    assert_eq!(store.meta.scan_prefix(b"queue:").count(), 0);
    // Once: the same alerts again add nothing, and a clean commit indexes at once.
    assert_eq!(store.commit(&w).unwrap().enqueued, 0);
    let more = flood_write(1_300);
    let s = store.commit(&more).unwrap();
    assert_eq!((s.new_alerts.len(), s.enqueued), (100, 200));
    assert_eq!(store.pending().unwrap().len(), 2_600);
    assert_eq!(store.pending_count().unwrap(), 2_600);
    assert_eq!(store.meta.scan_prefix(b"queue:").count(), 0);
}
