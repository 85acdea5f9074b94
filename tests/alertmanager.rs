//! The Alertmanager receiver against a local server that answers like Alertmanager's
//! `POST /api/v2/alerts` and checks the documented shape (tests/common/notify/platforms.rs),
//! with a real sled store in a temp dir: the label set, one cluster member enough, and after
//! an outage the alerts that still fire. A real cluster is in tests/ha.rs.

mod common;

use common::notify::chat::*;
use common::notify::platforms::*;
use common::notify::*;
use statwatch::model::DeliveryState;
use statwatch::notify::Mode;
use statwatch::store::Store;

#[tokio::test]
async fn alertmanager_gets_the_label_set_and_one_member_is_enough() {
    let (a, b) = (Platforms::start().await, Platforms::start().await);
    a.script(vec![Reply {
        status: 503,
        retry_after: None,
        body: "down",
    }]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "am", &two_alerts());
    let extra = format!(
        "[receivers.am]\nkind = \"alertmanager\"\nurls = [\"{}\", \"{}/\"]\nresolve_after_hours = 48\n",
        a.base, b.base
    );
    let n = paced(&extra);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "one member took it: {report:?}");
    let (ra, rb) = (a.requests(), b.requests());
    assert_eq!((ra.len(), rb.len()), (1, 1), "one list to every member");
    assert_eq!(rb[0].path, ALERTMANAGER_PATH);
    assert_eq!(rb[0].invalid, None);
    let v = rb[0].json();
    assert_eq!(v.as_array().unwrap().len(), 2, "one list per cycle");
    let turn = v
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "nl-industry-turn")
        .unwrap();
    the_turn_has_its_labels_annotations_and_end(turn, rb[0].at);
    assert_eq!(
        delivery(&store, "am", "9b21c0d4").state,
        DeliveryState::Delivered
    );
    every_member_down_pends_and_every_member_refusing_fails(&store).await;
}

/// The turn's label set and annotations; its `endsAt` 48 hours from `sent`, the sending.
fn the_turn_has_its_labels_annotations_and_end(
    turn: &serde_json::Value,
    sent: chrono::DateTime<chrono::Utc>,
) {
    assert_eq!(
        turn["labels"],
        serde_json::json!({"alertname": "nl-industry-turn", "series": "nl.industry.yoy",
            "severity": "warning", "source": "cbs", "table": "85806NED", "period": "2025-02",
            "statwatch_id": "9b21c0d4"})
    );
    assert!(turn["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("turned negative"));
    assert!(turn["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("revision (was 1.0)"));
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(turn[k].as_str().unwrap()).unwrap();
    // endsAt counts from the sending.
    assert!(t("endsAt") >= sent + chrono::Duration::hours(48) - chrono::Duration::seconds(1));
    assert!(t("endsAt") - t("startsAt") >= chrono::Duration::hours(48));
}

/// Every member down: pending; every member refusing: failed.
async fn every_member_down_pends_and_every_member_refusing_fails(store: &Store) {
    let c = Platforms::start().await;
    c.script(vec![
        Reply {
            status: 500,
            retry_after: None,
            body: ""
        };
        3
    ]);
    let d = Platforms::start().await;
    d.script(vec![
        Reply {
            status: 400,
            retry_after: None,
            body: "bad"
        };
        3
    ]);
    enqueue(store, "am2", &two_alerts()[..1]);
    let extra2 = format!(
        "[receivers.am2]\nkind = \"alertmanager\"\nurls = [\"{}\", \"{}\"]\n",
        c.base, d.base
    );
    paced(&extra2).deliver(store, Mode::Poll).await.unwrap();
    let e = delivery(store, "am2", "3f0c9a1e");
    assert_eq!(e.state, DeliveryState::Pending);
    assert_eq!(c.requests().len(), 3);
    d.script(vec![
        Reply {
            status: 400,
            retry_after: None,
            body: "bad"
        };
        3
    ]);
    c.script(vec![
        Reply {
            status: 422,
            retry_after: None,
            body: "no"
        };
        3
    ]);
    paced(&extra2).deliver(store, Mode::Poll).await.unwrap();
    let e = delivery(store, "am2", "3f0c9a1e");
    assert_eq!(e.state, DeliveryState::Failed, "{e:?}");
    assert!(e.last_error.unwrap().contains("HTTP 400: bad"));
}

#[tokio::test]
async fn alertmanager_after_an_outage_gets_alerts_that_still_fire() {
    let am = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Detected three days ago; Alertmanager was down since, and resolves after 24 hours.
    let mut a = two_alerts().remove(0);
    a.detected_at -= chrono::Duration::days(3);
    enqueue(&store, "am", &[a]);
    let extra = format!(
        "[receivers.am]\nkind = \"alertmanager\"\nurls = [\"{}\"]\nresolve_after_hours = 24\n",
        am.base
    );
    paced(&extra).deliver(&store, Mode::Poll).await.unwrap();
    let reqs = am.requests();
    assert_eq!(reqs.len(), 1);
    let v = reqs[0].json();
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(v[0][k].as_str().unwrap()).unwrap();
    assert!(
        t("endsAt") > reqs[0].at,
        "endsAt {} is past at sending",
        t("endsAt")
    );
    assert!(
        t("startsAt") < reqs[0].at - chrono::Duration::days(2),
        "startsAt is the detection"
    );
}
