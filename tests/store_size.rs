//! Measures the store on a large table: 2,000 series x 120 months written in one commit (a
//! first sync), then the bytes on disk after a flush and the peak RSS of the process.
//! Run: `cargo test --release --test store_size -- --ignored --nocapture`.

use chrono::{DateTime, Utc};
use statwatch::model::{Period, StoredObservation};
use statwatch::store::{PollWrite, Store};

const SERIES: usize = 2_000;
const MONTHS: usize = 120;

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("du")
        .args(["-sb"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore]
fn bytes_per_observation_on_a_large_table() {
    let now: DateTime<Utc> = Utc::now();
    let dir = tempfile::tempdir().unwrap();
    let rss_before = status_kb("VmRSS:");
    let store = Store::open(dir.path()).unwrap();
    let mut w = PollWrite::default();
    for s in 0..SERIES {
        let obs = (0..MONTHS)
            .map(|m| {
                let p = Period::Month(2015 + (m / 12) as i32, (m % 12 + 1) as u8);
                StoredObservation {
                    period: p,
                    source_period: format!("{}MM{:02}", 2015 + m / 12, m % 12 + 1).into(),
                    value: ((s * 7 + m * 13) % 2000) as f64 / 10.0 - 100.0,
                    status: if m + 3 < MONTHS {
                        "Definitief"
                    } else {
                        "Voorlopig"
                    }
                    .into(),
                    first_seen: now,
                    value_seen: now,
                    revisions: vec![],
                }
            })
            .collect();
        w.observations.push((format!("nl.table.branch{s:05}"), obs));
    }
    let rows = (SERIES * MONTHS) as u64;
    let start = std::time::Instant::now();
    store.commit(&w).unwrap();
    let took = start.elapsed();
    drop(w);
    let hwm = status_kb("VmHWM:");
    drop(store);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let bytes = dir_bytes(dir.path());
    println!(
        "{rows} observations: commit {took:.2?}, {bytes} bytes on disk = {:.1} B/observation; \
         peak RSS {hwm} KB (at start {rss_before} KB) = {:.0} B/observation",
        bytes as f64 / rows as f64,
        (hwm - rss_before) as f64 * 1024.0 / rows as f64
    );
}
