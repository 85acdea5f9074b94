//! CBS releases into the store, end to end: the real binary against a local server that
//! answers like StatLine OData v3, with the real published figures and their revisions.
//! Failures named with their cause are in tests/cbs_failures.rs, hostile answers in
//! tests/cbs_hostile.rs.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn baseline_then_a_release_records_exactly_its_changes() {
    let w = cbs_world().await;
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    // 2022-01 .. 2025-02 are 38 months; quarter and year rows are not part of a monthly series.
    assert!(
        out.contains("cbs 85806NED: baseline: 38 new periods, 0 revisions, 0 status changes"),
        "{out}"
    );
    assert!(
        out.contains("cbs 81234ned: baseline: 40 new periods"),
        "{out}"
    );

    the_data_request_filters_and_selects_exactly(&w.server);

    publish_next(&w.server);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("cbs 85806NED: 1 new period, 2 revisions, 0 status changes"),
        "{out}"
    );
    assert!(
        out.contains("cbs 81234ned: 1 new period, 0 revisions, 0 status changes"),
        "{out}"
    );
    the_series_keeps_each_revision(&series_json(&w.config, "nl.industry.yoy").await);

    // The text view names the revision history too.
    let o = statwatch(&w.config, &["series", "nl.industry.yoy"]).await;
    assert!(
        stdout(&o).contains("revised 1x (was 1.0)"),
        "{}",
        stdout(&o)
    );
    // And the overview lists every series with its latest value.
    let o = statwatch(&w.config, &["series", "--json"]).await;
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all[0]["latest_period"], "2025-03");
    assert_eq!(all[0]["latest_value"], 1.3);
    assert_eq!(all[1]["latest_value"], -3.3);
}

/// The data request filters on the exact, space-padded key, the periods, and selects only
/// what the series need.
fn the_data_request_filters_and_selects_exactly(server: &CbsServer) {
    let reqs = server.requests();
    let data: Vec<_> = reqs
        .iter()
        .filter(|r| r.starts_with("85806NED/TypedDataSet"))
        .collect();
    assert_eq!(data.len(), 1, "{reqs:#?}");
    assert!(
        data[0].contains("BedrijfstakkenBranchesSBI2008 eq '307500  '"),
        "{}",
        data[0]
    );
    assert!(
        data[0].contains("startswith(Perioden,'2025')"),
        "{}",
        data[0]
    );
    assert!(
        data[0].contains(
            "$select=BedrijfstakkenBranchesSBI2008,KalendergecorrigeerdeProductie_14,Perioden"
        ),
        "{}",
        data[0]
    );
}

