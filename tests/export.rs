//! `statwatch export`: the store as CSV, and with `--vintages` every first print and every
//! revision, after a replay of the real 2025 releases (the ALFRED view).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn export_vintages_shows_the_february_first_print_and_its_revision() {
    let dir = tempfile::tempdir().unwrap();
    let cbs = CbsServer::start().await;
    let config = write_config(
        dir.path(),
        &cbs_config(&cbs.base_url(), &dir.path().join("state"), ""),
    );
    let conf = confidence_table(
        &until(&confidence_vintage(), "2025MM03"),
        "2025-03-28T06:30:00",
    );
    cbs.set_table(CONFIDENCE, conf);
    // The April 2025 release (February first printed at +1.0), then September's (-0.3).
    for (column, modified) in [(0, "2025-04-10T06:30:00"), (1, "2025-09-08T06:30:00")] {
        cbs.set_table(INDUSTRY, industry_table(&yoy_vintage(column), modified));
        let o = statwatch(&config, &["poll"]).await;
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }

    let o = statwatch(&config, &["export", "nl.industry.*", "--vintages"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "series",
            "period",
            "value",
            "status",
            "first_seen",
            "vintage"
        ]
    );
    let feb: Vec<csv::StringRecord> = rows
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[0] == "nl.industry.yoy" && &r[1] == "2025-02")
        .collect();
    assert_eq!(feb.len(), 2, "{text}");
    let value = |r: &csv::StringRecord| r[2].parse::<f64>().unwrap();
    assert_eq!(value(&feb[0]), 1.0, "the first print");
    assert_eq!(value(&feb[1]), -0.3, "the revision");
    assert_eq!(&feb[1][5], "latest");
    // The first print stood until the revision was first seen.
    assert_eq!(&feb[0][5], &feb[1][4]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&feb[0][5]).is_ok(),
        "{text}"
    );
    assert!(!text.contains("nl.confidence"), "the glob selects: {text}");

    // Without --vintages: one row per observation, its latest value.
    let o = statwatch(&config, &["export"]).await;
    let text = stdout(&o);
    assert!(
        text.starts_with("series,period,value,status,first_seen\n"),
        "{text}"
    );
    let feb: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("nl.industry.yoy,2025-02,"))
        .collect();
    assert_eq!(feb.len(), 1, "{text}");
    assert!(
        feb[0].starts_with("nl.industry.yoy,2025-02,-0.3,"),
        "{text}"
    );
    assert!(text.contains("nl.confidence,2025-03,"), "{text}");
    let o = statwatch(&config, &["export", "nl.[x"]).await;
    assert_eq!(o.status.code(), Some(2), "a bad glob is a usage error");
}
