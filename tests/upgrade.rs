//! A store written by schema 1 (tests/fixtures/store-v1, written by the code of commit
//! 0ee703b) opens in this statwatch and is upgraded in place with nothing lost, its
//! latest-period index built from its records; a store of a newer schema is refused with
//! exit 1, naming both versions.

mod common;

use std::path::Path;

use chrono::{DateTime, Utc};
use common::hook::Hook;
use common::notify::*;
use common::*;
use statwatch::model::{DeliveryState, Period};
use statwatch::notify::{Mode, Notifier};
use statwatch::store::{PollWrite, Store, SCHEMA_VERSION};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A copy of the schema-1 fixture in a temp dir (sled writes to its directory).
fn v1_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    for f in ["conf", "db"] {
        std::fs::copy(fixture.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
    dir
}

fn config_text(state_dir: &Path, hook: &str) -> String {
    notify_config(state_dir)
        .extra(&format!(
            "[receivers.ops]\nkind = \"webhook\"\nurl = \"{hook}\"\nsecret = \"s3cret-upgrade\"\n"
        ))
        .text()
}

fn check_everything_is_there(store: &Store) {
    let yoy = store.observations("nl.industry.yoy").unwrap();
    let periods: Vec<Period> = yoy.iter().map(|o| o.period).collect();
    assert_eq!(
        periods,
        [2025, 2025, 2025]
            .iter()
            .zip(1..=3)
            .map(|(y, m)| Period::Month(*y, m))
            .collect::<Vec<_>>()
    );
    assert_eq!((yoy[0].value, yoy[0].status.as_str()), (2.5, "Definitief"));
    let feb = &yoy[1];
    assert_eq!((feb.value, feb.source_period.as_str()), (-0.3, "2025MM02"));
    assert_eq!(feb.first_seen, t("2025-03-10T05:31:00Z"));
    assert_eq!(feb.value_seen, t("2025-04-10T04:31:00Z"));
    assert_eq!(feb.revisions.len(), 1);
    assert_eq!(feb.revisions[0].value, 1.0);
    assert_eq!(feb.revisions[0].seen_at, t("2025-03-10T05:31:00Z"));
    let de = store.observations("de.gdp").unwrap();
    assert_eq!(de.len(), 2);
    assert_eq!(
        (de[0].period, de[0].source_period.as_str()),
        (Period::Year(2024), "2024")
    );
    assert_eq!(
        (de[1].period, de[1].source_period.as_str()),
        (Period::Quarter(2024, 4), "2024 Q4")
    );
    assert_eq!(de[0].status, "p");

    assert_eq!(
        store.stamp("cbs", "85806NED").unwrap().unwrap().stamp,
        "2025-05-09T06:30:00"
    );
    assert_eq!(store.releases().unwrap().len(), 1);
    let last = |s: &str| store.poll_record(s).unwrap().unwrap().last_success;
    assert_eq!(last("cbs"), Some(t("2025-05-09T04:31:00Z")));
    assert_eq!(last("destatis"), Some(t("2025-02-25T07:00:00Z")));
    for id in ["alert-pending", "alert-delivered", "alert-failed"] {
        assert!(store.alert(id).unwrap().is_some(), "{id}");
    }
    assert_eq!(store.deliveries().unwrap().len(), 4);
}

/// The newest page of the delivery log: its length and the counts (pending, delivered,
/// failed).
fn log_page(store: &Store) -> (usize, (u64, u64, u64)) {
    let page = store
        .delivery_log_page(statwatch::store::LogOrder::NewestFirst, None, 10, false)
        .unwrap();
    let c = page.counts;
    (page.rows.len(), (c.pending, c.delivered, c.failed))
}

#[tokio::test]
async fn a_schema_1_store_is_upgraded_in_place_with_nothing_lost() {
    let hook = Hook::start().await;
    let dir = v1_store();
    let config = dir.path().join("statwatch.toml");
    std::fs::write(&config, config_text(dir.path(), &hook.url)).unwrap();

    // The binary upgrades at open and says so once.
    let o = statwatch(&config, &["series", "nl.industry.yoy", "--json"]).await;
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("store upgraded from schema 1 to {SCHEMA_VERSION}")),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(json.to_string().contains("-0.3"), "{json}");
    let o = statwatch(&config, &["series", "nl.industry.yoy", "--json"]).await;
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success() && !err.contains("store upgraded"),
        "{err}"
    );

    let store = Store::open(dir.path()).unwrap();
    check_everything_is_there(&store);
    assert_eq!(store.pending_count().unwrap(), 2);
    // The delivery log is indexed: every entry on a page, the counts without a pass.
    assert_eq!(log_page(&store), (4, (2, 1, 1)));
    assert_eq!(store.next_due().unwrap(), Some(t("2025-05-09T04:31:00Z")));

    // The pending deliveries go out, once; the delivered and failed ones do not.
    let cfg =
        statwatch::config::Config::parse(&config, &config_text(dir.path(), &hook.url)).unwrap();
    let n = Notifier::new(&cfg).unwrap();
    let report = n.deliver(&store, Mode::Due).await.unwrap();
    let posts = hook.accepted();
    assert_eq!(posts.len(), 1, "{report:?}");
    let body = String::from_utf8_lossy(&posts[0].body);
    assert!(
        body.contains("alert-pending") && !body.contains("alert-delivered"),
        "{body}"
    );
    for r in ["ops", "journal"] {
        assert_eq!(
            delivery(&store, r, "alert-pending").state,
            DeliveryState::Delivered
        );
    }
    assert_eq!(
        delivery(&store, "ops", "alert-delivered").state,
        DeliveryState::Delivered
    );
    assert_eq!(
        delivery(&store, "ops", "alert-failed").state,
        DeliveryState::Failed
    );
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_eq!(log_page(&store), (4, (0, 3, 1)));
    n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(hook.requests().len(), 1);

    // An alert delivered before the upgrade is not enqueued again.
    let again = store.alert("alert-delivered").unwrap().unwrap();
    let w = PollWrite {
        alerts: vec![(again, vec!["ops".into()])],
        ..Default::default()
    };
    assert_eq!(store.commit(&w).unwrap().enqueued, 0);
    drop(store);
    // Everything is still there after a restart.
    check_everything_is_there(&Store::open(dir.path()).unwrap());
}

