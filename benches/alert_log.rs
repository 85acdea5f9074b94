//! The delivery log at flood size: writes N alerts (default 200,000, one receiver, settled
//! as delivered) through the store API into a fresh state directory, starts a daemon on it
//! and reports its RSS before and after views of `/alerts` and a `statwatch alerts --json`
//! through its control socket, with the sizes of what they returned.
//!
//! Run: `cargo bench --bench alert_log -- [N]` (or `cargo test --bench alert_log --
//! [N]` for a debug build); `STATWATCH_BIN` picks the daemon binary to measure (default:
//! the one cargo built beside this bench).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use statwatch::model::{Alert, AlertKind, Cause, DeliveryState, Period, Severity};
use statwatch::store::{PollWrite, Store};

fn alert(i: usize, at: chrono::DateTime<Utc>) -> Alert {
    Alert {
        id: format!("{i:016x}"),
        rule: "flood".into(),
        kind: AlertKind::Release,
        severity: Severity::Info,
        series: format!("nl.branch.{i}"),
        title: format!("Branch {i}, y/y %"),
        source: "cbs".into(),
        table: "85806NED".into(),
        unit: "%".into(),
        period: Some(Period::Month(2025, 3)),
        source_period: "2025MM03".into(),
        value: Some(1.0),
        previous: None,
        cause: Cause::NewPeriod,
        summary: format!("Branch {i}, y/y %: new period 2025-03 at +1.0 %"),
        details: Default::default(),
        detected_at: at,
    }
}

/// N alerts in commits of 5,000, all delivered to `journal`.
fn fill(state: &Path, n: usize) {
    let store = Store::open(state).unwrap();
    let at = Utc::now();
    for start in (0..n).step_by(5000) {
        let alerts = (start..n.min(start + 5000))
            .map(|i| (alert(i, at), vec!["journal".to_string()]))
            .collect();
        store
            .commit(&PollWrite {
                alerts,
                ..Default::default()
            })
            .unwrap();
        let done: Vec<_> = store
            .pending()
            .unwrap()
            .into_iter()
            .map(|mut d| {
                d.state = DeliveryState::Delivered;
                d.delivered_at = Some(at);
                d
            })
            .collect();
        store.update_deliveries(&done).unwrap();
    }
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn get(port: u16, path: &str) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    body.len()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let bin = std::env::var("STATWATCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("statwatch")
        });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let t = Instant::now();
    fill(&state, n);
    println!(
        "{n} delivered alerts written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("statwatch.toml");
    std::fs::write(&config, format!(
        "state_dir = \"{}\"\ntimezone = \"UTC\"\n\n[sources.cbs]\nkind = \"cbs\"\nbase_url = \"http://127.0.0.1:9/\"\nschedule = \"0 0 0 1 1 *\"\n\n[[series]]\nid = \"nl.x\"\nsource = \"cbs\"\ntable = \"85806NED\"\nmeasure = \"M\"\ntitle = \"x\"\nunit = \"%\"\n\n[receivers.journal]\nkind = \"log\"\n\n[web]\nlisten = \"127.0.0.1:{port}\"\n",
        state.display()
    )).unwrap();
    let mut daemon = Command::new(&bin)
        .args(["--config", config.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "daemon {}: RSS at start {} kB",
        bin.display(),
        rss_kb(pid, "VmRSS:")
    );
    for view in 1..=3 {
        let t = Instant::now();
        let bytes = get(port, "/alerts");
        println!(
            "GET /alerts #{view}: {bytes} bytes in {:.2} s; RSS {} kB, peak {} kB",
            t.elapsed().as_secs_f64(),
            rss_kb(pid, "VmRSS:"),
            rss_kb(pid, "VmHWM:")
        );
    }
    let t = Instant::now();
    let out = Command::new(&bin)
        .args(["--config", config.to_str().unwrap(), "alerts", "--json"])
        .output()
        .unwrap();
    println!(
        "statwatch alerts --json: {} bytes in {:.1} s; daemon RSS {} kB, peak {} kB",
        out.stdout.len(),
        t.elapsed().as_secs_f64(),
        rss_kb(pid, "VmRSS:"),
        rss_kb(pid, "VmHWM:")
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
