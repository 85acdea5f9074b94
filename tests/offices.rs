//! Finding what to watch, against the local CBS and GENESIS servers: `tables` (a
//! discontinued table hidden unless `--all`), `describe` whose printed entry passes `check`
//! and is stored by `poll`, and `check --online` naming what does not resolve with the
//! closest keys. Neither `describe` nor `check --online` may ask for data.

mod common;

use std::path::Path;

use common::destatis_server::{production_release, DestatisServer};
use common::*;

const MODIFIED: &str = "2025-04-10T06:30:00";

/// These tests' config: the fake CBS, the fake GENESIS if given, no series.
fn sources(state: &Path, cbs: &str, genesis: Option<&str>) -> String {
    let config = ConfigText::new(state)
        .timezone("Europe/Amsterdam")
        .source(cbs_source(cbs));
    match genesis {
        Some(base) => config.source(
            genesis_source(base)
                .set("timezone", "Europe/Berlin")
                .history_years(20),
        ),
        None => config,
    }
    .text()
}

/// Two branches with data, titled as CBS titles them.
fn branches() -> FakeTable {
    branches_table(
        &[
            ("307500", "C Industrie", 0.0),
            (
                "336500",
                "26-27 Elektrotechnische en elektrische industrie",
                1.0,
            ),
        ],
        &[],
        &yoy_vintage(0),
        MODIFIED,
    )
}

