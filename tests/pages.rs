//! The pages in a real browser: `statwatch run` against the local fake CBS, with the 2025
//! y/y history and two releases that revise it, then `/`, `/series/nl.industry.yoy` and
//! `/alerts` loaded by headless Debian `chromium` (DOM dumped, screenshots saved under
//! target/screenshots/), and `/api/series/ID` compared with `statwatch series ID --json`.
//! Skipped, saying so, when chromium is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::daemon::*;
use common::*;
use common::{until, yoy_vintage};

/// A title with markup characters: it must show as text, never become an element.
const TITLE: &str = "Industrial production NL, y/y % <b>calendar adjusted</b>";

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        let ok = Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| PathBuf::from(name))
    })
}

/// Runs headless chromium on `url` with `mode` (`--dump-dom` or `--screenshot=FILE`);
/// returns its stdout.
fn browse(browser: &Path, profile: &Path, url: &str, mode: &str, size: &str) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={size}"))
        .arg(mode)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {mode} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The fake CBS with the 2025 history, a daemon polling it every 2 s, two releases.
fn daemon_with_history(dir: &Path, port: u16) -> (FakeCbs, Daemon, PathBuf) {
    let cbs = FakeCbs::start();
    for (p, v) in until(&yoy_vintage(0), "2024MM12") {
        cbs.publish(&p, v, "2025-02-10T06:30:00");
    }
    let rules = format!(
        "[[rules]]\nid = \"nl-industry-turn\"\nseries = \"nl.*\"\nkind = \"sign_change\"\nseverity = \"warning\"\n\n[web]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let text = daemon_config(&dir.join("state"), &cbs, "*/2 * * * * *", &rules)
        .replace("Industrial production NL, y/y %", TITLE);
    let path = write_config(dir, &text);
    let daemon = Daemon::spawn(&path, &[]);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let periods = |addr: std::net::SocketAddr| {
        if http_get_fails(&addr.to_string()) {
            return 0;
        }
        let (code, body) = http_get(addr, "/api/series/nl.industry.yoy");
        (code == 200)
            .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
            .flatten()
            .map_or(0, |v| v["observations"].as_array().map_or(0, Vec::len))
    };
    wait_for("the baseline", || periods(addr) > 12);
    let baseline = periods(addr);
    // The baseline has January at +0.3. April: January revised to +0.5, February at +1.0;
    // June: February revised to -0.3 (its sign flips), March at +1.3 (flips back).
    cbs.publish("2025MM01", 0.5, "2025-04-10T06:30:00");
    cbs.publish("2025MM02", 1.0, "2025-04-10T06:30:00");
    wait_for("February", || periods(addr) > baseline);
    cbs.publish("2025MM03", 1.3, "2025-06-10T06:30:00");
    cbs.publish("2025MM02", -0.3, "2025-06-10T06:30:00");
    wait_for("the June release", || periods(addr) > baseline + 1);
    wait_for("its alerts", || {
        http_get(addr, "/alerts").1.contains("2025-03")
    });
    (cbs, daemon, path)
}

#[test]
fn pages_show_series_charts_revisions_and_alerts_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_cbs, mut daemon, config) = daemon_with_history(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();

    // The JSON is exactly `series ID --json`, and an unknown id is a 404.
    let (code, api) = http_get(addr, "/api/series/nl.industry.yoy");
    assert_eq!(code, 200);
    let cli = statwatch_blocking(&config, &["series", "nl.industry.yoy", "--json"]);
    assert_eq!(api, String::from_utf8_lossy(&cli.stdout));
    assert_eq!(http_get(addr, "/api/series/nope").0, 404);
    assert_eq!(http_get(addr, "/series/nope").0, 404);
    assert_eq!(http_get(addr, "/healthz").0, 200);

    let Some(browser) = chromium() else {
        eprintln!("SKIPPED the browser half: chromium is not installed (apt-get install chromium)");
        daemon.signal("-TERM");
        return;
    };
    let profile = dir.path().join("chromium");
    the_index_lists_the_series_and_escapes_its_title(&browser, &profile, &base);
    the_series_page_charts_every_first_print_and_the_revision(&browser, &profile, &base, &api);
    let alerts = browse(
        &browser,
        &profile,
        &format!("{base}/alerts"),
        "--dump-dom",
        "1200,900",
    );
    assert!(alerts.contains("nl-industry-turn"), "{alerts}");
    assert!(
        alerts.contains("journal") && alerts.contains("delivered"),
        "{alerts}"
    );
    screenshot_every_page(&browser, &profile, &base);
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
}

/// The index lists the series with its last value, a sparkline and the source's outcome.
fn the_index_lists_the_series_and_escapes_its_title(browser: &Path, profile: &Path, base: &str) {
    let index = browse(
        browser,
        profile,
        &format!("{base}/"),
        "--dump-dom",
        "1200,900",
    );
    assert!(index.contains("nl.industry.yoy"), "{index}");
    assert!(
        index.contains("2025-03") && index.contains("+1.3"),
        "{index}"
    );
    assert!(index.contains("class=\"spark\""), "no sparkline: {index}");
    assert!(
        index.contains("cbs: 1 tables"),
        "the source's outcome: {index}"
    );
    // The title's markup is text: escaped in the DOM, no <b> element made from it.
    assert!(
        index.contains("&lt;b&gt;calendar adjusted&lt;/b&gt;"),
        "{index}"
    );
    assert!(!index.contains("<b>calendar"), "{index}");
    assert!(!index.contains("<script"), "{index}");
}

/// The series page: a chart with a point per period (its first print), the revision of
/// 2025-02, the title escaped. `api` is the series' JSON.
fn the_series_page_charts_every_first_print_and_the_revision(
    browser: &Path,
    profile: &Path,
    base: &str,
    api: &str,
) {
    let series = browse(
        browser,
        profile,
        &format!("{base}/series/nl.industry.yoy"),
        "--dump-dom",
        "1200,900",
    );
    assert!(series.contains("class=\"chart\""), "no chart: {series}");
    assert!(series.contains("<polyline"), "no line: {series}");
    let periods = serde_json::from_str::<serde_json::Value>(api).unwrap()["observations"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        series.matches("<circle").count(),
        periods,
        "a first print per period"
    );
    assert!(
        series.contains("was 1.0 (Voorlopig"),
        "the revision of 2025-02: {series}"
    );
    assert!(series.contains("&lt;b&gt;calendar adjusted"), "{series}");
}

/// Each page at a desktop size and the index and series at a phone's, kept under
/// target/screenshots/ to be looked at.
fn screenshot_every_page(browser: &Path, profile: &Path, base: &str) {
    let shots = screenshots();
    for (path, file, size) in [
        ("/", "index.png", "1200,900"),
        ("/series/nl.industry.yoy", "series.png", "1200,1400"),
        ("/alerts", "alerts.png", "1200,700"),
        ("/", "index-phone.png", "390,844"),
        ("/series/nl.industry.yoy", "series-phone.png", "390,1400"),
    ] {
        let shot = shots.join(file);
        let _ = std::fs::remove_file(&shot);
        browse(
            browser,
            profile,
            &format!("{base}{path}"),
            &format!("--screenshot={}", shot.display()),
            size,
        );
        let len = std::fs::metadata(&shot).map_or(0, |m| m.len());
        assert!(len > 5_000, "{} is {len} bytes", shot.display());
    }
}
