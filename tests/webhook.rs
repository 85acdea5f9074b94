//! Webhook delivery against a real axum server on 127.0.0.1 that records every request and
//! answers from a script (500s, 429 with Retry-After, 400), with a real sled store in a temp dir.
//! What bounds a delivery's size (the receiver's body limit, the batch bounds, an endless
//! answer) is in tests/webhook_limits.rs.

mod common;

use chrono::Utc;
use common::hook::{reply, Hook, Reply};
use common::notify::{WEBHOOK_SECRET as SECRET, *};
use common::*;
use statwatch::model::{DeliveryState, Severity};
use statwatch::notify::{sign, Mode};
use statwatch::store::Store;

#[tokio::test]
async fn one_signed_post_per_receiver_delivered_once() {
    capture_logs();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = alert("alert-a", Severity::Info, "positive for the 3rd month");
    let b = alert("alert-b", Severity::Warning, "sign turned");
    assert_eq!(enqueue(&store, "ops", &[a.clone(), b.clone()]), 2);

    let n = ops_notifier(&hook.url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.receivers.len(), 1);
    assert_eq!(report.receivers[0].receiver, "ops");
    assert_eq!(report.receivers[0].delivered, 2);

    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "both alerts go in ONE message");
    let r = &reqs[0];
    let mut got = r.alert_ids();
    got.sort();
    assert_eq!(got, ["alert-a", "alert-b"]);
    let v = r.json();
    assert_eq!(v["version"], "1");
    assert_eq!(v["receiver"], "ops");
    let sent_at = v["sent_at"].as_str().unwrap();
    assert!(sent_at.ends_with('Z') && sent_at.len() == 20, "{sent_at}");
    // The alert element is exactly the model's serialization.
    let first = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "alert-a")
        .unwrap();
    assert_eq!(first, &serde_json::to_value(&a).unwrap());

    // Headers and signature, recomputed here with the shared secret.
    assert_eq!(r.header("content-type"), "application/json");
    let ts: i64 = r.header("x-statwatch-timestamp").parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    let expected = format!("sha256={}", sign(SECRET.as_bytes(), ts, &r.body));
    assert_eq!(r.header("x-statwatch-signature"), expected);
    // ... and once more with a from-scratch HMAC, so `sign` is not checked against itself.
    {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(&r.body);
        mac.verify_slice(
            &hex::decode(
                r.header("x-statwatch-signature")
                    .strip_prefix("sha256=")
                    .unwrap(),
            )
            .unwrap(),
        )
        .expect("the signature verifies");
    }

    for id in ["alert-a", "alert-b"] {
        let d = delivery(&store, "ops", id);
        assert_eq!(d.state, DeliveryState::Delivered);
        assert_eq!(d.attempts, 1);
        assert!(d.delivered_at.is_some());
    }

    // Nothing is sent twice: not on a later deliver, not when the same alert is committed again.
    let again = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(again.receivers.is_empty(), "{again:?}");
    assert_eq!(enqueue(&store, "ops", std::slice::from_ref(&a)), 0);
    n.deliver(&store, Mode::Poll).await.unwrap();
    n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(n.next_due(&store).unwrap(), None);
    check_no_secret(&format!("{report:?} {n:?}"));
}

