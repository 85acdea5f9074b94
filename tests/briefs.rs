//! The brief of the March 2025 CBS release, replayed through the real binary into a webhook:
//! the lead's run computed from the stored series, m/m, producer confidence, the branch counts
//! and movers, the German y/y and m/m derived from the Destatis index, and the text that says
//! them.
//!
//! Figures: C Industrie y/y is the April 2025 vintage plus March's first print (+1.3); m/m
//! are the first prints (+1.0, +1.2, -0.6); confidence is the November 2025 vintage (March -1.5,
//! April -3.3). Of the branches, the four the CBS release named are real (33 repair +11.9,
//! 27 electrical equipment +9.2, 29-30 transport -7.1, 25 metal products -4.0); the other four
//! are placeholders chosen between them, keeping "half grew" as CBS said. The German index
//! (42153-0001) is constructed, in the real wire shape, so that March 2025 is +0.3 % y/y
//! (calendar adjusted) and +3.5 % m/m (seasonally adjusted) as Destatis announced: see
//! tests/fixtures/destatis/README.md.

mod common;

use common::destatis_server::{production_release, DestatisServer, DESTATIS_TOKEN};
use common::hook::Hook;
use common::smtp;
use common::*;
use serde_json::{json, Map, Value};

const MOM: &str = "OntwSeizoengecorrigeerdeProductie_21";

/// (key, title, March 2025 y/y): the eight branches of the default config.
const BRANCHES: [(&str, &str, f64); 8] = [
    ("307600", "10 Voedingsmiddelenindustrie", 1.5),
    ("320700", "20 Chemische industrie", -2.2),
    ("330300", "25 Metaalproductenindustrie", -4.0),
    ("332900", "26 Elektrotechnische industrie", -1.0),
    ("334800", "27 Elektrische apparatenindustrie", 9.2),
    ("336500", "28 Machine-industrie", 0.8),
    ("339205", "29-30 Transportmiddelenindustrie", -7.1),
    ("344400", "33 Reparatie en installatie van machines", 11.9),
];

/// 85806NED with C Industrie (y/y and m/m) and the eight branches (y/y; before March each
/// at +0.5, their history does not matter here), monthly rows up to `last`.
fn industry(yoy: &[(String, f64)], mom: &[(&str, f64)], last: &str, modified: &str) -> FakeTable {
    let mut rows = Vec::new();
    let mut row = |branch: &str, p: &str, y: f64, m: Option<f64>| {
        let mut r = Map::new();
        r.insert("ID".into(), json!(rows.len()));
        r.insert(BRANCH_DIM.into(), json!(format!("{branch}  ")));
        r.insert("Perioden".into(), json!(p));
        r.insert(YOY.into(), json!(y));
        r.insert(MOM.into(), json!(m));
        rows.push(r);
    };
    let periods: Vec<(String, f64)> = until(yoy, last);
    for (p, v) in &periods {
        let m = mom.iter().find(|(q, _)| q == p).map_or(0.1, |x| x.1);
        row("307500", p, *v, Some(m));
        for (key, _, march) in BRANCHES {
            row(key, p, if p == "2025MM03" { march } else { 0.5 }, None);
        }
    }
    let mut keys = vec!["307500  ".to_string()];
    keys.extend(BRANCHES.iter().map(|(k, _, _)| format!("{k}  ")));
    let mut titles: std::collections::HashMap<String, String> = BRANCHES
        .iter()
        .map(|(k, t, _)| (k.to_string(), t.to_string()))
        .collect();
    titles.insert("307500".into(), "C Industrie".into());
    FakeTable {
        modified: modified.into(),
        output_status: "Regulier".into(),
        dimensions: vec![(BRANCH_DIM.into(), keys)],
        periods: periods
            .iter()
            .map(|(p, _)| (p.clone(), "Voorlopig".to_string()))
            .collect(),
        rows,
        titles,
    }
}

/// The brief and the series it reads beyond `cbs_config`'s; `{destatis}` is the fake
/// GENESIS base URL. The German series are the default config's.
const BRIEF: &str = r#"
[sources.destatis]
kind = "destatis"
base_url = "{destatis}"
schedule = "0 */10 8-12 * * Mon-Fri"
timezone = "Europe/Berlin"
username = "{token}"
password = ""
timeout_secs = 2

