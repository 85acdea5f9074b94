//! Helpers for the daemon tests: the shared fake CBS server (tests/common) driven from
//! synchronous tests, with a "publish a month" call, and a handle on a running
//! `statwatch run` child process that collects its log lines.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{industry_table, with, CbsServer};

/// A schedule that fires every two seconds.
pub const EVERY_2S: &str = "*/2 * * * * *";

/// A rule that fires on every new period of the default series.
pub const RELEASE_RULE: &str = r#"
[[rules]]
id = "nl-release"
series = "nl.*"
kind = "release"
severity = "info"
"#;

pub const TABLE: &str = crate::common::INDUSTRY;
pub const DIM: &str = crate::common::BRANCH_DIM;
pub const KEY: &str = "307500";
pub const MEASURE: &str = crate::common::YOY;

/// The fake CBS on a runtime of its own, for tests that are not async themselves.
pub struct FakeCbs {
    server: CbsServer,
    published: Mutex<Vec<(String, f64)>>,
    // Dropped after the server: it must answer for as long as the test runs.
    _runtime: tokio::runtime::Runtime,
}

impl FakeCbs {
    /// Serves January 2025 (0.3) with a first `Modified` stamp.
    pub fn start() -> FakeCbs {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(CbsServer::start());
        let published = vec![("2025MM01".to_string(), 0.3)];
        server.set_table(TABLE, industry_table(&published, "2025-03-10T06:30:00"));
        FakeCbs {
            server,
            published: Mutex::new(published),
            _runtime: runtime,
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Adds (or revises) a period and moves the `Modified` stamp, as a CBS release does.
    pub fn publish(&self, period: &str, value: f64, modified: &str) {
        let mut p = self.published.lock().unwrap();
        *p = with(&p, &[(period, value)]);
        self.server.set_table(TABLE, industry_table(&p, modified));
    }

    /// Makes every cheap check take `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.server.delay("TableInfos", delay);
        self.server.delay("Tables", delay);
    }

    /// Every cheap check (the catalogue and `TableInfos`) answers HTTP 500 until
    /// [`FakeCbs::heal`].
    pub fn break_checks(&self) {
        // The catalogue first, then each table's TableInfos (the catalogue's fallback).
        for entity in ["ODataCatalog/Tables", "TableInfos"] {
            self.server
                .fail_next(entity, crate::common::Fault::Status500, usize::MAX);
        }
    }

    pub fn heal(&self) {
        self.server.clear_faults();
    }

    /// How many cheap checks (the catalogue, or `TableInfos` without one) were made: one per
    /// poll of the source.
    pub fn checks(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.contains("/TableInfos") || r.starts_with("ODataCatalog/Tables"))
            .count()
    }
}

/// A config for one CBS source on the fake server, one series, a log receiver.
pub fn config(state_dir: &Path, cbs: &FakeCbs, schedule: &str, extra: &str) -> String {
    format!(
        r#"state_dir = "{state}"
timezone = "UTC"

[sources.cbs]
kind = "cbs"
base_url = "{base}"
schedule = "{schedule}"
timeout_secs = 5

[[series]]
id = "nl.industry.yoy"
source = "cbs"
table = "{TABLE}"
measure = "{MEASURE}"
dimensions = {{ {DIM} = "{KEY}" }}
title = "Industrial production NL, y/y %"
unit = "%"

[receivers.journal]
kind = "log"
{extra}"#,
        state = state_dir.display(),
        base = cbs.base_url(),
    )
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_statwatch")
}

/// A one-shot `statwatch --config FILE ARGS...`.
pub fn statwatch(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("JOURNAL_STREAM", "1:1")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap()
}

/// `statwatch run` as a child, its stderr lines collected (and echoed for failing tests).
pub struct Daemon {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn spawn(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(config)
            .arg("run")
            // No timestamps or colours: plain lines to match on.
            .env("JOURNAL_STREAM", "1:1")
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[daemon] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Daemon { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until a log line contains `needle` (and, if given, after `skip` lines).
    pub fn wait_line(&self, needle: &str, skip: usize) -> String {
        let mut found = None;
        wait_for(&format!("a log line with {needle:?}"), || {
            found = self
                .lines()
                .iter()
                .skip(skip)
                .find(|l| l.contains(needle))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {sig} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("statwatch run did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed assertion must not leave a daemon behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` every 100 ms for up to 20 s; panics with `what` otherwise.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A minimal HTTP/1.1 GET over loopback: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// Whether nothing accepts connections at `addr`.
pub fn http_get_fails(addr: &str) -> bool {
    TcpStream::connect(addr).is_err()
}
