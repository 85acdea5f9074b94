//! The shipped default config, pointed at the fake CBS server built in the real tables'
//! shapes (81234ned with its Marges and Seizoencorrectie dimensions and four measures;
//! 85806NED with its branches and measures) and at the fake GENESIS service answering the
//! constructed 42153-0001 ffcsv (real codes and wire shape, see
//! tests/fixtures/destatis/README.md): `check` passes and every table polls, so a key the
//! config pins that the real table does not have would fail here, not in production; and the
//! German y/y and m/m the config derives from the index are the published +0.3 and +3.5.

mod common;

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Command, Stdio};

use common::destatis_server::{production_release, DestatisServer, DESTATIS_TOKEN};
use common::*;
use serde_json::{json, Map, Value};

/// A table with every combination of `dims` keys, each measure a value per period.
fn table(dims: &[(&str, &[&str])], measures: &[&str], periods: &[&str]) -> FakeTable {
    let mut combos: Vec<Vec<(&str, &str)>> = vec![Vec::new()];
    for (dim, keys) in dims {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                keys.iter().map(move |k| {
                    let mut c = c.clone();
                    c.push((*dim, *k));
                    c
                })
            })
            .collect();
    }
    let mut rows = Vec::new();
    for combo in &combos {
        for (i, p) in periods.iter().enumerate() {
            let mut r = Map::new();
            r.insert("ID".into(), json!(rows.len()));
            for (dim, key) in combo {
                r.insert((*dim).into(), json!(key));
            }
            r.insert("Perioden".into(), json!(p));
            for (m, measure) in measures.iter().enumerate() {
                let v = ((i as f64 - 6.0) * 0.7 + m as f64 * 0.3 - 1.0 * 10.0).round() / 10.0;
                r.insert((*measure).into(), Value::from(v));
            }
            rows.push(r);
        }
    }
    FakeTable {
        modified: "2025-05-09T06:30:00".into(),
        output_status: "Regulier".into(),
        dimensions: dims
            .iter()
            .map(|(d, keys)| (d.to_string(), keys.iter().map(|k| k.to_string()).collect()))
            .collect(),
        periods: periods
            .iter()
            .map(|p| (p.to_string(), "Voorlopig".to_string()))
            .collect(),
        rows,
        titles: HashMap::new(),
    }
}

/// The fake servers serving the default config's tables, and the shipped config pointed at
/// them (bound: the servers answer and the directory stays while this lives).
struct Fakes {
    _cbs: CbsServer,
    destatis: DestatisServer,
    _dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
}

