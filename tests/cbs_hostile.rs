//! Hostile or broken CBS answers, through the real binary: each is a failure of that table,
//! named, with the store untouched, and the next good poll recovers (the release is fetched
//! again). Failures named with their cause are in tests/cbs_failures.rs, the rest of the
//! CBS source's behaviour in tests/cbs.rs.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// A TypedDataSet page holding the industry table's rows (C Industrie and another branch)
/// as published next, with `edit` applied to the rows, and an optional nextLink.
fn page(server: &CbsServer, edit: impl Fn(&mut Vec<Value>), next: Option<&str>) -> String {
    let mut rows: Vec<Value> = server
        .table(INDUSTRY)
        .rows
        .into_iter()
        .map(Value::Object)
        .collect();
    edit(&mut rows);
    let mut env = serde_json::json!({"odata.metadata": "x", "value": rows});
    if let Some(n) = next {
        env["odata.nextLink"] = Value::String(n.to_string());
    }
    env.to_string()
}

/// Polls after `publish_next` with `setup` applied, and asserts the industry table failed
/// with `cause` (source, table and cause on one line), was left untouched, and that a poll
/// after `clear_faults` stores the release.
async fn fails_then_recovers(
    what: &str,
    setup: impl FnOnce(&CbsWorld),
    extra_config: &[&str],
    cause: &[&str],
) {
    let w = cbs_world().await;
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{what}: {}{}", stdout(&o), stderr(&o));
    let before = series_json(&w.config, "nl.industry.yoy").await;
    if !extra_config.is_empty() {
        let text = std::fs::read_to_string(&w.config).unwrap().replace(
            "history_years = 20\n",
            &format!("history_years = 20\n{}\n", extra_config.join("\n")),
        );
        std::fs::write(&w.config, text).unwrap();
    }
    publish_next(&w.server);
    setup(&w);
    let o = statwatch(&w.config, &["poll"]).await;
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{what}: {out}{}", stderr(&o));
    let line = out
        .lines()
        .find(|l| l.starts_with("cbs 85806NED"))
        .unwrap_or("");
    assert!(line.contains("FAILED"), "{what}: {out}");
    for c in cause {
        assert!(line.contains(c), "{what}: {c:?} not in {line:?}");
    }
    // The record stays readable and unchanged.
    assert_eq!(
        series_json(&w.config, "nl.industry.yoy").await,
        before,
        "{what}"
    );
    w.server.clear_faults();
    w.server.set_endless(false);
    w.server.delay("TypedDataSet", Duration::ZERO);
    w.server.set_page_size(10_000);
    if !extra_config.is_empty() {
        let text = std::fs::read_to_string(&w.config).unwrap();
        let text = extra_config
            .iter()
            .fold(text, |t, line| t.replace(&format!("{line}\n"), ""));
        std::fs::write(&w.config, text).unwrap();
    }
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{what} recovery: {}", stdout(&o));
    assert!(
        stdout(&o).contains("cbs 85806NED: 1 new period, 2 revisions"),
        "{what} recovery: {}",
        stdout(&o)
    );
}

