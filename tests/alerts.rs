//! Replaying the real CBS releases of 2025 through the real binary fires exactly the expected
//! alerts, each delivered once to a real webhook receiver, across process restarts and a
//! receiver outage.

mod common;

use std::collections::BTreeMap;

use common::hook::Hook;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "replay-secret-4f1a";

/// (rule, period, cause) of an alert.
type Event = (String, String, String);

/// Every alert the webhook accepted, with the count of each id.
fn delivered(hook: &Hook) -> (Vec<Event>, BTreeMap<String, usize>) {
    let mut seen = Vec::new();
    let mut ids = BTreeMap::new();
    for p in hook.accepted() {
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        for a in v["alerts"].as_array().unwrap() {
            seen.push((
                a["rule"].as_str().unwrap().to_string(),
                a["period"].as_str().unwrap().to_string(),
                a["cause"].as_str().unwrap().to_string(),
            ));
            *ids.entry(a["id"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    (seen, ids)
}

fn alert(hook: &Hook, rule: &str, period: &str, cause: &str) -> Value {
    for p in hook.accepted() {
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        for a in v["alerts"].as_array().unwrap() {
            if a["rule"] == rule && a["period"] == period && a["cause"] == cause {
                return a.clone();
            }
        }
    }
    panic!("no {rule} {period} {cause} alert");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_2025_releases_fire_each_expected_alert_once() {
    let HookedWorld {
        dir: _dir,
        server: cbs,
        hook,
        config,
    } = hooked_world(REPLAY_RULES, Some(SECRET)).await;
    let [february, march, april, may, june] = releases_2025();
    let poll = || async { statwatch(&config, &["poll"]).await };

    // February 2025: the baseline, data to 2024-12. Nothing fires.
    february.serve(&cbs);
    let o = poll().await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(hook.requests().is_empty());

    // March: January first printed at +0.5, after a long run of declines. The webhook is down
    // (500 on every try of this poll): the alert waits in the outbox.
    march.serve(&cbs);
    hook.answer(&[500, 500, 500]);
    the_poll_leaves_one_alert_pending(&config).await;

    // A new process (a restart), nothing new published: the pending alert goes out once.
    a_restart_delivers_the_turn_once(&config, &hook).await;

    // April: February at +1.0 and January revised to +0.3; confidence falls from -1.5 to -3.3.
    april.serve(&cbs);
    assert!(poll().await.status.success());
    let drop = alert(&hook, "nl-confidence-drop", "2025-04", "new_period");
    assert_eq!(drop["value"], -3.3);
    assert_eq!(drop["previous"]["value"], -1.5);
    assert_eq!(drop["summary"], "Producer confidence NL (manufacturing): down 1.8 to -3.3 in 2025-04 (from -1.5 in 2025-03)");

    // May: March at +1.3, the third month of growth in a row.
    may.serve(&cbs);
    assert!(poll().await.status.success());
    let streak = alert(&hook, "nl-industry-streak", "2025-03", "new_period");
    assert_eq!(streak["details"]["streak"], 3);
    assert!(streak["summary"]
        .as_str()
        .unwrap()
        .ends_with("positive for the 3rd month in a row (+1.3 in 2025-03)"));

    // June: February revised from +1.0 to -0.3 (its sign flips), January to +0.1, March to
    // +1.4, and April first printed at -0.2.
    june.serve(&cbs);
    assert!(poll().await.status.success());
    the_june_revisions_fired(&hook);

    // Nothing new: nothing sent. Every alert exactly once, exactly these.
    let before = hook.requests().len();
    assert!(poll().await.status.success());
    assert_eq!(hook.requests().len(), before);
    every_alert_was_delivered_once(&hook);
    every_post_is_signed(&hook);
    the_log_shows_them_delivered_and_no_secret(&config).await;
}

/// The poll exits 1 and the refused alert waits in the outbox, tried three times.
async fn the_poll_leaves_one_alert_pending(config: &std::path::Path) {
    let o = statwatch(config, &["poll"]).await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed delivery makes the poll exit 1: {}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("delivery ops: 0 delivered, 0 failed, 1 pending"),
        "{}",
        stdout(&o)
    );
    let pending = statwatch(config, &["alerts", "--pending", "--json"]).await;
    let pending: Value = serde_json::from_slice(&pending.stdout).unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["state"], "pending");
    assert_eq!(pending[0]["attempts"], 3);
    assert!(pending[0]["last_error"].as_str().unwrap().contains("500"));
}

/// The next process delivers January's turn, with its previous value and summary.
async fn a_restart_delivers_the_turn_once(config: &std::path::Path, hook: &Hook) {
    let o = statwatch(config, &["poll"]).await;
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(
        hook.requests().len(),
        4,
        "three refused tries in the first poll, one accepted now"
    );
    let turn = alert(hook, "nl-industry-turn", "2025-01", "new_period");
    assert_eq!(turn["value"], 0.5);
    assert_eq!(turn["previous"]["period"], "2024-12");
    assert_eq!(turn["previous"]["value"], -4.5);
    assert_eq!(turn["severity"], "warning");
    assert_eq!(turn["source_period"], "2025MM01");
    assert_eq!(
        turn["summary"],
        "Industrial production NL, y/y % (calendar adjusted): turned positive (+0.5 in 2025-01) after 18 months of negative values"
    );
}

/// February's sign flip, its revision and April's turn.
fn the_june_revisions_fired(hook: &Hook) {
    let flip = alert(hook, "nl-industry-turn", "2025-02", "revision");
    assert_eq!(flip["value"], -0.3);
    assert_eq!(flip["details"]["old_value"], 1.0);
    let revised = alert(hook, "nl-industry-revised", "2025-02", "revision");
    assert!(revised["summary"]
        .as_str()
        .unwrap()
        .ends_with("2025-02 revised from +1.0 to -0.3"));
    let april_turn = alert(hook, "nl-industry-turn", "2025-04", "new_period");
    assert_eq!(april_turn["details"]["new_sign"], "negative");
}

/// Exactly the six expected alerts, each id delivered once.
fn every_alert_was_delivered_once(hook: &Hook) {
    let (mut seen, ids) = delivered(hook);
    seen.sort();
    let expected: Vec<Event> = [
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
    assert_eq!(seen, expected);
    assert!(ids.values().all(|&n| n == 1), "{ids:?}");
}

/// Every post is signed with the shared secret over "<timestamp>.<raw body>".
fn every_post_is_signed(hook: &Hook) {
    for p in hook.requests() {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(p.header("x-statwatch-timestamp").as_bytes());
        mac.update(b".");
        mac.update(&p.body);
        assert_eq!(
            p.header("x-statwatch-signature"),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
}

/// The delivery log shows them delivered; the secret is in no output.
async fn the_log_shows_them_delivered_and_no_secret(config: &std::path::Path) {
    let o = statwatch(config, &["alerts", "--json"]).await;
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    // Six alerts, each to the webhook and to the log receiver.
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 12);
    assert_eq!(log.iter().filter(|a| a["receiver"] == "ops").count(), 6);
    assert!(log.iter().all(|a| a["state"] == "delivered"), "{log:#?}");
    let o = statwatch(config, &["check"]).await;
    assert!(!stdout(&o).contains(SECRET) && !stderr(&o).contains(SECRET));
}
