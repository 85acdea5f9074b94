//! The delivery log read a page at a time: every entry once, in order, either way, from any
//! cursor, with the counts of the whole log; a page reads its own records only, and the
//! index and counts stay right through pruning, an undone commit, a crash before indexing and
//! the upgrade of a store without them.

use super::ahead::{fail_next_transaction, STOP_BEFORE_INDEX};
use super::*;
use crate::store::{LogCounts, LogCursor, LogOrder};

/// 120 alerts a minute apart (the same minute twice, so the key breaks ties), each to two
/// receivers; the first 30 delivered to `ops`.
fn log_of_240() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let start: DateTime<Utc> = "2025-05-09T04:00:00Z".parse().unwrap();
    let alerts = (0..120)
        .map(|i| {
            let mut a = alert(&format!("a{i:03}"));
            a.detected_at = start + chrono::Duration::minutes(i / 2);
            (a, vec!["ops".to_string(), "mail".to_string()])
        })
        .collect();
    store
        .commit(&PollWrite {
            alerts,
            ..Default::default()
        })
        .unwrap();
    let done: Vec<Delivery> = store
        .pending()
        .unwrap()
        .into_iter()
        .filter(|d| d.receiver == "ops" && d.alert_id.as_str() < "a030")
        .map(|d| delivered(d, start))
        .collect();
    store.update_deliveries(&done).unwrap();
    (dir, store)
}

/// Every page from the start, `limit` at a time, following the last row's cursor.
fn walk(store: &Store, order: LogOrder, limit: usize, pending: bool) -> Vec<(String, String)> {
    let mut from: Option<LogCursor> = None;
    let mut seen = Vec::new();
    loop {
        let page = store
            .delivery_log_page(order, from.as_ref(), limit, pending)
            .unwrap();
        assert!(page.rows.len() <= limit);
        assert_eq!(page.behind, from.is_some());
        seen.extend(
            page.rows
                .iter()
                .map(|(_, d)| (d.alert_id.clone(), d.receiver.clone())),
        );
        if !page.more {
            return seen;
        }
        from = page.rows.last().map(|(c, _)| c.clone());
    }
}

#[test]
fn pages_of_the_delivery_log_hold_every_entry_once_in_order() {
    let (_dir, store) = log_of_240();
    let oldest = walk(&store, LogOrder::OldestFirst, 50, false);
    assert_eq!(oldest.len(), 240);
    // By creation time, then receiver and id: a000 and a001 share a minute.
    assert_eq!(
        oldest[..4],
        [
            ("a000".into(), "mail".into()),
            ("a001".into(), "mail".into()),
            ("a000".into(), "ops".into()),
            ("a001".into(), "ops".into()),
        ]
    );
    let mut newest = walk(&store, LogOrder::NewestFirst, 7, false);
    newest.reverse();
    assert_eq!(newest, oldest);
    assert_eq!(walk(&store, LogOrder::NewestFirst, 1000, true).len(), 210);

    let page = store
        .delivery_log_page(LogOrder::NewestFirst, None, 100, false)
        .unwrap();
    assert_eq!(
        (page.rows.len(), page.more, page.behind),
        (100, true, false)
    );
    assert_eq!(page.rows[0].1.alert_id, "a119");
    assert_eq!((page.counts.pending, page.counts.delivered), (210, 30));
    // The page's records and one beyond (`more`), not the log's 240.
    assert_eq!(page.read, 101);
    // A cursor survives its text form (links, the control socket).
    let c = &page.rows[99].0;
    assert_eq!(LogCursor::parse(&c.token()).as_ref(), Some(c));
    assert_eq!(LogCursor::parse("not hex"), None);
}

/// The counts and entries of a full pass over the outbox: what the index must agree with.
fn by_pass(store: &Store) -> (LogCounts, usize) {
    let mut c = LogCounts::default();
    let all = store.deliveries().unwrap();
    for d in &all {
        match d.state {
            DeliveryState::Pending => c.pending += 1,
            DeliveryState::Delivered => c.delivered += 1,
            DeliveryState::Failed => c.failed += 1,
        }
    }
    (c, all.len())
}

