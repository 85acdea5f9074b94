//! `statwatch poll` killed with SIGKILL at random points while it replays the real 2025 CBS
//! releases (as tests/alerts.rs does): after every kill the store opens, and after the kills
//! a clean poll per release leaves nothing lost: each of the six expected alerts reaches the
//! webhook at least once (at least once allows duplicates: they are counted and printed).
//!
//! The kill delays come from a seeded rng; the seed is printed, and
//! `STATWATCH_CRASH_SEED=<n>` replays a run.
//!
//! A crash at one exact point (the binary's `STATWATCH_FAULT` crash points) shows what a
//! random kill would hit only by luck: a crash right after a poll's commit loses no brief.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::hook::Hook;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Kills in all, spread over the five releases.
const KILLS: usize = 16;

/// The store opens after a crash: a read-only command on it succeeds and answers JSON.
async fn store_opens(config: &Path) -> usize {
    let o = statwatch(config, &["alerts", "--json"]).await;
    assert!(
        o.status.success(),
        "the store does not open after a kill: {}",
        stderr(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("alerts --json");
    v.as_array().unwrap().len()
}

/// One `statwatch poll`, SIGKILLed after `delay` unless it finished first. Returns whether
/// the kill landed.
async fn poll_killed(config: &Path, delay: Duration) -> bool {
    let mut child = Statwatch::with_config(config)
        .args(["poll"])
        .env("RUST_LOG", "warn")
        .quiet()
        .spawn();
    tokio::select! {
        _ = child.wait() => false,
        _ = tokio::time::sleep(delay) => {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_loses_no_alert() {
    let seed: u64 = std::env::var("STATWATCH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("crash test seed: {seed} (STATWATCH_CRASH_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let HookedWorld {
        dir: _dir,
        server: cbs,
        hook,
        config,
    } = hooked_world(REPLAY_RULES, None).await;

    let started = Instant::now();
    let landed = kill_polls_through_the_2025_releases(&mut rng, &cbs, &config).await;
    eprintln!(
        "{landed} SIGKILLs landed inside a poll; {:?} in all",
        started.elapsed()
    );
    assert!(landed >= 12, "only {landed} kills landed (seed {seed})");
    every_expected_alert_reached_the_webhook(&hook, seed);
    the_store_marks_every_delivery_delivered(&config, seed).await;
}

/// Each release of 2025 (as tests/alerts.rs replays them) served, its share of the kills
/// landed (the store opening after each), then one clean poll. Returns the kills that
/// landed inside a poll.
async fn kill_polls_through_the_2025_releases(
    rng: &mut rand::rngs::StdRng,
    cbs: &CbsServer,
    config: &Path,
) -> usize {
    let releases = releases_2025();
    // Kills land anywhere from process start to the end of a poll's run time.
    let mut window = Duration::from_millis(300);
    let mut landed = 0;
    for (i, release) in releases.iter().enumerate() {
        release.serve(cbs);
        // This release's share of the kills, plus what earlier releases did not land. A
        // poll that finished before its kill did the release's work (what is left is an
        // idle poll, still worth killing mid-open or mid-delivery): the window shrinks to
        // below its run time, so the next kills land inside the process.
        let share = KILLS * (i + 1) / releases.len() - landed;
        let mut attempts = 0;
        while landed < KILLS * (i + 1) / releases.len() && attempts < 5 * share {
            attempts += 1;
            let delay = window.mul_f64(rng.gen_range(0.0..1.0));
            let t = Instant::now();
            let killed = poll_killed(config, delay).await;
            let n = store_opens(config).await;
            eprintln!(
                "release {i}: poll {} after {delay:?} ({n} delivery records)",
                if killed { "SIGKILLed" } else { "had finished" }
            );
            if killed {
                landed += 1;
            } else {
                window = t.elapsed().mul_f64(0.9);
            }
        }
        let o = statwatch(config, &["poll"]).await;
        assert!(
            o.status.success(),
            "clean poll after the kills: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    landed
}

/// Nothing lost: every expected alert reached the webhook, each under one id; nothing else
/// did.
fn every_expected_alert_reached_the_webhook(hook: &Hook, seed: u64) {
    let mut count: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for p in hook.accepted() {
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        for a in v["alerts"].as_array().unwrap() {
            let event = (
                a["rule"].as_str().unwrap().to_string(),
                a["period"].as_str().unwrap().to_string(),
                a["cause"].as_str().unwrap().to_string(),
            );
            *count.entry(event).or_default() += 1;
            *ids.entry(a["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let expected: BTreeSet<(String, String, String)> = [
        ("nl-confidence-drop", "2025-04", "new_period"),
        ("nl-industry-revised", "2025-02", "revision"),
        ("nl-industry-streak", "2025-03", "new_period"),
        ("nl-industry-turn", "2025-01", "new_period"),
        ("nl-industry-turn", "2025-02", "revision"),
        ("nl-industry-turn", "2025-04", "new_period"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    let duplicates: usize = ids.values().map(|n| n - 1).sum();
    eprintln!("delivered (rule, period, cause) -> times: {count:?}; {duplicates} duplicate deliveries (seed {seed})");
    assert_eq!(
        count.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "seed {seed}"
    );
    assert_eq!(
        ids.len(),
        6,
        "one id per expected alert (seed {seed}): {ids:?}"
    );
}

/// And the store agrees: every delivery to the webhook is marked delivered.
async fn the_store_marks_every_delivery_delivered(config: &Path, seed: u64) {
    let o = statwatch(config, &["alerts", "--json"]).await;
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ops: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["receiver"] == "ops")
        .collect();
    assert_eq!(ops.len(), 6, "seed {seed}: {ops:?}");
    assert!(
        ops.iter().all(|a| a["state"] == "delivered"),
        "seed {seed}: {ops:#?}"
    );
}

/// The brief the crash test expects: made when C Industrie y/y gets a new period.
const BRIEF: &str = r#"
[[briefs]]
id = "nl-industry"
title = "Dutch manufacturing"
lead = "nl.industry.yoy"
context = ["nl.confidence"]
"#;

/// `statwatch poll` that aborts at the crash point `point`, as a crash there would end it.
async fn poll_crashing_at(config: &Path, point: &str) -> std::process::Output {
    Statwatch::with_config(config)
        .args(["poll"])
        .env("STATWATCH_FAULT", point)
        .run()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_right_after_the_poll_commit_loses_no_brief() {
    let HookedWorld {
        dir: _dir,
        server: cbs,
        hook,
        config,
    } = hooked_world(BRIEF, None).await;
    // The April 2025 vintage (data to February) as the baseline, then March at +1.3.
    let april = serve_april_2025(&cbs);
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(hook.requests().is_empty(), "a baseline makes no brief");

    cbs.set_table(
        INDUSTRY,
        industry_table(
            &with(&until(&april, "2025MM02"), &[("2025MM03", 1.3)]),
            "2025-05-12T06:30:00",
        ),
    );
    let o = poll_crashing_at(&config, "after-poll-commit").await;
    assert_eq!(
        o.status.signal(),
        Some(6),
        "the poll must abort at the crash point (SIGABRT): {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("STATWATCH_FAULT: aborting here"),
        "{}",
        stderr(&o)
    );
    assert!(
        hook.requests().is_empty(),
        "nothing was delivered before the crash"
    );
    // What the crash left on disk: the release, and its brief waiting in the outbox.
    let o = statwatch(&config, &["alerts", "--pending", "--json"]).await;
    let pending: Value = serde_json::from_slice(&o.stdout).unwrap();
    let briefs: Vec<&Value> = pending
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "brief" && a["receiver"] == "ops")
        .collect();
    assert_eq!(briefs.len(), 1, "the brief is in the outbox: {pending:#}");
    assert_eq!(
        (&briefs[0]["rule"], &briefs[0]["period"]),
        (&json!("nl-industry"), &json!("2025-03"))
    );

    // The next poll finds nothing new at CBS (the release is stored) and delivers the brief.
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let posts = hook.accepted();
    assert_eq!(posts.len(), 1, "the brief, once");
    let v: Value = serde_json::from_slice(&posts[0].body).unwrap();
    let b = &v["briefs"][0];
    assert_eq!(
        (&b["brief"], &b["period"]),
        (&json!("nl-industry"), &json!("2025-03"))
    );
    assert!(
        b["text"].as_str().unwrap().contains("+1.3 % in 2025-03"),
        "{b:#}"
    );
    assert!(statwatch(&config, &["poll"]).await.status.success());
    assert_eq!(hook.accepted().len(), 1, "and never again");
}

/// A first sync's records are written ahead of the poll's transaction (sled would hold the
/// whole transaction in memory). A crash in between leaves the store as before the poll once
/// it is opened again, and the next poll stores the same as a poll that never crashed.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_a_first_syncs_writes_ahead_and_its_transaction_leaves_nothing() {
    let cbs = CbsServer::start().await;
    serve_april_2025(&cbs);
    let setup =
        |dir: &Path| write_config(dir, &cbs_config(&cbs.base_url(), &dir.join("state"), ""));

    let clean = tempfile::tempdir().unwrap();
    let clean_config = setup(clean.path());
    let o = statwatch(&clean_config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = statwatch(&clean_config, &["export"]).await.stdout;
    assert!(
        expected.split(|b| *b == b'\n').count() > 10,
        "the clean first sync stored data"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let o = poll_crashing_at(&config, "after-write-ahead").await;
    assert_eq!(
        o.status.signal(),
        Some(6),
        "abort at the crash point: {}",
        stderr(&o)
    );
    let o = statwatch(&config, &["export"]).await;
    assert!(
        o.status.success(),
        "the store opens after the crash: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("interrupted poll's records were undone"),
        "the open undoes the writes ahead: {}",
        stderr(&o)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "nothing but the CSV header: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("baseline"), "{}", stdout(&o));
    // first_seen (the last column) is each poll's own time.
    let without_time = |csv: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(csv)
            .lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(rest, _)| rest).to_string())
            .collect()
    };
    assert_eq!(
        without_time(&statwatch(&config, &["export"]).await.stdout),
        without_time(&expected),
        "the same store as a first sync that never crashed"
    );
}

/// A release's records are written ahead of the transaction that holds its alerts. A crash
/// in between is undone at the next open (the release is not in the store), so the next
/// poll finds the release again and its alert is not lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_a_releases_writes_ahead_and_its_alerts_loses_no_alert() {
    let HookedWorld {
        dir: _dir,
        server: cbs,
        hook,
        config,
    } = hooked_world(
        "[[rules]]\nid = \"nl-release\"\nseries = \"nl.industry.yoy\"\nkind = \"release\"\n\
         severity = \"info\"\n",
        None,
    )
    .await;
    let april = serve_april_2025(&cbs);
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));

    cbs.set_table(
        INDUSTRY,
        industry_table(
            &with(&until(&april, "2025MM02"), &[("2025MM03", 1.3)]),
            "2025-05-12T06:30:00",
        ),
    );
    let o = poll_crashing_at(&config, "after-write-ahead").await;
    assert_eq!(
        o.status.signal(),
        Some(6),
        "abort at the crash point: {}",
        stderr(&o)
    );
    let march = |csv: &str| {
        csv.lines()
            .any(|l| l.starts_with("nl.industry.yoy,2025-03,"))
    };
    let o = statwatch(&config, &["export"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !march(&stdout(&o)),
        "the open undid the release's record: {}",
        stdout(&o)
    );
    let o = statwatch(&config, &["alerts", "--json"]).await;
    let alerts: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(alerts.as_array().map(Vec::len), Some(0), "{alerts:#}");

    // The next poll finds March again, stores it, and its alert goes out.
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(march(&stdout(&statwatch(&config, &["export"]).await)));
    let posts = hook.accepted();
    assert_eq!(posts.len(), 1, "the release alert, once");
    let v: Value = serde_json::from_slice(&posts[0].body).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("nl.industry.yoy") && text.contains("2025-03"),
        "{v:#}"
    );
}
