//! The `latest` index (`store::latest`): it says what the series records say after every
//! commit, is undone with a commit that fails or is cut short, moves with a rename, is built
//! for an earlier schema's store at open, and is read without the series records.

use super::ahead::{crash_after_write_ahead, fail_next_transaction};
use super::*;

/// Every series' newest observation as the records hold it, without its vintages.
fn newest_by_records(store: &Store) -> Vec<(String, StoredObservation)> {
    let mut out = Vec::new();
    for id in store.series_ids().unwrap() {
        if let Some(mut o) = store.observations(&id).unwrap().pop() {
            o.revisions.clear();
            out.push((id, o));
        }
    }
    out
}

/// The index, read as the overdue check reads it.
fn newest_by_index(store: &Store) -> Vec<(String, StoredObservation)> {
    let ids = store.latest_ids().unwrap();
    let newest = |id: &String| {
        store
            .latest(id)
            .unwrap()
            .expect("an indexed id has an entry")
    };
    ids.iter().map(|id| (id.clone(), newest(id))).collect()
}

/// Asserts that the index says what the records say, and returns it.
fn agrees(store: &Store) -> Vec<(String, StoredObservation)> {
    let index = newest_by_index(store);
    assert_eq!(index, newest_by_records(store));
    index
}

/// A first sync's record of `values` (seen when the first was), as a poll encodes it.
fn first_sync(values: &[StoredObservation]) -> EncodedSeries {
    EncodedSeries::of(values, values[0].first_seen)
}

fn revised(p: Period, old: f64, new: f64) -> StoredObservation {
    let mut o = obs(p, new);
    o.revisions.push(crate::model::Vintage {
        value: old,
        status: "Voorlopig".into(),
        seen_at: Utc::now(),
    });
    o
}

/// "a" and "b", two months each ("a" a first sync encoded early).
fn two_series(store: &Store) {
    let first = [
        obs(Period::Month(2025, 1), 1.0),
        obs(Period::Month(2025, 2), 2.5),
    ];
    let w = PollWrite {
        encoded: vec![("a".into(), first_sync(&first))],
        observations: vec![("b".into(), first.to_vec())],
        ..Default::default()
    };
    store.commit(&w).unwrap();
}

#[test]
fn the_index_follows_every_commit_and_a_failed_one_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.latest("a").unwrap().is_none());
    two_series(&store);
    let index = agrees(&store);
    assert_eq!(index.len(), 2);
    assert_eq!(index[0].1.period, Period::Month(2025, 2));
    // A revision of the newest period changes its entry; of an older one, nothing.
    let w = PollWrite {
        observations: vec![
            ("a".into(), vec![revised(Period::Month(2025, 2), 2.5, 9.0)]),
            ("b".into(), vec![revised(Period::Month(2025, 1), 1.0, 7.0)]),
        ],
        ..Default::default()
    };
    store.commit(&w).unwrap();
    let index = agrees(&store);
    assert_eq!(index[0].1.value, 9.0);
    assert_eq!(index[1].1.value, 2.5);
    // A new period whose transaction fails: the index is put back with the records.
    let before = store.latest.get("a").unwrap();
    let w = PollWrite {
        observations: vec![("a".into(), vec![obs(Period::Month(2025, 3), 3.0)])],
        ..Default::default()
    };
    fail_next_transaction();
    store.commit(&w).unwrap_err();
    assert_eq!(store.latest.get("a").unwrap(), before);
    assert_eq!(agrees(&store), index);
    store.commit(&w).unwrap();
    assert_eq!(agrees(&store)[0].1.period, Period::Month(2025, 3));
}

#[test]
fn a_crash_before_the_transaction_leaves_the_index_as_it_was_and_readers_never_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    two_series(&store);
    let before = agrees(&store);
    let w = PollWrite {
        observations: vec![("a".into(), vec![obs(Period::Month(2025, 3), 3.0)])],
        encoded: vec![("c".into(), first_sync(&[obs(Period::Month(2025, 1), 5.0)]))],
        ..Default::default()
    };
    crash_after_write_ahead(&store, &w);
    // Written, but readers are shown the index as the last finished commit left it.
    assert!(store.latest.get("c").unwrap().is_some());
    assert_eq!(newest_by_index(&store), before);
    // The process dies here: no transaction.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(agrees(&store), before);
    assert!(store.latest.get("c").unwrap().is_none());
}

