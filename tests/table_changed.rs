//! Tables that change under the watch, end to end (the real binary against the local CBS
//! and GENESIS servers): a discontinued CBS table and the successor its texts name, a branch
//! key recoded while the other branches get a new period, a new base year, a GENESIS table
//! that disappears. Each fires one `table_changed` alert, once; nothing stored is lost.

mod common;

use common::cbs_server::TableMeta;
use common::destatis_server::{production_release, DestatisServer};
use common::hook::Hook;
use common::*;
use serde_json::Value;

const RULES: &str = r#"
[[rules]]
id = "tables"
kind = "table_changed"
source = "*"
severity = "warning"

[[rules]]
id = "nl-release"
series = "nl.*"
kind = "release"
"#;

/// A second series on the table: the repair branch (336500).
const REPAIR: &str = r#"
[[series]]
id = "nl.industry.repair"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = "336500" }
title = "Repair and installation of machinery NL, y/y %"
unit = "%"
"#;

/// The April 2025 vintages served, [`RULES`] and `extra` in the config, a webhook `ops`.
async fn world(extra: &str) -> HookedWorld {
    let w = hooked_world(&format!("{RULES}{extra}"), None).await;
    serve_april_2025(&w.server);
    w
}

/// Every `table_changed` alert the webhook got, in order.
fn changed(hook: &Hook) -> Vec<Value> {
    let mut out = Vec::new();
    for p in hook.accepted() {
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        for a in v["alerts"].as_array().unwrap() {
            if a["kind"] == "table_changed" {
                out.push(a.clone());
            }
        }
    }
    out
}

fn periods(series: &Value) -> usize {
    series["observations"].as_array().unwrap().len()
}

/// Stops 85806NED as CBS does: `OutputStatus` and `MetaDataModified` move, `Modified` not.
fn discontinue(server: &CbsServer, description: &str, short: &str) {
    let mut t = server.table(INDUSTRY);
    t.output_status = "Gediscontinueerd".into();
    server.set_table(INDUSTRY, t);
    server.set_meta(
        INDUSTRY,
        TableMeta {
            meta_modified: Some("2025-06-22T02:00:00".into()),
            description: description.into(),
            short_description: short.into(),
            ..TableMeta::default()
        },
    );
}

/// A case of a stopped table: its name, `Description`, `ShortDescription`, and the
/// successor id and title the alert must carry.
type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

const STOPPED_82595: &str = include_str!("fixtures/cbs/tableinfos_82595NED_description.txt");
const STOPPED_82595_SHORT: &str =
    include_str!("fixtures/cbs/tableinfos_82595NED_shortdescription.txt");
const REGULAR_81810: &str = include_str!("fixtures/cbs/tableinfos_81810NED_description.txt");
const NATIONAL_ACCOUNTS: &str = "Lopende transacties; sectoren, nationale rekeningen";

#[tokio::test(flavor = "multi_thread")]
async fn a_discontinued_table_names_its_successor_once() {
    let predecessor_only = "Deze tabel is stopgezet.\n\nDeze tabel is de opvolger van de tabel <a href=\"http://statline.cbs.nl/StatWeb/publication/?VW=T&DM=SLNL&PA=72009NED\">Nijverheid (exclusief bouwnijverheid); productie, omzet, orders, SBI 2008</a>.";
    let cases: [Case; 5] = [
        // A StatLine link (`dataset/84098NED`), as in 82595NED's real text.
        (
            "link",
            STOPPED_82595,
            "",
            Some("84098NED"),
            Some(NATIONAL_ACCOUNTS),
        ),
        // A StatWeb link with `PA=83838NED_v1`, as in 81810NED's real text.
        (
            "PA code",
            REGULAR_81810,
            "",
            Some("83838NED"),
            Some("Nijverheid; productie en omzet, ontwikkeling en index, 2015=100"),
        ),
        // The title only (82595NED's real ShortDescription): found in the catalogue.
        (
            "title",
            "Deze tabel is stopgezet.",
            STOPPED_82595_SHORT,
            Some("84098NED"),
            Some(NATIONAL_ACCOUNTS),
        ),
        ("unnamed", "Deze tabel is stopgezet.", "", None, None),
        ("predecessor", predecessor_only, "", None, None),
    ];
    for case in cases {
        discontinue_and_see_the_successor_named_once(case).await;
    }
}

