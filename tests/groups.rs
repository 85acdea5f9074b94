//! Series groups and the one-request change check, end to end: the real binary against the
//! fake CBS server. One `[[series]]` entry over every branch becomes a series per branch; a
//! branch that appears later starts as a baseline; a rule glob over the group fires per
//! branch; an unchanged poll of a hundred tables costs one catalogue request or two.

mod common;

use common::*;

const C: (&str, &str, f64) = ("307500", "C Industrie", 0.0);
const MACHINES: (&str, &str, f64) = ("336500", "28 Machine-industrie", 2.0);
const REPAIR: (&str, &str, f64) = ("344400", "33 Reparatie en installatie van machines", -1.0);

fn group_config(base_url: &str, state: &std::path::Path) -> String {
    ConfigText::new(state)
        .source(cbs_source(base_url))
        .series(
            Series::new(
                &format!("nl.industry.branch.{{{BRANCH_DIM}}}.yoy"),
                "cbs",
                INDUSTRY,
                YOY,
            )
            .dimension(BRANCH_DIM, "*")
            .title(&format!(
                "Industrial production NL, y/y %: {{{BRANCH_DIM}.title}}"
            ))
            .unit("%"),
        )
        .rules(
            "[[rules]]\nid = \"branch-release\"\nseries = \"nl.industry.branch.*.yoy\"\n\
             kind = \"release\"\n",
        )
        .text()
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_expands_per_branch_and_a_new_branch_starts_as_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let v0 = yoy_vintage(0);
    // 300002 is an aggregate with no rows for this measure: no series.
    server.set_table(
        INDUSTRY,
        branches_table(&[C, MACHINES], &["300002"], &v0, "2025-04-10T06:30:00"),
    );
    let config = write_config(
        dir.path(),
        &group_config(&server.base_url(), &dir.path().join("s")),
    );
    let o = statwatch(&config, &["check"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    the_baseline_makes_a_series_per_branch(&config).await;
    the_first_sync_is_one_log_entry_for_the_group(&dir.path().join("s"), v0.len());
    let one = series_json(&config, "nl.industry.branch.336500.yoy").await;
    let feb = one["observations"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (feb["period"].as_str(), feb["value"].as_f64()),
        (Some("2025-02"), Some(3.0))
    );

    // The next release adds March and a branch never seen before.
    let v1 = with(&v0, &[("2025MM03", 1.3)]);
    server.set_table(
        INDUSTRY,
        branches_table(
            &[C, MACHINES, REPAIR],
            &["300002"],
            &v1,
            "2025-05-12T06:30:00",
        ),
    );
    march_fires_per_branch_and_the_new_branch_is_a_baseline(&config, v1.len()).await;

    // A branch that leaves the table keeps its data and is reported.
    server.set_table(
        INDUSTRY,
        branches_table(&[C, REPAIR], &[], &v1, "2025-06-10T06:30:00"),
    );
    a_branch_that_leaves_keeps_its_data(&config, v1.len()).await;
}

/// A baseline fires nothing and makes a series per branch with rows (300002 has none).
async fn the_baseline_makes_a_series_per_branch(config: &std::path::Path) {
    let o = statwatch(config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        !stdout(&o).contains("alert"),
        "a baseline fires nothing: {}",
        stdout(&o)
    );
    let o = statwatch(config, &["series", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        ids(&list),
        [
            "nl.industry.branch.307500.yoy",
            "nl.industry.branch.336500.yoy"
        ]
    );
}

/// The group's first sync is one log entry for the group, not one per series.
fn the_first_sync_is_one_log_entry_for_the_group(state: &std::path::Path, periods: usize) {
    let store = statwatch::store::Store::open(state).unwrap();
    let log = store.releases().unwrap();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert!(
        log[0].series.contains('{'),
        "the group's id template: {log:#?}"
    );
    assert_eq!(log[0].group_series, Some(2));
    assert_eq!(log[0].baseline.as_ref().map(|b| b.count), Some(2 * periods));
}

/// The release rule fires for each branch seen before; the new branch is stored whole as a
/// baseline and fires nothing.
async fn march_fires_per_branch_and_the_new_branch_is_a_baseline(
    config: &std::path::Path,
    periods: usize,
) {
    let o = statwatch(config, &["poll"]).await;
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    for branch in ["307500", "336500"] {
        let line =
            format!("fired alert [info] branch-release nl.industry.branch.{branch}.yoy 2025-03");
        assert!(out.contains(&line), "{line}\n{out}");
    }
    assert!(
        !out.contains("branch.344400.yoy 2025"),
        "a new branch is a baseline: {out}"
    );
    assert!(
        err.contains("baseline stored") && err.contains("nl.industry.branch.344400.yoy"),
        "{err}"
    );
    let repair = series_json(config, "nl.industry.branch.344400.yoy").await;
    assert_eq!(repair["observations"].as_array().unwrap().len(), periods);
}

/// It is reported, its data stays, and any key of the group names a configured series.
async fn a_branch_that_leaves_keeps_its_data(config: &std::path::Path, periods: usize) {
    let o = statwatch(config, &["poll"]).await;
    assert!(
        stdout(&o)
            .contains("series nl.industry.branch.336500.yoy: its key is no longer in the table"),
        "{}",
        stdout(&o)
    );
    let machines = series_json(config, "nl.industry.branch.336500.yoy").await;
    assert_eq!(machines["observations"].as_array().unwrap().len(), periods);
    let o = statwatch(config, &["series", "nl.industry.branch.999999.yoy"]).await;
    assert!(
        o.status.success(),
        "a key of the group is a configured series: {}",
        stderr(&o)
    );
    let o = statwatch(config, &["series", "nl.other"]).await;
    assert_eq!(o.status.code(), Some(2));
}

/// `overdue` addresses a group's series by glob like any rule: each stored series of the
/// group that gets no new period in time fires once, titled from the group's template.
#[tokio::test(flavor = "multi_thread")]
async fn an_overdue_rule_watches_every_series_of_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    server.set_table(
        INDUSTRY,
        branches_table(&[C, MACHINES], &[], &yoy_vintage(0), "2025-04-10T06:30:00"),
    );
    // Two seconds without a new period is late.
    let rule = "[[rules]]\nid = \"branch-overdue\"\nseries = \"nl.industry.branch.*.yoy\"\n\
                kind = \"overdue\"\nafter_days = 0.0000232\nseverity = \"warning\"\n";
    let config = write_config(
        dir.path(),
        &format!(
            "{}{rule}",
            group_config(&server.base_url(), &dir.path().join("s"))
        ),
    );
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("branch-overdue"), "{}", stdout(&o));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let o = statwatch(&config, &["poll"]).await;
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    for branch in ["307500", "336500"] {
        let line = format!("fired alert [warning] branch-overdue nl.industry.branch.{branch}.yoy");
        assert!(out.contains(&line), "{line}\n{out}");
    }
    // Titled from the group's template, each key standing for its title.
    assert!(
        out.contains("Industrial production NL, y/y %: 336500: no new period for"),
        "{out}"
    );
    let o = statwatch(&config, &["alerts", "--json"]).await;
    let alerts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let overdue = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "overdue")
        .count();
    assert_eq!(overdue, 2, "one per series (one receiver): {alerts:#}");
    // Once per gap: the next poll fires nothing new.
    let o = statwatch(&config, &["poll"]).await;
    assert!(
        !stdout(&o).contains("fired alert [warning] branch-overdue"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_refuses_a_group_without_its_key_in_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let text = group_config("http://127.0.0.1:9", &dir.path().join("s"))
        .replace(&format!(".{{{BRANCH_DIM}}}.yoy\""), ".yoy\"");
    let config = write_config(dir.path(), &text);
    let o = statwatch(&config, &["check"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("must contain {{{BRANCH_DIM}}}")),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_poll_of_a_hundred_tables_is_one_catalogue_request_or_two() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let values = until(&yoy_vintage(0), "2022MM03");
    let mut text = format!(
        "state_dir = \"{}\"\n[sources.cbs]\nkind = \"cbs\"\nbase_url = \"{}\"\n\
         schedule = \"0 30 6 * * *\"\nhistory_years = 20\n",
        dir.path().join("state").display(),
        server.base_url()
    );
    for i in 0..100 {
        let table = format!("8{i:04}NED");
        server.set_table(
            &table,
            branches_table(&[C], &[], &values, "2025-04-10T06:30:00"),
        );
        text.push_str(&format!(
            "[[series]]\nid = \"t{i}\"\nsource = \"cbs\"\ntable = \"{table}\"\nmeasure = \"{YOY}\"\n\
             dimensions = {{ {BRANCH_DIM} = \"307500\" }}\n"
        ));
    }
    let config = write_config(dir.path(), &text);
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    server.clear_requests();
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(
        stdout(&o).matches(": unchanged").count(),
        100,
        "{}",
        stdout(&o)
    );
    let reqs = server.requests();
    let lengths = server.query_lengths();
    let bytes = server.bytes_sent();
    eprintln!(
        "unchanged poll of 100 tables: {} requests, query strings {lengths:?} bytes, {bytes} bytes received",
        reqs.len()
    );
    assert!(reqs.len() <= 2, "{reqs:#?}");
    assert!(
        reqs.iter().all(|r| r.starts_with("ODataCatalog/Tables?")),
        "{reqs:#?}"
    );
    assert!(lengths.iter().all(|&n| n < 2048), "{lengths:?}");
    assert!(bytes < 20_000, "{bytes} bytes");
}

/// The series ids `export` writes rows for.
async fn exported_ids(config: &std::path::Path) -> std::collections::BTreeSet<String> {
    let o = statwatch(config, &["export"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

/// A series' identity is its source, table, measure and keys; its id is a name. Renaming a
/// group's id template between two releases keeps every series' history under its new id,
/// and the release that comes with the rename alerts as usual.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_renamed_in_the_config_keeps_its_history_and_alerts_on_the_next_release() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let v0 = yoy_vintage(0);
    server.set_table(
        INDUSTRY,
        branches_table(&[C, MACHINES], &[], &v0, "2025-04-10T06:30:00"),
    );
    let old = group_config(&server.base_url(), &dir.path().join("s"));
    let config = write_config(dir.path(), &old);
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));

    // The id template and the rule's glob renamed; March arrives with the rename.
    let renamed = old
        .replace("nl.industry.branch.{", "nl.manufacturing.{")
        .replace("nl.industry.branch.*.yoy", "nl.manufacturing.*.yoy");
    assert_ne!(renamed, old);
    std::fs::write(&config, renamed).unwrap();
    let v1 = with(&v0, &[("2025MM03", 1.3)]);
    server.set_table(
        INDUSTRY,
        branches_table(&[C, MACHINES], &[], &v1, "2025-05-12T06:30:00"),
    );
    let o = statwatch(&config, &["poll"]).await;
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    for branch in ["307500", "336500"] {
        let line =
            format!("fired alert [info] branch-release nl.manufacturing.{branch}.yoy 2025-03");
        assert!(out.contains(&line), "{line}\n{out}\n{err}");
        let log = format!(
            "series renamed from nl.industry.branch.{branch}.yoy to nl.manufacturing.{branch}.yoy"
        );
        assert!(err.contains(&log), "{log}\n{err}");
    }
    assert!(!err.contains("baseline stored"), "no new baseline: {err}");
    assert!(!out.contains("no longer in the table"), "{out}");

    let o = statwatch(&config, &["series", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        ids(&list),
        ["nl.manufacturing.307500.yoy", "nl.manufacturing.336500.yoy"]
    );
    let one = series_json(&config, "nl.manufacturing.336500.yoy").await;
    assert_eq!(one["observations"].as_array().unwrap().len(), v1.len());
    assert_eq!(
        exported_ids(&config).await,
        ["nl.manufacturing.307500.yoy", "nl.manufacturing.336500.yoy"]
            .map(String::from)
            .into()
    );
    // Once moved, the next poll is an ordinary one: nothing moves or alerts again.
    let o = statwatch(&config, &["poll"]).await;
    assert!(!stderr(&o).contains("renamed"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("fired alert"), "{}", stdout(&o));
}

fn plain_config(base_url: &str, state: &std::path::Path, ids: &[&str]) -> String {
    ids.iter()
        .fold(ConfigText::new(state), |config, id| {
            config.series(
                Series::new(id, "cbs", INDUSTRY, YOY)
                    .dimension(BRANCH_DIM, " 307500 ")
                    .title("Industrial production NL, y/y %")
                    .unit("%"),
            )
        })
        .source(cbs_source(base_url))
        .rules("[[rules]]\nid = \"release\"\nseries = \"nl.*\"\nkind = \"release\"\n")
        .text()
}

/// A plain series renamed keeps its history likewise. Two entries that select the same data
/// cannot both take it: the first in the config does, the other starts its own history.
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_series_renamed_keeps_its_history_and_only_one_entry_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let v0 = yoy_vintage(0);
    server.set_table(
        INDUSTRY,
        branches_table(&[C], &[], &v0, "2025-04-10T06:30:00"),
    );
    let state = dir.path().join("s");
    let config = write_config(
        dir.path(),
        &plain_config(&server.base_url(), &state, &["nl.industry.yoy"]),
    );
    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));

    let renamed = ["nl.manufacturing.yoy", "nl.manufacturing.copy"];
    std::fs::write(&config, plain_config(&server.base_url(), &state, &renamed)).unwrap();
    let v1 = with(&v0, &[("2025MM03", 1.3)]);
    server.set_table(
        INDUSTRY,
        branches_table(&[C], &[], &v1, "2025-05-12T06:30:00"),
    );
    let o = statwatch(&config, &["poll"]).await;
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    let line = "fired alert [info] release nl.manufacturing.yoy 2025-03";
    assert!(out.contains(line), "{line}\n{out}\n{err}");
    assert!(
        err.contains("series renamed from nl.industry.yoy to nl.manufacturing.yoy"),
        "{err}"
    );
    // The second entry of the same data: its own first sync, told why.
    assert!(!out.contains("nl.manufacturing.copy 2025"), "{out}");
    assert!(err.contains("another configured series took over"), "{err}");
    let o = statwatch(&config, &["series", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ids(&list), renamed);
    for id in renamed {
        let s = series_json(&config, id).await;
        assert_eq!(
            s["observations"].as_array().unwrap().len(),
            v1.len(),
            "{id}"
        );
    }
    let baselines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("baseline stored"))
        .collect();
    assert!(
        baselines.len() == 1 && baselines[0].contains("nl.manufacturing.copy"),
        "only the copy is a first sync: {baselines:#?}"
    );
    assert_eq!(
        exported_ids(&config).await,
        renamed.map(String::from).into()
    );
}

/// A hostile table: one key names another series' record (`#`), one carries a forged log
/// line, two are the same once trimmed. Each costs its own series, named in a warning; the
/// other series of the table are stored, and the log gets no line from the source.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_key_costs_its_own_series_not_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let server = CbsServer::start().await;
    let v0 = yoy_vintage(0);
    let hash = ("344400#level", "Reparatie", 1.0);
    let forged = ("300000\nERROR statwatch: forged", "Forged", 3.0);
    // "307500 " is C's key once trimmed (the table pads both).
    server.set_table(
        INDUSTRY,
        branches_table(
            &[C, MACHINES, hash, forged],
            &["307500 "],
            &v0,
            "2025-04-10T06:30:00",
        ),
    );
    let config = write_config(
        dir.path(),
        &group_config(&server.base_url(), &dir.path().join("s")),
    );
    let o = statwatch(&config, &["poll"]).await;
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains("a key of the table is skipped") && err.contains(r#"key="344400#level""#),
        "{err}"
    );
    assert!(
        err.contains(r#"key="300000\nERROR statwatch: forged""#),
        "the key is named, escaped: {err}"
    );
    assert!(
        !err.contains("\nERROR statwatch: forged"),
        "a source forged a log line: {err}"
    );
    assert!(
        err.contains("two keys of the table are the same once trimmed")
            && err.contains(r#""307500  ""#)
            && err.contains(r#""307500   ""#),
        "{err}"
    );
    let o = statwatch(&config, &["series", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        ids(&list),
        ["nl.industry.branch.336500.yoy"],
        "{}",
        stderr(&o)
    );
    let machines = series_json(&config, "nl.industry.branch.336500.yoy").await;
    assert_eq!(machines["observations"].as_array().unwrap().len(), v0.len());
}
