//! Property tests of the record encoding: arbitrary records either come back exactly or are
//! refused with a clear error; the store never holds a record it cannot read back.

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
            // the others, as the rules do by construction), typed as a record reads.
            a.details = details
                .into_iter()
                .filter_map(|(k, x)| {
                    serde_json::Number::from_f64(x).map(|n| (k, serde_json::Value::Number(n)))
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
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