[[series]]
id = "de.industry.yoy"
source = "destatis"
table = "42153-0001"
measure = "PRO101"
dimensions = { WERT03 = "X13JDKB", WZ08V1 = "WZ08-C" }
title = "Industrial production DE, y/y % (calendar adjusted)"
unit = "2021=100"
derive = "yoy_pct"

[[series]]
id = "de.industry.mom"
source = "destatis"
table = "42153-0001"
measure = "PRO101"
dimensions = { WERT03 = "X13JDKSB", WZ08V1 = "WZ08-C" }
title = "Industrial production DE, m/m % (calendar and seasonally adjusted)"
unit = "2021=100"
derive = "mom_pct"

[[series]]
id = "nl.industry.mom"
source = "cbs"
table = "85806NED"
measure = "OntwSeizoengecorrigeerdeProductie_21"
dimensions = { BedrijfstakkenBranchesSBI2008 = "307500" }
title = "Industrial production NL, m/m % (seasonally adjusted)"
unit = "%"

[[series]]
id = "nl.industry.branch.{BedrijfstakkenBranchesSBI2008}.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = ["307600", "320700", "330300", "332900", "334800", "336500", "339205", "344400"] }
title = "{BedrijfstakkenBranchesSBI2008.title}"
unit = "%"

[[rules]]
id = "nl-industry-streak"
series = "nl.industry.yoy"
kind = "streak"
direction = "positive"
length = 3

[[briefs]]
id = "nl-industry"
title = "Dutch manufacturing"
lead = "nl.industry.yoy"
context = ["nl.industry.mom", "nl.confidence", "de.industry.yoy", "de.industry.mom"]
breakdown = "nl.industry.branch.*.yoy"
top = 2
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_march_2025_release_makes_one_brief_with_its_facts_and_text() {
    let w = World::start().await;
    // The April 2025 vintage (data to February), then March first printed at +1.3.
    let yoy = with(&yoy_vintage(0), &[("2025MM03", 1.3)]);
    let mom = [("2025MM01", 1.0), ("2025MM02", 1.2), ("2025MM03", -0.6)];
    let conf = confidence_vintage();
    w.baseline(&yoy, &mom, &conf).await;
    w.destatis_publishes_march_alone().await;
    w.cbs_publishes_march(&yoy, &mom, &conf).await;

    let posts = w.hook.accepted();
    assert_eq!(posts.len(), 1, "one message for the cycle");
    let v: Value = serde_json::from_slice(&posts[0].body).unwrap();
    // min_severity = critical filters the info streak alert, not the brief.
    assert_eq!(v["alerts"], json!([]));
    let briefs = v["briefs"].as_array().unwrap();
    assert_eq!(briefs.len(), 1);
    let b = &briefs[0];
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["brief", "facts", "id", "period", "text", "title"]);
    assert_eq!(b["brief"], "nl-industry");
    assert_eq!(b["title"], "Dutch manufacturing");
    assert_eq!(b["period"], "2025-03");
    check_facts(&b["facts"]);
    check_text(b["text"].as_str().unwrap());
    check_mail(&w.mail);
    check_and_keep_html(w.dir.path());

    // Nothing new: no second brief; the same release again would have the same id.
    assert!(statwatch(&w.config, &["poll"]).await.status.success());
    assert_eq!(w.hook.accepted().len(), 1);
    assert_eq!(w.mail.messages().len(), 1);
}