/// The index agrees with the outbox: same counts, one key per entry, every entry walked.
fn agrees(store: &Store) {
    let (pass, n) = by_pass(store);
    assert_eq!(store.log_counts().unwrap(), pass);
    assert_eq!(store.log.len(), n);
    assert_eq!(walk(store, LogOrder::OldestFirst, 64, false).len(), n);
}

#[test]
fn a_page_reads_its_own_records_whatever_the_log_length() {
    let (_dir, store) = log_of_240();
    let mut from: Option<LogCursor> = None;
    for _ in 0..5 {
        let page = store
            .delivery_log_page(LogOrder::NewestFirst, from.as_ref(), 7, false)
            .unwrap();
        // Seven rows, the one that says `more`, the one that says `behind`.
        assert!(page.read <= 9, "a page of 7 read {} records", page.read);
        from = page.rows.last().map(|(c, _)| c.clone());
    }
    // Pending only: the due index is asked first, the delivered records are never read.
    let page = store
        .delivery_log_page(LogOrder::OldestFirst, None, 5, true)
        .unwrap();
    assert_eq!(page.read, 6);
    assert_eq!(page.rows[0].1.state, DeliveryState::Pending);
    agrees(&store);
}

#[test]
fn the_index_and_counts_follow_failures_and_pruning() {
    let (_dir, store) = log_of_240();
    let now: DateTime<Utc> = "2025-05-09T04:00:00Z".parse().unwrap();
    let failed: Vec<Delivery> = store
        .pending()
        .unwrap()
        .into_iter()
        .filter(|d| d.receiver == "mail" && d.alert_id.as_str() < "a010")
        .map(|mut d| {
            d.state = DeliveryState::Failed;
            d
        })
        .collect();
    store.update_deliveries(&failed).unwrap();
    let c = store.log_counts().unwrap();
    assert_eq!((c.pending, c.delivered, c.failed), (200, 30, 10));
    agrees(&store);
    // All 40 settled entries are old by then; the pending ones stay.
    let later = now + chrono::Duration::days(30);
    assert_eq!(store.prune(7, later).unwrap(), 40);
    let c = store.log_counts().unwrap();
    assert_eq!((c.pending, c.delivered, c.failed), (200, 0, 0));
    agrees(&store);
}

#[test]
fn an_undone_commit_leaves_nothing_in_the_log_and_a_crash_before_indexing_is_caught_up() {
    let (_dir, store) = log_of_240();
    let w = PollWrite {
        alerts: vec![(alert("late"), vec!["ops".to_string()])],
        ..Default::default()
    };
    fail_next_transaction();
    store.commit(&w).unwrap_err();
    assert_eq!(store.log.len(), 240);
    agrees(&store);
    // Committed, then stopped before indexing: not in the log until the next open.
    let dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(dir.path()).unwrap();
    STOP_BEFORE_INDEX.with(|f| f.set(true));
    fresh.commit(&w).unwrap();
    assert_eq!(fresh.log.len(), 0);
    drop(fresh);
    let fresh = Store::open(dir.path()).unwrap();
    agrees(&fresh);
    let page = fresh
        .delivery_log_page(LogOrder::NewestFirst, None, 10, false)
        .unwrap();
    assert_eq!(page.rows[0].1.alert_id, "late");
}

#[test]
fn a_schema_2_store_gets_its_log_indexed_at_open() {
    let (dir, store) = log_of_240();
    let before = walk(&store, LogOrder::OldestFirst, 50, false);
    let counts = store.log_counts().unwrap();
    // What schema 2 had: no index, no counts.
    store.log.clear().unwrap();
    for key in [
        crate::store::due::LOG_DELIVERED,
        crate::store::due::LOG_FAILED,
    ] {
        store.meta.remove(key).unwrap();
    }
    store.meta.insert("schema_version", "2").unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema().unwrap(), Some(SCHEMA_VERSION));
    assert_eq!(walk(&store, LogOrder::OldestFirst, 50, false), before);
    assert_eq!(store.log_counts().unwrap(), counts);
    agrees(&store);
}