/// A table stopped as `case` says: the poll fails naming it, one alert carries the successor
/// (if any can be told), and the next poll fires nothing and keeps the stored data.
async fn discontinue_and_see_the_successor_named_once(
    (case, description, short, successor, title): Case<'_>,
) {
    let w = world("").await;
    // The successor, in the catalogue under its title.
    w.server.set_table(
        "84098NED",
        confidence_table(&confidence_vintage(), "2025-06-22T06:30:00"),
    );
    w.server.set_meta(
        "84098NED",
        TableMeta {
            title: Some(NATIONAL_ACCOUNTS.into()),
            ..TableMeta::default()
        },
    );
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{case}: {}", stderr(&o));
    let stored = series_json(&w.config, "nl.industry.yoy").await;

    discontinue(&w.server, description, short);
    let o = statwatch(&w.config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1), "{case}: {}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("cbs 85806NED: FAILED: the table is discontinued"),
        "{case}: {out}"
    );
    let alerts = changed(&w.hook);
    assert_eq!(alerts.len(), 1, "{case}: {alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["details"]["event"], "discontinued", "{case}");
    assert_eq!(
        a["details"]["successor"].as_str(),
        successor,
        "{case}: {a:#}"
    );
    assert_eq!(
        a["details"]["successor_title"].as_str(),
        title,
        "{case}: {a:#}"
    );
    assert_eq!(a["table"], INDUSTRY);
    assert_eq!(a["period"], "");
    assert_eq!(a["value"], Value::Null);
    // The other table is polled as before.
    assert!(out.contains("cbs 81234ned: unchanged"), "{case}: {out}");

    // Seen again: nothing new; the stored data is all there.
    let o = statwatch(&w.config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !stdout(&o).contains("fired alert"),
        "{case}: {}",
        stdout(&o)
    );
    assert_eq!(changed(&w.hook).len(), 1, "{case}");
    assert_eq!(
        series_json(&w.config, "nl.industry.yoy").await,
        stored,
        "{case}"
    );
}

