//! The daemon tests, which are not async: a runtime for the shared fake servers, the fake
//! CBS with a "publish a month" call, and a handle on a running `statwatch run` child
//! process that collects its log lines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::bin::Statwatch;
use super::config::{industry_series, ConfigText, Source};
use super::{industry_table, with, CbsServer, Fault, INDUSTRY};

/// The runtime the fake servers of the tests that are not async run on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

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

/// The fake CBS on [`runtime`], for tests that are not async themselves.
pub struct FakeCbs {
    server: CbsServer,
    published: Mutex<Vec<(String, f64)>>,
}

impl FakeCbs {
    /// Serves January 2025 (0.3) with a first `Modified` stamp.
    pub fn start() -> FakeCbs {
        let server = runtime().block_on(CbsServer::start());
        let published = vec![("2025MM01".to_string(), 0.3)];
        server.set_table(INDUSTRY, industry_table(&published, "2025-03-10T06:30:00"));
        FakeCbs {
            server,
            published: Mutex::new(published),
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Adds (or revises) a period and moves the `Modified` stamp, as a CBS release does.
    pub fn publish(&self, period: &str, value: f64, modified: &str) {
        let mut p = self.published.lock().unwrap();
        *p = with(&p, &[(period, value)]);
        self.server
            .set_table(INDUSTRY, industry_table(&p, modified));
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
            self.server.fail_next(entity, Fault::Status500, usize::MAX);
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

/// A config for one CBS source on the fake server, polled on `schedule`, one series, a log
/// receiver, `extra`.
pub fn daemon_config(state_dir: &Path, cbs: &FakeCbs, schedule: &str, extra: &str) -> String {
    ConfigText::new(state_dir)
        .timezone("UTC")
        .source(
            Source::new("cbs", "cbs")
                .base_url(&cbs.base_url())
                .schedule(schedule)
                .timeout_secs(5),
        )
        .series(industry_series("Industrial production NL, y/y %"))
        .extra(extra)
        .text()
}

/// `statwatch run` as a child, its stderr lines collected (and echoed for failing tests).
pub struct Daemon {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn spawn(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Statwatch::with_config(config).args(["run"]).command();
        cmd.stdin(Stdio::null())
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
