//! `statwatch run` as a child process against a local fake CBS: polling on schedule, SIGHUP
//! reloads (good and broken configs), SIGTERM drain with nothing lost, start-up catch-up,
//! sd_notify datagrams, the metrics endpoint.

mod common;

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Timelike, Utc};
use common::daemon::*;
use common::*;

fn alerts_json(config: &std::path::Path) -> Vec<serde_json::Value> {
    let out = statwatch_blocking(config, &["alerts", "--json"]);
    assert!(
        out.status.success(),
        "alerts --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn polls_on_schedule_reloads_and_drains_on_sigterm() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = write_config(dir.path(), &daemon_config(&state, &cbs, EVERY_2S, ""));
    let daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("statwatch ready", 0);

    // Never polled: a catch-up poll at once stores the baseline; then the schedule polls on.
    daemon.wait_line("baseline stored", 0);
    let before = cbs.checks();
    wait_for("two more scheduled polls", || cbs.checks() >= before + 2);

    // SIGHUP with a release rule: the next published month fires it.
    std::fs::write(&cfg, daemon_config(&state, &cbs, EVERY_2S, RELEASE_RULE)).unwrap();
    let mark = daemon.lines().len();
    daemon.signal("-HUP");
    daemon.wait_line("config reloaded", mark);
    cbs.publish("2025MM02", 0.8, "2025-04-10T06:30:00");
    daemon.wait_line("1 alerts", mark);

    // SIGHUP with a broken config: logged with the reason, the old config keeps running.
    let port = free_port();
    let broken = format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\nbogus = 1\n");
    std::fs::write(&cfg, daemon_config(&state, &cbs, EVERY_2S, &broken)).unwrap();
    let mark = daemon.lines().len();
    daemon.signal("-HUP");
    let why = daemon.wait_line("reload rejected", mark);
    assert!(why.contains("statwatch.toml"), "{why}");
    assert!(why.contains("metrics.bogus"), "{why}");
    let before = cbs.checks();
    wait_for("polling to continue after a rejected reload", || {
        cbs.checks() >= before + 2
    });
    assert!(
        http_get_fails(&format!("127.0.0.1:{port}")),
        "the rejected config's metrics listener must not have been started"
    );

    // The same rule still applies (the old config, with it, was kept).
    let mark = daemon.lines().len();
    cbs.publish("2025MM03", 1.1, "2025-05-10T06:30:00");
    daemon.wait_line("1 alerts", mark);

    // SIGTERM: exit 0 within the drain deadline; every detected alert is still in the store.
    let mut daemon = daemon;
    daemon.signal("-TERM");
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert!(daemon.count("stopped") >= 1);
    // The one-shot commands read the same (now repaired) config file.
    std::fs::write(&cfg, daemon_config(&state, &cbs, EVERY_2S, RELEASE_RULE)).unwrap();
    let alerts = alerts_json(&cfg);
    let periods: Vec<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "nl-release")
        .map(|a| a["period"].as_str().unwrap())
        .collect();
    assert!(periods.contains(&"2025-02"), "{alerts:?}");
    assert!(periods.contains(&"2025-03"), "{alerts:?}");
    for a in &alerts {
        assert!(
            ["pending", "delivered"].contains(&a["state"].as_str().unwrap()),
            "{a}"
        );
    }

    // The data is there too.
    let out = statwatch_blocking(&cfg, &["series", "nl.industry.yoy", "--json"]);
    let series: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        series["observations"].as_array().unwrap().len(),
        3,
        "{series}"
    );
}

