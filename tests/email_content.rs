//! What a mail says and shows, through a REAL SMTP server (tests/email.rs has the server and
//! the transport): the HTML part with an inline PNG chart per brief and alert, a brief's mail
//! laid out like the release (headline, lead chart, context table, sorted bars), and a
//! digest with its summary on top of every alert. The rendered mails are kept under
//! target/mail/ to be looked at.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::notify::*;
use common::smtp::*;
use common::*;
use mail_parser::MimeHeaders;
use statwatch::model::{
    Alert, Brief, Cause, Details, Period, Severity, StoredObservation, Vintage,
};
use statwatch::notify::Mode;
use statwatch::store::{PollWrite, Store};

/// 40 months of a y/y series ending in 2025-03 (a run of negative values, then three positive
/// ones); 2025-02 was revised from -0.4 to +1.0.
fn industry_history() -> Vec<StoredObservation> {
    let t = chrono::Utc::now();
    (0..40)
        .map(|i| {
            let (year, month) = (2021 + (i + 11) / 12, ((i + 11) % 12 + 1) as u8);
            let value = match (year, month) {
                (2025, 3) => 1.3,
                (2025, 2) => 1.0,
                (2025, 1) => 0.4,
                _ => ((i as f64) * 0.7).sin() * 3.0 - 1.5,
            };
            let revisions = if (year, month) == (2025, 2) {
                vec![Vintage {
                    value: -0.4,
                    status: "Voorlopig".into(),
                    seen_at: t,
                }]
            } else {
                Vec::new()
            };
            StoredObservation {
                period: Period::Month(year, month),
                source_period: format!("{year}MM{month:02}").into(),
                value,
                status: "Voorlopig".into(),
                first_seen: t,
                value_seen: t,
                revisions,
            }
        })
        .collect()
}

/// A brief, a new-period alert and a revision alert on the same series.
fn html_alerts() -> Vec<Alert> {
    let mut brief = alert(
        "id-brief",
        Severity::Info,
        "Dutch manufacturing: output +1.3 %",
    );
    brief.kind = "brief".into();
    brief.rule = "nl-industry".into();
    brief.title = "Dutch manufacturing".into();
    brief.details = Details::Brief(Brief {
        text: "Dutch manufacturing, 2025-03\n\nManufacturing output rose 1.3 % on a year earlier \
               in March 2025, positive for the 3rd month in a row <after> 18 months of negative \
               values since 2023-07."
            .into(),
        facts: None,
        drawn: None,
    });
    let new = alert("id-new", Severity::Warning, "Third month of growth");
    let mut revised = alert(
        "id-rev",
        Severity::Critical,
        "2025-02 revised: sign flipped",
    );
    revised.kind = "revision".into();
    revised.cause = Cause::Revision;
    revised.period = Some(Period::Month(2025, 2));
    revised.source_period = "2025MM02".into();
    revised.value = Some(1.0);
    revised.details = Details::Revision { old_value: -0.4 };
    vec![new, revised, brief]
}

/// The inline parts of a parsed message by Content-ID (without the angle brackets).
fn inline_pngs(msg: &mail_parser::Message<'_>) -> BTreeMap<String, Vec<u8>> {
    msg.parts
        .iter()
        .filter_map(|p| {
            let cid = p.content_id()?.trim_matches(['<', '>']).to_string();
            let ct = p.content_type()?;
            assert_eq!(
                (ct.ctype(), ct.subtype()),
                ("image", Some("png")),
                "part {cid}"
            );
            Some((cid, p.contents().to_vec()))
        })
        .collect()
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG that decodes");
    let info = reader.info();
    (info.width, info.height)
}

#[tokio::test]
async fn html_part_with_an_inline_png_chart_per_brief_and_alert() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let spool = dir.path().join("spool");
    let server = SmtpServer::start(port, &pki, &spool, "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    store
        .commit(&PollWrite {
            observations: vec![("nl.industry.yoy".into(), industry_history())],
            ..Default::default()
        })
        .unwrap();
    let alerts = html_alerts();
    enqueue(&store, "macro", &alerts);
    let n = notifier(&email_config(port, "starttls", PASSWORD, Some(&pki.ca)));
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(server.messages().len(), 1);
    let raw = std::fs::read(spool.join("msg-0001.eml")).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();

    let text = msg.body_text(0).expect("a text/plain part");
    for a in &alerts {
        assert!(
            text.contains(&a.id),
            "id {} missing from the text:\n{text}",
            a.id
        );
    }
    assert!(text.contains("revision (was -0.4)"), "{text}");
    let html = msg.body_html(0).expect("a text/html part").to_string();
    let pngs = inline_pngs(&msg);
    let cids: Vec<&str> = html
        .split("src=\"cid:")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(cids.len(), 3, "a chart per brief and alert:\n{html}");
    for cid in &cids {
        let png = pngs
            .get(*cid)
            .unwrap_or_else(|| panic!("cid:{cid} resolves to no part"));
        assert_eq!(png_size(png), (640, 280), "cid:{cid}");
    }
    // Briefs first; the brief's text escaped, not markup.
    let (b, a) = (html.find("id-brief").unwrap(), html.find("id-new").unwrap());
    assert!(b < a, "the brief leads");
    assert!(html.contains("&lt;after&gt;") && !html.contains("<after>"));
    for needle in [
        "revision (was -0.4)",
        "+1.3 %",
        "2025-03 (2025MM03)",
        "nl-industry-streak",
    ] {
        assert!(html.contains(needle), "{needle:?} missing from the HTML");
    }
    // The revision's chart: the marked point and the old value, the richest to look at.
    keep_for_people(&raw, &html, &pngs[cids[2]]);
}

