//! The Destatis source against a local fake of the GENESIS-Online REST 2020 service
//! (tests/common/destatis_server.rs): POST only (a GET gets an HTML page with HTTP 200, as
//! the real service does), credentials in the `username`/`password` headers, JSON envelopes
//! with HTTP 200 even on errors, and zipped long-layout ffcsv tablefiles of the production
//! index built in tests/common/genesis.rs. A table too big for the dialog (the job flow) is
//! in tests/destatis_jobs.rs.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{Datelike, Utc};
use common::config::{production_series, ConfigText};
use common::destatis_server::{fixture, TableMode, DESTATIS_TOKEN as TOKEN, PRODUCTION as TABLE};
use common::genesis::*;
use statwatch::model::{Observation, Period};
use statwatch::sources::{Check, FetchError};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn check_then_fetch_then_a_release_with_revisions() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    let cfg = config(&base, TOKEN, "2021=100");
    let src = source(&cfg);
    let series = series(&cfg);

    // First sight: the newest cube update is the stamp.
    let Check::Changed { stamp } = src.check(TABLE, None).await.expect("check") else {
        panic!("a first check must say changed");
    };
    assert_eq!(stamp, "cubes 2025-05-08 08:00:05");
    assert_eq!(
        fake.count("data/tablefile"),
        0,
        "the check downloads nothing"
    );

    let data = src
        .fetch(TABLE, &series, &CancellationToken::new())
        .await
        .expect("fetch");
    let index = &data.series["de.industry.index"].to_vec();
    assert_eq!(index, &expected(&C_SA), "levels parse exactly");
    // The watched measure's units, to see a new base year (issue 19): both of PRO101's.
    assert_eq!(data.units["PRO101"], "%, 2021=100");
    // The y/y % rows of the same code are told apart by unit; coal: 2025 only.
    let coal = &data.series["de.coal.yoy"].to_vec();
    assert_eq!(coal.len(), 3);
    assert_eq!(coal[0].period, Period::Month(2025, 1));
    let want = ((92.5 - 31.4) / (94.8 - 31.4) - 1.0) * 100.0;
    assert!(
        (coal[0].value - want).abs() < 0.051,
        "{} vs {want}",
        coal[0].value
    );

    what_went_over_the_wire(&fake);

    // Nothing moved: no download.
    assert_eq!(
        src.check(TABLE, Some(&stamp)).await.expect("check"),
        Check::Unchanged
    );
    assert_eq!(fake.count("data/tablefile"), 1);
    assert_eq!(fake.count("catalogue/cubes"), 2);

    // The next release: April published, February and March revised.
    fake.with(|f| {
        f.latest_update = "06.06.2025 08:00:11h".into();
        f.table = TableMode::Zip(release(&C_SA_2));
    });
    let Check::Changed { stamp: stamp2 } = src.check(TABLE, Some(&stamp)).await.expect("check")
    else {
        panic!("the new release must be seen");
    };
    assert_eq!(stamp2, "cubes 2025-06-06 08:00:11");
    let data2 = src
        .fetch(TABLE, &series, &CancellationToken::new())
        .await
        .expect("fetch");
    assert_eq!(
        data2.series["de.industry.index"].to_vec(),
        expected(&C_SA_2)
    );
    april_is_new_and_february_and_march_revised(index, &data2.series["de.industry.index"].to_vec());
}

/// What went over the wire: POST forms with no credentials, credentials in headers only;
/// the tablefile asked for as the source asks for it.
fn what_went_over_the_wire(fake: &common::destatis_server::DestatisServer) {
    let (forms, queries) = fake.with(|f| (f.forms.clone(), f.queries.clone()));
    assert!(queries.is_empty(), "nothing in the URL: {queries:?}");
    for (_, form) in &forms {
        assert!(!form.contains_key("username") && !form.contains_key("password"));
        assert!(form.values().all(|v| !v.contains(TOKEN)));
    }
    let (_, tf) = forms
        .iter()
        .find(|(e, _)| e == "data/tablefile")
        .expect("tablefile request");
    let start_year = (Utc::now().year() - 2).to_string();
    for (k, v) in [
        ("name", TABLE),
        ("area", "all"),
        ("format", "ffcsv"),
        ("compress", "false"),
        ("job", "false"),
        ("language", "de"),
        ("startyear", start_year.as_str()),
        ("quality", "on"),
    ] {
        assert_eq!(tf.get(k).map(String::as_str), Some(v), "form field {k}");
    }
}

