//! `statwatch backtest` on the 2025 replay: the real CBS releases polled in the order they
//! came (February to June 2025), then the store's history replayed through the rules. From
//! 2025-01 on it lists exactly the alerts the polls fired; it filters by rule, series and
//! period; and it gives the same answer through the control socket beside a running daemon.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// (rule, series, period) of each row of a JSON list.
fn events(rows: &Value) -> BTreeSet<(String, String, String)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_string();
            (s("rule"), s("series"), s("period"))
        })
        .collect()
}

async fn backtest(config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["backtest", "--json"];
    all.extend_from_slice(args);
    let o = statwatch(config, &all).await;
    assert!(o.status.success(), "backtest {args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Polls the 2025 releases as they came: the baseline to 2024-12, then March to June.
async fn replay_2025(cbs: &CbsServer, config: &Path) {
    for release in releases_2025() {
        release.serve(cbs);
        let o = statwatch(config, &["poll"]).await;
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backtest_lists_what_the_2025_releases_fired_and_filters_and_runs_beside_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let cbs = CbsServer::start().await;
    let config = write_config(
        dir.path(),
        &cbs_config(&cbs.base_url(), &dir.path().join("state"), REPLAY_RULES),
    );
    replay_2025(&cbs, &config).await;

    // What the polls fired, from the delivery log (one receiver: one row per alert).
    let o = statwatch(&config, &["alerts", "--json"]).await;
    let fired = events(&serde_json::from_slice(&o.stdout).unwrap());
    assert_eq!(fired.len(), 6, "{fired:?}");

    // From 2025-01 on, the replay fires exactly those; before it, the first sync's history
    // is replayed too (as if each period had just come out), so there is more.
    let since = backtest(&config, &["--since", "2025-01"]).await;
    assert_eq!(events(&since), fired);
    for row in since.as_array().unwrap() {
        assert!(
            row["kind"].is_string() && row["summary"].is_string(),
            "{row}"
        );
    }
    let all = backtest(&config, &[]).await;
    assert!(events(&all).is_superset(&fired));
    assert!(
        events(&all).len() > fired.len(),
        "the baseline years fire too"
    );
    the_filters_narrow_it(&config, &fired).await;

    // Text: period, rule, series, summary.
    let o = statwatch(&config, &["backtest", "--rules", "nl-industry-streak"]).await;
    let text = stdout(&o);
    assert!(
        text.contains("2025-03") && text.contains("nl-industry-streak"),
        "{text}"
    );
    assert!(
        text.contains("positive for the 3rd month in a row"),
        "{text}"
    );

    // Beside a running daemon (which holds the store): the same answer, through its socket.
    let mut daemon = Statwatch::with_config(&config)
        .args(["run"])
        .quiet()
        .spawn();
    let socket = dir.path().join("state/control.sock");
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(socket.exists(), "the daemon's control socket");
    let beside = backtest(&config, &["--since", "2025-01"]).await;
    assert_eq!(beside, since);
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon still runs"
    );
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
}

/// By rule glob, by series and by period; a period that is none is a usage error.
async fn the_filters_narrow_it(config: &Path, fired: &BTreeSet<(String, String, String)>) {
    let turns =
        events(&backtest(config, &["--rules", "nl-industry-t*", "--since", "2025-01"]).await);
    assert_eq!(
        turns,
        fired
            .iter()
            .filter(|e| e.0 == "nl-industry-turn")
            .cloned()
            .collect()
    );
    let conf = events(&backtest(config, &["--series", "nl.confidence"]).await);
    assert!(
        !conf.is_empty() && conf.iter().all(|e| e.1 == "nl.confidence"),
        "{conf:?}"
    );
    let late = events(&backtest(config, &["--since", "2025-03"]).await);
    assert!(late.iter().all(|e| e.2.as_str() >= "2025-03") && !late.is_empty());
    let o = statwatch(config, &["backtest", "--since", "March"]).await;
    assert_eq!(o.status.code(), Some(2), "a bad period is a usage error");
    assert!(stderr(&o).contains("--since"), "{}", stderr(&o));
}
