//! Silence made visible, through the real binary against the local fake CBS: a series that
//! stops getting new periods fires `overdue` once per gap; a source that keeps failing fires
//! `source_failing` once per outage and one recovery; the heartbeat pings a dead-man service
//! at its interval and stops when the store cannot be written. The clock is made short by
//! the config (fractional `after_days`, `after_hours`, `interval_secs`), never by sleeps of
//! days.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::*;
use common::hook::{Hook, Recorded};
use common::*;
use serde_json::Value;

const NEVER: &str = "0 0 0 1 1 *";

fn alerts_of_kind(cfg: &Path, kind: &str) -> Vec<Value> {
    let out = statwatch_blocking(cfg, &["alerts", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    all.into_iter().filter(|a| a["kind"] == kind).collect()
}

fn poll(cfg: &Path) -> (bool, String) {
    let out = statwatch_blocking(cfg, &["poll"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_series_that_stops_getting_new_periods_fires_overdue_once_per_gap() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let rule = "[[rules]]\nid = \"nl-overdue\"\nseries = \"nl.*\"\nkind = \"overdue\"\nafter_days = 0.0000232\nseverity = \"warning\"\n";
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, NEVER, rule),
    );
    let (ok, text) = poll(&cfg);
    assert!(ok, "{text}");
    assert!(
        alerts_of_kind(&cfg, "overdue").is_empty(),
        "a fresh baseline is not late"
    );

    // after_days 0.0000232 is two seconds.
    std::thread::sleep(Duration::from_millis(2500));
    let (ok, text) = poll(&cfg);
    assert!(ok, "{text}");
    assert!(text.contains("no new period for"), "{text}");
    let late = alerts_of_kind(&cfg, "overdue");
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["period"], "2025-01");
    assert_eq!(late[0]["rule"], "nl-overdue");

    // Checked again: the same gap does not fire twice.
    poll(&cfg);
    assert_eq!(alerts_of_kind(&cfg, "overdue").len(), 1);

    // A new period closes the gap; the next gap fires anew.
    cbs.publish("2025MM02", 0.8, "2025-04-10T06:30:00");
    poll(&cfg);
    assert_eq!(alerts_of_kind(&cfg, "overdue").len(), 1);
    std::thread::sleep(Duration::from_millis(2500));
    poll(&cfg);
    let late = alerts_of_kind(&cfg, "overdue");
    assert_eq!(late.len(), 2, "{late:?}");
    assert!(late.iter().any(|a| a["period"] == "2025-02"), "{late:?}");
}

#[test]
fn a_failing_source_fires_once_per_outage_then_recovers_once() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let rule = "[[rules]]\nid = \"sources-failing\"\nkind = \"source_failing\"\nsource = \"*\"\nafter_hours = 0.0002\nseverity = \"critical\"\n";
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, NEVER, rule),
    );
    assert!(poll(&cfg).0, "a first good poll");
    cbs.break_checks();
    // The first failure starts the outage; after_hours 0.0002 is 0.72 s, and one failing poll
    // (three tries with backoff) takes longer than that.
    let (ok, text) = poll(&cfg);
    assert!(!ok, "{text}");
    assert!(alerts_of_kind(&cfg, "source_failing").is_empty(), "{text}");
    let (ok, text) = poll(&cfg);
    assert!(!ok);
    let failing = alerts_of_kind(&cfg, "source_failing");
    assert_eq!(failing.len(), 1, "{text}\n{failing:?}");
    assert_eq!(failing[0]["period"], "");
    assert!(text.contains("every poll failed for"), "{text}");
    assert!(
        text.contains("HTTP 500"),
        "the last error is in the summary: {text}"
    );

    // The same outage goes on: nothing new.
    poll(&cfg);
    assert_eq!(alerts_of_kind(&cfg, "source_failing").len(), 1);

    // The source answers again: one recovery, once.
    cbs.heal();
    let (ok, text) = poll(&cfg);
    assert!(ok, "{text}");
    assert!(text.contains("polls again after failing"), "{text}");
    assert_eq!(alerts_of_kind(&cfg, "source_failing").len(), 2);
    poll(&cfg);
    assert_eq!(alerts_of_kind(&cfg, "source_failing").len(), 2);
}

/// The heartbeat's pings the hook got (`GET /ping/...`).
fn heartbeats(hook: &Hook) -> Vec<Recorded> {
    hook.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/ping/"))
        .collect()
}