/// The diff of the second release against the first.
fn april_is_new_and_february_and_march_revised(index: &[Observation], next: &[Observation]) {
    let t0 = Utc::now();
    let stored = statwatch::diff::diff(&[], index, t0).updates;
    let d = statwatch::diff::diff(&stored, next, t0);
    assert!(!d.release.baseline);
    assert_eq!(d.release.new_periods, vec![Period::Month(2025, 4)]);
    let revised: Vec<(Period, f64, f64)> = d
        .release
        .revisions
        .iter()
        .map(|r| (r.period, r.old, r.new))
        .collect();
    assert_eq!(
        revised,
        vec![
            (Period::Month(2025, 2), 93.6, 93.8),
            (Period::Month(2025, 3), 95.1, 94.6)
        ]
    );
}

async fn fetch_error(table: TableMode) -> FetchError {
    let (_fake, base) = start(table).await;
    let cfg = config(&base, TOKEN, "2021=100");
    source(&cfg)
        .fetch(TABLE, &series(&cfg), &CancellationToken::new())
        .await
        .expect_err("must fail")
}

fn raw_json(name: &str) -> TableMode {
    TableMode::Raw("application/json", fixture(name).into_bytes())
}

#[tokio::test]
async fn failures_are_named_clearly() {
    let cases: Vec<(&str, TableMode, &str)> = vec![
        (
            "status -1",
            raw_json("data_tablefile_61111-0021_de_status-1_error.json"),
            "the API answered with an error: GENESIS status -1 (error): Für die Teiltabelle",
        ),
        (
            "status 104",
            raw_json("data_tablefile_63121-0001_de_status104_no-object.json"),
            "GENESIS status 104 (no match): Es gibt keine Objekte zum angegebenen \
             Selektionskriterium",
        ),
        (
            "truncated zip",
            TableMode::Zip({
                let z = release(&C_SA);
                z[..z.len() * 2 / 3].to_vec()
            }),
            "the zip is truncated or damaged",
        ),
        (
            "non-zip bytes",
            TableMode::Raw(
                "application/octet-stream",
                b"\x1f\x8b\x08\0garbage".to_vec(),
            ),
            "not a zip and not a GENESIS envelope",
        ),
        (
            "unknown header",
            TableMode::Zip(zipped(
                "x.csv",
                &production_csv(&C_SA).replace("value_unit", "value_einheit"),
            )),
            "unknown column \"value_einheit\"",
        ),
        (
            "legacy layout",
            TableMode::Raw(
                "text/csv",
                fixture("data_tablefile_46181-0001_de_ffcsv_legacy.csv").into_bytes(),
            ),
            "old wide ffcsv layout",
        ),
    ];
    for (what, mode, want) in cases {
        let e = fetch_error(mode).await;
        assert!(e.to_string().contains(want), "{what}: {e}");
    }
}

