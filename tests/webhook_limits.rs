//! What bounds a webhook delivery, against real servers on loopback: a receiver's body limit
//! (413) splits a batch, an alert alone over it stays pending, a backlog goes out in posts
//! bounded by count and bytes, and an answer whose body never ends is read only up to a cap.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::hook::Hook;
use common::notify::{WEBHOOK_SECRET as SECRET, *};
use common::*;
use statwatch::model::{DeliveryState, Severity};
use statwatch::notify::{Mode, Notifier};
use statwatch::store::Store;

/// A receiver that answers every POST with 500 and a body that never ends (chunked), and
/// counts what it managed to write on each connection before the client hung up.
struct Endless {
    url: String,
    written: Arc<Mutex<Vec<u64>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Endless {
    async fn start() -> Endless {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let written = Arc::new(Mutex::new(Vec::new()));
        let record = written.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    // Read the request head and its Content-Length body.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let body_len = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            break end + 4 + len;
                        }
                    };
                    while buf.len() < body_len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let head = b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                    if sock.write_all(head).await.is_err() {
                        return;
                    }
                    let data = "oops, the receiver broke. ".repeat(2521); // ~64 KiB
                    let frame = format!("{:x}\r\n{data}\r\n", data.len());
                    let mut total = 0u64;
                    while sock.write_all(frame.as_bytes()).await.is_ok() {
                        total += frame.len() as u64;
                        // Give up on our side long after any sane client has (5 GiB).
                        if total > 5 << 30 {
                            break;
                        }
                    }
                    record.lock().unwrap().push(total);
                });
            }
        });
        Endless {
            url,
            written,
            _server: server,
        }
    }

    fn written(&self) -> Vec<u64> {
        self.written.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_error_body_is_read_only_up_to_a_cap() {
    capture_logs();
    let hook = Endless::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(
        &store,
        "ops",
        &[alert("alert-endless", Severity::Info, "x")],
    );
    // The default 10 s timeout: the answer is cut by its size, not by the clock.
    let n = notifier(&format!(
        "[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\n",
        hook.url
    ));
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    let d = delivery(&store, "ops", "alert-endless");
    assert_eq!(d.state, DeliveryState::Pending, "a 500 is worth retrying");
    assert_eq!(d.attempts, 3);
    let e = d.last_error.unwrap();
    // The start of the answer is in the error (a bounded excerpt), so the operator sees why.
    assert!(e.starts_with("HTTP 500: oops, the receiver broke."), "{e}");
    assert!(e.chars().count() < 300, "{} chars", e.chars().count());
    // Each connection was dropped after a small read: what the server got into the socket
    // is the cap plus the kernel's buffers, not everything it could send in 10 s.
    wait_until(|| hook.written().len() == 3).await;
    let written = hook.written();
    assert!(
        written.iter().all(|&b| b < 64 << 20),
        "bytes the receiver wrote per attempt: {written:?}"
    );
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}

/// Not an assertion: the peak RSS of `statwatch poll` delivering to a receiver that answers
/// 500 with an endless body (`--ignored --nocapture`; needs /usr/bin/time).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn endless_body_rss_probe() {
    let hook = Endless::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    {
        let store = Store::open(&state).unwrap();
        enqueue(&store, "ops", &[alert("alert-rss", Severity::Info, "x")]);
    }
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    let cfg = notify_config(&state)
        .source(
            Source::new("cbs", "cbs")
                .base_url(&dead_url)
                .timeout_secs(1)
                .schedule("0 */5 6-9 * * Mon-Fri"),
        )
        .extra(&format!(
            "[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url
        ))
        .write(dir.path());
    let start = std::time::Instant::now();
    let out = Statwatch::with_config(&cfg)
        .args(["poll"])
        .under("/usr/bin/time", &["-v"])
        .run()
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    let rss = err
        .lines()
        .find(|l| l.contains("Maximum resident set size"))
        .unwrap_or("no RSS line");
    println!(
        "poll exit {:?} in {:?}; {rss}; bytes written per attempt {:?}",
        out.status.code(),
        start.elapsed(),
        hook.written()
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
}

/// `count` alerts with summaries of `size` bytes.
fn flood(prefix: &str, count: usize, size: usize) -> Vec<statwatch::model::Alert> {
    (0..count)
        .map(|i| {
            let mut a = alert(
                &format!("{prefix}-{i:05}"),
                Severity::Info,
                &format!("flood {i}: {}", "x".repeat(size)),
            );
            a.detected_at += chrono::Duration::microseconds(i as i64);
            a
        })
        .collect()
}

/// Every id of every accepted POST, and how often each was accepted.
fn accepted_ids(hook: &Hook) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for r in hook.requests().iter().filter(|r| r.status == 200) {
        for id in r.alert_ids() {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

#[tokio::test]
async fn a_body_limit_answered_with_413_splits_the_batch_and_loses_nothing() {
    capture_logs();
    let hook = Hook::start().await;
    let limit = 1024 * 1024;
    hook.limit_body(limit);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // 400 alerts of about 10 KB each: 4 MB, allowed in one POST by this config's bounds, so
    // only the receiver's 413 can make the parts small enough.
    let alerts = flood("big", 400, 10_000);
    assert_eq!(enqueue(&store, "ops", &alerts), 400);
    let extra = format!(
        "[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nmax_batch_alerts = 10000\nmax_batch_bytes = 67108864\n",
        hook.url
    );
    let n = notifier(&extra);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    let ops = &report.receivers[0];
    assert_eq!(
        (ops.delivered, ops.failed, ops.pending),
        (400, 0, 0),
        "{report:?}"
    );
    let reqs = hook.requests();
    assert!(
        reqs.iter().any(|r| r.status == 413),
        "the first POST was too large"
    );
    let accepted: Vec<_> = reqs.iter().filter(|r| r.status == 200).collect();
    assert!(accepted.iter().all(|r| r.body.len() <= limit));
    let seen = accepted_ids(&hook);
    assert_eq!(seen.len(), 400);
    assert!(seen.values().all(|n| *n == 1), "an alert accepted twice");
    eprintln!(
        "413 split: {} POSTs, {} accepted, largest accepted {} bytes",
        reqs.len(),
        accepted.len(),
        accepted.iter().map(|r| r.body.len()).max().unwrap()
    );
    for id in ["big-00000", "big-00399"] {
        assert_eq!(delivery(&store, "ops", id).state, DeliveryState::Delivered);
    }
    check_no_secret(&format!("{report:?}"));
}

#[tokio::test]
async fn one_alert_over_the_body_limit_stays_pending_and_names_the_limit() {
    capture_logs();
    let hook = Hook::start().await;
    hook.limit_body(2000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut alerts = flood("one", 3, 100);
    alerts[1].summary = "y".repeat(5000);
    enqueue(&store, "ops", &alerts);
    let n = ops_notifier(&hook.url);
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    let ops = &report.receivers[0];
    assert_eq!(
        (ops.delivered, ops.failed, ops.pending),
        (2, 0, 1),
        "{report:?}"
    );
    let d = delivery(&store, "ops", "one-00001");
    // In the whole POST, in its half, then alone: and not again in this poll.
    assert_eq!(d.attempts, 3);
    assert_eq!(hook.requests().len(), 5);
    assert_eq!(d.state, DeliveryState::Pending);
    let e = d.last_error.unwrap();
    assert!(
        e.contains("413") && e.contains("body size limit") && e.contains("alone"),
        "{e}"
    );
}

#[tokio::test]
async fn a_backlog_goes_out_in_posts_bounded_by_count_and_by_bytes() {
    capture_logs();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // By count: 50 alerts a POST.
    enqueue(&store, "ops", &flood("count", 120, 100));
    let extra = format!(
        "[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\nmax_batch_alerts = 50\n",
        hook.url
    );
    let n = Notifier::new(&config(&extra)).unwrap();
    let report = n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(report.receivers[0].delivered, 120, "{report:?}");
    let sizes: Vec<usize> = hook
        .requests()
        .iter()
        .map(|r| r.alert_ids().len())
        .collect();
    assert_eq!(sizes, [50, 50, 20]);
    // By bytes: 64 KiB a POST.
    let hook2 = Hook::start().await;
    enqueue(&store, "ops", &flood("bytes", 60, 4000));
    let extra = format!(
        "[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\nmax_batch_bytes = 65536\n",
        hook2.url
    );
    let n = Notifier::new(&config(&extra)).unwrap();
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(report.receivers[0].delivered, 60, "{report:?}");
    let reqs = hook2.requests();
    assert!(reqs.len() >= 4, "{} POSTs", reqs.len());
    assert!(reqs.iter().all(|r| r.body.len() <= 65536));
    let seen = accepted_ids(&hook2);
    assert_eq!(seen.len(), 60);
    // In order: the backlog is sent oldest first, part after part.
    let order: Vec<String> = reqs.iter().flat_map(|r| r.alert_ids()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}
