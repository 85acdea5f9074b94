//! The only module that sees sled: opening the store, its schema, the record encoding, and
//! the one transaction per poll. What the records are lives beside it: `series` (data,
//! stamps, release log, polls) and `outbox` (alerts and their deliveries).
//!
//! # Key layout (schema version 1)
//!
//! | tree           | key                          | value (JSON)                           |
//! |----------------|------------------------------|----------------------------------------|
//! | `meta`         | `schema_version`             | `1`                                    |
//! | `meta`         | `alive`                      | RFC 3339 time of the last write probe  |
//! | `observations` | `series \0 period-sort-key`  | [`StoredObservation`]                  |
//! | `stamps`       | `source \0 table`            | [`TableStamp`] (the cheap-check value) |
//! | `releases`     | big-endian u64 sequence      | [`ReleaseLogEntry`]                    |
//! | `polls`        | `source`                     | [`PollRecord`]                         |
//! | `alerts`       | alert id                     | [`Alert`]                              |
//! | `outbox`       | `receiver \0 alert id`       | [`Delivery`]                           |
//!
//! One poll's writes (observations, stamps, release log, alerts and their outbox entries, the
//! poll time) go through [`Store::commit`] as ONE sled transaction, so a crash can neither
//! lose a detection nor record data without its alerts.
//!
//! Every record is checked to read back before it is written ([`enc`]): JSON has no NaN or
//! infinity (serde_json writes them as `null`, which then fails to decode as a number), so such
//! a value is refused at write time with [`StoreError::Unreadable`] instead of becoming a
//! record that breaks every later read. Reads of single records report the tree and key of a
//! record that cannot be decoded, so callers can skip it and carry on with the others.

mod outbox;
mod series;

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::model::{Alert, StoredObservation};

pub(crate) use outbox::due;
pub use outbox::UnreadableDelivery;
use series::Row;
pub use series::{PollRecord, ReleaseLogEntry, TableStamp};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
    },
    /// sled lets one process open the store at a time: the daemon holds it while it runs.
    #[error("the store at {path} is in use by another statwatch process (the daemon?)")]
    Locked { path: String },
    #[error(
        "the store at {path} has schema version {found}, this statwatch knows {SCHEMA_VERSION}"
    )]
    Schema { path: String, found: String },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: corrupt record in {tree} at key {key:?}: {source}")]
    Corrupt {
        tree: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// A record that would not decode again (NaN or infinity, which JSON cannot hold):
    /// refused before anything is written.
    #[error("store: refusing to write a record to {tree} at key {key:?} that could not be read back ({source}); NaN and infinity cannot be stored")]
    Unreadable {
        tree: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Whether the store itself failed (I/O: a full disk, a broken file), as opposed to one
    /// record or one value being wrong. After such an error sled refuses further writes, so
    /// the daemon stops rather than carry on half-working.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Sled(_))
    }
}

impl Store {
    /// Proves the store takes writes (a full disk fails here, not only at the next poll): the
    /// daemon does this before each heartbeat ping, so a dead-man service hears nothing from
    /// a daemon that could not record what it finds.
    pub fn probe_write(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        self.meta.insert("alive", now.to_rfc3339().as_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

/// Everything one poll writes, committed atomically.
#[derive(Debug, Default)]
pub struct PollWrite {
    /// New or changed observations, per series id.
    pub observations: Vec<(String, Vec<StoredObservation>)>,
    pub stamps: Vec<(String, String, TableStamp)>,
    pub releases: Vec<ReleaseLogEntry>,
    /// Each alert with the receivers it goes to.
    pub alerts: Vec<(Alert, Vec<String>)>,
    /// The source polled and the outcome; `success` sets its last successful poll time.
    pub poll: Option<(String, PollRecord)>,
}

/// What a commit actually added (an alert already known is not enqueued again).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommitSummary {
    pub new_alerts: Vec<String>,
    pub enqueued: usize,
}

#[derive(Clone)]
pub struct Store {
    path: String,
    db: sled::Db,
    meta: sled::Tree,
    observations: sled::Tree,
    stamps: sled::Tree,
    releases: sled::Tree,
    polls: sled::Tree,
    alerts: sled::Tree,
    outbox: sled::Tree,
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn prefix(a: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    k
}

/// A key as text for errors and logs (keys join their parts with NUL, shown as `/`).
fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "/")
}

/// Encodes a record and proves it decodes again, so nothing unreadable is ever stored.
/// Decoding a few hundred small records per poll costs microseconds; a record that breaks
/// every later read of its tree costs a delivery outage.
fn enc<T: Serialize + DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &T,
) -> Result<Vec<u8>, StoreError> {
    let unreadable = |source| StoreError::Unreadable {
        tree,
        key: show_key(key),
        source,
    };
    let bytes = serde_json::to_vec(v).map_err(unreadable)?;
    serde_json::from_slice::<T>(&bytes).map_err(unreadable)?;
    Ok(bytes)
}

