//! Readers never see records of an unfinished commit (docs/store.md, "Commits and what
//! readers see"): a daemon's poll that writes a release ahead, is held there (the binary's
//! `STATWATCH_FAULT` holding point) while the test reads through the control socket (the
//! CLI's `series` and `alerts`) and the pages (`/api/series/ID`, `/series/ID`, `/alerts`, `/`),
//! then fails its transaction (the failing point) and is undone. During and after, every
//! read is the store as the last finished commit left it; the same release committed later
//! shows in all of them.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::daemon::*;
use common::*;
use serde_json::Value;

const SERIES: &str = "nl.industry.yoy";

/// What a reader sees: the CLI's answers (through the daemon's control socket while it
/// runs) and the pages.
#[derive(Debug)]
struct Seen {
    series: String,
    series_list: String,
    alerts: String,
    api: String,
    page: String,
    alerts_page: String,
    overview: String,
}

fn cli(config: &Path, args: &[&str]) -> String {
    let o = statwatch_blocking(config, args);
    assert!(
        o.status.success(),
        "statwatch {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn page(addr: SocketAddr, path: &str) -> String {
    let (code, body) = http_get(addr, path);
    assert_eq!(code, 200, "{path}: {body}");
    body
}

fn seen(config: &Path, addr: SocketAddr) -> Seen {
    Seen {
        series: cli(config, &["series", SERIES, "--json"]),
        series_list: cli(config, &["series", "--json"]),
        alerts: cli(config, &["alerts", "--json"]),
        api: page(addr, &format!("/api/series/{SERIES}")),
        page: page(addr, &format!("/series/{SERIES}")),
        alerts_page: page(addr, "/alerts"),
        overview: page(addr, "/"),
    }
}

fn periods(series_json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(series_json).unwrap();
    v["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["period"].as_str().unwrap().to_string())
        .collect()
}

/// The ids of the alerts `alerts --json` lists.
fn alert_ids(alerts_json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(alerts_json).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// What no reader may see of the held commit: March's id (in the JSON) and period (on the
/// pages), and its alert's id (the `/alerts` page shows the first 12 characters).
fn shows_march(s: &Seen, march_alert: &str) -> Vec<&'static str> {
    let mut shown = Vec::new();
    let short = &march_alert[..12];
    let checks = [
        ("series", s.series.contains("2025-03")),
        ("series list", s.series_list.contains("2025-03")),
        ("alerts", s.alerts.contains(march_alert)),
        ("/api/series", s.api.contains("2025-03")),
        ("/series page", s.page.contains("2025-03")),
        ("/alerts page", s.alerts_page.contains(short)),
        ("/ page", s.overview.contains("2025-03")),
    ];
    for (what, shows) in checks {
        if shows {
            shown.push(what);
        }
    }
    shown
}

#[test]
fn readers_see_nothing_of_a_poll_whose_transaction_fails_and_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let cbs = FakeCbs::start();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let extra = format!("{RELEASE_RULE}\n[web]\nlisten = \"127.0.0.1:{port}\"\n");
    let text = daemon_config(&dir.path().join("state"), &cbs, EVERY_2S, &extra);
    let config = write_config(dir.path(), &text);

    // Committed before: January (the baseline), then February with its alert.
    cli(&config, &["poll"]);
    cbs.publish("2025MM02", 1.0, "2025-04-10T06:30:00");
    cli(&config, &["poll"]);
    let before = (
        cli(&config, &["series", SERIES, "--json"]),
        cli(&config, &["series", "--json"]),
        cli(&config, &["alerts", "--json"]),
    );
    assert_eq!(periods(&before.0), ["2025-01", "2025-02"]);
    assert_eq!(alert_ids(&before.2).len(), 1, "{}", before.2);

    // March: the daemon's poll writes it ahead, holds, then its transaction fails.
    cbs.publish("2025MM03", 1.3, "2025-05-12T06:30:00");
    let (during, after) = seen_while_held_and_after_the_undo(&config, addr, dir.path());

    // The same release committed: every reader shows it, so the reads above could have.
    let committed = seen_once_committed(&config, addr);
    let ids = alert_ids(&committed.alerts);
    assert_eq!(ids.len(), 2, "{}", committed.alerts);
    let march = ids
        .iter()
        .find(|id| !before.2.contains(id.as_str()))
        .unwrap();
    assert_eq!(
        shows_march(&committed, march).len(),
        7,
        "committed: {committed:#?}"
    );

    for (when, s) in [("while held", &during), ("after the undo", &after)] {
        assert_eq!(shows_march(s, march), Vec::<&str>::new(), "{when}: {s:#?}");
        assert_eq!(
            (&s.series, &s.series_list, &s.alerts),
            (&before.0, &before.1, &before.2),
            "{when}: the CLI's answers through the control socket"
        );
        assert_eq!(s.api, before.0, "{when}: /api/series is `series --json`");
    }
}

/// What the readers show while the poll's commit holds after its writes ahead, and after
/// its transaction failed and was undone.
fn seen_while_held_and_after_the_undo(config: &Path, addr: SocketAddr, dir: &Path) -> (Seen, Seen) {
    let fault = dir.join("fault");
    std::fs::create_dir(&fault).unwrap();
    let points = "hold-after-write-ahead,fail-poll-transaction";
    let fault_dir = fault.display().to_string();
    let daemon = Daemon::spawn(
        config,
        &[
            ("STATWATCH_FAULT", points),
            ("STATWATCH_FAULT_DIR", &fault_dir),
        ],
    );
    wait_for("the poll's commit to hold after its writes ahead", || {
        fault.join("held").exists()
    });
    wait_for("the pages", || !http_get_fails(&addr.to_string()));
    let during = seen(config, addr);
    std::fs::write(fault.join("release"), "").unwrap();
    daemon.wait_line("poll could not be stored", 0);
    assert!(daemon.count("STATWATCH_FAULT: failing here") > 0);
    let after = seen(config, addr);
    assert_eq!(daemon.count("could not undo"), 0);
    drop(daemon);
    (during, after)
}

/// What the readers show once a daemon without faults committed the release.
fn seen_once_committed(config: &Path, addr: SocketAddr) -> Seen {
    let mut daemon = Daemon::spawn(config, &[]);
    wait_for("March committed", || {
        let (code, body) = if http_get_fails(&addr.to_string()) {
            (0, String::new())
        } else {
            http_get(addr, &format!("/api/series/{SERIES}"))
        };
        code == 200 && periods(&body).len() == 3
    });
    let committed = seen(config, addr);
    daemon.signal("-TERM");
    daemon.wait_exit(Duration::from_secs(20));
    committed
}