#[test]
fn the_heartbeat_pings_at_its_interval_and_stops_when_the_store_cannot_be_written() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A tmpfs to fill, where the test may mount one (root); else only the pinging part.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg({
            std::fs::create_dir_all(&state).unwrap();
            &state
        })
        .status()
        .is_ok_and(|s| s.success());
    let deadman = runtime().block_on(Hook::start());
    let url = deadman.url_of("/ping/5ecret-check-uuid");
    let extra = format!("[heartbeat]\nurl = \"{url}\"\ninterval_secs = 0.3\n");
    let cfg = write_config(dir.path(), &daemon_config(&state, &cbs, NEVER, &extra));
    let mut daemon = Daemon::spawn(&cfg, &[]);
    wait_for("five pings", || heartbeats(&deadman).len() >= 5);
    let times = heartbeats(&deadman);
    for pair in times.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= chrono::Duration::milliseconds(250),
            "pings in a burst: {gap:?}"
        );
    }
    assert!(
        daemon.lines().iter().all(|l| !l.contains("5ecret")),
        "the heartbeat URL reached the log"
    );
    if !mounted {
        eprintln!("SKIPPED the full-disk half: cannot mount a tmpfs (needs root)");
        return;
    }
    // Fill the disk: the next ping's write probe fails, the daemon stops and says so.
    let ballast = state.join("ballast");
    {
        let mut f = std::fs::File::create(&ballast).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
    }
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(!status.success(), "the daemon must exit non-zero");
    assert!(
        daemon.count("the store cannot be written") > 0,
        "{:?}",
        daemon.lines()
    );
    let after_exit = heartbeats(&deadman).len();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        heartbeats(&deadman).len(),
        after_exit,
        "pings after the store failed"
    );
    let _ = Command::new("umount").arg("-l").arg(&state).status();
}

/// libfaketime's preload library (Debian's `faketime` package), if installed.
fn libfaketime() -> Option<std::path::PathBuf> {
    let arch = std::env::consts::ARCH;
    [
        format!("/usr/lib/{arch}-linux-gnu/faketime/libfaketime.so.1"),
        "/usr/lib/faketime/libfaketime.so.1".to_string(),
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn a_wall_clock_step_back_keeps_polls_and_pings_going() {
    let Some(lib) = libfaketime() else {
        eprintln!("SKIPPED: libfaketime is not installed (apt-get install faketime)");
        return;
    };
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    // The daemon's wall clock is the real one plus this file's offset, read at every call;
    // its monotonic clock is the real one.
    let offset = dir.path().join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    let deadman = runtime().block_on(Hook::start());
    let url = deadman.url_of("/ping/5ecret-check-uuid");
    let extra = format!("[heartbeat]\nurl = \"{url}\"\ninterval_secs = 0.5\n");
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, EVERY_2S, &extra),
    );
    let daemon = Daemon::spawn(
        &cfg,
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", offset.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    wait_for("two polls and two pings", || {
        cbs.checks() >= 2 && heartbeats(&deadman).len() >= 2
    });

    // NTP steps the wall clock back an hour.
    std::fs::write(&offset, "-3600\n").unwrap();
    let (polls, pings) = (cbs.checks(), heartbeats(&deadman).len());
    wait_for("polls and pings after the step back", || {
        cbs.checks() >= polls + 2 && heartbeats(&deadman).len() >= pings + 3
    });
    let logged = daemon.wait_line("the wall clock stepped", 0);
    assert!(logged.contains("step_secs=-3600 "), "{logged}");

    // And forward again: a tick it jumps over polls at once, and the polls go on.
    std::fs::write(&offset, "+0\n").unwrap();
    daemon.wait_line("step_secs=3600 ", 0);
    let polls = cbs.checks();
    wait_for("polls after the step forward", || cbs.checks() >= polls + 2);
}

#[test]
fn healthz_fails_while_a_source_is_overdue_and_recovers() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let web = format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, EVERY_2S, &web),
    );
    let _daemon = Daemon::spawn(&cfg, &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // On time: several ticks (more than one schedule gap) polled, and healthy throughout.
    wait_for("the listener", || !http_get_fails(&addr.to_string()));
    let first = cbs.checks();
    wait_for("three polls", || {
        assert_eq!(http_get(addr, "/healthz"), (200, "ok\n".to_string()));
        cbs.checks() >= first + 3
    });

    // The source stops answering: the poll hangs (5 s timeouts, three tries), the ticks
    // behind it are skipped, and /healthz says which source is late.
    cbs.set_delay(Duration::from_secs(3600));
    let mut late = String::new();
    wait_for("/healthz 503", || {
        let (code, body) = http_get(addr, "/healthz");
        late = body;
        code == 503
    });
    assert!(late.starts_with("source cbs: nothing for "), "{late}");
    assert_eq!(late.lines().count(), 1, "{late}");

    // It answers again: once the hung poll gives up, the next tick polls and all is well.
    cbs.set_delay(Duration::ZERO);
    let start = Instant::now();
    while http_get(addr, "/healthz").0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(60), "still 503");
        std::thread::sleep(Duration::from_millis(200));
    }
}
