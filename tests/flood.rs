//! An alert flood: one poll of a whole-table group fires an alert per key (thousands here,
//! 200,000 in benches/flood.sh). Every alert is stored and delivered once, through crashes at
//! each step of the commit (the binary's `STATWATCH_FAULT` crash points), and the poll warns
//! above `[store] flood_alerts`, naming the source, the table and the count.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::*;
use serde_json::Value;

const KEYS: usize = 2_000;

/// A table of `KEYS` branches with the given months.
fn flood_table(values: &[(String, f64)], modified: &str) -> FakeTable {
    let keys: Vec<(String, String)> = (0..KEYS)
        .map(|i| (format!("K{i:05}"), format!("Branch {i}")))
        .collect();
    let branches: Vec<(&str, &str, f64)> = keys
        .iter()
        .map(|(k, t)| (k.as_str(), t.as_str(), 0.0))
        .collect();
    branches_table(&branches, &[], values, modified)
}

fn months(n: u32) -> Vec<(String, f64)> {
    (1..=n)
        .map(|m| (format!("2025MM{m:02}"), f64::from(m)))
        .collect()
}

fn flood_config(base_url: &str, state: &Path) -> String {
    ConfigText::new(state)
        .source(cbs_source(base_url).timeout_secs(10))
        .series(
            Series::new(&format!("flood.{{{BRANCH_DIM}}}"), "cbs", INDUSTRY, YOY)
                .dimension(BRANCH_DIM, "*")
                .title(&format!("Flood {{{BRANCH_DIM}.title}}"))
                .unit("%"),
        )
        .rules("[[rules]]\nid = \"flood-release\"\nseries = \"flood.*\"\nkind = \"release\"\n")
        .extra("\n[store]\nflood_alerts = 1000\n")
        .text()
}

async fn poll_crashing_at(config: &Path, point: &str) -> std::process::Output {
    let o = Statwatch::with_config(config)
        .args(["poll"])
        .env("STATWATCH_FAULT", point)
        .run()
        .await;
    assert_eq!(
        o.status.signal(),
        Some(6),
        "abort at {point} (SIGABRT): {}",
        stderr(&o)
    );
    o
}

async fn alerts(config: &Path) -> Vec<Value> {
    let o = statwatch(config, &["alerts", "--json"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_is_stored_and_delivered_once_through_crashes_and_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let cbs = CbsServer::start().await;
    cbs.set_table(INDUSTRY, flood_table(&months(2), "2025-04-10T06:30:00"));
    let config = write_config(
        dir.path(),
        &flood_config(&cbs.base_url(), &dir.path().join("s")),
    );
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("flood:"), "a baseline fires nothing");

    // March for every key: KEYS release alerts in one poll.
    cbs.set_table(INDUSTRY, flood_table(&months(3), "2025-05-12T06:30:00"));
    // A crash after the alerts were written ahead: undone at the next open, as the data is.
    poll_crashing_at(&config, "after-write-ahead").await;
    assert!(alerts(&config).await.is_empty(), "the open undid them");

    // A crash after the poll's transaction, before its entries are in the due index.
    let o = poll_crashing_at(&config, "after-poll-transaction").await;
    let log = stderr(&o);
    let warning = log
        .lines()
        .find(|l| l.contains("alert flood"))
        .unwrap_or_else(|| panic!("no flood warning: {log}"));
    for part in [
        "source=cbs",
        &format!("alerts={KEYS}"),
        "flood_alerts=1000",
        &format!("{INDUSTRY}: {KEYS}"),
    ] {
        assert!(warning.contains(part), "{part} in {warning}");
    }
    let stored = alerts(&config).await;
    assert_eq!(stored.len(), KEYS, "every alert stored");
    assert!(stored.iter().all(|a| a["state"] == "pending"));

    // The next poll finds the release stored and delivers every alert from the index.
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("delivery journal: {KEYS} delivered")),
        "{}",
        stdout(&o)
    );
    assert!(statwatch(&config, &["poll"]).await.status.success());
    let stored = alerts(&config).await;
    let ids: std::collections::BTreeSet<&str> =
        stored.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), KEYS, "one record per alert");
    for a in &stored {
        assert_eq!(
            (&a["state"], &a["attempts"]),
            (&"delivered".into(), &1.into()),
            "{a}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_within_the_flood_bound_does_not_warn() {
    let dir = tempfile::tempdir().unwrap();
    let cbs = CbsServer::start().await;
    cbs.set_table(INDUSTRY, flood_table(&months(2), "2025-04-10T06:30:00"));
    let text = flood_config(&cbs.base_url(), &dir.path().join("s"))
        .replace("flood_alerts = 1000", &format!("flood_alerts = {KEYS}"));
    let config = write_config(dir.path(), &text);
    assert!(statwatch(&config, &["poll"]).await.status.success());
    cbs.set_table(INDUSTRY, flood_table(&months(3), "2025-05-12T06:30:00"));
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("flood:"), "{}", stdout(&o));
    assert!(!stderr(&o).contains("alert flood"), "{}", stderr(&o));
    assert_eq!(alerts(&config).await.len(), KEYS);
}
