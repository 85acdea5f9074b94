//! The disk fills under a running `statwatch run`: the store cannot be written. The daemon
//! must stop delivering (no resend loop after a send it could not record), say so naming the
//! store, and exit non-zero so systemd restarts it; once space is freed, a restart delivers
//! everything that was pending and nothing is lost.
//!
//! Needs root (it mounts a small tmpfs as the state_dir); without it the test says so and
//! passes.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::*;
use common::hook::Hook;
use common::*;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }

    /// Writes a file until the file system is full.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("ballast");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0xa5u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The periods of the alerts in each request the hook got.
fn periods(hook: &Hook) -> Vec<Vec<String>> {
    hook.requests()
        .iter()
        .map(|r| {
            r.json()["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["period"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// How many requests carried an alert for `period`.
fn sent(hook: &Hook, period: &str) -> usize {
    periods(hook)
        .iter()
        .filter(|r| r.iter().any(|p| p == period))
        .count()
}

#[test]
fn a_full_disk_stops_the_daemon_without_a_resend_loop_and_a_restart_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), "8m") else {
        return;
    };
    let state = tmpfs.0.join("state");
    let cbs = FakeCbs::start();
    let hook = runtime().block_on(Hook::start());
    let url = &hook.url;
    let extra = format!("{RELEASE_RULE}\n[receivers.ops]\nkind = \"webhook\"\nurl = \"{url}\"\n");
    let cfg = write_config(
        dir.path(),
        &daemon_config(&state, &cbs, "*/2 * * * * *", &extra),
    );

    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("baseline stored", 0);

    // February is published; its alert is committed and sent, and the receiver holds its
    // answer while the disk fills up, so recording the delivery is what fails.
    hook.hold(true);
    cbs.publish("2025MM02", 0.5, "2025-04-10T06:30:00");
    wait_for("the February alert to reach the receiver", || {
        sent(&hook, "2025-02") == 1
    });
    let ballast = tmpfs.fill();
    // March too: the next poll has something to write.
    cbs.publish("2025MM03", 0.9, "2025-05-10T06:30:00");
    hook.hold(false);

    the_daemon_exits_naming_the_store_and_sends_nothing_again(&mut daemon, &hook, &state);

    // Space is freed; the restarted daemon (as systemd would) delivers what was pending.
    std::fs::remove_file(ballast).unwrap();
    let restarted = Instant::now();
    let daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("statwatch ready", 0);
    // Which write failed first varies (the delivery record after the send, the claim before
    // the next send, or the March commit): whatever was left pending goes out, an entry
    // whose send was not recorded only after its backoff (about 30 s), not at once.
    everything_pending_goes_out(&cfg, &hook);
    eprintln!(
        "after the restart ({:?}): the receiver saw {:?}",
        restarted.elapsed(),
        periods(&hook)
    );
    let mut daemon = daemon;
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
    let alerts: Vec<serde_json::Value> =
        serde_json::from_slice(&statwatch_blocking(&cfg, &["alerts", "--json"]).stdout).unwrap();
    for a in alerts.iter().filter(|a| a["receiver"] == "ops") {
        assert_eq!(a["state"], "delivered", "{a}");
    }
    assert_eq!(alerts.iter().filter(|a| a["receiver"] == "ops").count(), 2);
}

/// The daemon stops and exits non-zero; meanwhile the alert it could not mark delivered is
/// not sent again (the old daemon re-posted it every second, for as long as it ran).
fn the_daemon_exits_naming_the_store_and_sends_nothing_again(
    daemon: &mut Daemon,
    hook: &Hook,
    state: &Path,
) {
    let started = Instant::now();
    let status = daemon.wait_exit(Duration::from_secs(60));
    eprintln!(
        "daemon exited with {status:?} {:?} after the disk filled; the receiver saw {:?}",
        started.elapsed(),
        periods(hook)
    );
    assert!(
        !status.success(),
        "a store write failure must exit non-zero"
    );
    assert_eq!(sent(hook, "2025-02"), 1, "{:?}", periods(hook));
    assert!(sent(hook, "2025-03") <= 1, "{:?}", periods(hook));
    let why = daemon
        .lines()
        .into_iter()
        .find(|l| l.contains("ERROR") && l.contains(&state.display().to_string()))
        .unwrap_or_else(|| panic!("no error line naming the store {}", state.display()));
    assert!(
        why.to_lowercase().contains("no space") || why.contains("os error 28"),
        "{why}"
    );
}

/// Whatever was left pending goes out (February and March reach the receiver, nothing is
/// pending for it).
fn everything_pending_goes_out(cfg: &Path, hook: &Hook) {
    let pending_ops = || {
        let out = statwatch_blocking(cfg, &["alerts", "--pending", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .map(|v| v.iter().filter(|a| a["receiver"] == "ops").count())
            .unwrap_or(usize::MAX)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(sent(hook, "2025-02") >= 1 && sent(hook, "2025-03") >= 1 && pending_ops() == 0) {
        assert!(
            Instant::now() < deadline,
            "not delivered after the restart: {:?}",
            periods(hook)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