#[test]
fn catches_up_at_start_after_a_missed_tick() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = dir.path().join("statwatch.toml");

    // A successful poll now ...
    write_config(dir.path(), &daemon_config(&state, &cbs, EVERY_2S, ""));
    let out = statwatch_blocking(&cfg, &["poll"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // ... then a daily schedule whose tick falls after it and has passed by start-up.
    let tick = Utc::now() + chrono::Duration::seconds(2);
    let daily = format!("{} {} {} * * *", tick.second(), tick.minute(), tick.hour());
    write_config(dir.path(), &daemon_config(&state, &cbs, &daily, ""));
    wait_for("the daily tick to pass", || {
        Utc::now() > tick + chrono::Duration::seconds(1)
    });
    let before = cbs.checks();
    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("catch-up poll at start-up", 0);
    daemon.wait_line("poll finished", 0);
    assert_eq!(cbs.checks(), before + 1);
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());

    // Restarted after that catch-up: the last success is newer than the last tick.
    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("statwatch ready", 0);
    assert_eq!(daemon.count("catch-up poll"), 0, "{:?}", daemon.lines());
    daemon.signal("-INT");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn sd_notify_ready_status_watchdog_reloading_stopping_and_metrics() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port = free_port();
    let metrics = format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let cfg = write_config(dir.path(), &daemon_config(&state, &cbs, EVERY_2S, &metrics));
    let sock_path = dir.path().join("notify.sock");
    let notify = NotifySocket::bind(&sock_path);
    let has = |prefix: &str| notify.count(prefix);

    let sock_env = sock_path.to_str().unwrap().to_string();
    let mut daemon = Daemon::spawn(
        &cfg,
        &[
            ("NOTIFY_SOCKET", sock_env.as_str()),
            // WATCHDOG_PID unset: the watchdog applies to whichever process reads it.
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    wait_for("READY=1", || has("READY=1") >= 1);
    wait_for("a STATUS= with the source's outcome", || {
        has("STATUS=cbs: 1 tables") >= 1
    });
    wait_for("repeated WATCHDOG=1", || has("WATCHDOG=1") >= 3);
    metrics_and_health_while_running(format!("127.0.0.1:{port}").parse().unwrap());

    // SIGHUP: RELOADING=1, then READY=1 again.
    let ready_before = has("READY=1");
    daemon.signal("-HUP");
    wait_for("RELOADING=1", || has("RELOADING=1") >= 1);
    wait_for("READY=1 after the reload", || has("READY=1") > ready_before);
    assert!(
        has("MONOTONIC_USEC=") >= 1,
        "systemd 253+ wants MONOTONIC_USEC with RELOADING"
    );

    // SIGTERM: STOPPING=1, exit 0, the listener closed.
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
    wait_for("STOPPING=1", || has("STOPPING=1") >= 1);
    assert!(http_get_fails(&format!("127.0.0.1:{port}")));
    notify.close();
}

/// What the daemon sends to `NOTIFY_SOCKET`, one message per line, read on a thread until
/// `close`.
struct NotifySocket {
    got: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    reader: std::thread::JoinHandle<()>,
}

impl NotifySocket {
    fn bind(path: &std::path::Path) -> NotifySocket {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = got.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_reader = stop.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop_reader.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().extend(msg.lines().map(String::from));
                }
            }
        });
        NotifySocket { got, stop, reader }
    }

    /// How many messages so far start with `prefix`.
    fn count(&self, prefix: &str) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.starts_with(prefix))
            .count()
    }

    fn close(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.reader.join().unwrap();
    }
}

/// Health and the poll, alert and outbox metrics while the daemon runs.
fn metrics_and_health_while_running(addr: std::net::SocketAddr) {
    let (code, body) = http_get(addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    wait_for("poll counters", || {
        let (_, body) = http_get(addr, "/metrics");
        body.contains("statwatch_polls_total{source=\"cbs\",table=\"85806NED\"}")
    });
    let (code, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "statwatch_poll_failures_total",
        "statwatch_last_success_timestamp_seconds{source=\"cbs\"}",
        "statwatch_alerts_fired_total",
        "statwatch_alerts_delivered_total",
        "statwatch_alerts_failed_total",
        "statwatch_outbox_pending",
    ] {
        assert!(body.contains(name), "{name} missing from\n{body}");
    }
}

#[test]
fn a_taken_metrics_port_fails_start_up_with_exit_1() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let metrics = format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, EVERY_2S, &metrics),
    );
    let mut daemon = Daemon::spawn(&cfg, &[]);
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    wait_for("the reason on stderr", || {
        daemon.count(&format!("cannot listen on 127.0.0.1:{port}")) >= 1
    });
    assert_eq!(cbs.checks(), 0, "nothing polls when start-up fails");
    drop(taken);
}

