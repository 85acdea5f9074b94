//! A CBS poll that cannot do what it was asked, through the real binary: each failure of a
//! table names the source, the table and the cause (exit 1), leaves that table's series
//! untouched while the source's other table is stored, and the next good poll recovers; a
//! transient failure is retried within the poll; a discontinued or unknown table, a key or
//! measure the table lacks and an unpinned dimension name the cause and the fix; usage and
//! config errors exit 2. Hostile answers are in tests/cbs_hostile.rs, the rest of the CBS
//! source's behaviour in tests/cbs.rs.

mod common;

use std::time::Duration;

use common::*;

/// Each failure: exit 1 naming source, table and cause; the failing table untouched, the
/// other table of the same poll stored; the next good poll recovers.
#[tokio::test(flavor = "multi_thread")]
async fn failures_name_the_table_and_cause_and_leave_the_store_untouched() {
    let cases: Vec<(&str, Fault, usize, &str)> = vec![
        ("TypedDataSet", Fault::Status500, 3, "HTTP 500"),
        ("TypedDataSet", Fault::HtmlOk, 3, "HTML page (HTTP 200)"),
        ("TypedDataSet", Fault::TruncatedJson, 3, "not valid JSON"),
        ("TypedDataSet", Fault::ShortBody, 3, "connection broke"),
        ("TypedDataSet", Fault::Reset, 3, "connection"),
        (
            "TypedDataSet",
            Fault::Stall(Duration::from_secs(4)),
            3,
            "timeout",
        ),
        (
            "TypedDataSet",
            Fault::ODataError(
                400,
                include_str!("fixtures/cbs/odata_error_400_unknown_property.json").to_string(),
            ),
            1,
            "HTTP 400: Could not find a property named 'NoSuchMeasure_99'",
        ),
        (
            "TableInfos",
            Fault::HtmlOk,
            3,
            "TableInfos (page 1): got an HTML page",
        ),
    ];
    for (entity, fault, times, cause) in cases {
        let w = cbs_world().await;
        assert!(statwatch(&w.config, &["poll"]).await.status.success());
        let before = series_json(&w.config, "nl.industry.yoy").await;
        publish_next(&w.server);
        // The cheap check goes through the catalogue; without one, through TableInfos.
        w.server.set_catalogue(entity != "TableInfos");
        fail_industry(&w.server, entity, fault.clone(), times);
        let o = statwatch(&w.config, &["poll"]).await;
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{fault:?}: {out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("cbs 85806NED"))
            .unwrap_or("");
        assert!(
            line.contains("FAILED") && line.contains(cause),
            "{fault:?}: {out}\n{}",
            stderr(&o)
        );
        assert_eq!(
            series_json(&w.config, "nl.industry.yoy").await,
            before,
            "{fault:?}"
        );
        // Tables are independent: confidence was stored in the same poll.
        let conf = series_json(&w.config, "nl.confidence").await;
        assert!(conf["observations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["period"] == "2025-04"));

        w.server.clear_faults();
        let o = statwatch(&w.config, &["poll"]).await;
        assert!(o.status.success(), "{fault:?} recovery: {}", stdout(&o));
        assert!(
            stdout(&o).contains("cbs 85806NED: 1 new period, 2 revisions"),
            "{}",
            stdout(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_is_retried_within_the_poll() {
    let w = cbs_world().await;
    w.server
        .fail_next(&format!("{INDUSTRY}/TypedDataSet"), Fault::Reset, 1);
    w.server.fail_next("Tables", Fault::Status500, 2);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("cbs 85806NED: baseline: 38 new periods"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discontinued_table_is_reported_loudly() {
    let w = cbs_world().await;
    let mut t = w.server.table(INDUSTRY);
    t.output_status = "Gediscontinueerd".into();
    w.server.set_table(INDUSTRY, t);
    let o = statwatch(&w.config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "cbs 85806NED: FAILED: the table is discontinued (OutputStatus Gediscontinueerd"
        ),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("CBS table is discontinued"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_table_or_key_names_the_cause() {
    let w = cbs_world().await;
    let text = std::fs::read_to_string(&w.config)
        .unwrap()
        .replace("table = \"81234ned\"", "table = \"NOSUCHTABLE\"")
        .replace(
            "= \"307500\" }\ntitle = \"Industrial",
            "= \"999999\" }\ntitle = \"Industrial",
        );
    std::fs::write(&w.config, text).unwrap();
    let o = statwatch(&w.config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("cbs NOSUCHTABLE: FAILED: TableInfos (page 1): HTTP 404: Table 'NOSUCHTABLE' not found."), "{out}");
    // A key the table's metadata lacks breaks its series, not the table (issue 19).
    assert!(out.contains("cbs series nl.industry.yoy: BROKEN: table 85806NED: BedrijfstakkenBranchesSBI2008 \"999999\" is not in the table"), "{out}");
}

/// A pinned key the table has twice once trimmed ("307500  " and "307500 "): which one the
/// config means cannot be told, so the table fails naming both (before, the last listed won
/// and the other's data was dropped silently); the source's other table is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_key_the_table_has_twice_once_trimmed_names_both() {
    let w = cbs_world().await;
    let mut t = w.server.table(INDUSTRY);
    t.dimensions[0].1.push("307500 ".into());
    w.server.set_table(INDUSTRY, t);
    let o = statwatch(&w.config, &["poll"]).await;
    let out = stdout(&o);
    assert!(
        out.contains(
            "cbs 85806NED: FAILED: series nl.industry.yoy: dimension BedrijfstakkenBranchesSBI2008 \
             has two keys \"307500  \" and \"307500 \" that are the same once trimmed"
        ),
        "{out}"
    );
    let confidence = series_json(&w.config, "nl.confidence").await;
    assert!(!confidence["observations"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_config_errors_exit_2() {
    let w = cbs_world().await;
    let o = statwatch(&w.config, &["series", "no.such.series"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no series \"no.such.series\""),
        "{}",
        stderr(&o)
    );
    let o = statwatch(&w.config, &["poll", "--source", "nope"]).await;
    assert_eq!(o.status.code(), Some(2));

    let text = std::fs::read_to_string(&w.config)
        .unwrap()
        .replace("timeout_secs = 2", "timeout_secs = 2\nretries = 4");
    std::fs::write(&w.config, text).unwrap();
    let o = statwatch(&w.config, &["check"]).await;
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("statwatch.toml:10:1: sources.cbs.retries: unknown field `retries`"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_measure_or_an_unpinned_dimension_names_the_fix() {
    let w = cbs_world().await;
    let text = std::fs::read_to_string(&w.config)
        .unwrap()
        .replace("measure = \"KalendergecorrigeerdeProductie_14\"", "measure = \"KalendergecorrigeerdeProductie_15\"")
        .replace(
            "measure = \"Producentenvertrouwen_1\"\ndimensions = { BedrijfstakkenBranchesSBI2008 = \"307500\" }",
            "measure = \"Producentenvertrouwen_1\"",
        );
    std::fs::write(&w.config, text).unwrap();
    let o = statwatch(&w.config, &["poll"]).await;
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        // A measure the table lacks breaks its series, not the table (issue 19).
        out.contains("cbs series nl.industry.yoy: BROKEN: table 85806NED: measure \"KalendergecorrigeerdeProductie_15\" is not in the table (closest: KalendergecorrigeerdeProductie_14 (KalendergecorrigeerdeProductie_14), OntwSeizoengecorrigeerdeProductie_21"),
        "{out}"
    );
    assert!(
        out.contains("cbs 81234ned: FAILED: series nl.confidence: dimension BedrijfstakkenBranchesSBI2008 is not pinned: add BedrijfstakkenBranchesSBI2008 = \"<key>\" to `dimensions` (keys: 307500 (307500))"),
        "{out}"
    );
    // Nothing was downloaded for either table.
    assert!(!w
        .server
        .requests()
        .iter()
        .any(|r| r.contains("/TypedDataSet")));
}