#[test]
fn a_rename_moves_the_entry_with_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    two_series(&store);
    let w = PollWrite {
        renames: vec![Rename {
            from: "a".into(),
            to: "a2".into(),
        }],
        ..Default::default()
    };
    fail_next_transaction();
    store.commit(&w).unwrap_err();
    assert_eq!(store.latest_ids().unwrap(), ["a", "b"]);
    store.commit(&w).unwrap();
    let index = agrees(&store);
    assert_eq!(store.latest_ids().unwrap(), ["a2", "b"]);
    assert_eq!(index[0].1.period, Period::Month(2025, 2));
    assert!(store.latest("a").unwrap().is_none());
}

#[test]
fn the_index_is_read_without_the_series_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    two_series(&store);
    let index = newest_by_index(&store);
    // Records that no longer decode: what reads them fails, the index reads as before.
    for id in ["a", "b"] {
        store.series.insert(id, &b"\x09 not a record"[..]).unwrap();
    }
    assert!(store.observations("a").is_err());
    assert_eq!(newest_by_index(&store), index);
}

/// What a schema-3 statwatch left when it died between its writes ahead and its transaction:
/// a new period of "a" written, and the undo log that puts the old record back (schema 3 had
/// no index, so the log lists no entry of it).
fn interrupted_schema_3_commit(store: &Store) {
    let old = store.series.get("a").unwrap().unwrap();
    let mut chunk = vec![codec::FORMAT, Tree::Series as u8];
    codec::varint(&mut chunk, 1);
    chunk.extend_from_slice(b"a\x01");
    codec::varint(&mut chunk, old.len() as u64);
    chunk.extend_from_slice(&old);
    let key = [&b"ahead:"[..], &7u64.to_be_bytes(), &0u32.to_be_bytes()].concat();
    store.meta.insert(key, chunk).unwrap();
    let march = [obs(Period::Month(2025, 3), 3.0)];
    let (new, _) = series::merged_records("a", Some(&old), None, &march).unwrap();
    store.series.insert("a", new).unwrap();
}

#[test]
fn a_schema_3_store_gets_its_index_at_open_from_its_records_as_the_undo_leaves_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    two_series(&store);
    let before = agrees(&store);
    // What schema 3 had: no index, and here an interrupted commit.
    store.latest.clear().unwrap();
    interrupted_schema_3_commit(&store);
    store.meta.insert("schema_version", "3").unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema().unwrap(), Some(SCHEMA_VERSION));
    assert_eq!(agrees(&store), before);
    assert_eq!(store.meta.scan_prefix(b"ahead:").count(), 0);
}

#[test]
fn an_entry_is_the_records_newest_observation_read_past_the_others() {
    let mut own = obs(Period::Quarter(2024, 4), -0.0);
    own.source_period = "2024 Q4".into();
    let mut later = revised(Period::Year(2025), 1.0, 1.0 / 3.0);
    later.revisions.clear();
    later.value_seen += chrono::Duration::days(3);
    let all = [obs(Period::Month(2024, 1), 1.5), own, later];
    for n in 0..=all.len() {
        let map: std::collections::BTreeMap<u64, StoredObservation> = all[..n]
            .iter()
            .map(|o| (record::code_of(o.period).unwrap(), o.clone()))
            .collect();
        let bytes = record::encode_series(&map);
        let newest = record::decode_newest(&bytes).unwrap();
        assert_eq!(newest, map.clone().pop_last());
        assert_eq!(record::decode_series(&bytes).unwrap(), map);
    }
    assert!(record::decode_newest(&[codec::FORMAT, 0, 0, 2, 1]).is_err());
}