fn set_cell(rows: &mut [Value], period: &str, cell: Value) {
    for r in rows.iter_mut() {
        if r["Perioden"] == period && r[BRANCH_DIM] == "307500  " {
            r[YOY] = cell.clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_finite_cell_fails_the_table_and_the_store_stays_readable() {
    for bad in ["NaN", "inf", "-1e999", " Infinity "] {
        fails_then_recovers(
            bad,
            |w| {
                let p = page(
                    &w.server,
                    |rows| set_cell(rows, "2025MM03", Value::String(bad.into())),
                    None,
                );
                fail_industry(&w.server, "TypedDataSet", Fault::Body(p), 3);
            },
            &[],
            &["nl.industry.yoy", "2025MM03", "not a finite number"],
        )
        .await;
    }
    // A JSON number that overflows f64.
    fails_then_recovers(
        "1e999",
        |w| {
            let p = page(
                &w.server,
                |rows| set_cell(rows, "2025MM03", Value::String("@@".into())),
                None,
            )
            .replace("\"@@\"", "1e999");
            fail_industry(&w.server, "TypedDataSet", Fault::Body(p), 3);
        },
        &[],
        &["TypedDataSet", "number out of range"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_period_key_with_an_absurd_year_is_not_a_period() {
    let w = cbs_world().await;
    publish_next(&w.server);
    let p = page(
        &w.server,
        |rows| {
            for key in ["-999MM01", "0000MM01", "9999KW01", "+999JJ00"] {
                rows.push(serde_json::json!({BRANCH_DIM: "307500", "Perioden": key, YOY: 1.0}));
            }
        },
        None,
    );
    fail_industry(&w.server, "TypedDataSet", Fault::Body(p), 1);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let s = series_json(&w.config, "nl.industry.yoy").await;
    let periods: Vec<&str> = s["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods.first(), Some(&"2022-01"), "{periods:?}");
    assert_eq!(periods.len(), 39, "{periods:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_lacking_a_watched_series_fails_and_the_release_is_fetched_again() {
    let empty = r#"{"odata.metadata":"x","value":[]}"#.to_string();
    fails_then_recovers(
        "no rows",
        |w| fail_industry(&w.server, "TypedDataSet", Fault::Body(empty.clone()), 3),
        &[],
        &["nl.industry.yoy", "no rows"],
    )
    .await;
    fails_then_recovers(
        "only another branch",
        |w| {
            let p = page(
                &w.server,
                |rows| rows.retain(|r| r[BRANCH_DIM] != "307500  "),
                None,
            );
            fail_industry(&w.server, "TypedDataSet", Fault::Body(p), 3);
        },
        &[],
        &["nl.industry.yoy", "no rows"],
    )
    .await;
    fails_then_recovers(
        "every cell empty",
        |w| {
            let p = page(
                &w.server,
                |rows| {
                    for r in rows.iter_mut() {
                        r[YOY] = Value::Null;
                    }
                },
                None,
            );
            fail_industry(&w.server, "TypedDataSet", Fault::Body(p), 3);
        },
        &[],
        &["nl.industry.yoy", "no values"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_and_next_links_to_another_origin_are_never_followed() {
    // The other origin serves the same table with other figures: if it were asked, its data
    // would be stored.
    let other = CbsServer::start().await;
    other.set_table(
        INDUSTRY,
        industry_table(&with(&yoy_vintage(0), &[("2025MM02", 99.0)]), "x"),
    );
    let elsewhere = format!(
        "{}/ODataApi/odata/{INDUSTRY}/TypedDataSet?$format=json",
        other.base_url()
    );
    let redirect = elsewhere.clone();
    fails_then_recovers(
        "redirect",
        move |w| fail_industry(&w.server, "TypedDataSet", Fault::Redirect(redirect), 3),
        &[],
        &["TypedDataSet", "redirect", &other.base_url()],
    )
    .await;
    assert_eq!(other.requests(), Vec::<String>::new());

    let off_path = format!("{}/elsewhere/TypedDataSet?$skip=7", other.base_url());
    let link = off_path.clone();
    fails_then_recovers(
        "nextLink to another origin",
        move |w| {
            let p = page(&w.server, |rows| rows.truncate(7), Some(&link));
            fail_industry(&w.server, "TypedDataSet", Fault::Body(p), 3);
        },
        &[],
        &["TypedDataSet", "odata.nextLink", &other.base_url()],
    )
    .await;
    assert_eq!(other.requests(), Vec::<String>::new());

    // An absolute ODataApi link to another host (as CBS writes them, to its public host) is
    // re-based onto base_url: the data comes from the configured origin.
    let w = cbs_world().await;
    w.server.set_page_size(7);
    let first = page(&w.server, |rows| rows.truncate(0), Some(&elsewhere));
    fail_industry(&w.server, "TypedDataSet", Fault::Body(first), 1);
    let o = statwatch(&w.config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(other.requests(), Vec::<String>::new());
    let s = series_json(&w.config, "nl.industry.yoy").await;
    assert_eq!(observation(&s, "2025-02")["value"], 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_pagination_stops_at_the_page_cap() {
    fails_then_recovers(
        "endless",
        |w| {
            w.server.set_page_size(7);
            w.server.set_endless(true);
        },
        &["max_rows_per_table = 1000"],
        &["TypedDataSet", "more than 10 pages", "max_rows_per_table"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_with_more_rows_than_the_cap_fails() {
    fails_then_recovers(
        "rows",
        |w| w.server.set_page_size(7),
        &["max_rows_per_table = 20"],
        &["more than 20 rows", "max_rows_per_table"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_fetch_has_a_deadline() {
    fails_then_recovers(
        "deadline",
        |w| {
            w.server.set_page_size(7);
            w.server.delay("TypedDataSet", Duration::from_millis(700));
        },
        &["table_deadline_secs = 2"],
        &["not complete within 2 s", "table_deadline_secs"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_over_the_byte_cap_fails() {
    fails_then_recovers(
        "bytes",
        |_| {},
        &["max_response_bytes = 4096"],
        &["larger than 4096 bytes", "max_response_bytes"],
    )
    .await;
}