#[tokio::test]
async fn html_bad_login_and_series_problems() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;

    // The real service answers a GET with an HTML page and HTTP 200; so does the fake.
    let get = reqwest::get(format!("{base}/data/tablefile"))
        .await
        .expect("GET");
    assert_eq!(get.status(), 200);
    assert!(get.text().await.expect("body").contains("<html>"));

    // Bad credentials: an envelope with HTTP 200, reported without the credentials.
    let bad = config(&base, "wrong-token-0000", "2021=100");
    let e = source(&bad).check(TABLE, None).await.unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("GENESIS status 15: Ein Fehler ist aufgetreten"),
        "{m}"
    );
    assert!(
        m.contains("login failed") && !m.contains("wrong-token"),
        "{m}"
    );

    // No unit, and PRO101 comes as index and as % change: the user must choose.
    let cfg = config(&base, TOKEN, "");
    let e = source(&cfg)
        .fetch(TABLE, &series(&cfg), &CancellationToken::new())
        .await
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("series de.industry.index")
            && m.contains("set `unit`")
            && m.contains("\"%\", \"2021=100\""),
        "{m}"
    );

    // A branch the table does not have: the message lists those it has.
    let mut s = series(&config(&base, TOKEN, "2021=100"));
    s[0].dimensions.insert("WZ08V1".into(), "WZ08-Z".into());
    let e = source(&cfg)
        .fetch(TABLE, &s[..1], &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("variable WZ08V1 has no value \"WZ08-Z\" (it has WZ08-B-05, WZ08-C)"),
        "{e}"
    );

    // An outage page with HTTP 200 on POST.
    fake.with(|f| f.html_outage = true);
    let e = source(&cfg).check(TABLE, None).await.unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("POST catalogue/cubes") && m.contains("HTML page (HTTP 200)"),
        "{m}"
    );
}

#[tokio::test]
async fn without_cubes_the_check_uses_modifieddata() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    fake.with(|f| f.cubes_empty = true);
    let cfg = config(&base, TOKEN, "2021=100");
    let src = source(&cfg);
    let Check::Changed { stamp } = src.check(TABLE, None).await.expect("check") else {
        panic!("changed");
    };
    assert_eq!(stamp, "modifieddata 2025-05-08 Mär 2025");
    assert_eq!(
        src.check(TABLE, Some(&stamp)).await.expect("check"),
        Check::Unchanged
    );
    let (_, form) = fake.with(|f| f.forms.last().cloned().expect("a request"));
    assert_eq!(form.get("selection").map(String::as_str), Some("42153"));
}

#[tokio::test]
async fn a_server_without_the_cube_catalogue_falls_back_to_modifieddata() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    fake.with(|f| f.cubes_missing = true);
    let cfg = config(&base, TOKEN, "2021=100");
    let src = source(&cfg);
    let Check::Changed { stamp } = src.check(TABLE, None).await.expect("check") else {
        panic!("changed");
    };
    assert_eq!(stamp, "modifieddata 2025-05-08 Mär 2025");
    assert_eq!(fake.count("catalogue/modifieddata"), 1);
}

#[tokio::test]
async fn at_most_two_requests_in_flight() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    // Long enough that the first two requests overlap even on a loaded machine.
    fake.with(|f| f.delay = Duration::from_millis(300));
    let cfg = config(&base, TOKEN, "2021=100");
    let src = source(&cfg);
    let s = series(&cfg);
    let cancel = CancellationToken::new();
    let (a, b, c, d) = tokio::join!(
        src.fetch(TABLE, &s, &cancel),
        src.fetch(TABLE, &s, &cancel),
        src.check(TABLE, None),
        src.check(TABLE, None)
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok() && d.is_ok());
    assert_eq!(fake.max_in_flight(), 2);
}