fn dec<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        tree,
        key: show_key(key),
        source,
    })
}

/// How long [`Store::open`] waits for a lock that is being let go.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// sled's background threads let go of the directory's lock a moment after the last
    /// handle is dropped, so a lock held by this process is waited for briefly; one held by
    /// another process is [`StoreError::Locked`] after that wait.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.display().to_string();
        let deadline = std::time::Instant::now() + LOCK_RELEASE_WAIT;
        let db = loop {
            // sled caches up to 1 GB by default; statwatch's working set is a few series.
            let opened = sled::Config::new()
                .path(dir)
                .cache_capacity(32 * 1024 * 1024)
                .open();
            match opened {
                Err(sled::Error::Io(ref e)) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked { path });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(source) => return Err(StoreError::Open { path, source }),
                Ok(db) => break db,
            }
        };
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree("meta")?,
            observations: tree("observations")?,
            stamps: tree("stamps")?,
            releases: tree("releases")?,
            polls: tree("polls")?,
            alerts: tree("alerts")?,
            outbox: tree("outbox")?,
            db,
            path,
        };
        match store.meta.get("schema_version")? {
            None => {
                store
                    .meta
                    .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(v) => {
                return Err(StoreError::Schema {
                    path: store.path,
                    found: String::from_utf8_lossy(&v).into_owned(),
                })
            }
        }
        Ok(store)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Writes one poll's results in one transaction and flushes them to disk. Every record is
    /// encoded (and checked to read back) before the transaction starts, so a refused value
    /// leaves the store exactly as it was.
    pub fn commit(&self, w: &PollWrite) -> Result<CommitSummary, StoreError> {
        let data = self.series_rows(w)?;
        let alert_rows = outbox::alert_rows(w)?;
        let trees = (
            &self.observations,
            &self.stamps,
            &self.releases,
            &self.polls,
            &self.alerts,
            &self.outbox,
        );
        let result = trees.transaction(|(obs, stamps, releases, polls, alerts, outbox)| {
            let mut summary = CommitSummary::default();
            for (k, v) in &data.observations {
                obs.insert(k.as_slice(), v.as_slice())?;
            }
            for (k, v) in &data.stamps {
                stamps.insert(k.as_slice(), v.as_slice())?;
            }
            for (k, v) in &data.releases {
                releases.insert(k, v.as_slice())?;
            }
            if let Some((k, v)) = &data.poll {
                polls.insert(k.as_slice(), v.as_slice())?;
            }
            for a in &alert_rows {
                if alerts.get(a.id.as_bytes())?.is_none() {
                    alerts.insert(a.id.as_bytes(), a.value.as_slice())?;
                    summary.new_alerts.push(a.id.clone());
                }
                // The same id is never delivered twice to a receiver, across restarts.
                for (k, v) in &a.entries {
                    if outbox.get(k.as_slice())?.is_none() {
                        outbox.insert(k.as_slice(), v.as_slice())?;
                        summary.enqueued += 1;
                    }
                }
            }
            Ok::<_, ConflictableTransactionError<()>>(summary)
        });
        let summary = match result {
            Ok(s) => s,
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => unreachable!("the closure never aborts"),
        };
        self.db.flush()?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertKind, Cause, Period, Severity};
    use chrono::{DateTime, Utc};

    fn obs(p: Period, v: f64) -> StoredObservation {
        let t = Utc::now();
        StoredObservation {
            period: p,
            source_period: p.to_string(),
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
                .prop_map(|(period, sp, value, status, first, seen, revs)| {
                    StoredObservation {
                        period,
                        source_period: sp,
                        value,
                        status,
                        first_seen: first,
                        value_seen: seen,
                        revisions: revs
                            .into_iter()
                            .map(|(value, status, seen_at)| Vintage {
                                value,
                                status,
                                seen_at,
                            })
                            .collect(),
                    }
                })
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
                            serde_json::Number::from_f64(x)
                                .map(|n| (k, serde_json::Value::Number(n)))
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
        assert!(e.contains("schema version 99"), "{e}");
    }
}