/// One rendered mail, its HTML and a chart under target/mail/, to be looked at.
fn keep_for_people(raw: &[u8], html: &str, chart: &[u8]) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mail");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mail.eml"), raw).unwrap();
    std::fs::write(out.join("mail.html"), html).unwrap();
    std::fs::write(out.join("chart.png"), chart).unwrap();
}

/// A brief as `[[briefs]]` makes it: text, facts and what the HTML draws (`drawn`), over
/// Dutch manufacturing with its context series and the breakdown by branch.
fn brief_with_breakdown() -> Alert {
    let branches = [
        ("10-12 Voedings-, genotmiddelenindustrie", 2.4),
        ("13-15 Textiel-, kleding-, lederindustrie", 11.9),
        ("16 Houtindustrie", -1.8),
        ("17 Papierindustrie", 0.6),
        ("19 Aardolie-industrie", -5.5),
        ("20-21 Chemische en farmaceutische industrie", 4.1),
        ("22 Rubber- en kunststofproductindustrie", -0.4),
        ("25 Metaalproductenindustrie", -4.0),
        ("26 Elektrotechnische industrie", 3.3),
        ("27 Elektrische apparatenindustrie", 9.2),
        ("28 Machine-industrie", 1.1),
        ("29-30 Transportmiddelenindustrie", -7.1),
    ];
    let mut bars: Vec<serde_json::Value> = branches
        .iter()
        .enumerate()
        .map(|(i, (t, v))| serde_json::json!({"series": format!("nl.industry.branch.{i}.yoy"), "title": t, "value": v}))
        .collect();
    bars.sort_by(|a, b| {
        b["value"]
            .as_f64()
            .unwrap()
            .total_cmp(&a["value"].as_f64().unwrap())
    });
    let text = "Dutch manufacturing, 2025-03\n\n\
        Industrial production NL, y/y %: +1.3 % in 2025-03, positive for the 3rd month in a row, after 18 months of negative values since 2023-07.\n\
        Producer confidence NL: -2.1 in 2025-03 (from -3.0 the period before, +0.9).\n\
        Industrial production DE, y/y %: +0.3 % in 2025-03 (from -3.6 the period before, +3.9).\n\
        Of 12 series (nl.industry.branch.*.yoy) in 2025-03, 7 rose and 5 fell.\n\
        Highest: 13-15 Textiel-, kleding-, lederindustrie +11.9 %, 27 Elektrische apparatenindustrie +9.2 %.\n\
        Lowest: 29-30 Transportmiddelenindustrie -7.1 %, 19 Aardolie-industrie -5.5 %.\n";
    let mut b = alert(
        "id-brief",
        Severity::Info,
        "Dutch manufacturing: Industrial production NL, y/y %: +1.3 % in 2025-03",
    );
    b.kind = "brief".into();
    b.rule = "nl-industry".into();
    b.title = "Dutch manufacturing".into();
    b.details = serde_json::json!({
        "text": text,
        "facts": {
            "lead": {"series": "nl.industry.yoy", "period": "2025-03", "value": 1.3,
                     "run": {"sign": "positive", "length": 3, "previous_sign": "negative",
                             "previous_length": 18, "previous_since": "2023-07"}},
            "context": [
                {"series": "nl.confidence", "period": "2025-03", "value": -2.1, "previous_value": -3.0, "change": 0.9},
                {"series": "de.industry.yoy", "period": "2025-03", "value": 0.3, "previous_value": -3.6, "change": 3.9}
            ],
            "breakdown": {"glob": "nl.industry.branch.*.yoy", "period": "2025-03", "rose": 7, "fell": 5, "total": 12,
                          "top": [], "bottom": []}
        },
        "drawn": {
            "titles": {"nl.industry.yoy": "Industrial production NL, y/y", "nl.confidence": "Producer confidence NL",
                       "de.industry.yoy": "Industrial production DE, y/y"},
            "units": {"nl.industry.yoy": "%", "nl.confidence": "balance", "de.industry.yoy": "%",
                      "nl.industry.branch.0.yoy": "%"},
            "bars": bars,
            "hidden": 0
        }
    })
    .as_object()
    .cloned()
    .unwrap()
        .into();
    b
}

