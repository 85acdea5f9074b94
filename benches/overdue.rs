//! The overdue check on a store of many series: 20,000 series of a group, 120 months each,
//! checked by one `overdue` rule that finds none of them late (the check every poll of the
//! source and the daemon's hourly duty make); and what a release costs the commit that
//! keeps the store's index of newest periods: one new month for 2,000 of those series.
//! Run: `cargo bench --bench overdue`.
//!
//! Measured on the shared 2-core build machine (issue 21): the check took 0.93 to 1.48 s
//! while it decoded every series record, 0.10 to 0.12 s reading the index; the release's
//! commit 0.26 s before the index and 0.24 s with it (no difference beyond the noise).

use std::path::Path;

use chrono::{Duration, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use statwatch::config::Config;
use statwatch::model::{Observation, Period, StoredObservation};
use statwatch::sources::Fetched;
use statwatch::store::{EncodedSeries, PollWrite, Store};

const SERIES: usize = 20_000;
const MONTHS: i32 = 120;
/// Series per commit while the store is filled.
const BATCH: usize = 2_000;

fn config() -> Config {
    let text = "[sources.cbs]\nkind = \"cbs\"\nschedule = \"0 30 6 * * *\"\n\
        [[series]]\nid = \"nl.branch.{Branche}\"\nsource = \"cbs\"\ntable = \"T\"\n\
        measure = \"Waarde_1\"\ndimensions = { Branche = \"*\" }\n\
        [[rules]]\nid = \"late\"\nseries = \"nl.*\"\nkind = \"overdue\"\nafter_days = 40\n";
    Config::parse(Path::new("bench.toml"), text).unwrap()
}

/// Month `m` counted from January 2015, as a download holds it.
fn month(m: i32) -> Observation {
    let (y, mm) = (2015 + m / 12, (m % 12 + 1) as u8);
    Observation {
        period: Period::Month(y, mm),
        source_period: format!("{y}MM{mm:02}").into(),
        value: f64::from(m % 50) / 10.0 - 2.0,
        status: "Definitief".into(),
    }
}

/// Month `m` as a release's update stores it, first seen now.
fn stored(m: i32) -> StoredObservation {
    let o = month(m);
    let now = Utc::now();
    StoredObservation {
        period: o.period,
        source_period: o.source_period,
        value: o.value,
        status: o.status,
        first_seen: now,
        value_seen: now,
        revisions: Vec::new(),
    }
}

fn id(i: usize) -> String {
    format!("nl.branch.{:06}", 300_000 + i)
}

/// Every series' first sync, seen now.
fn fill(store: &Store) {
    let months = Fetched::from((0..MONTHS).map(month).collect::<Vec<_>>());
    let now = Utc::now();
    for start in (0..SERIES).step_by(BATCH) {
        let encoded = (start..SERIES.min(start + BATCH))
            .map(|i| {
                (
                    id(i),
                    EncodedSeries::first_sync(&id(i), &months, now).unwrap(),
                )
            })
            .collect();
        store
            .commit(&PollWrite {
                encoded,
                ..Default::default()
            })
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    fill(&store);
    let now = Utc::now() + Duration::days(1);
    assert!(statwatch::silence::overdue(&cfg, &store, None, now)
        .unwrap()
        .is_empty());
    let mut g = c.benchmark_group("overdue_20k_series_of_120_months");
    g.sample_size(10);
    g.bench_function("check", |b| {
        b.iter(|| statwatch::silence::overdue(&cfg, &store, None, now).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("release_of_2000_series_of_120_months");
    g.sample_size(10);
    let next = std::cell::Cell::new(MONTHS);
    g.bench_function("commit", |b| {
        b.iter_batched(
            || {
                let m = next.replace(next.get() + 1);
                let observations = (0..BATCH).map(|i| (id(i), vec![stored(m)])).collect();
                PollWrite {
                    observations,
                    ..Default::default()
                }
            },
            |w| store.commit(&w).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