/// Through the whole pipeline: levels stored, y/y derived from them matches the y/y GENESIS
/// publishes (to one decimal), and a revised level revises its growth rate, which fires
/// `revision`; the first month of decline fires `sign_change`.
#[tokio::test]
async fn derived_growth_matches_the_published_one_and_follows_revisions() {
    let (fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = growth_config(dir.path(), &base);
    let store = statwatch::store::Store::open(dir.path()).expect("store");
    let src = source(&cfg);

    let report = poll(&cfg, &store, &src).await;
    assert!(report.alerts.is_empty(), "nothing fires on a baseline");
    assert_eq!(
        store
            .observations("de.industry.yoy#level")
            .expect("read")
            .len(),
        15
    );
    let derived = store.observations("de.industry.yoy").expect("read");
    assert_eq!(derived.len(), 3, "2025-01..03 have a year-ago level");
    the_derived_growth_matches_the_published(&store);

    // The next release revises Feb (93.6 -> 93.8) and Mar (95.1 -> 94.6), adds Apr at 91.8.
    fake.with(|f| {
        f.latest_update = "06.06.2025 08:00:11h".into();
        f.table = TableMode::Zip(release(&C_SA_2));
    });
    let report = poll(&cfg, &store, &src).await;
    let mut fired: Vec<(String, String, f64)> = report
        .alerts
        .iter()
        .map(|a| (a.rule.clone(), a.period_text(), a.value.unwrap()))
        .collect();
    fired.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    // Feb y/y: 93.6/95.3 -> -1.8 becomes 93.8/95.3 -> -1.6; Mar: 95.1/94.1 -> +1.1 becomes
    // 94.6/94.1 -> +0.5; Apr: 91.8/93.6 -> -1.9, after a positive March.
    assert_eq!(
        fired,
        vec![
            ("de-revised".to_string(), "2025-02".to_string(), -1.6),
            ("de-revised".to_string(), "2025-03".to_string(), 0.5),
            ("de-turn".to_string(), "2025-04".to_string(), -1.9),
        ]
    );
    let feb = store
        .observations("de.industry.yoy")
        .expect("read")
        .into_iter()
        .find(|o| o.period == Period::Month(2025, 2))
        .expect("feb");
    assert_eq!(feb.revisions.len(), 1);
    assert_eq!(feb.revisions[0].value, -1.8);
    the_derived_growth_matches_the_published(&store);
}

/// y/y derived from the levels, y/y as published, a revision rule and a sign change rule on
/// the derived one.
fn growth_config(dir: &Path, base: &str) -> statwatch::config::Config {
    ConfigText::new(dir)
        .source(genesis(base, "0 0 8 * * Mon-Fri", TOKEN, "").set("timezone", "Europe/Berlin"))
        .series(
            production_series("de.industry.yoy", "X13JDKSB")
                .unit("2021=100")
                .derive("yoy_pct"),
        )
        .series(production_series("de.industry.published", "X13JDKSB").unit("%"))
        .rules(
            "[[rules]]\nid = \"de-revised\"\nseries = \"de.industry.yoy\"\nkind = \"revision\"\n\
             min = 0.1\n\n[[rules]]\nid = \"de-turn\"\nseries = \"de.industry.yoy\"\n\
             kind = \"sign_change\"\n",
        )
        .parse()
}

/// One poll of the source, which must not fail.
async fn poll(
    cfg: &statwatch::config::Config,
    store: &statwatch::store::Store,
    src: &statwatch::sources::Source,
) -> statwatch::pipeline::PollReport {
    let report = statwatch::pipeline::poll_source(
        cfg,
        store,
        "destatis",
        src,
        false,
        &CancellationToken::new(),
    )
    .await
    .expect("poll");
    assert!(!report.failed(), "{:?}", report.tables);
    report
}

/// Every derived y/y is the published one, to one decimal.
fn the_derived_growth_matches_the_published(store: &statwatch::store::Store) {
    let published = store.observations("de.industry.published").expect("read");
    for d in &store.observations("de.industry.yoy").expect("read") {
        let p = published
            .iter()
            .find(|p| p.period == d.period)
            .expect("published y/y");
        assert!(
            (d.value - p.value).abs() < 0.051,
            "{}: derived {} vs published {}",
            d.period,
            d.value,
            p.value
        );
    }
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_never_followed_and_gets_no_credentials() {
    // Another loopback port is another origin; it would serve a (different) table.
    let (other, other_base) = start(TableMode::Zip(release(&C_SA_2))).await;
    let (_fake, base) = start(TableMode::Redirect(format!("{other_base}/data/tablefile"))).await;
    let cfg = config(&base, TOKEN, "2021=100");
    let e = source(&cfg)
        .fetch(TABLE, &series(&cfg), &CancellationToken::new())
        .await
        .expect_err("must fail");
    let m = e.to_string();
    let other_origin = other_base.trim_end_matches("/genesisWS/rest/2020");
    assert!(
        m.contains("data/tablefile") && m.contains("redirected to") && m.contains(other_origin),
        "{m}"
    );
    assert!(!m.contains(TOKEN), "{m}");
    let (seen, credentials) = other.with(|f| (f.counts.values().sum::<usize>(), f.saw_credentials));
    assert_eq!((seen, credentials), (0, 0), "the other origin was asked");
}

#[tokio::test]
async fn absurd_years_non_finite_values_and_missing_series_are_errors() {
    let header_only = production_csv(&C_SA).lines().next().unwrap().to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "year -999",
            production_csv(&C_SA).replace("JAHR;Jahr;2025;", "JAHR;Jahr;-999;"),
            "not a year: \"-999\"",
        ),
        (
            "year 0000",
            production_csv(&C_SA).replace("JAHR;Jahr;2025;", "JAHR;Jahr;0000;"),
            "year 0 is out of range",
        ),
        (
            "NaN",
            production_csv(&C_SA).replace(";95,1;2021=100;", ";NaN;2021=100;"),
            "not a finite number: \"NaN\"",
        ),
        (
            "inf",
            production_csv(&C_SA).replace(";95,1;2021=100;", ";-inf;2021=100;"),
            "not a finite number: \"-inf\"",
        ),
        (
            "no rows",
            format!("{header_only}\n"),
            "series de.industry.index: no rows for measure PRO101",
        ),
        (
            "no rows of a watched series",
            production_csv(&C_SA)
                .lines()
                .filter(|l| !l.contains("WZ08-C"))
                .collect::<Vec<_>>()
                .join("\n"),
            "series de.industry.index: no rows for measure PRO101",
        ),
    ];
    for (what, csv, want) in cases {
        let e = fetch_error(TableMode::Zip(zipped("x.csv", &csv))).await;
        assert!(e.to_string().contains(want), "{what}: {e}");
    }
}