#[test]
fn a_store_of_a_newer_schema_is_refused_with_exit_1_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", "7")
            .unwrap();
        db.flush().unwrap();
    }
    let config = dir.path().join("statwatch.toml");
    std::fs::write(&config, config_text(dir.path(), "http://127.0.0.1:9/hook")).unwrap();
    let o = statwatch_blocking(&config, &["series", "nl.industry.yoy"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("schema version 7")
            && err.contains(&format!("schema version {SCHEMA_VERSION}")),
        "{err}"
    );
    // Nothing was changed.
    let db = sled::open(dir.path()).unwrap();
    let v = db.open_tree("meta").unwrap().get("schema_version").unwrap();
    assert_eq!(v.as_deref(), Some(&b"7"[..]));
}

#[test]
fn a_schema_1_store_gets_its_latest_period_index_at_open() {
    let dir = v1_store();
    let store = Store::open(dir.path()).unwrap();
    let ids = store.series_ids().unwrap();
    assert_eq!(store.latest_ids().unwrap(), ids);
    for id in &ids {
        let mut newest = store.observations(id).unwrap().pop().unwrap();
        newest.revisions.clear();
        assert_eq!(store.latest(id).unwrap(), Some(newest), "{id}");
    }
    let de = store.latest("de.gdp").unwrap().unwrap();
    assert_eq!(
        (de.period, de.source_period.as_str()),
        (Period::Quarter(2024, 4), "2024 Q4")
    );
    let yoy = store.latest("nl.industry.yoy").unwrap().unwrap();
    assert_eq!(yoy.period, Period::Month(2025, 3));
}
