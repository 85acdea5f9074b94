//! A long cycle of alerts to the chat platforms, against local servers that answer like each
//! platform (tests/common/notify/platforms.rs): split into parts within each platform's
//! limits, paced to its rate limit, resumed after a 429 without posting a part twice, and
//! digested above `digest_after`. The digests are written to target/receivers/ as samples.

mod common;

use common::notify::chat::*;
use common::notify::platforms::*;
use common::notify::*;
use common::*;
use statwatch::model::{DeliveryState, Severity};
use statwatch::notify::{Mode, Notifier};
use statwatch::store::Store;

/// A chat receiver that never digests, for the tests of splitting a long cycle.
fn chat_all(name: &str, kind: &str, url: &str) -> String {
    format!("{}digest_after = 10000\n", chat(name, kind, url))
}

#[tokio::test]
async fn a_long_cycle_is_split_within_each_platforms_limits() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alerts: Vec<_> = (0..120)
        .map(|i| {
            let mut a = alert(
                &format!("long-{i:03}"),
                Severity::Info,
                &format!(
                    "alert {i}: {}",
                    "a rather long summary & <more> ".repeat(12)
                ),
            );
            a.detected_at += chrono::Duration::milliseconds(i);
            a
        })
        .collect();
    let extra = [
        chat_all("s", "slack", &p.url(SLACK_PATH)),
        chat_all("m", "mattermost", &p.url(MATTERMOST_PATH)),
        chat_all("t", "teams", &p.url(TEAMS_PATH)),
    ]
    .concat();
    for r in ["s", "m", "t"] {
        enqueue(&store, r, &alerts);
    }
    let started = std::time::Instant::now();
    let report = paced(&extra).deliver(&store, Mode::Poll).await.unwrap();
    eprintln!(
        "120 alerts to three chat receivers in {:?}",
        started.elapsed()
    );
    assert!(!report.failed(), "{report:?}");
    for (path, min_parts) in [(SLACK_PATH, 5), (MATTERMOST_PATH, 2), (TEAMS_PATH, 2)] {
        let reqs: Vec<_> = p
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect();
        assert!(reqs.len() >= min_parts, "{path}: {} messages", reqs.len());
        assert!(
            reqs.iter().all(|r| r.invalid.is_none()),
            "{path}: {:?}",
            reqs.iter().map(|r| &r.invalid).collect::<Vec<_>>()
        );
        let all: String = reqs
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        for i in 0..120 {
            let id = format!("long-{i:03}");
            assert_eq!(all.matches(&id).count(), 1, "{path}: {id} not exactly once");
        }
        eprintln!(
            "{path}: {} messages, largest {} bytes",
            reqs.len(),
            reqs.iter().map(|r| r.body.len()).max().unwrap()
        );
    }
    for r in ["s", "m", "t"] {
        assert_eq!(
            delivery(&store, r, "long-119").state,
            DeliveryState::Delivered
        );
    }
}

/// `n` alerts, each in its own Slack blocks: 24 fit a message, so 60 make three parts.
fn many(prefix: &str, n: usize) -> Vec<statwatch::model::Alert> {
    (0..n)
        .map(|i| {
            let mut a = alert(
                &format!("{prefix}-{i:03}"),
                Severity::Info,
                &format!("alert {i}"),
            );
            // In order, and all due already.
            a.detected_at += chrono::Duration::milliseconds(i as i64 - 1000);
            a
        })
        .collect()
}

/// How often each alert id appears in the messages Slack accepted.
fn accepted(p: &Platforms, prefix: &str, n: usize) -> Vec<usize> {
    let bodies: Vec<String> = p
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    (0..n)
        .map(|i| {
            let id = format!("id {prefix}-{i:03}");
            bodies.iter().map(|b| b.matches(&id).count()).sum()
        })
        .collect()
}

#[tokio::test]
async fn a_rate_limited_split_cycle_resumes_and_never_posts_a_part_twice() {
    let p = Platforms::start().await;
    let ok = Reply {
        status: 200,
        retry_after: None,
        body: "ok",
    };
    let limited = Reply {
        status: 429,
        retry_after: Some("1"),
        body: "rate_limited",
    };
    // The first part goes through, the second is rate limited.
    p.script(vec![ok, limited]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &many("rl", 60));
    let n = paced(&chat_all("team", "slack", &p.url(SLACK_PATH)));
    let r = n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(
        r.receivers[0].delivered, 24,
        "the first part is recorded: {r:?}"
    );
    assert_eq!(r.receivers[0].pending, 36);
    assert_eq!(
        delivery(&store, "team", "rl-000").state,
        DeliveryState::Delivered
    );
    // Within the Retry-After the daemon sends nothing, not even the parts not yet tried.
    let again = n.deliver(&store, Mode::Due).await.unwrap();
    assert!(again.receivers.is_empty(), "{again:?}");
    assert_eq!(p.requests().len(), 2);
    assert!(n.next_due(&store).unwrap().unwrap() > chrono::Utc::now());
    // The next attempt (a poll: it waits for the Retry-After, not for the backoff) completes
    // the cycle from where it stopped.
    let r = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!r.failed(), "{r:?}");
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_eq!(
        accepted(&p, "rl", 60),
        vec![1; 60],
        "every alert exactly once"
    );
    let statuses: Vec<u16> = p.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 200, 200], "no part posted twice");
    assert!(p.requests().iter().all(|r| r.invalid.is_none()));
}