/// The series after the release: 2025-03 new, 2025-02 and 2025-01 revised (each keeping
/// what it was), an older period's status as published.
fn the_series_keeps_each_revision(s: &Value) {
    assert_eq!(s["id"], "nl.industry.yoy");
    assert_eq!(s["table"], "85806NED");
    assert_eq!(s["unit"], "%");
    let obs = s["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 39);
    assert_eq!(obs[0]["period"], "2022-01");
    assert_eq!(obs[38]["period"], "2025-03");
    let feb = observation(s, "2025-02");
    assert_eq!(feb["value"], -0.3);
    assert_eq!(feb["source_period"], "2025MM02");
    assert_eq!(feb["status"], "Voorlopig");
    let revs = feb["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0]["value"], 1.0);
    assert_eq!(revs[0]["status"], "Voorlopig");
    assert_eq!(revs[0]["seen_at"], feb["first_seen"]);
    assert_eq!(observation(s, "2025-01")["revisions"][0]["value"], 0.3);
    assert_eq!(
        observation(s, "2025-03")["revisions"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(observation(s, "2024-06")["status"], "NaderVoorlopig");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_with_nothing_changed_makes_only_the_cheap_checks() {
    let w = cbs_world().await;
    assert!(statwatch(&w.config, &["poll"]).await.status.success());
    w.server.clear_requests();
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("cbs 85806NED: unchanged"),
        "{}",
        stdout(&o)
    );
    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert!(reqs[0].starts_with("ODataCatalog/Tables?"), "{reqs:#?}");
    // Without a catalogue, each table's TableInfos.
    w.server.set_catalogue(false);
    w.server.clear_requests();
    assert!(statwatch(&w.config, &["poll"]).await.status.success());
    let reqs = w.server.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert_eq!(
        reqs.iter().filter(|r| r.contains("/TableInfos?")).count(),
        2,
        "{reqs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_changes_update_in_place_and_are_not_revisions() {
    let w = cbs_world().await;
    assert!(statwatch(&w.config, &["poll"]).await.status.success());
    let mut t = w.server.table(INDUSTRY);
    for (k, s) in t.periods.iter_mut() {
        if k.starts_with("2024MM0") {
            *s = "Definitief".into();
        }
    }
    t.modified = "2025-04-15T06:30:00".into();
    w.server.set_table(INDUSTRY, t);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(
        stdout(&o).contains("cbs 85806NED: 0 new periods, 0 revisions, 9 status changes"),
        "{}",
        stdout(&o)
    );
    let s = series_json(&w.config, "nl.industry.yoy").await;
    let jan = observation(&s, "2024-01");
    assert_eq!(jan["status"], "Definitief");
    assert_eq!(jan["revisions"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_paged_over_several_next_links_yields_every_row_once() {
    let w = cbs_world().await;
    w.server.set_page_size(7);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}", stdout(&o));
    let pages = w
        .server
        .requests()
        .iter()
        .filter(|r| r.starts_with("85806NED/TypedDataSet"))
        .count();
    // 38 months + 12 quarters + 3 years of C Industrie = 53 rows = 8 pages of 7.
    assert_eq!(pages, 8);
    let s = series_json(&w.config, "nl.industry.yoy").await;
    let periods: Vec<&str> = s["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["period"].as_str().unwrap())
        .collect();
    let mut unique = periods.clone();
    unique.dedup();
    assert_eq!(periods.len(), 38);
    assert_eq!(unique.len(), 38);
    // Every value is the published one.
    for (p, v) in yoy_vintage(0) {
        let key = format!("{}-{}", &p[..4], &p[6..]);
        assert_eq!(observation(&s, &key)["value"], v, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_stores_nothing_and_says_what_it_would_store() {
    let w = cbs_world().await;
    let o = statwatch(&w.config, &["poll", "--dry-run"]).await;
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("would store nl.industry.yoy 2025-02 = 1 Voorlopig"),
        "{}",
        stdout(&o)
    );
    let s = series_json(&w.config, "nl.industry.yoy").await;
    assert_eq!(s["observations"].as_array().unwrap().len(), 0);
    // And the next real poll still sees a baseline.
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(stdout(&o).contains("baseline"), "{}", stdout(&o));
}

/// What `--dry-run` says it would store, as (series, period, value, status).
fn would_store(out: &str) -> Vec<(String, String, f64, String)> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("would store "))
        .map(|rest| {
            let rest = rest.split(" (was ").next().unwrap();
            let (series, rest) = rest.split_once(' ').unwrap();
            let (period, rest) = rest.split_once(" = ").unwrap();
            let (value, status) = rest.split_once(' ').unwrap();
            let value = value.parse().unwrap();
            (series.into(), period.into(), value, status.into())
        })
        .collect()
}

/// A dry run plans exactly what the real poll then stores: every observation of a first
/// sync, and a release's new and revised ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_shows_what_the_real_poll_then_stores() {
    let w = cbs_world().await;
    for release in [false, true] {
        if release {
            publish_next(&w.server);
        }
        let o = statwatch(&w.config, &["poll", "--dry-run"]).await;
        assert!(o.status.success(), "{}", stderr(&o));
        let planned = would_store(&stdout(&o));
        assert!(!planned.is_empty(), "{}", stdout(&o));
        let o = statwatch(&w.config, &["poll"]).await;
        assert!(o.status.success(), "{}", stderr(&o));
        let mut stored = std::collections::BTreeMap::new();
        for (series, period, value, status) in &planned {
            if !stored.contains_key(series) {
                stored.insert(series.clone(), series_json(&w.config, series).await);
            }
            let o = observation(&stored[series], period);
            assert_eq!(o["value"].as_f64(), Some(*value), "{series} {period}");
            assert_eq!(
                o["status"].as_str(),
                Some(status.as_str()),
                "{series} {period}"
            );
        }
        if !release {
            // A first sync: every stored observation was shown.
            let all: usize = stored
                .values()
                .map(|s| s["observations"].as_array().unwrap().len())
                .sum();
            assert_eq!(all, planned.len());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_series_added_to_a_polled_table_is_fetched_without_waiting_for_a_release() {
    let w = cbs_world().await;
    assert!(statwatch(&w.config, &["poll"]).await.status.success());
    let text = std::fs::read_to_string(&w.config).unwrap()
        + r#"
[[series]]
id = "nl.industry.mom"
source = "cbs"
table = "85806NED"
measure = "OntwSeizoengecorrigeerdeProductie_21"
dimensions = { BedrijfstakkenBranchesSBI2008 = "307500" }
unit = "%"
"#;
    std::fs::write(&w.config, text).unwrap();
    w.server.clear_requests();
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}", stdout(&o));
    // The table did not move, but its selection did: one download, the new series' baseline,
    // and nothing new for the series already stored.
    assert!(
        stdout(&o).contains("cbs 85806NED: baseline: 38 new periods"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("cbs 81234ned: unchanged"),
        "{}",
        stdout(&o)
    );
    let mom = series_json(&w.config, "nl.industry.mom").await;
    assert_eq!(mom["observations"].as_array().unwrap().len(), 38);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(
        stdout(&o).contains("cbs 85806NED: unchanged"),
        "{}",
        stdout(&o)
    );
}

/// A mirror that serves only TableInfos, TypedDataSet and Perioden still delivers the data:
/// DataProperties and the dimension lists only make messages friendlier.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_metadata_sets_still_delivers() {
    let w = cbs_world().await;
    let mut t = industry_table(&yoy_vintage(0), "2025-04-10T06:30:00");
    // Unpadded keys: without the dimension list the configured key is used as written.
    for r in t.rows.iter_mut() {
        let k = r[BRANCH_DIM].as_str().unwrap().trim().to_string();
        r.insert(BRANCH_DIM.into(), serde_json::json!(k));
    }
    w.server.set_table(INDUSTRY, t);
    w.server.fail_next(
        &format!("{INDUSTRY}/DataProperties"),
        Fault::ODataError(
            404,
            include_str!("fixtures/cbs/odata_error_404_unknown_table.json").into(),
        ),
        1,
    );
    w.server.fail_next(
        &format!("{INDUSTRY}/{BRANCH_DIM}"),
        Fault::ODataError(
            404,
            include_str!("fixtures/cbs/odata_error_404_unknown_table.json").into(),
        ),
        1,
    );
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("cbs 85806NED: baseline: 38 new periods"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("no DataProperties"), "{}", stderr(&o));
}

/// Not a test but a measurement (run it with `cargo test --release --test cbs -- --ignored
/// --nocapture`): `statwatch poll` ingesting a 100,000-row table (400 series x 250 months,
/// 10 pages of 10,000 rows) from the fake server, under `/usr/bin/time -v`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_a_100k_row_poll() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let mut rows = Vec::new();
    let mut series = String::new();
    let branches: Vec<String> = (0..400).map(|b| format!("{:06}", 300000 + b)).collect();
    for (b, key) in branches.iter().enumerate() {
        for m in 0..250 {
            let mut r = serde_json::Map::new();
            r.insert(BRANCH_DIM.into(), serde_json::json!(key));
            r.insert(
                "Perioden".into(),
                serde_json::json!(format!("{}MM{:02}", 2005 + m / 12, m % 12 + 1)),
            );
            r.insert(
                YOY.into(),
                serde_json::json!(((b * 7 + m * 13) % 200) as f64 / 10.0 - 10.0),
            );
            rows.push(r);
        }
        series.push_str(&format!(
            "[[series]]\nid = \"s{b}\"\nsource = \"cbs\"\ntable = \"{INDUSTRY}\"\nmeasure = \"{YOY}\"\ndimensions = {{ {BRANCH_DIM} = \"{key}\" }}\n"
        ));
    }
    let periods = (0..250)
        .map(|m| {
            (
                format!("{}MM{:02}", 2005 + m / 12, m % 12 + 1),
                "Definitief".to_string(),
            )
        })
        .collect();
    server.set_table(
        INDUSTRY,
        FakeTable {
            modified: "2025-04-10T06:30:00".into(),
            output_status: "Regulier".into(),
            dimensions: vec![(BRANCH_DIM.into(), branches)],
            periods,
            rows,
            titles: Default::default(),
        },
    );
    let text = format!(
        "state_dir = \"{}\"\n[sources.cbs]\nkind = \"cbs\"\nbase_url = \"{}\"\nschedule = \"0 30 6 * * *\"\nhistory_years = 30\n{series}",
        dir.path().join("state").display(),
        server.base_url()
    );
    let config = write_config(dir.path(), &text);
    let out = Statwatch::with_config(&config)
        .args(["poll"])
        .args(
            std::env::var("STATWATCH_MEASURE_ARGS")
                .ok()
                .as_deref()
                .map(str::split_whitespace)
                .into_iter()
                .flatten(),
        )
        .under("/usr/bin/time", &["-v"])
        .run()
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    println!("{}", stdout(&out).lines().next().unwrap_or(""));
    for l in err
        .lines()
        .filter(|l| l.contains("Maximum resident") || l.contains("Elapsed"))
    {
        println!("{}", l.trim());
    }
    assert!(out.status.success());
}