#[tokio::test]
async fn server_errors_are_retried_within_the_poll_and_later() {
    capture_logs();
    let hook = Hook::start_with(vec![reply(500), reply(500), reply(500)]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(
        &store,
        "ops",
        &[alert("alert-5xx", Severity::Critical, "x")],
    );
    let n = ops_notifier(&hook.url);

    let before = Utc::now();
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    assert_eq!(report.receivers[0].pending, 1);
    assert!(report.receivers[0]
        .error
        .as_deref()
        .unwrap()
        .contains("HTTP 500"));
    assert_eq!(hook.requests().len(), 3, "at most 3 attempts in one poll");
    let d = delivery(&store, "ops", "alert-5xx");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 3);
    assert!(d.last_error.as_deref().unwrap().contains("500"));
    // Backoff after 3 attempts: 120 s minus at most 20 % jitter.
    let wait = secs_between(before, d.next_attempt_at);
    assert!(wait >= 95.0, "next attempt only {wait} s later");
    assert_eq!(n.next_due(&store).unwrap(), Some(d.next_attempt_at));

    // The daemon's mode respects the backoff; a poll retries whatever its backoff.
    let due = n.deliver(&store, Mode::Due).await.unwrap();
    assert!(due.receivers.is_empty(), "{due:?}");
    assert_eq!(hook.requests().len(), 3);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let d = delivery(&store, "ops", "alert-5xx");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 4);
    assert_eq!(hook.requests().len(), 4);
    assert_eq!(hook.successes(), 1);
    n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(hook.successes(), 1);
    check_no_secret(&format!("{report:?} {:?}", store.deliveries().unwrap()));
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_within_a_poll() {
    capture_logs();
    let hook = Hook::start_with(vec![Reply {
        status: 429,
        retry_after: Some("1"),
        body: "slow down",
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "ops", &[alert("alert-429", Severity::Info, "x")]);
    let n = ops_notifier(&hook.url);

    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].status, 429);
    assert_eq!(reqs[1].status, 200);
    // The second attempt comes no earlier than the Retry-After the first answer named.
    let gap = secs_between(reqs[0].at, reqs[1].at);
    assert!(gap >= 1.0, "retried {gap} s after a Retry-After of 1 s");
    let d = delivery(&store, "ops", "alert-429");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 2);
    // The attempt failed even though the poll ended well: a 429 is still reported.
    assert!(report.failed());
    assert_eq!(report.receivers[0].delivered, 1);
}

#[tokio::test]
async fn a_long_retry_after_is_honoured_across_deliveries() {
    capture_logs();
    let hook = Hook::start_with(vec![Reply {
        status: 429,
        retry_after: Some("120"),
        body: "",
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "ops", &[alert("alert-ra", Severity::Info, "x")]);
    let n = ops_notifier(&hook.url);

    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    let after_first = hook.requests();
    assert_eq!(
        after_first.len(),
        1,
        "a Retry-After beyond 30 s ends the poll's attempts"
    );
    assert_eq!(report.receivers[0].pending, 1);
    let d = delivery(&store, "ops", "alert-ra");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 1);
    let nb = d.not_before.expect("not_before set from Retry-After");
    let ra = secs_between(after_first[0].at, nb);
    assert!(
        (119.0..=125.0).contains(&ra),
        "not_before {ra} s after the 429"
    );
    assert!(d.next_attempt_at >= nb);
    assert!(n.next_due(&store).unwrap().unwrap() >= nb);

    // Neither a forced retry nor the daemon sends before that time; a new alert for the same
    // receiver waits as well (the Retry-After is about the receiver).
    enqueue(&store, "ops", &[alert("alert-ra-2", Severity::Info, "y")]);
    let r = n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(r.receivers[0].pending, 2);
    n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(delivery(&store, "ops", "alert-ra-2").attempts, 0);
}

#[tokio::test]
async fn a_client_error_fails_for_good() {
    capture_logs();
    let hook = Hook::start_with(vec![Reply {
        status: 400,
        retry_after: None,
        body: "unknown field \"alerts\"\n",
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "ops", &[alert("alert-400", Severity::Info, "x")]);
    let n = ops_notifier(&hook.url);

    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    assert_eq!(report.receivers[0].failed, 1);
    let d = delivery(&store, "ops", "alert-400");
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 1);
    let e = d.last_error.unwrap();
    assert!(e.contains("400") && e.contains("unknown field"), "{e}");
    assert_eq!(e, "HTTP 400: unknown field \"alerts\"");

    n.deliver(&store, Mode::Poll).await.unwrap();
    n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(hook.requests().len(), 1, "a 400 is never retried");
    assert_eq!(n.next_due(&store).unwrap(), None);
}

#[tokio::test]
async fn pending_entries_survive_a_restart_and_go_out_once() {
    capture_logs();
    let hook = Hook::start_with(vec![reply(503)]).await;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        enqueue(
            &store,
            "ops",
            &[alert("alert-restart", Severity::Info, "x")],
        );
        let n = ops_notifier(&hook.url);
        let report = n.deliver(&store, Mode::Due).await.unwrap();
        assert_eq!(report.receivers[0].pending, 1, "one attempt in Due mode");
        assert_eq!(hook.requests().len(), 1);
    }
    // A new process: the store and the notifier are built again from disk and config.
    let store = Store::open(dir.path()).unwrap();
    let d = delivery(&store, "ops", "alert-restart");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 1);
    assert!(d.last_error.as_deref().unwrap().contains("503"));
    let n = ops_notifier(&hook.url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(hook.successes(), 1);
    drop(n);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        delivery(&store, "ops", "alert-restart").state,
        DeliveryState::Delivered
    );
    ops_notifier(&hook.url)
        .deliver(&store, Mode::Poll)
        .await
        .unwrap();
    assert_eq!(hook.requests().len(), 2);
    assert_eq!(hook.successes(), 1);
}

