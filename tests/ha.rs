//! High availability on a real Alertmanager cluster: two `prometheus-alertmanager` processes
//! gossiping on loopback, a webhook receiver behind them, and two statwatch instances (same
//! config, own stores) polling the same fake CBS server through the 2025 replay. Every alert
//! reaches the receiver exactly once, also when one Alertmanager is killed mid-run and when
//! one statwatch instance is killed mid-poll. Skipped (with a message) when no Alertmanager
//! binary is installed (Debian: `apt-get install prometheus-alertmanager`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::hook::Hook;
use common::*;
use serde_json::Value;

/// How long the second cluster member waits for the first one's notification to show up in
/// the gossiped notification log before sending itself (Alertmanager's default is 15 s).
const PEER_TIMEOUT: &str = "3s";

fn alertmanager_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["alertmanager", "prometheus-alertmanager"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Member {
    web: u16,
    proc: Option<Proc>,
}

fn start_member(bin: &Path, dir: &Path, n: usize, web: u16, cluster: u16, peer: u16) -> Member {
    let storage = dir.join(format!("am{n}"));
    std::fs::create_dir_all(&storage).unwrap();
    let log = std::fs::File::create(dir.join(format!("am{n}.log"))).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .arg(format!("--cluster.listen-address=127.0.0.1:{cluster}"))
        .arg(format!("--cluster.peer=127.0.0.1:{peer}"))
        .arg(format!("--cluster.peer-timeout={PEER_TIMEOUT}"))
        .arg("--cluster.settle-timeout=10s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    Member {
        web,
        proc: Some(Proc(child)),
    }
}

/// Waits until both members answer and see each other (two peers in `/api/v2/status`).
async fn wait_for_cluster(members: &[Member], dir: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut ready = 0;
        for m in members {
            let url = format!("http://127.0.0.1:{}/api/v2/status", m.web);
            if let Ok(r) = client.get(url).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["cluster"]["peers"].as_array().map(Vec::len) == Some(2) {
                        ready += 1;
                    }
                }
            }
        }
        if ready == members.len() {
            return;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("am1.log")).unwrap_or_default();
            panic!("the Alertmanager cluster did not form:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Firing notifications per statwatch id, and the (rule, period) of each, from what the
/// receiver behind Alertmanager accepted.
fn notified(hook: &Hook) -> (BTreeMap<String, usize>, Vec<(String, String)>) {
    let mut ids = BTreeMap::new();
    let mut events = Vec::new();
    for p in hook.accepted() {
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        for a in v["alerts"].as_array().unwrap() {
            if a["status"] != "firing" {
                continue;
            }
            let id = a["labels"]["statwatch_id"].as_str().unwrap().to_string();
            *ids.entry(id).or_insert(0) += 1;
            events.push((
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                a["labels"]["period"].as_str().unwrap().to_string(),
            ));
        }
    }
    events.sort();
    (ids, events)
}

/// One statwatch instance: its own directory, config and store.
fn instance(root: &Path, name: &str, cbs: &CbsServer, ams: &[Member]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let urls = ams
        .iter()
        .map(|m| format!("\"http://127.0.0.1:{}\"", m.web))
        .collect::<Vec<_>>()
        .join(", ");
    let extra =
        format!("{REPLAY_RULES}\n[receivers.am]\nkind = \"alertmanager\"\nurls = [{urls}]\n");
    write_config(
        &dir,
        &cbs_config(&cbs.base_url(), &dir.join("state"), &extra),
    )
}

async fn poll_both(a: &Path, b: &Path) {
    let (oa, ob) = tokio::join!(statwatch(a, &["poll"]), statwatch(b, &["poll"]));
    for o in [oa, ob] {
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_and_two_alertmanagers_notify_every_alert_once() {
    let Some(bin) = alertmanager_binary() else {
        eprintln!(
            "SKIPPED: no `alertmanager` or `prometheus-alertmanager` on PATH \
             (Debian: apt-get install prometheus-alertmanager)"
        );
        return;
    };
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let mut ams = start_cluster(&bin, root.path(), &hook).await;

    let cbs = CbsServer::start().await;
    let a = instance(root.path(), "a", &cbs, &ams);
    let b = instance(root.path(), "b", &cbs, &ams);
    let [february, march, april, may, june] = releases_2025();

    // February: the baseline, nothing fires.
    february.serve(&cbs);
    poll_both(&a, &b).await;

    // March: January first printed at +0.5. Both instances post it to both members; then
    // the first member dies before its group_wait is over: the second one must notify.
    march.serve(&cbs);
    poll_both(&a, &b).await;
    ams[0].proc = None;

    // April: instance b is killed in the middle of its poll; a delivers to the survivor.
    april.serve(&cbs);
    let mut killed = Statwatch::with_config(&b).args(["poll"]).quiet().spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = killed.start_kill();
    let _ = killed.wait().await;
    let oa = statwatch(&a, &["poll"]).await;
    assert!(oa.status.success(), "{}{}", stdout(&oa), stderr(&oa));

    // May and June as published; b catches up from its own store.
    may.serve(&cbs);
    poll_both(&a, &b).await;
    june.serve(&cbs);
    poll_both(&a, &b).await;

    each_alert_is_notified_once(&hook, started).await;
    both_stores_hold_every_alert_delivered(&a, &b).await;
}

/// Two Alertmanager members that gossip with each other, routing every alert to `hook`.
async fn start_cluster(bin: &Path, root: &Path, hook: &Hook) -> Vec<Member> {
    std::fs::write(
        root.join("am.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 168h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n        send_resolved: false\n",
            hook.url
        ),
    )
    .unwrap();
    let (w1, w2, c1, c2) = (free_port(), free_port(), free_port(), free_port());
    let ams = vec![
        start_member(bin, root, 1, w1, c1, c2),
        start_member(bin, root, 2, w2, c2, c1),
    ];
    wait_for_cluster(&ams, root).await;
    ams
}

/// Waits for all six alerts, then long enough for any duplicate to show (a member's peer
/// timeout twice, plus a group interval): each expected alert was notified, once.
async fn each_alert_is_notified_once(hook: &Hook, started: Instant) {
    let expected: Vec<(String, String)> = [
        ("nl-confidence-drop", "2025-04"),
        ("nl-industry-revised", "2025-02"),
        ("nl-industry-streak", "2025-03"),
        ("nl-industry-turn", "2025-01"),
        ("nl-industry-turn", "2025-02"),
        ("nl-industry-turn", "2025-04"),
    ]
    .iter()
    .map(|(r, p)| (r.to_string(), p.to_string()))
    .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while notified(hook).0.len() < expected.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (ids, events) = notified(hook);
    eprintln!(
        "{} notifications of {} alerts, all in after {all_in:?}, test {:?}",
        ids.values().sum::<usize>(),
        ids.len(),
        started.elapsed()
    );
    assert_eq!(events, expected, "{ids:?}");
    assert!(
        ids.values().all(|&n| n == 1),
        "each alert notified once: {ids:?}"
    );
}

/// Both stores hold every alert as delivered to the cluster.
async fn both_stores_hold_every_alert_delivered(a: &Path, b: &Path) {
    for inst in [a, b] {
        let o = statwatch(inst, &["alerts", "--json"]).await;
        let log: Value = serde_json::from_slice(&o.stdout).unwrap();
        let am: Vec<&Value> = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["receiver"] == "am")
            .collect();
        assert_eq!(am.len(), 6, "{}: {am:#?}", inst.display());
        assert!(am.iter().all(|x| x["state"] == "delivered"), "{am:#?}");
    }
}
