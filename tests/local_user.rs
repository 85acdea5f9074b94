//! What a local user can do to a running daemon must not stop it: a flood of idle
//! connections to the control socket and the HTTP listener, an endless request line, and
//! `statwatch series` typed while the daemon starts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::daemon::*;
use common::*;

/// CPU time (user + system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at ")".
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn idle_connection_floods_and_endless_lines_do_not_stop_the_daemon() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        &daemon_config(
            &state,
            &cbs,
            EVERY_2S,
            &format!("{RELEASE_RULE}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
        ),
    );
    let daemon = Daemon::spawn(&cfg, &[]);
    daemon.wait_line("baseline stored", 0);
    // A small descriptor limit, so the flood below is far larger than the daemon could hold.
    let pid = daemon.pid().to_string();
    let ok = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=160:160"])
        .status()
        .unwrap();
    assert!(ok.success(), "prlimit failed");

    let sock = state.join("control.sock");
    let (idle_unix, idle_tcp) = open_idle_connections(&sock, port);
    the_daemon_stays_idle(&daemon);

    // It still polls, stores and alerts: its own outgoing connections have descriptors.
    cbs.publish("2025MM02", 0.8, "2025-04-10T06:30:00");
    daemon.wait_line("1 alerts", 0);

    // The flood goes away; the control socket answers again.
    drop(idle_unix);
    drop(idle_tcp);
    let out = statwatch_blocking(&cfg, &["series", "nl.industry.yoy", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _) = http_get(format!("127.0.0.1:{port}").parse().unwrap(), "/healthz");
    assert_eq!(code, 200);

    an_endless_request_line_is_refused_after_a_bounded_read(&daemon, &sock);
    let out = statwatch_blocking(&cfg, &["alerts", "--json"]);
    assert!(out.status.success());
}

#[test]
fn series_typed_while_the_daemon_starts_never_fails_the_start() {
    let cbs = FakeCbs::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = write_config(dir.path(), &daemon_config(&state, &cbs, "0 0 0 1 1 *", ""));
    for round in 0..8 {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let querying = {
            let (cfg, stop) = (cfg.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let out = statwatch_blocking(&cfg, &["series"]);
                    if !out.status.success() {
                        failures.push(String::from_utf8_lossy(&out.stderr).to_string());
                    }
                }
                failures
            })
        };
        std::thread::sleep(Duration::from_millis(30 * round));
        let mut daemon = Daemon::spawn(&cfg, &[]);
        wait_for("the daemon to start or exit", || {
            daemon.count("schedule armed") > 0 || daemon.child.try_wait().unwrap().is_some()
        });
        assert!(
            daemon.child.try_wait().unwrap().is_none(),
            "round {round}: the daemon did not start: {:?}",
            daemon.lines()
        );
        // Queries keep running beside the daemon for a moment, through its socket.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let failures = querying.join().unwrap();
        assert!(failures.is_empty(), "round {round}: {failures:?}");
        daemon.signal("-TERM");
        assert!(daemon.wait_exit(Duration::from_secs(15)).success());
    }
}

/// A daemon serving pages on a fresh loopback port, once it answers there.
fn daemon_with_pages(dir: &std::path::Path) -> (FakeCbs, Daemon, std::net::SocketAddr) {
    let cbs = FakeCbs::start();
    let port = free_port();
    let cfg = write_config(
        dir,
        &daemon_config(
            &dir.join("state"),
            &cbs,
            EVERY_2S,
            &format!("[web]\nlisten = \"127.0.0.1:{port}\"\n"),
        ),
    );
    let daemon = Daemon::spawn(&cfg, &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("the web listener", || !http_get_fails(&addr.to_string()));
    (cbs, daemon, addr)
}

/// Whether the daemon has closed `s` (end of stream or reset), without waiting.
fn closed(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let closed = !matches!(s.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    closed
}

#[test]
fn slow_clients_in_every_page_slot_leave_healthz_and_metrics_answering() {
    let dir = tempfile::tempdir().unwrap();
    let (_cbs, _daemon, addr) = daemon_with_pages(dir.path());
    // As many slow clients as the web serves connections (64): each has sent part of a head.
    let slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /alerts HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    // Once the daemon has accepted them all (it accepts as it gets to it: on a loaded machine
    // a page asked for just now can still find an ordinary slot), a page is refused, not
    // queued: the slots beyond the 64 serve nothing else...
    wait_for("every page slot taken", || {
        http_get(addr, "/alerts").0 == 503
    });
    // ...but the probes, answered at once in the slots kept for them.
    assert_eq!(http_get(addr, "/healthz").0, 200);
    let (code, metrics) = http_get(addr, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("statwatch_"), "{metrics}");
    // Not because a slow client was let go first: every one is still connected.
    let cut = slow.iter().filter(|s| closed(s)).count();
    assert_eq!(
        cut, 0,
        "slow clients were closed before the probes were answered"
    );
}

#[test]
fn a_client_trickling_its_head_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_cbs, _daemon, addr) = daemon_with_pages(dir.path());
    let mut s = TcpStream::connect(addr).unwrap();
    let mut writer = s.try_clone().unwrap();
    // A byte every 200 ms: each byte used to restart the idle timeout (30 s), forever.
    std::thread::spawn(move || {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter();
        for b in head.chain(std::iter::repeat_n(&b'a', 1000)) {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // The daemon must close it well within a minute of trickling (the deadline is seconds).
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the trickling client was not cut off: {e}"),
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

/// 300 idle connections to the control socket and 150 to the metrics port, held open.
fn open_idle_connections(sock: &Path, port: u16) -> (Vec<UnixStream>, Vec<TcpStream>) {
    let mut idle_unix = Vec::new();
    let mut idle_tcp = Vec::new();
    for _ in 0..300 {
        idle_unix.push(UnixStream::connect(sock).unwrap());
    }
    // The kernel queues only so many TCP connections that are not accepted (128 here).
    for _ in 0..150 {
        idle_tcp.push(TcpStream::connect(("127.0.0.1", port)).unwrap());
    }
    (idle_unix, idle_tcp)
}

/// Under the flood the daemon burns no CPU and logs no accept line but its errors.
fn the_daemon_stays_idle(daemon: &Daemon) {
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(daemon.pid());
    std::thread::sleep(Duration::from_secs(3));
    let spent = cpu_ticks(daemon.pid()) - before;
    eprintln!("daemon CPU over 3 s with 450 idle connections: {spent} ticks");
    // A spinning accept loop burns ~300 ticks (100 Hz) in 3 s; an idle daemon a few.
    assert!(
        spent < 100,
        "the daemon spins under a connection flood: {spent} ticks in 3 s"
    );
    assert_eq!(
        daemon.count("accept"),
        daemon.count("accept error"),
        "unexpected accept log lines"
    );
}

/// A request line that never ends is refused after a bounded read, not buffered.
fn an_endless_request_line_is_refused_after_a_bounded_read(daemon: &Daemon, sock: &Path) {
    let rss_before = rss_kb(daemon.pid());
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..512 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let rss_after = rss_kb(daemon.pid());
    eprintln!(
        "endless request line: {} MiB accepted before the daemon closed; RSS {rss_before} -> {rss_after} kB",
        sent >> 20
    );
    assert!(
        sent < 64 << 20,
        "the daemon read {sent} bytes of one request line"
    );
    assert!(
        answer.contains("no complete request line") || answer.is_empty(),
        "{answer}"
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS grew from {rss_before} to {rss_after} kB"
    );
}