/// 85806NED with 336500 recoded as 336510 (an SBI 2025 successor key, say).
fn recoded(values: &[(String, f64)], modified: &str) -> FakeTable {
    let mut t = industry_table(values, modified);
    for (_, keys) in &mut t.dimensions {
        for k in keys.iter_mut() {
            if k.trim() == "336500" {
                *k = "336510  ".into();
            }
        }
    }
    for r in &mut t.rows {
        if r[BRANCH_DIM] == "336500  " {
            r.insert(BRANCH_DIM.into(), "336510  ".into());
        }
    }
    t.titles.insert(
        "336510".into(),
        "Reparatie en installatie van machines".into(),
    );
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recoded_key_breaks_only_its_series() {
    let w = world(REPAIR).await;
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let repair = series_json(&w.config, "nl.industry.repair").await;
    assert!(periods(&repair) > 30);

    // The next release: March for every branch, and 336500 recoded.
    let v = with(&yoy_vintage(0), &[("2025MM03", 1.3)]);
    w.server
        .set_table(INDUSTRY, recoded(&v, "2025-05-12T06:30:00"));
    let o = statwatch(&w.config, &["poll"]).await;
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    assert!(out.contains("cbs 85806NED: 1 new period"), "{out}");
    assert!(
        out.contains("cbs series nl.industry.repair: BROKEN: table 85806NED: BedrijfstakkenBranchesSBI2008 \"336500\" is not in the table (closest: 336510"),
        "{out}"
    );
    // The other series is stored and alerted on.
    let yoy = series_json(&w.config, "nl.industry.yoy").await;
    assert!(yoy["observations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["period"] == "2025-03"));
    assert!(
        out.contains("fired alert [info] nl-release nl.industry.yoy 2025-03"),
        "{out}"
    );
    let alerts = changed(&w.hook);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["details"]["event"], "structure");
    assert_eq!(a["series"], "nl.industry.repair");
    assert_eq!(a["details"]["dimension"], BRANCH_DIM);
    assert_eq!(a["details"]["key"], "336500");
    let candidates = a["details"]["candidates"].as_array().unwrap();
    assert!(candidates.len() <= 5 && !candidates.is_empty());
    assert_eq!(candidates[0]["key"], "336510");
    assert_eq!(
        candidates[0]["title"],
        "Reparatie en installatie van machines"
    );

    // Polled again: still named, nothing fires again, the broken series' data is kept.
    let o = statwatch(&w.config, &["poll"]).await;
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("nl.industry.repair: BROKEN"), "{out}");
    assert!(!out.contains("fired alert"), "{out}");
    assert_eq!(changed(&w.hook).len(), 1);
    assert_eq!(series_json(&w.config, "nl.industry.repair").await, repair);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_in_the_metadata_but_not_in_the_data_still_fails_the_table() {
    let w = world(REPAIR).await;
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let before = series_json(&w.config, "nl.industry.repair").await;
    // 336500 is still a key of the dimension, but the answer has no row of it: a cut answer.
    let v = with(&yoy_vintage(0), &[("2025MM03", 1.3)]);
    let mut t = industry_table(&v, "2025-05-12T06:30:00");
    t.rows.retain(|r| r[BRANCH_DIM] != "336500  ");
    w.server.set_table(INDUSTRY, t);
    let o = statwatch(&w.config, &["poll"]).await;
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("cbs 85806NED: FAILED"), "{out}");
    assert!(!out.contains("BROKEN"), "{out}");
    assert!(changed(&w.hook).is_empty());
    assert_eq!(series_json(&w.config, "nl.industry.repair").await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_base_year_fires_rebased_once_from_a_metadata_change_alone() {
    let w = world("").await;
    let unit = |u: &str, meta_modified: Option<&str>| TableMeta {
        units: [(YOY.to_string(), u.to_string())].into(),
        meta_modified: meta_modified.map(str::to_string),
        ..TableMeta::default()
    };
    w.server.set_meta(INDUSTRY, unit("2015=100", None));
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let stored = series_json(&w.config, "nl.industry.yoy").await;

    // Only the metadata moves: `Modified` stays, `MetaDataModified` is newer.
    w.server
        .set_meta(INDUSTRY, unit("2021=100", Some("2025-04-12T02:00:00")));
    let o = statwatch(&w.config, &["poll"]).await;
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // The table was downloaded again (the alert comes from its DataProperties), though its
    // data did not move.
    let alerts = changed(&w.hook);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["details"]["event"], "rebased");
    assert_eq!(a["details"]["old_unit"], "2015=100");
    assert_eq!(a["details"]["new_unit"], "2021=100");
    assert_eq!(a["details"]["measure"], YOY);

    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("cbs 85806NED: unchanged"),
        "{}",
        stdout(&o)
    );
    assert_eq!(changed(&w.hook).len(), 1);
    assert_eq!(series_json(&w.config, "nl.industry.yoy").await, stored);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_genesis_table_missing_three_polls_in_a_row_is_discontinued_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = DestatisServer::start().await;
    server.publish("09.05.2025 08:00:04h", production_release("2025-05"));
    let hook = Hook::start().await;
    let config = ConfigText::new(&dir.path().join("state"))
        .source(genesis_source(&server.base_url))
        .series(
            production_series("de.industry", "X13JDKB")
                .title("Industrial production DE (calendar adjusted)")
                .unit("2021=100"),
        )
        .rules("[[rules]]\nid = \"tables\"\nkind = \"table_changed\"\nsource = \"*\"\n")
        .without_log_receiver()
        .extra(&format!(
            "\n[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url
        ))
        .write(dir.path());
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let stored = series_json(&config, "de.industry").await;
    assert!(periods(&stored) > 12);

    server.withdraw(true);
    for poll in 1..=2 {
        let o = statwatch(&config, &["poll"]).await;
        assert_eq!(o.status.code(), Some(1), "poll {poll}: {}", stdout(&o));
        assert!(
            stdout(&o).contains("the source reports the table missing"),
            "{}",
            stdout(&o)
        );
        assert!(changed(&hook).is_empty(), "poll {poll}");
    }
    let o = statwatch(&config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1));
    let alerts = changed(&hook);
    assert_eq!(alerts.len(), 1, "{}\n{alerts:#?}", stdout(&o));
    let a = &alerts[0];
    assert_eq!(a["details"]["event"], "discontinued");
    assert_eq!(a["details"]["successor"], Value::Null);
    let ids: Vec<&str> = a["details"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["42153-0002", "42153-0003"]);

    let o = statwatch(&config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(changed(&hook).len(), 1);
    assert_eq!(series_json(&config, "de.industry").await, stored);
}