/// The fake CBS and GENESIS servers, the webhook and the mail server, and a config with the
/// brief that sends to both.
struct World {
    dir: tempfile::TempDir,
    cbs: CbsServer,
    destatis: DestatisServer,
    hook: Hook,
    mail: smtp::SmtpServer,
    config: std::path::PathBuf,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let cbs = CbsServer::start().await;
        let destatis = DestatisServer::start().await;
        let hook = Hook::start().await;
        let pki = smtp::pki(dir.path());
        let port = free_port();
        let mail = smtp::SmtpServer::start(port, &pki, &dir.path().join("spool"), "starttls");
        let extra = format!(
            "{}\n[receivers.ops]\nkind = \"webhook\"\nurl = \"{}\"\nmin_severity = \"critical\"\n{}",
            BRIEF
                .replace("{destatis}", &destatis.base_url)
                .replace("{token}", DESTATIS_TOKEN),
            hook.url,
            smtp::email_config(port, "starttls", smtp::PASSWORD, Some(&pki.ca)),
        );
        let config = write_config(
            dir.path(),
            &cbs_config(&cbs.base_url(), &dir.path().join("state"), &extra),
        );
        World {
            dir,
            cbs,
            destatis,
            hook,
            mail,
            config,
        }
    }

    /// The baseline: a first poll of both sources makes no brief.
    async fn baseline(&self, yoy: &[(String, f64)], mom: &[(&str, f64)], conf: &[(String, f64)]) {
        self.cbs.set_table(
            INDUSTRY,
            industry(yoy, mom, "2025MM02", "2025-04-10T06:30:00"),
        );
        self.cbs.set_table(
            CONFIDENCE,
            confidence_table(&until(conf, "2025MM03"), "2025-03-28T06:30:00"),
        );
        // Destatis: the February-release vintage (data to February 2025).
        self.destatis
            .publish("07.04.2025 08:00:32h", production_release("2025-04"));
        let o = statwatch(&self.config, &["poll"]).await;
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert!(self.hook.requests().is_empty(), "a baseline makes no brief");
    }

    /// Destatis publishes March on 8 May, CBS on 12 May: the German figures are stored
    /// first, and alone they open no brief (its lead is Dutch). Each of the two series has
    /// March new and February revised.
    async fn destatis_publishes_march_alone(&self) {
        self.destatis
            .publish("08.05.2025 08:00:04h", production_release("2025-05"));
        let o = statwatch(&self.config, &["poll", "--source", "destatis"]).await;
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains("destatis 42153-0001: 2 new periods, 2 revisions"),
            "{}",
            stdout(&o)
        );
        assert!(
            self.hook.requests().is_empty(),
            "no brief without the lead's release"
        );
    }

    /// CBS publishes March on 12 May, with producer confidence for April.
    async fn cbs_publishes_march(
        &self,
        yoy: &[(String, f64)],
        mom: &[(&str, f64)],
        conf: &[(String, f64)],
    ) {
        self.cbs.set_table(
            INDUSTRY,
            industry(yoy, mom, "2025MM03", "2025-05-12T06:30:00"),
        );
        self.cbs.set_table(
            CONFIDENCE,
            confidence_table(&until(conf, "2025MM04"), "2025-04-29T06:30:00"),
        );
        let o = statwatch(&self.config, &["poll", "--source", "cbs"]).await;
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
}

/// The brief's facts: the lead's run, the context's changes and the breakdown.
fn check_facts(f: &Value) {
    assert_eq!(
        f["lead"],
        json!({"series": "nl.industry.yoy", "period": "2025-03", "value": 1.3,
               "run": {"sign": "positive", "length": 3, "previous_sign": "negative",
                       "previous_length": 18, "previous_since": "2023-07"}})
    );
    assert_eq!(
        f["context"],
        json!([
            {"series": "nl.industry.mom", "period": "2025-03", "value": -0.6,
             "previous_value": 1.2, "change": -1.8},
            {"series": "nl.confidence", "period": "2025-04", "value": -3.3,
             "previous_value": -1.5, "change": -1.8},
            // Derived from the index: 104.4 / 104.1 (calendar adjusted), February revised
            // to 90.6 / 94.0; 95.0 / 91.8 (seasonally adjusted), February 91.8 / 93.0.
            {"series": "de.industry.yoy", "period": "2025-03", "value": 0.3,
             "previous_value": -3.6, "change": 3.9},
            {"series": "de.industry.mom", "period": "2025-03", "value": 3.5,
             "previous_value": -1.3, "change": 4.8}
        ])
    );
    let bd = &f["breakdown"];
    assert_eq!(
        (
            bd["rose"].as_u64(),
            bd["fell"].as_u64(),
            bd["total"].as_u64()
        ),
        (Some(4), Some(4), Some(8))
    );
    assert_eq!(bd["glob"], "nl.industry.branch.*.yoy");
    assert_eq!(
        bd["top"],
        json!([
            {"series": "nl.industry.branch.344400.yoy", "title": "33 Reparatie en installatie van machines", "value": 11.9},
            {"series": "nl.industry.branch.334800.yoy", "title": "27 Elektrische apparatenindustrie", "value": 9.2}
        ])
    );
    assert_eq!(
        bd["bottom"],
        json!([
            {"series": "nl.industry.branch.339205.yoy", "title": "29-30 Transportmiddelenindustrie", "value": -7.1},
            {"series": "nl.industry.branch.330300.yoy", "title": "25 Metaalproductenindustrie", "value": -4.0}
        ])
    );
}

