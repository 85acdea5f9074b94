//! The delivery log read a page at a time: every entry once, in order, either way, from any
//! cursor, with the counts of the whole log.

use super::*;
use crate::store::{LogCursor, LogOrder};

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
    // A cursor survives its text form (links, the control socket).
    let c = &page.rows[99].0;
    assert_eq!(LogCursor::parse(&c.token()).as_ref(), Some(c));
    assert_eq!(LogCursor::parse("not hex"), None);
}
