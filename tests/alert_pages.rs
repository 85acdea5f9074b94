//! A delivery log longer than a page: `/alerts` shows one page of it with counts and working
//! newer/older links (plain HTTP), and `statwatch alerts --limit/--offset` shows the newest
//! entries, through the daemon and from the store, while the complete list stays complete;
//! a page reads only its own records (the log's index), and pruned entries leave it.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::daemon::*;
use common::*;
use statwatch::model::{Alert, AlertKind, Cause, DeliveryState, Period, Severity};
use statwatch::store::{LogOrder, PollWrite, Store};

/// 250 alerts a minute apart to `journal`: `a000` oldest; all delivered but the first ten,
/// which failed.
fn fill(state: &Path) {
    let store = Store::open(state).unwrap();
    // Recent: the daemon prunes entries settled more than `keep_days` ago.
    let start: DateTime<Utc> = Utc::now() - chrono::Duration::days(1);
    let alerts = (0..250)
        .map(|i| {
            let alert = Alert {
                id: format!("a{i:03}"),
                rule: "r".into(),
                kind: AlertKind::Release,
                severity: Severity::Info,
                series: "nl.industry.yoy".into(),
                title: "t".into(),
                source: "cbs".into(),
                table: "T".into(),
                unit: "%".into(),
                period: Some(Period::Month(2025, 3)),
                source_period: "2025MM03".into(),
                value: Some(1.0),
                previous: None,
                cause: Cause::NewPeriod,
                summary: format!("summary of a{i:03}"),
                details: Default::default(),
                detected_at: start + chrono::Duration::minutes(i),
            };
            (alert, vec!["journal".to_string()])
        })
        .collect();
    store
        .commit(&PollWrite {
            alerts,
            ..Default::default()
        })
        .unwrap();
    let settled: Vec<_> = store
        .pending()
        .unwrap()
        .into_iter()
        .map(|mut d| {
            d.attempts = 1;
            d.state = if d.alert_id.as_str() < "a010" {
                DeliveryState::Failed
            } else {
                DeliveryState::Delivered
            };
            d
        })
        .collect();
    store.update_deliveries(&settled).unwrap();
}

/// The link `rel` (`prev`: newer, `next`: older) of a page, if it has one.
fn link(page: &str, rel: &str) -> Option<String> {
    let at = page.find(&format!("rel=\"{rel}\" href=\""))?;
    let rest = &page[at + rel.len() + 13..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The summaries shown on a page, in order.
fn shown(page: &str) -> Vec<String> {
    page.match_indices("summary of a")
        .map(|(i, _)| page[i + 11..i + 15].to_string())
        .collect()
}

fn ids(out: &std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("a{i:03}")).collect()
}

#[test]
fn a_long_delivery_log_is_paged_on_the_web_and_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fill(&state);
    let cbs = FakeCbs::start();
    let port = free_port();
    let listen = format!("[web]\nlisten = \"127.0.0.1:{port}\"\n");
    let cfg = write_config(
        dir.path(),
        &daemon_config(&state, &cbs, "0 0 0 1 1 *", &listen),
    );
    let mut daemon = Daemon::spawn(&cfg, &[]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("the web listener", || !http_get_fails(&addr.to_string()));
    the_web_pages_through_the_log(addr);
    the_command_line_pages_through_the_daemon(&cfg);

    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
    // And from the store itself.
    assert_eq!(
        ids(&statwatch_blocking(
            &cfg,
            &["alerts", "--json", "--limit", "3"]
        )),
        names(247..250)
    );
    let failed = statwatch_blocking(&cfg, &["alerts", "--json", "--offset", "3"]);
    assert!(!failed.status.success(), "--offset without --limit");
    a_page_reads_its_own_records_and_pruning_empties_it(&state);
    assert!(ids(&statwatch_blocking(&cfg, &["alerts", "--json"])).is_empty());
}

/// /alerts: the newest hundred, the counts of the whole log, a link to the older entries
/// only; older and newer links walk the 250 and back.
fn the_web_pages_through_the_log(addr: SocketAddr) {
    // The newest hundred, the counts of the whole log, a link to the older entries only.
    let (code, first) = http_get(addr, "/alerts");
    assert_eq!(code, 200);
    let mut newest: Vec<String> = names(150..250);
    newest.reverse();
    assert_eq!(shown(&first), newest, "{first}");
    assert!(first.contains("250 entries"), "{first}");
    assert!(
        first.contains("240 delivered") && first.contains("10 failed"),
        "{first}"
    );
    assert_eq!(link(&first, "prev"), None);
    let older = link(&first, "next").expect("a link to the older entries");

    let (_, second) = http_get(addr, &older);
    let mut middle = names(50..150);
    middle.reverse();
    assert_eq!(shown(&second), middle);
    let (_, third) = http_get(addr, &link(&second, "next").unwrap());
    assert_eq!(shown(&third).len(), 50);
    assert_eq!(
        link(&third, "next"),
        None,
        "the oldest page has no older link"
    );
    // Back from the oldest page: the same middle page.
    let (_, back) = http_get(addr, &link(&third, "prev").unwrap());
    assert_eq!(shown(&back), middle);
    let (_, newer) = http_get(addr, &link(&back, "prev").unwrap());
    assert_eq!(shown(&newer), newest);
    assert_eq!(http_get(addr, "/alerts?before=zz").0, 400);
}

/// The command line through the daemon: the newest, oldest first; the page before them;
/// and the complete list, complete and in order.
fn the_command_line_pages_through_the_daemon(cfg: &Path) {
    assert_eq!(
        ids(&statwatch_blocking(
            cfg,
            &["alerts", "--json", "--limit", "5"]
        )),
        names(245..250)
    );
    let page = statwatch_blocking(cfg, &["alerts", "--json", "--limit", "5", "--offset", "5"]);
    assert_eq!(ids(&page), names(240..245));
    assert_eq!(
        ids(&statwatch_blocking(cfg, &["alerts", "--json"])),
        names(0..250)
    );
    let text = statwatch_blocking(cfg, &["alerts", "--limit", "2"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.starts_with("a248") && text.contains("summary of a249"),
        "{text}"
    );
}

/// A page reads its own records through the log's index, not the 250; pruned, the entries
/// leave the pages and the counts.
fn a_page_reads_its_own_records_and_pruning_empties_it(state: &Path) {
    let store = Store::open(state).unwrap();
    let page = store
        .delivery_log_page(LogOrder::NewestFirst, None, 10, false)
        .unwrap();
    assert_eq!((page.rows.len(), page.read), (10, 11));
    // Pruned, the entries leave the pages and the counts.
    assert_eq!(
        store
            .prune(0, Utc::now() + chrono::Duration::days(1))
            .unwrap(),
        250
    );
    let page = store
        .delivery_log_page(LogOrder::NewestFirst, None, 10, false)
        .unwrap();
    assert!(page.rows.is_empty() && !page.more);
    assert_eq!((page.counts.delivered, page.counts.failed), (0, 0));
}
