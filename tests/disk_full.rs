//! The disk fills under a running `statwatch run`: the store cannot be written. The daemon
//! must stop delivering (no resend loop after a send it could not record), say so naming the
//! store, and exit non-zero so systemd restarts it; once space is freed, a restart delivers
//! everything that was pending and nothing is lost.
//!
//! Needs root (it mounts a small tmpfs as the state_dir); without it the test says so and
//! passes.

mod common;
mod support_daemon;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support_daemon::*;

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

/// A webhook receiver on loopback that answers 200, but holds each answer while `hold` is
/// set; it keeps the periods of every alert it was sent, one entry per request.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Vec<String>>>>,
    hold: Arc<AtomicBool>,
}

impl Receiver {
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let me = self.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let me = me.clone();
                std::thread::spawn(move || me.serve(sock));
            }
        });
        url
    }

    fn serve(&self, mut sock: std::net::TcpStream) {
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = sock.read(&mut chunk).unwrap_or(0);
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() < end + 4 + len {
                continue;
            }
            let body: serde_json::Value =
                serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap();
            let periods = body["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["period"].as_str().unwrap().to_string())
                .collect();
            self.requests.lock().unwrap().push(periods);
            while self.hold.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            return;
        }
    }

    fn requests(&self) -> Vec<Vec<String>> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests carried an alert for `period`.
    fn sent(&self, period: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.iter().any(|p| p == period))
            .count()
    }
}

#[test]
fn a_full_disk_stops_the_daemon_without_a_resend_loop_and_a_restart_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), "8m") else {
        return;
    };
    let state = tmpfs.0.join("state");
    let cbs = FakeCbs::start();
    let hook = Receiver::default();
    let url = hook.start();
    let extra = format!("{RELEASE_RULE}\n[receivers.ops]\nkind = \"webhook\"\nurl = \"{url}\"\n");
    let cfg = write(
        &dir.path().join("statwatch.toml"),
        &config(&state, &cbs, "*/2 * * * * *", &extra),
    );

    let mut daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("baseline stored", 0);

    // February is published; its alert is committed and sent, and the receiver holds its
    // answer while the disk fills up, so recording the delivery is what fails.
    hook.hold.store(true, Ordering::SeqCst);
    cbs.publish("2025MM02", 0.5, "2025-04-10T06:30:00");
    wait_for("the February alert to reach the receiver", || {
        hook.sent("2025-02") == 1
    });
    let ballast = tmpfs.fill();
    // March too: the next poll has something to write.
    cbs.publish("2025MM03", 0.9, "2025-05-10T06:30:00");
    hook.hold.store(false, Ordering::SeqCst);

    // The daemon stops and exits non-zero; meanwhile the alert it could not mark delivered
    // is not sent again (the old daemon re-posted it every second, for as long as it ran).
    let started = Instant::now();
    let status = daemon.wait_exit(Duration::from_secs(60));
    eprintln!(
        "daemon exited with {status:?} {:?} after the disk filled; the receiver saw {:?}",
        started.elapsed(),
        hook.requests()
    );
    assert!(
        !status.success(),
        "a store write failure must exit non-zero"
    );
    assert_eq!(hook.sent("2025-02"), 1, "{:?}", hook.requests());
    assert!(hook.sent("2025-03") <= 1, "{:?}", hook.requests());
    let why = daemon
        .lines()
        .into_iter()
        .find(|l| l.contains("ERROR") && l.contains(&state.display().to_string()))
        .unwrap_or_else(|| panic!("no error line naming the store {}", state.display()));
    assert!(
        why.to_lowercase().contains("no space") || why.contains("os error 28"),
        "{why}"
    );

    // Space is freed; the restarted daemon (as systemd would) delivers what was pending.
    std::fs::remove_file(ballast).unwrap();
    let restarted = Instant::now();
    let daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("statwatch ready", 0);
    // Which write failed first varies (the delivery record after the send, the claim before
    // the next send, or the March commit): whatever was left pending goes out, an entry
    // whose send was not recorded only after its backoff (about 30 s), not at once.
    let pending_ops = || {
        let out = statwatch(&cfg, &["alerts", "--pending", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .map(|v| v.iter().filter(|a| a["receiver"] == "ops").count())
            .unwrap_or(usize::MAX)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(hook.sent("2025-02") >= 1 && hook.sent("2025-03") >= 1 && pending_ops() == 0) {
        assert!(
            Instant::now() < deadline,
            "not delivered after the restart: {:?}",
            hook.requests()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "after the restart ({:?}): the receiver saw {:?}",
        restarted.elapsed(),
        hook.requests()
    );
    let mut daemon = daemon;
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
    let alerts: Vec<serde_json::Value> =
        serde_json::from_slice(&statwatch(&cfg, &["alerts", "--json"]).stdout).unwrap();
    for a in alerts.iter().filter(|a| a["receiver"] == "ops") {
        assert_eq!(a["state"], "delivered", "{a}");
    }
    assert_eq!(alerts.iter().filter(|a| a["receiver"] == "ops").count(), 2);
}