/// `WZ08V1 = "*"`: one series per branch the table has, titled by the attribute label, each
/// picking exactly its own cells.
#[tokio::test]
async fn a_group_over_an_open_classification_expands_per_branch() {
    let (_fake, base) = start(TableMode::Zip(release(&C_SA))).await;
    let cfg = ConfigText::new(Path::new("/nonexistent/statwatch-test"))
        .source(genesis(&base, "0 */5 8-10 * * Mon-Fri", TOKEN, "").history_years(2))
        .series(
            common::Series::new("de.industry.{WZ08V1}.index", "destatis", TABLE, "PRO101")
                .dimension("WERT03", "X13JDKSB")
                .dimension("WZ08V1", "*")
                .title("Produktion: {WZ08V1.title}")
                .unit("2021=100"),
        )
        .rules("[[rules]]\nid = \"per-branch\"\nseries = \"de.industry.*.index\"\nkind = \"release\"\n")
        .without_log_receiver()
        .parse();
    let src = source(&cfg);
    let data = src
        .fetch(TABLE, &series(&cfg), &CancellationToken::new())
        .await
        .expect("fetch");
    let titles: Vec<(&str, &str)> = data
        .expanded
        .iter()
        .map(|s| (s.id.as_str(), s.title.as_str()))
        .collect();
    assert_eq!(
        titles,
        [
            ("de.industry.WZ08-B-05.index", "Produktion: Kohlenbergbau"),
            (
                "de.industry.WZ08-C.index",
                "Produktion: Verarbeitendes Gewerbe"
            ),
        ]
    );
    assert_eq!(
        data.series["de.industry.WZ08-C.index"].to_vec(),
        expected(&C_SA)
    );
    let coal = &data.series["de.industry.WZ08-B-05.index"].to_vec();
    assert_eq!(coal.len(), C_SA.len());
    assert!((coal[0].value - (C_SA[0] - 31.4)).abs() < 0.051);
    assert!(cfg.rules[0].applies_to("de.industry.WZ08-C.index"));
}