#[tokio::test]
async fn an_unreachable_receiver_stays_pending_and_no_secret_leaks() {
    capture_logs();
    // A port nobody listens on.
    let url = format!("http://127.0.0.1:{}/hook?token={SECRET}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "ops", &[alert("alert-down", Severity::Info, "x")]);
    let n = ops_notifier(&url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    let d = delivery(&store, "ops", "alert-down");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 3);
    let e = d.last_error.clone().unwrap();
    assert!(e.contains("connect"), "{e}");
    // Even a secret in the URL stays out of errors and logs.
    let test = n.test("ops").await.unwrap_err();
    check_no_secret(&format!("{report:?} {d:?} {test} {test:?} {n:?}"));
}

#[tokio::test]
async fn removed_receivers_are_left_alone_and_log_receivers_log() {
    capture_logs();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "gone", &[alert("alert-gone", Severity::Info, "x")]);
    enqueue(
        &store,
        "journal",
        &[alert("alert-journal", Severity::Info, "logged summary")],
    );
    let n = ops_notifier(&hook.url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let gone = delivery(&store, "gone", "alert-gone");
    assert_eq!(gone.state, DeliveryState::Pending);
    assert_eq!(gone.attempts, 0);
    assert_eq!(
        delivery(&store, "journal", "alert-journal").state,
        DeliveryState::Delivered
    );
    let logs = logs();
    assert!(logs.contains("no longer configured") && logs.contains("gone"));
    assert!(logs.contains("alert-journal") && logs.contains("logged summary"));
    assert!(hook.requests().is_empty());
}

#[tokio::test]
async fn test_notify_sends_a_marked_alert_outside_the_outbox() {
    capture_logs();
    let hook = Hook::start().await;
    let n = ops_notifier(&hook.url);
    n.test("ops").await.unwrap();
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1);
    let v = reqs[0].json();
    assert_eq!(v["test"], true);
    assert!(v["alerts"][0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("[statwatch test]"));
    let ts: i64 = reqs[0].header("x-statwatch-timestamp").parse().unwrap();
    assert_eq!(
        reqs[0].header("x-statwatch-signature"),
        format!("sha256={}", sign(SECRET.as_bytes(), ts, &reqs[0].body))
    );
    n.test("journal").await.unwrap();
    let e = n.test("nobody").await.unwrap_err().to_string();
    assert!(e.contains("nobody"), "{e}");
}

/// Replaces a record in the store by raw bytes, as a bug or an old version might have left
/// it (sled directly: the key layout is in src/store.rs).
fn corrupt(dir: &std::path::Path, tree: &str, key: &[u8], value: &[u8]) {
    // sled may hold the directory's lock a moment after the store is dropped.
    let mut tries = 0;
    let db = loop {
        match sled::open(dir) {
            Ok(db) => break db,
            Err(e) if tries < 50 => {
                tries += 1;
                eprintln!("sled::open: {e}; retrying");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("sled::open: {e}"),
        }
    };
    db.open_tree(tree).unwrap().insert(key, value).unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn an_unreadable_record_fails_alone_and_the_others_go_out() {
    capture_logs();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let alerts: Vec<_> = ["alert-1", "alert-2", "alert-3", "alert-4"]
            .iter()
            .map(|id| alert(id, Severity::Info, id))
            .collect();
        assert_eq!(enqueue(&store, "ops", &alerts), 4);
        assert_eq!(enqueue(&store, "journal", &alerts[..1]), 1);
    }
    // alert-2's record no longer decodes (a value that is not a number, as a store damaged
    // by hand or by a bug would hold). alert-3's outbox entry is garbage.
    let mut bad = serde_json::to_value(alert("alert-2", Severity::Info, "x")).unwrap();
    bad["value"] = serde_json::Value::from("NaN");
    corrupt(
        dir.path(),
        "alerts",
        b"alert-2",
        &serde_json::to_vec(&bad).unwrap(),
    );
    corrupt(dir.path(), "outbox", b"ops\0alert-3", b"{\"alert_id\": tru");

    let store = Store::open(dir.path()).unwrap();
    let n = ops_notifier(&hook.url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    // One message with the alerts that read; the unreadable one is failed with the reason.
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "{report:?}");
    let mut got = reqs[0].alert_ids();
    got.sort();
    assert_eq!(got, ["alert-1", "alert-3", "alert-4"]);
    let ops = report
        .receivers
        .iter()
        .find(|r| r.receiver == "ops")
        .unwrap();
    assert_eq!((ops.delivered, ops.failed), (3, 1), "{report:?}");
    let d = delivery(&store, "ops", "alert-2");
    assert_eq!(d.state, DeliveryState::Failed);
    let e = d.last_error.unwrap();
    assert!(e.contains("alert-2") && e.contains("expected f64"), "{e}");
    // The garbage outbox entry was rewritten (pending again, then delivered: at least once).
    assert_eq!(
        delivery(&store, "ops", "alert-3").state,
        DeliveryState::Delivered
    );
    assert_eq!(
        delivery(&store, "journal", "alert-1").state,
        DeliveryState::Delivered
    );
    let logs = logs();
    assert!(
        logs.contains("alert-2") && logs.contains("cannot be read"),
        "{logs}"
    );
}

/// Not an assertion: prints commit-to-receipt latency on loopback (`--ignored --nocapture`).
#[tokio::test]
#[ignore]
async fn latency_probe() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let n = ops_notifier(&hook.url);
    for i in 0..10 {
        let start = Utc::now();
        enqueue(
            &store,
            "ops",
            &[alert(&format!("lat-{i}"), Severity::Info, "x")],
        );
        n.deliver(&store, Mode::Due).await.unwrap();
        let got = hook.requests().last().unwrap().at;
        println!(
            "run {i}: commit -> POST received {:.2} ms",
            (got - start).num_microseconds().unwrap() as f64 / 1000.0
        );
    }
}

#[tokio::test]
async fn a_redirect_is_refused_naming_only_the_target_origin() {
    capture_logs();
    let hook = Hook::start_with(vec![reply(302)]).await;
    hook.redirect_to("https://elsewhere.example:8443/hooks/T0/secret-path?token=Zq81xv");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "ops", &[alert("alert-302", Severity::Info, "x")]);
    let n = ops_notifier(&hook.url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(hook.requests().len(), 1, "a redirect is not retried");
    let d = delivery(&store, "ops", "alert-302");
    assert_eq!(d.state, DeliveryState::Failed);
    let e = d.last_error.unwrap();
    assert!(
        e.contains("HTTP 302") && e.contains("https://elsewhere.example:8443"),
        "{e}"
    );
    let all = format!("{e} {report:?} {}", logs());
    assert!(
        !all.contains("secret-path") && !all.contains("token=Zq81xv"),
        "{e}"
    );
}

#[tokio::test]
async fn a_receiver_no_longer_configured_neither_spins_the_timer_nor_warns_again() {
    capture_logs();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut old = alert("alert-orphan", Severity::Info, "x");
    old.detected_at -= chrono::Duration::hours(1);
    enqueue(&store, "removed-rcv", &[old]);
    let n = ops_notifier(&hook.url);
    // Only the orphan is pending: nothing for the timer.
    assert_eq!(n.next_due(&store).unwrap(), None);
    for _ in 0..3 {
        let r = n.deliver(&store, Mode::Due).await.unwrap();
        assert!(r.receivers.is_empty(), "{r:?}");
    }
    let warned = logs()
        .lines()
        .filter(|l| l.contains("no longer configured") && l.contains("removed-rcv (1)"))
        .count();
    assert_eq!(warned, 1, "reported once per config");
    // A configured receiver's entry behind it is what the timer waits for.
    let a = alert("alert-live", Severity::Info, "y");
    enqueue(&store, "ops", std::slice::from_ref(&a));
    assert_eq!(n.next_due(&store).unwrap(), Some(a.detected_at));
    n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(n.next_due(&store).unwrap(), None);
    let d = delivery(&store, "removed-rcv", "alert-orphan");
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    assert_eq!(hook.successes(), 1);
}