/// The mail's HTML with its images as files beside it, under target/mail/<name>/, so a
/// browser shows it as a mail client would.
fn keep_html(name: &str, html: &str, pngs: &BTreeMap<String, Vec<u8>>) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/mail")
        .join(name);
    std::fs::create_dir_all(&out).unwrap();
    let mut page = html.to_string();
    for (cid, png) in pngs {
        let file = format!("{}.png", cid.split('@').next().unwrap());
        std::fs::write(out.join(&file), png).unwrap();
        page = page.replace(&format!("cid:{cid}"), &file);
    }
    std::fs::write(out.join("mail.html"), page).unwrap();
}

#[tokio::test]
async fn a_brief_mail_has_a_headline_its_lead_chart_a_context_table_and_sorted_bars() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let spool = dir.path().join("spool");
    let server = SmtpServer::start(port, &pki, &spool, "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    store
        .commit(&PollWrite {
            observations: vec![("nl.industry.yoy".into(), industry_history())],
            ..Default::default()
        })
        .unwrap();
    enqueue(&store, "macro", &[brief_with_breakdown()]);
    let n = notifier(&email_config(port, "starttls", PASSWORD, Some(&pki.ca)));
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(server.messages().len(), 1);
    let raw = std::fs::read(spool.join("msg-0001.eml")).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = msg.body_text(0).unwrap();
    assert!(
        !text.contains("0 alerts"),
        "a brief alone says nothing of alerts:\n{text}"
    );
    let html = msg.body_html(0).unwrap().to_string();
    assert!(!html.contains("0 alerts"), "{html}");
    assert!(
        html.contains("margin:0 0 12px 0;\">Industrial production NL, y&#x2f;y %: +1.3 % in 2025-03, positive for the 3rd month in a row"),
        "the lead's sentence is the headline:\n{html}"
    );
    for needle in [
        "Producer confidence NL",
        "-3.0",
        "+0.9",
        "Industrial production DE, y&#x2f;y",
        "-3.6 %",
        "Of 12 series (nl.industry.branch.*.yoy) in 2025-03, 7 rose and 5 fell.",
    ] {
        assert!(
            html.contains(needle),
            "{needle:?} missing from the HTML:\n{html}"
        );
    }
    let pngs = inline_pngs(&msg);
    assert_eq!(pngs.len(), 2, "the lead chart and the bars");
    assert_eq!(png_size(&pngs["chart1@statwatch"]), (640, 280));
    let (w, h) = png_size(&pngs["chart2@statwatch"]);
    assert_eq!(w, 640);
    assert!(h >= 12 * 20, "a bar per branch: {h} px high");
    keep_html("brief", &html, &pngs);
}

#[tokio::test]
async fn an_email_digest_has_the_summary_on_top_of_every_alert() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let spool = dir.path().join("spool");
    let server = SmtpServer::start(port, &pki, &spool, "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    let mut alerts: Vec<Alert> = (0..60)
        .map(|i| {
            let mut a = alert(
                &format!("em-{i:03}"),
                Severity::Info,
                &format!(
                    "Unemployment, region {i:02}: +{}.{} % in 2025-03",
                    3 + i % 4,
                    i % 10
                ),
            );
            a.series = format!("nl.unemployment.region{i:02}");
            a.rule = "nl-regions-release".into();
            a.detected_at += chrono::Duration::milliseconds(i as i64 - 1000);
            a
        })
        .collect();
    alerts[9].severity = Severity::Critical;
    alerts.push(brief_with_breakdown());
    enqueue(&store, "macro", &alerts);
    let text = format!(
        "{}\n[web]\npublic_url = \"https://stats.example.org/\"\n",
        email_config(port, "starttls", PASSWORD, Some(&pki.ca))
    );
    let report = notifier(&text).deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(server.messages().len(), 1, "one mail");
    assert_eq!(report.receivers[0].delivered, 61);
    let raw = std::fs::read(spool.join("msg-0001.eml")).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body = msg.body_text(0).unwrap().to_string();
    let digest = body
        .find("statwatch digest: 1 brief and 60 alerts")
        .expect(&body);
    let list = body.find("statwatch: All 60 alerts").expect(&body);
    assert!(digest < list, "the summary on top");
    for needle in [
        "1 critical · 59 info",
        "The 10 most severe of 60:",
        "https://stats.example.org/alerts",
    ] {
        assert!(
            body[digest..list].contains(needle),
            "{needle:?} missing from\n{body}"
        );
    }
    for i in 0..60 {
        assert!(
            body[list..].contains(&format!("em-{i:03}")),
            "em-{i:03} in the full list"
        );
    }
    let html = msg.body_html(0).unwrap().to_string();
    assert!(
        html.contains("statwatch digest: 1 brief and 60 alerts") && html.contains("all 60 alerts")
    );
    keep_html("digest", &html, &inline_pngs(&msg));
}