/// What the brief's text says.
fn check_text(text: &str) {
    for says in [
        "Dutch manufacturing, 2025-03",
        "+1.3 % in 2025-03, positive for the 3rd month in a row, after 18 months of negative values since 2023-07",
        "-0.6 % in 2025-03 (from +1.2 the period before, -1.8)",
        "Producer confidence NL (manufacturing): -3.3 in 2025-04 (from -1.5 the period before, -1.8)",
        "4 rose and 4 fell",
        "Highest: 33 Reparatie en installatie van machines +11.9 %, 27 Elektrische apparatenindustrie +9.2 %",
        "Lowest: 29-30 Transportmiddelenindustrie -7.1 %, 25 Metaalproductenindustrie -4.0 %",
        "positive for the 3rd month in a row (+1.3 in 2025-03)",
        "Industrial production DE, y/y % (calendar adjusted): +0.3 % in 2025-03 (from -3.6 the period before, +3.9)",
        "Industrial production DE, m/m % (calendar and seasonally adjusted): +3.5 % in 2025-03 (from -1.3 the period before, +4.8)",
    ] {
        assert!(text.contains(says), "the text does not say {says:?}:\n{text}");
    }
}

/// The same brief by mail, first in the message, with the alerts of the cycle after it.
fn check_mail(mail: &smtp::SmtpServer) {
    let msgs = mail.messages();
    assert_eq!(msgs.len(), 1, "one message for the cycle: {msgs:#?}");
    let m = &msgs[0];
    assert_eq!(m["content_type"], "multipart/alternative");
    let subject = m["subject"].as_str().unwrap_or_default();
    assert!(subject.starts_with("Dutch manufacturing"), "{subject}");
    let body = m["body"].as_str().unwrap_or_default();
    let brief_at = body
        .find("Dutch manufacturing, 2025-03")
        .expect("the brief in the mail");
    let alert_at = body
        .find("nl-industry-streak")
        .expect("the streak alert in the mail");
    assert!(brief_at < alert_at, "the brief comes first:\n{body}");
    for says in [
        "+1.3 % in 2025-03, positive for the 3rd month in a row",
        "Highest: 33 Reparatie en installatie van machines +11.9 %",
        "Industrial production DE, y/y % (calendar adjusted): +0.3 % in 2025-03",
    ] {
        assert!(
            body.contains(says),
            "the mail does not say {says:?}:\n{body}"
        );
    }
}

/// The mail's HTML part, laid out like the release: the headline, the lead's chart and the
/// breakdown's bars as two inline PNGs, the context in a table. Kept under
/// target/mail/pipeline_brief/ to be looked at.
fn check_and_keep_html(dir: &std::path::Path) {
    let raw = std::fs::read(dir.join("spool/msg-0001.eml")).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let html = parsed.body_html(0).unwrap().to_string();
    for says in [
        "+1.3 % in 2025-03, positive for the 3rd month in a row",
        "alt=\"The breakdown in 2025-03, highest first: 8 series\"",
        "Producer confidence NL (manufacturing)</td><td",
        ">period before</th>",
    ] {
        assert!(
            html.contains(says),
            "the HTML does not say {says:?}:\n{html}"
        );
    }
    assert!(!html.contains("0 alerts"), "{html}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mail/pipeline_brief");
    std::fs::create_dir_all(&out).unwrap();
    let mut page = html.clone();
    for part in parsed.parts.iter() {
        use mail_parser::MimeHeaders;
        if let Some(cid) = part.content_id() {
            let cid = cid.trim_matches(['<', '>']).to_string();
            let file = format!("{}.png", cid.split('@').next().unwrap());
            std::fs::write(out.join(&file), part.contents()).unwrap();
            page = page.replace(&format!("cid:{cid}"), &file);
        }
    }
    std::fs::write(out.join("mail.html"), page).unwrap();
}
