//! Ingesting a 100,000-row CBS table: parse the TypedDataSet page into series, diff them
//! against the store, and commit them in one transaction. Run: `cargo bench --bench ingest`.
//! Peak memory: `/usr/bin/time -v target/release/deps/ingest-* --bench` (see README).

use std::collections::HashMap;
use std::path::Path;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Map, Value};
use statwatch::config::Config;
use statwatch::diff::diff;
use statwatch::sources::cbs::split_pages;
use statwatch::store::{PollWrite, Store};

const BRANCHES: usize = 400;
const MONTHS: usize = 250; // 400 x 250 = 100,000 rows

fn rows() -> Vec<Map<String, Value>> {
    let mut out = Vec::with_capacity(BRANCHES * MONTHS);
    for b in 0..BRANCHES {
        for m in 0..MONTHS {
            let (y, mm) = (2000 + m / 12, m % 12 + 1);
            let mut r = Map::new();
            r.insert("Branche".into(), json!(format!("{:06}", 300000 + b)));
            r.insert("Perioden".into(), json!(format!("{y}MM{mm:02}")));
            r.insert(
                "Waarde_1".into(),
                json!(((b * 7 + m * 13) % 200) as f64 / 10.0 - 10.0),
            );
            out.push(r);
        }
    }
    out
}

fn config() -> Config {
    let mut text = String::from("[sources.cbs]\nkind = \"cbs\"\nschedule = \"0 30 6 * * *\"\n");
    for b in 0..BRANCHES {
        text.push_str(&format!(
            "[[series]]\nid = \"s{b}\"\nsource = \"cbs\"\ntable = \"T\"\nmeasure = \"Waarde_1\"\ndimensions = {{ Branche = \"{:06}\" }}\n",
            300000 + b
        ));
    }
    Config::parse(Path::new("bench.toml"), &text).unwrap()
}

fn ingest(store: &Store, cfg: &Config, page: &[u8]) {
    let data = split_pages(&[page], &cfg.series, &HashMap::new()).unwrap();
    let now = Utc::now();
    let mut w = PollWrite::default();
    for (id, fetched) in &data.series {
        let d = diff(&store.observations(id).unwrap(), &fetched.to_vec(), now);
        w.observations.push((id.clone(), d.updates));
    }
    store.commit(&w).unwrap();
}

fn bench(c: &mut Criterion) {
    let cfg = config();
    let rows = rows();
    let text = serde_json::to_vec(&json!({ "value": rows })).unwrap();
    let mut g = c.benchmark_group("ingest_100k_rows");
    g.sample_size(10);
    g.bench_function("parse_json", |b| {
        b.iter(|| serde_json::from_slice::<Value>(&text).unwrap());
    });
    g.bench_function("baseline_parse_diff_store", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| ingest(&Store::open(dir.path()).unwrap(), &cfg, &text),
            BatchSize::PerIteration,
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    ingest(&store, &cfg, &text);
    g.bench_function("unchanged_parse_diff", |b| {
        b.iter(|| ingest(&store, &cfg, &text))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