/// The `[[series]]` entry `describe` printed: from its header to the first blank line.
fn pasted_entry(out: &str) -> String {
    let start = out.find("[[series]]").expect("describe prints an entry");
    let rest = &out[start..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string() + "\n"
}

#[tokio::test]
async fn tables_hides_a_discontinued_table_unless_all() {
    let cbs = CbsServer::start().await;
    cbs.set_table(INDUSTRY, branches());
    cbs.set_title(INDUSTRY, "Industrie; productie en omzet, index 2021=100");
    let mut old = branches();
    old.output_status = "Gediscontinueerd".into();
    cbs.set_table("81810NED", old);
    cbs.set_title("81810NED", "Industrie; productie en omzet, index 2015=100");
    cbs.set_table(
        CONFIDENCE,
        confidence_table(&confidence_vintage(), MODIFIED),
    );
    cbs.set_title(
        CONFIDENCE,
        "Producentenvertrouwen; stemmingsindicator industrie",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sources(&dir.path().join("state"), &cbs.base_url(), None),
    );

    let o = statwatch(&config, &["tables", "INDUSTRIE", "productie"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("cbs\t85806NED\tIndustrie; productie en omzet, index 2021=100\tPermaand\t2020-2026\tmodified 2025-04-10T06:30:00"), "{out}");
    assert!(!out.contains("81810NED"), "{out}");
    assert!(!out.contains(CONFIDENCE), "{out}");
    assert!(out.contains("1 discontinued tables left out"), "{out}");
    // The catalogue was downloaded once, narrowly, and is now kept: no second request.
    let asked = cbs.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0]
            .contains("$select=Identifier,Title,ShortTitle,Frequency,Period,Modified,OutputStatus"),
        "{asked:?}"
    );
    cbs.clear_requests();

    let o = statwatch(
        &config,
        &["tables", "industrie", "productie", "--all", "--json"],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["81810NED", "85806NED"]);
    assert_eq!(found[0]["status"], "Gediscontinueerd");
    assert_eq!(found[1]["frequency"], "Permaand");
    let o = statwatch(&config, &["tables", "industrie", "--all"]).await;
    assert!(
        stdout(&o).contains("81810NED\t[DISCONTINUED] Industrie"),
        "{}",
        stdout(&o)
    );
    assert!(cbs.requests().is_empty(), "{:?}", cbs.requests());

    let o = statwatch(&config, &["tables", "vis"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no table matches \"vis\""),
        "{}",
        stderr(&o)
    );
    let o = statwatch(&config, &["tables"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = statwatch(&config, &["tables", "x", "--source", "nope"]).await;
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test]
async fn tables_asks_genesis_find_for_words_and_the_catalogue_for_a_code() {
    let cbs = CbsServer::start().await;
    let destatis = DestatisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = sources(
        &dir.path().join("state"),
        &cbs.base_url(),
        Some(&destatis.base_url),
    );
    let config = write_config(dir.path(), &text);

    let o = statwatch(
        &config,
        &["tables", "Produktionsindex", "--source", "destatis"],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("destatis\t42153-0001\tProduktionsindex für das Verarbeitende Gewerbe: Deutschland, Monate, Original- und bereinigte Daten, Wirtschaftszweige\t-\tJanuar 2015 bis März 2025\tmodified -"), "{out}");
    assert_eq!(destatis.count("find/find"), 1);

    let o = statwatch(
        &config,
        &["tables", "42153*", "--source", "destatis", "--json"],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 3);
    assert_eq!(found[1]["id"], "42153-0002");
    assert!(found[1]["modified"].is_null());
    assert_eq!(destatis.count("catalogue/tables"), 1);

    let o = statwatch(&config, &["tables", "zensus", "--source", "destatis"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[tokio::test]
async fn describe_cbs_prints_an_entry_that_checks_and_polls_without_data_requests() {
    let cbs = CbsServer::start().await;
    cbs.set_table(INDUSTRY, branches());
    cbs.set_title(INDUSTRY, "Industrie; productie en omzet, index 2021=100");
    let dir = tempfile::tempdir().unwrap();
    let base = sources(&dir.path().join("state"), &cbs.base_url(), None);
    let config = write_config(dir.path(), &base);

    let o = statwatch(&config, &["describe", "cbs", INDUSTRY]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "cbs 85806NED: Industrie; productie en omzet, index 2021=100",
        "status Regulier, frequency Permaand, period 2020-2026",
        "dimension BedrijfstakkenBranchesSBI2008",
        "  307500       C Industrie",
        "  336500       26-27 Elektrotechnische en elektrische industrie",
        "KalendergecorrigeerdeProductie_14",
        "# dimensions = { BedrijfstakkenBranchesSBI2008 = \"*\" }",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let entry = pasted_entry(&out);
    assert!(
        entry.contains("BedrijfstakkenBranchesSBI2008 = \"307500\""),
        "{entry}"
    );
    let o = statwatch(&config, &["describe", "nope", INDUSTRY]).await;
    assert_eq!(o.status.code(), Some(2), "an unknown source is bad usage");
    assert!(entry.contains("unit       = \"%\""), "{entry}");
    let o = statwatch(&config, &["describe", "cbs", INDUSTRY, "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dimensions"][0]["values"][0]["key"], "307500");
    assert_eq!(v["measures"][0]["unit"], "%");
    assert_eq!(
        v["series_toml"].as_str().map(pasted_entry),
        Some(entry.clone())
    );

    std::fs::write(&config, format!("{base}\n{entry}")).unwrap();
    let o = statwatch(&config, &["check", "--online"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("online     cbs 85806NED: 1 series resolve"),
        "{}",
        stdout(&o)
    );
    let asked = cbs.requests();
    assert!(
        !asked.iter().any(|r| r.contains("TypedDataSet")),
        "{asked:?}"
    );

    let o = statwatch(&config, &["poll"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let stored = series_json(&config, "cbs.85806ned.kalendergecorrigeerdeproductie_14").await;
    assert!(stored.to_string().contains("2025"), "{stored}");
}

#[tokio::test]
async fn describe_genesis_prints_an_entry_that_checks_and_polls_without_data_requests() {
    let cbs = CbsServer::start().await;
    let destatis = DestatisServer::start().await;
    destatis.publish("08.05.2025 08:00:12h", production_release("2025-05"));
    let dir = tempfile::tempdir().unwrap();
    let base = sources(
        &dir.path().join("state"),
        &cbs.base_url(),
        Some(&destatis.base_url),
    );
    let config = write_config(dir.path(), &base);

    let o = statwatch(&config, &["describe", "destatis", "42153-0001"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "destatis 42153-0001: Produktionsindex für das Verarbeitende Gewerbe",
        "period Januar 2015 - März 2025",
        "dimension WERT03 (Original- und bereinigte Daten), 3 keys:",
        "  X13JDKSB     X13 JDemetra+ kalender- und saisonbereinigt",
        "  PRO101",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains("JAHR") && !out.contains("MONAT"), "{out}");
    let entry = pasted_entry(&out);
    assert!(entry.contains("measure    = \"PRO101\""), "{entry}");
    assert!(
        entry.contains(
            "dimensions = { WERT03 = \"WERTORG\", DINSG = \"DG\", WZ08V1 = \"WZ08-29\" }"
        ),
        "{entry}"
    );

    std::fs::write(&config, format!("{base}\n{entry}")).unwrap();
    let o = statwatch(&config, &["check", "--online"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("online     destatis 42153-0001: 1 series resolve"),
        "{}",
        stdout(&o)
    );
    assert_eq!(destatis.count("data/tablefile"), 0);

    let o = statwatch(&config, &["poll", "--source", "destatis"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let stored = series_json(&config, "destatis.42153-0001.pro101").await;
    assert!(stored.to_string().contains("2025-03"), "{stored}");
}

#[tokio::test]
async fn check_online_names_what_does_not_resolve_with_the_closest_keys() {
    let cbs = CbsServer::start().await;
    cbs.set_table(INDUSTRY, branches());
    let mut old = branches();
    old.output_status = "Gediscontinueerd".into();
    cbs.set_table("81810NED", old);
    let dir = tempfile::tempdir().unwrap();
    let series = format!(
        r#"
[[series]]
id = "wrong.key"
source = "cbs"
table = "{INDUSTRY}"
measure = "{YOY}"
dimensions = {{ {BRANCH_DIM} = "307000" }}

[[series]]
id = "wrong.measure"
source = "cbs"
table = "{INDUSTRY}"
measure = "KalendergecorrigeerdeProductie_41"
dimensions = {{ {BRANCH_DIM} = "307500" }}

[[series]]
id = "branch.{{{BRANCH_DIM}}}"
source = "cbs"
table = "{INDUSTRY}"
measure = "{YOY}"
dimensions = {{ {BRANCH_DIM} = ["307500", "33650"] }}
title = "{{{BRANCH_DIM}.title}}"

[[series]]
id = "stopped"
source = "cbs"
table = "81810NED"
measure = "{YOY}"
dimensions = {{ {BRANCH_DIM} = "307500" }}
"#
    );
    let config = write_config(
        dir.path(),
        &(sources(&dir.path().join("state"), &cbs.base_url(), None) + &series),
    );
    let o = statwatch(&config, &["check"]).await;
    assert!(
        o.status.success(),
        "the offline check passes: {}",
        stderr(&o)
    );

    let o = statwatch(&config, &["check", "--online"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    for want in [
        "online     cbs 85806NED: series wrong.key: dimension BedrijfstakkenBranchesSBI2008 has no key \"307000\"; closest: 307500 (C Industrie), 336500 (26-27 Elektrotechnische en elektrische industrie)",
        "online     cbs 85806NED: series wrong.measure: no measure \"KalendergecorrigeerdeProductie_41\"; closest: KalendergecorrigeerdeProductie_14 (KalendergecorrigeerdeProductie_14)",
        "online     cbs 81810NED: 1 series on it; DISCONTINUED: this table gets no new data",
        "online     cbs 85806NED: series branch.{BedrijfstakkenBranchesSBI2008}: dimension BedrijfstakkenBranchesSBI2008 has no key \"33650\"; closest: 336500 (26-27 Elektrotechnische en elektrische industrie), 307500 (C Industrie)",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let asked = cbs.requests();
    assert!(
        !asked.iter().any(|r| r.contains("TypedDataSet")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn check_online_names_a_source_that_cannot_be_reached() {
    let cbs = CbsServer::start().await;
    cbs.set_table(INDUSTRY, branches());
    // Port 1 (tcpmux): nothing listens there, and no test server is ever given it (a port
    // bound and let go could be handed to a parallel test's server).
    let dead = "127.0.0.1:1";
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[sources.gone]\nkind = \"cbs\"\nbase_url = \"http://{dead}\"\n\
         schedule = \"0 */5 6-9 * * Mon-Fri\"\ntimeout_secs = 1\n\n\
         [[series]]\nid = \"ok\"\nsource = \"cbs\"\ntable = \"{INDUSTRY}\"\nmeasure = \"{YOY}\"\n\
         dimensions = {{ {BRANCH_DIM} = \"307500\" }}\n\n\
         [[series]]\nid = \"far\"\nsource = \"gone\"\ntable = \"{INDUSTRY}\"\nmeasure = \"{YOY}\"\n\
         dimensions = {{ {BRANCH_DIM} = \"307500\" }}\n",
        sources(&dir.path().join("state"), &cbs.base_url(), None)
    );
    let config = write_config(dir.path(), &text);
    let o = statwatch(&config, &["check", "--online"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("online     cbs 85806NED: 1 series resolve"),
        "{out}"
    );
    assert!(
        out.contains("online     source gone cannot be reached"),
        "{out}"
    );
}