async fn default_config_on_fakes() -> Fakes {
    let cbs = CbsServer::start().await;
    let destatis = DestatisServer::start().await;
    destatis.publish("08.05.2025 08:00:04h", production_release("2025-05"));
    serve_the_real_shapes(&cbs);
    let dir = tempfile::tempdir().unwrap();
    let cfg = the_default_config(dir.path(), &cbs, &destatis);
    Fakes {
        _cbs: cbs,
        destatis,
        _dir: dir,
        cfg,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_table_of_the_default_config_polls_against_the_real_shapes() {
    let fakes = default_config_on_fakes().await;
    let destatis = &fakes.destatis;
    let ((ok, text), german) = check_poll_and_read_the_german_figures(fakes.cfg.clone()).await;
    assert!(ok, "every table must poll:\n{text}");
    assert!(!text.contains("FAILED"), "{text}");
    for t in [
        format!("cbs {INDUSTRY}: "),
        format!("cbs {CONFIDENCE}: "),
        "destatis 42153-0001: ".to_string(),
    ] {
        assert!(text.contains(&t), "{t} was not polled:\n{text}");
    }
    // y/y on the calendar adjusted index, m/m on the seasonally adjusted one.
    assert_eq!(
        german,
        [
            Some((json!("2025-03"), json!(0.3))),
            Some((json!("2025-03"), json!(3.5)))
        ]
    );
    assert_eq!(destatis.count("data/tablefile"), 1, "one download");
}

/// 85806NED and 81234ned in their real shapes: every branch, dimension key and measure,
/// January 2024 to March 2025.
fn serve_the_real_shapes(cbs: &CbsServer) {
    let periods: Vec<String> = (1..=12)
        .map(|m| format!("2024MM{m:02}"))
        .chain((1..=3).map(|m| format!("2025MM{m:02}")))
        .collect();
    let periods: Vec<&str> = periods.iter().map(String::as_str).collect();
    let branches = [
        "300002  ", "307500  ", "307600  ", "320700  ", "330300  ", "332900  ", "334800  ",
        "336500  ", "339205  ", "344400  ",
    ];
    cbs.set_table(
        INDUSTRY,
        table(
            &[(BRANCH_DIM, &branches)],
            &[
                YOY,
                "OntwSeizoengecorrigeerdeProductie_21",
                "SeizoengecorrigeerdeProductie_3",
            ],
            &periods,
        ),
    );
    cbs.set_table(
        CONFIDENCE,
        table(
            &[
                (BRANCH_DIM, &["307500", "307600"]),
                ("Marges", &["MW00000", "MOG0095", "MBG0095"]),
                ("Seizoencorrectie", &["A042500", "A042501"]),
            ],
            &[
                CONF_MEASURE,
                "VerwachteBedrijvigheid_2",
                "OordeelOrderpositie_3",
                "OordeelVoorraden_4",
            ],
            &periods,
        ),
    );
}

/// The shipped config, its state in `dir` and its sources on the fake servers.
fn the_default_config(
    dir: &std::path::Path,
    cbs: &CbsServer,
    destatis: &DestatisServer,
) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string("config/statwatch.toml").unwrap();
    let text = shipped
        .replace(
            "state_dir = \"${STATE_DIRECTORY:-var/statwatch}\"",
            &format!("state_dir = \"{}\"", dir.join("state").display()),
        )
        .replacen(
            "kind     = \"cbs\"",
            &format!("kind     = \"cbs\"\nbase_url = \"{}\"", cbs.base_url()),
            1,
        )
        .replacen(
            "kind     = \"destatis\"",
            &format!(
                "kind     = \"destatis\"\nbase_url = \"{}\"",
                destatis.base_url
            ),
            1,
        );
    assert_ne!(
        text, shipped,
        "the default config's shape changed: update this test"
    );
    let cfg = dir.join("statwatch.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `check` (which must pass), `poll` (its success and output), then the last observation of
/// the German y/y and m/m.
async fn check_poll_and_read_the_german_figures(
    cfg: std::path::PathBuf,
) -> ((bool, String), [Option<(Value, Value)>; 2]) {
    let run = move |args: &[&str]| {
        let out = Statwatch::with_config(&cfg)
            .args(args)
            // The config reads the GENESIS token from here, as in production.
            .env("DESTATIS_TOKEN", DESTATIS_TOKEN)
            .output();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    // The server runs on this runtime: the binary is waited for off its workers.
    tokio::task::spawn_blocking(move || {
        let (ok, text) = run(&["check"]);
        assert!(ok, "{text}");
        let poll = run(&["poll"]);
        let german = ["de.industry.yoy", "de.industry.mom"].map(|id| {
            let (ok, json) = run(&["series", id, "--json"]);
            assert!(ok, "{json}");
            let v: Value = serde_json::from_str(&json).expect("series --json");
            let last = v["observations"].as_array().unwrap().last().cloned();
            last.map(|o| (o["period"].clone(), o["value"].clone()))
        });
        (poll, german)
    })
    .await
    .unwrap()
}

/// Not a check (memory is never asserted): the daemon's idle memory on the default config,
/// read from /proc/PID/status after its first poll of both sources. Run by
/// benches/idle_rss.sh; `STATWATCH_BIN` measures that binary instead of this build's.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn idle_rss_after_the_first_poll() {
    let fakes = default_config_on_fakes().await;
    let mut run = Statwatch::with_config(&fakes.cfg)
        .args(["run"])
        .env("DESTATIS_TOKEN", DESTATIS_TOKEN);
    if let Ok(bin) = std::env::var("STATWATCH_BIN") {
        run = run.of_binary(&bin);
    }
    let mut cmd = run.command();
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let report = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let polled = lines
            .map_while(Result::ok)
            .filter(|line| line.contains("poll finished"))
            .inspect(|line| assert!(!line.contains("FAILED"), "{line}"))
            .take(2)
            .count();
        assert_eq!(polled, 2, "the daemon ended before both sources polled");
        // The poll's tasks and buffers settle: the figure is the idle daemon's.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        // SIGTERM: the daemon drains and exits as a service manager would stop it.
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
        status
            .lines()
            .filter(|l| {
                ["VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    })
    .await
    .unwrap();
    println!("default config, after the first poll:\n{report}");
}