#[tokio::test]
async fn split_parts_are_paced_to_slacks_rate_limit() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &many("pace", 30));
    // The platform's own pacing, not the tests' short one.
    let n = Notifier::new(&config(&chat("team", "slack", &p.url(SLACK_PATH)))).unwrap();
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let reqs = p.requests();
    assert_eq!(reqs.len(), 2);
    let gap = secs_between(reqs[0].at, reqs[1].at);
    assert!(gap >= 0.99, "the second part {gap} s after the first");
    assert_eq!(accepted(&p, "pace", 30), vec![1; 30]);
}

/// 60 alerts of one release: 58 `release` infos, two critical `big-move`s, and a brief.
fn release_of_60() -> Vec<statwatch::model::Alert> {
    let mut alerts = many("dg", 60);
    for (i, a) in alerts.iter_mut().enumerate() {
        a.rule = "nl-regions-release".into();
        a.kind = "release".into();
        a.title = format!("Unemployment, region {i:02}");
        a.series = format!("nl.unemployment.region{i:02}");
        a.table = "80590ned".into();
        a.summary = format!(
            "Unemployment, region {i:02}: +{}.{} % in 2025-03",
            3 + i % 4,
            i % 10
        );
        a.value = Some(3.0 + (i % 4) as f64 + (i % 10) as f64 / 10.0);
    }
    for i in [17, 42] {
        alerts[i].severity = Severity::Critical;
        alerts[i].rule = "nl-regions-big-move".into();
        alerts[i].kind = "change".into();
        alerts[i].summary =
            format!("Unemployment, region {i:02}: up 2.1 points to 7.4 % in 2025-03");
    }
    alerts.push(long_brief().0);
    alerts
}

#[tokio::test]
async fn sixty_alerts_are_one_digest_per_chat_platform_and_sixty_to_a_webhook() {
    let p = Platforms::start().await;
    let hook = hook::Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alerts = release_of_60();
    let extra = [
        chat("s", "slack", &p.url(SLACK_PATH)),
        chat("m", "mattermost", &p.url(MATTERMOST_PATH)),
        chat("t", "teams", &p.url(TEAMS_PATH)),
        format!(
            "[receivers.hook]\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url
        ),
        "[web]\npublic_url = \"https://stats.example.org/statwatch\"\n".to_string(),
    ]
    .concat();
    for r in ["s", "m", "t", "hook"] {
        enqueue(&store, r, &alerts);
    }
    let report = paced(&extra).deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    for (path, file) in [
        (SLACK_PATH, "digest_slack.json"),
        (MATTERMOST_PATH, "digest_mattermost.json"),
        (TEAMS_PATH, "digest_teams.json"),
    ] {
        let reqs: Vec<_> = p
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect();
        assert_eq!(reqs.len(), 1, "{path}: one message for the cycle");
        assert_eq!(reqs[0].invalid, None, "{path}");
        let body = String::from_utf8_lossy(&reqs[0].body).into_owned();
        for needle in [
            "statwatch digest: 1 brief and 60 alerts",
            "2 critical · 58 info",
            "nl-regions-release (info)",
            "The 10 most severe of 60:",
            "statwatch alerts",
            "https://stats.example.org/statwatch/alerts",
            "brief-2025-03",
            "dg-017",
            "dg-042",
        ] {
            assert!(
                body.contains(needle),
                "{path}: {needle:?} missing from\n{body}"
            );
        }
        assert_eq!(body.matches("dg-0").count(), 10, "{path}: ten alerts shown");
        // The two critical ones lead.
        let first_info = body.find("INFO").unwrap();
        assert!(body.find("dg-017").unwrap() < first_info, "{path}");
        assert!(body.find("dg-042").unwrap() < first_info, "{path}");
        sample(file, &reqs[0].body);
    }
    let sent: usize = hook
        .accepted()
        .iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            v["alerts"].as_array().map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(sent, 60, "the webhook gets every alert");
    for r in ["s", "m", "t", "hook"] {
        for a in &alerts {
            assert_eq!(
                delivery(&store, r, &a.id).state,
                DeliveryState::Delivered,
                "{r} {}",
                a.id
            );
        }
    }
}

#[tokio::test]
async fn forty_alerts_below_the_threshold_go_out_as_before() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &many("u", 40));
    let n = paced(&chat("team", "slack", &p.url(SLACK_PATH)));
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let reqs = p.requests();
    assert_eq!(reqs.len(), 2, "split at Slack's block limit, as before");
    assert!(reqs
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.body).contains("digest")));
    assert_eq!(
        accepted(&p, "u", 40),
        vec![1; 40],
        "every alert once, in full"
    );
}

#[tokio::test]
async fn digest_after_set_lower_digests_a_smaller_cycle() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let extra = [
        format!(
            "{}digest_after = 5\n",
            chat("five", "mattermost", &p.url(MATTERMOST_PATH))
        ),
        format!(
            "{}digest_after = 6\n",
            chat("six", "teams", &p.url(TEAMS_PATH))
        ),
    ]
    .concat();
    for r in ["five", "six"] {
        enqueue(&store, r, &many("low", 6));
    }
    let report = paced(&extra).deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let body = |path: &str| {
        let reqs: Vec<_> = p
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect();
        assert_eq!(reqs.len(), 1, "{path}");
        String::from_utf8_lossy(&reqs[0].body).into_owned()
    };
    let five = body(MATTERMOST_PATH);
    assert!(five.contains("statwatch digest: 6 alerts"), "{five}");
    assert!(
        five.contains("The other 0 alerts") || five.contains("The 6 most severe of 6"),
        "{five}"
    );
    let six = body(TEAMS_PATH);
    assert!(!six.contains("digest"), "6 is not more than 6: {six}");
    for r in ["five", "six"] {
        assert_eq!(
            delivery(&store, r, "low-005").state,
            DeliveryState::Delivered
        );
    }
}
