//! Helpers for the daemon tests: a minimal fake CBS OData v3 server whose data the test can
//! change ("publish" a month), and a handle on a running `statwatch run` child process that
//! collects its log lines.
//!
//! The fake server ignores `$filter`/`$select` (the client picks its series out of whatever
//! rows come back) and records every request path so tests can see that polls happened.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::json;

pub const TABLE: &str = "85806NED";
pub const DIM: &str = "BedrijfstakkenBranchesSBI2008";
pub const KEY: &str = "307500";
pub const MEASURE: &str = "KalendergecorrigeerdeProductie_14";
const CONTENT_TYPE: &str = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8";

/// What the fake CBS currently publishes.
#[derive(Debug, Clone)]
pub struct Published {
    pub modified: String,
    /// (period key, value), e.g. ("2025MM01", 0.3).
    pub rows: Vec<(String, f64)>,
}

#[derive(Default)]
struct Shared {
    published: Option<Published>,
    requests: Vec<String>,
    /// How long `TableInfos` takes to answer (a slow source).
    delay: Duration,
}

pub struct FakeCbs {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    // Kept alive for as long as the server must answer.
    _runtime: tokio::runtime::Runtime,
}

impl FakeCbs {
    /// Serves January 2025 (0.3) with a first `Modified` stamp.
    pub fn start() -> FakeCbs {
        let shared = Arc::new(Mutex::new(Shared {
            published: Some(Published {
                modified: "2025-03-10T06:30:00".into(),
                rows: vec![("2025MM01".into(), 0.3)],
            }),
            requests: Vec::new(),
            delay: Duration::ZERO,
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = Router::new()
            .route("/ODataApi/odata/{table}/{entity}", get(entity))
            .with_state(shared.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeCbs {
            addr,
            shared,
            _runtime: runtime,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds (or revises) a period and moves the `Modified` stamp, as a CBS release does.
    pub fn publish(&self, period: &str, value: f64, modified: &str) {
        let mut s = self.shared.lock().unwrap();
        let p = s.published.as_mut().unwrap();
        p.rows.retain(|(k, _)| k != period);
        p.rows.push((period.into(), value));
        p.modified = modified.into();
    }

    /// Makes every cheap check take `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().unwrap().delay = delay;
    }

    /// Every request path (with query) seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// How many cheap checks (`TableInfos`) were made: one per poll of the table.
    pub fn checks(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains("/TableInfos"))
            .count()
    }
}

async fn entity(
    State(shared): State<Arc<Mutex<Shared>>>,
    UrlPath((table, entity)): UrlPath<(String, String)>,
    uri: Uri,
) -> impl IntoResponse {
    // Recorded on arrival, so a test sees a poll while it is still in flight.
    let delay = {
        let mut s = shared.lock().unwrap();
        s.requests.push(uri.to_string());
        s.delay
    };
    if entity == "TableInfos" && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let value = {
        let s = shared.lock().unwrap();
        let published = s.published.clone().unwrap();
        let value = match entity.as_str() {
            "TableInfos" => json!([{
                "ID": 1,
                "Identifier": table,
                "Title": "Industrie; productie",
                "ShortTitle": "Industrie; productie",
                "Modified": published.modified,
                "OutputStatus": "Regulier",
                "ReasonDelivery": "Actualisering",
            }]),
            DIM => json!([{"Key": KEY}]),
            "TypedDataSet" => published
                .rows
                .iter()
                .enumerate()
                .map(|(i, (period, v))| json!({"ID": i, DIM: KEY, "Perioden": period, MEASURE: v}))
                .collect(),
            "Perioden" => published
                .rows
                .iter()
                .map(|(period, _)| json!({"Key": period, "Title": period, "Status": "Voorlopig"}))
                .collect(),
            _ => serde_json::Value::Null,
        };
        value
    };
    if value.is_null() || table != TABLE {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            String::from("{}"),
        );
    }
    let body = json!({
        "odata.metadata": format!("https://opendata.cbs.nl/ODataApi/OData/{table}/$metadata#Cbs.OData.WebAPI.{entity}"),
        "value": value,
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
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