#[test]
fn overlapping_ticks_are_skipped_and_sigterm_waits_for_a_running_poll() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, "* * * * * *", ""),
    );
    // Each poll takes 3 s, the schedule ticks every second.
    cbs.set_delay(Duration::from_secs(3));
    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("tick skipped", 0);
    daemon.wait_line("poll finished", 0);

    // Stop while a poll is in flight: it is allowed to finish (well within the 10 s drain).
    let polls = daemon.count("poll finished");
    let checks = cbs.checks();
    wait_for("the next poll to be in flight", || cbs.checks() > checks);
    daemon.signal("-TERM");
    let status = daemon.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let lines = daemon.lines();
    let stop_at = lines
        .iter()
        .position(|l| l.contains("shutting down"))
        .unwrap();
    assert!(
        lines[stop_at..].iter().any(|l| l.contains("poll finished")),
        "the in-flight poll was not drained: {lines:?}"
    );
    assert!(daemon.count("poll finished") > polls);
}

#[test]
fn series_and_alerts_answer_while_the_daemon_holds_the_store() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = write_config(
        dir.path(),
        &daemon_config(&state, &cbs, EVERY_2S, RELEASE_RULE),
    );
    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("baseline stored", 0);
    cbs.publish("2025MM02", 0.8, "2025-04-10T06:30:00");
    daemon.wait_line("1 alerts", 0);

    // sled lets one process open the store: these go through the daemon's control socket.
    let out = statwatch_blocking(&cfg, &["series", "nl.industry.yoy", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let obs = s["observations"].as_array().unwrap();
    assert_eq!(obs.last().unwrap()["period"], "2025-02");
    assert_eq!(alerts_json(&cfg).len(), 1);
    let out = statwatch_blocking(&cfg, &["series", "no.such.series"]);
    assert_eq!(out.status.code(), Some(2));
    // The socket is private to the daemon's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("control.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(15)).success());
    assert!(!state.join("control.sock").exists());
    // With the daemon gone, the CLI opens the store itself.
    assert_eq!(alerts_json(&cfg).len(), 1);
}

#[test]
fn a_poll_task_that_panics_is_named_and_its_source_polls_again_at_its_next_tick() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &daemon_config(&dir.path().join("state"), &cbs, EVERY_2S, ""),
    );
    // Every poll of `cbs` panics as its task starts (src/fault.rs).
    let mut daemon = Daemon::spawn(&cfg, &[("STATWATCH_FAULT", "panic:source cbs")]);
    let died = daemon.wait_line("task died", 0);
    assert!(died.contains("duty=source cbs"), "{died}");
    assert!(died.contains("next tick"), "{died}");
    // The daemon goes on: the duty runs again (and dies again) at the next tick.
    wait_for("the poll to run again", || daemon.count("task died") >= 2);
    assert_eq!(cbs.checks(), 0, "the panic came before any request");
    daemon.signal("-TERM");
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_reload_that_adds_a_web_listener_serves_the_pages() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = write_config(dir.path(), &daemon_config(&state, &cbs, EVERY_2S, ""));
    // Started without pages: their templates are compiled by the reload that adds them.
    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("baseline stored", 0);
    let port = free_port();
    let web = format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n");
    std::fs::write(&cfg, daemon_config(&state, &cbs, EVERY_2S, &web)).unwrap();
    let mark = daemon.lines().len();
    daemon.signal("-HUP");
    daemon.wait_line("config reloaded", mark);
    let (status, body) = http_get(format!("127.0.0.1:{port}").parse().unwrap(), "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Industrial production NL"), "{body}");
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
}
