//! Slack, Mattermost and Teams receivers against local servers that answer like each
//! platform and check the documented shapes (tests/common/notify/platforms.rs), with a
//! real sled store in a temp dir. The first accepted Slack, Teams and Mattermost messages
//! are written to target/receivers/ as samples (and a Slack message with a brief's whole
//! text, `slack_brief.json`). Long cycles (split, paced, digested) are in tests/chat_cycles.rs.

mod common;

use common::notify::chat::*;
use common::notify::platforms::*;
use common::notify::*;
use common::*;
use statwatch::model::{DeliveryState, Severity};
use statwatch::notify::Mode;
use statwatch::store::Store;

#[tokio::test]
async fn slack_gets_one_valid_block_kit_message_per_cycle() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &two_alerts());
    let n = paced(&chat("team", "slack", &p.url(SLACK_PATH)));
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let reqs = p.requests();
    assert_eq!(reqs.len(), 1, "one message for the cycle");
    assert_eq!(reqs[0].invalid, None);
    assert_eq!(reqs[0].status, 200);
    let v = reqs[0].json();
    let text = v.to_string();
    for needle in [
        "+1.3 %",
        "+0.3 from 2025-02 (+1.0 %)",
        "2025-03 (2025MM03)",
        "-0.4 from 2025-01 (+0.1 %)",
        "revision (was 1.0)",
        "3f0c9a1e",
        "9b21c0d4",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from {text}");
    }
    // The most severe alert names the message.
    assert!(v["text"].as_str().unwrap().contains("turned negative"));
    assert_eq!(
        delivery(&store, "team", "3f0c9a1e").state,
        DeliveryState::Delivered
    );
    sample("slack.json", &reqs[0].body);
    // Nothing left: nothing sent again.
    n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(p.requests().len(), 1);
}

#[tokio::test]
async fn a_webhook_body_at_slack_is_refused_with_invalid_payload_for_good() {
    // What the issue starts from: statwatch's own webhook payload is not Block Kit.
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "hook", &two_alerts()[..1]);
    let extra = format!(
        "[receivers.hook]\nkind = \"webhook\"\nurl = \"{}\"\n",
        p.url(SLACK_PATH)
    );
    let report = paced(&extra).deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    let reqs = p.requests();
    assert_eq!(reqs.len(), 1, "a 400 is not retried");
    assert!(reqs[0].invalid.is_some());
    let d = delivery(&store, "hook", "3f0c9a1e");
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.last_error.as_deref(), Some("HTTP 400: invalid_payload"));
}

#[tokio::test]
async fn slack_429_waits_for_retry_after() {
    let p = Platforms::start().await;
    p.script(vec![Reply {
        status: 429,
        retry_after: Some("1"),
        body: "rate_limited",
    }]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &two_alerts());
    let n = paced(&chat("team", "slack", &p.url(SLACK_PATH)));
    n.deliver(&store, Mode::Poll).await.unwrap();
    let reqs = p.requests();
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let gap = secs_between(reqs[0].at, reqs[1].at);
    assert!(gap >= 1.0, "retried {gap} s after a Retry-After of 1 s");
    let d = delivery(&store, "team", "9b21c0d4");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 2);
}

#[tokio::test]
async fn teams_202_and_mattermost_ok_deliver() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "t", &two_alerts());
    enqueue(&store, "m", &two_alerts());
    let extra = [
        chat("t", "teams", &p.url(TEAMS_PATH)),
        chat("m", "mattermost", &p.url(MATTERMOST_PATH)),
    ]
    .concat();
    let report = paced(&extra).deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    for (path, status, file) in [
        (TEAMS_PATH, 202, "teams.json"),
        (MATTERMOST_PATH, 200, "mattermost.json"),
    ] {
        let reqs: Vec<_> = p
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].invalid, None);
        assert_eq!(reqs[0].status, status);
        let text = reqs[0].json().to_string();
        assert!(
            text.contains("+0.3 from 2025-02 (+1.0 %)") && text.contains("9b21c0d4"),
            "{text}"
        );
        sample(file, &reqs[0].body);
    }
    for r in ["t", "m"] {
        assert_eq!(
            delivery(&store, r, "9b21c0d4").state,
            DeliveryState::Delivered
        );
    }
}

#[tokio::test]
async fn every_chat_platform_gets_the_whole_text_of_a_brief() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (brief, text) = long_brief();
    assert!(
        text.chars().count() > 3000 * 2,
        "longer than two Slack sections"
    );
    let cycle = [vec![brief], two_alerts()].concat();
    for r in ["s", "m", "t"] {
        enqueue(&store, r, &cycle);
    }
    let report = paced(&all_three(&p))
        .deliver(&store, Mode::Poll)
        .await
        .unwrap();
    assert!(!report.failed(), "{report:?}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    slack_sections_put_together_are_the_text(&one_message(&p, SLACK_PATH), &lines);
    teams_has_every_line_in_order(&one_message(&p, TEAMS_PATH), &lines);
    mattermost_has_the_whole_text(&one_message(&p, MATTERMOST_PATH), &lines);
    sample(
        "slack_brief.json",
        &serde_json::to_vec_pretty(&one_message(&p, SLACK_PATH)).unwrap(),
    );
}

/// A receiver on each chat platform: Slack `s`, Mattermost `m` and Teams `t`.
fn all_three(p: &Platforms) -> String {
    [
        chat("s", "slack", &p.url(SLACK_PATH)),
        chat("m", "mattermost", &p.url(MATTERMOST_PATH)),
        chat("t", "teams", &p.url(TEAMS_PATH)),
    ]
    .concat()
}

/// The one valid message the platform at `path` got.
fn one_message(p: &Platforms, path: &str) -> serde_json::Value {
    let reqs: Vec<_> = p
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(reqs.len(), 1, "{path}: one message for the cycle");
    assert_eq!(reqs[0].invalid, None, "{path}");
    reqs[0].json()
}

/// The text's lines, empty ones left out.
fn squeeze(t: &str) -> String {
    t.lines()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Slack: mrkdwn sections of at most 3,000 characters that put together are the text.
fn slack_sections_put_together_are_the_text(v: &serde_json::Value, lines: &[&str]) {
    let sections: Vec<String> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .take_while(|b| b["type"] == "section" && b["fields"].is_null())
        .map(|b| {
            assert_eq!(b["text"]["type"], "mrkdwn");
            b["text"]["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(sections.len() >= 3, "{} sections", sections.len());
    let joined = sections
        .join("\n")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert_eq!(
        squeeze(&joined),
        lines.join("\n"),
        "Slack: the whole text, in order"
    );
    assert!(v
        .to_string()
        .contains("brief nl-industry · id brief-2025-03"));
    assert!(
        v.to_string().contains("9b21c0d4"),
        "the alerts follow the brief"
    );
}

/// Teams: the brief's container holds every line as a TextBlock, in order (its Markdown
/// characters escaped).
fn teams_has_every_line_in_order(v: &serde_json::Value, lines: &[&str]) {
    let items: Vec<String> = v["attachments"][0]["content"]["body"][1]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| unmark(i["text"].as_str().unwrap()))
        .collect();
    assert_eq!(&items[..items.len() - 1], lines, "Teams: every line");
    assert_eq!(
        items[items.len() - 1],
        "brief nl-industry · id brief-2025-03"
    );
}

/// Mattermost: every line, Markdown characters escaped, single line breaks kept.
fn mattermost_has_the_whole_text(v: &serde_json::Value, lines: &[&str]) {
    let post = v["text"].as_str().unwrap();
    let unescaped = unmark(post);
    let body = lines[1..].join("\n");
    assert!(
        squeeze(&unescaped).contains(&format!("**{}**\n{body}", lines[0])),
        "Mattermost: the whole text:\n{post}"
    );
    assert!(post.contains("nl.industry.branch.\\*.yoy"), "{post}");
}

#[tokio::test]
async fn a_refusal_keeps_its_body_and_the_url_never_leaks() {
    capture_logs();
    let p = Platforms::start().await;
    p.script(vec![Reply {
        status: 404,
        retry_after: None,
        body: "no_service",
    }]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &two_alerts()[..1]);
    let n = paced(&chat("team", "slack", &p.url(SLACK_PATH)));
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    let d = delivery(&store, "team", "3f0c9a1e");
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.last_error.as_deref(), Some("HTTP 404: no_service"));

    // An unreachable chat service: pending, and its URL (the token) in no error or log.
    let down = format!("http://127.0.0.1:{}{TEAMS_PATH}", free_port());
    enqueue(&store, "down", &two_alerts()[..1]);
    let n2 = paced(&chat("down", "teams", &down));
    let report2 = n2.deliver(&store, Mode::Poll).await.unwrap();
    let d2 = delivery(&store, "down", "3f0c9a1e");
    assert_eq!(d2.state, DeliveryState::Pending);
    assert!(d2.last_error.clone().unwrap().contains("connect"));
    let test = n2.test("down").await.unwrap_err();
    let all = format!(
        "{report:?} {report2:?} {d:?} {d2:?} {test} {test:?} {n:?} {n2:?} {:?}",
        config(&chat("down", "teams", &down))
    );
    for token in ["slackTokenQ7x2", "teamsTokenZ8w4"] {
        assert_no_secret(token, "the logs", &logs());
        assert_no_secret(token, "a report, error or config dump", &all);
    }
}

#[tokio::test]
async fn check_shows_a_chat_url_as_its_origin_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = notify_config(&dir.path().join("state"))
        .extra(&chat(
            "team",
            "slack",
            "https://hooks.slack.com/services/T0STATW/B0STATW/slackTokenQ7x2",
        ))
        .write(dir.path());
    let o = statwatch(&path, &["check"]).await;
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("receiver   team (slack) -> https://hooks.slack.com/..."),
        "{out}"
    );
    assert!(
        !out.contains("slackTokenQ7x2") && !out.contains("T0STATW"),
        "{out}"
    );
}

/// A source whose titles and labels carry chat markup: a channel mention in each platform's
/// syntax, a Slack link and a Markdown link.
const HOSTILE: &str = "@channel <!channel> <https://evil|click> [x](https://evil)";

#[tokio::test]
async fn titles_from_a_source_reach_every_chat_platform_neutralised() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (brief, a) = hostile_brief_and_alert();
    for r in ["s", "m", "t"] {
        enqueue(&store, r, &[brief.clone(), a.clone()]);
    }
    let report = paced(&all_three(&p))
        .deliver(&store, Mode::Poll)
        .await
        .unwrap();
    assert!(!report.failed(), "{report:?}");
    slack_reads_no_live_markup(&p);
    // Mattermost: no mention, and no Markdown link or autolink: their characters escaped.
    for t in posted(&p, MATTERMOST_PATH) {
        none_live("mattermost", &t, &["@channel", "@here"]);
        for form in ["[x](", "x](https", "<https://evil", "<!channel>"] {
            let bare = t.match_indices(form).any(|(i, _)| !t[..i].ends_with('\\'));
            assert!(!bare, "mattermost: {form:?} is live in {t}");
        }
        assert!(t.contains("\\[x\\](https://evil)"), "{t}");
    }
    // Teams: no Markdown link in a TextBlock or a Fact.
    for t in posted(&p, TEAMS_PATH) {
        none_live("teams", &t, &["[x](", "](https://evil)"]);
    }
    assert!(!posted(&p, TEAMS_PATH).is_empty() && !posted(&p, MATTERMOST_PATH).is_empty());
}

/// A brief and an alert with `HOSTILE` in every text a source gives them.
fn hostile_brief_and_alert() -> (statwatch::model::Alert, statwatch::model::Alert) {
    let mut a = alert(
        "c0ffee01",
        Severity::Critical,
        &format!("Produktion {HOSTILE}: +1.3 in 2025-03"),
    );
    a.title = format!("Produktion {HOSTILE}");
    a.source_period = format!("2025MM03 {HOSTILE}");
    a.unit = "@here".into();
    let (mut brief, _) = long_brief();
    brief.summary = format!("Brief {HOSTILE}");
    brief.details = serde_json::json!({"text": format!("Brief {HOSTILE}\nLowest: {HOSTILE} -4.0 %\n"), "facts": {}})
        .as_object()
        .cloned()
        .unwrap()
        .into();
    (brief, a)
}

/// Every string of each valid message the platform at `path` got, as the platform reads it
/// (JSON unescaped).
fn posted(p: &Platforms, path: &str) -> Vec<String> {
    p.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| {
            assert_eq!(r.invalid, None, "{path}");
            let mut out = Vec::new();
            strings(&r.json(), &mut out);
            out.join("\n")
        })
        .collect()
}

/// None of `forms` is in `text`, which still names the alert.
fn none_live(what: &str, text: &str, forms: &[&str]) {
    for f in forms {
        assert!(!text.contains(f), "{what}: {f:?} is live in {text}");
    }
    assert!(
        text.contains("c0ffee01") && text.contains("Produktion"),
        "{what}: {text}"
    );
}

/// Slack: no `<!…>`, `<url|label>` or bare `@channel`/`@here` in what Slack reads as
/// mrkdwn (every mrkdwn text and the fallback `text`); a header's plain_text is read as
/// it is (no markup), and has no bare mention either.
fn slack_reads_no_live_markup(p: &Platforms) {
    let slack: Vec<serde_json::Value> = p
        .requests()
        .into_iter()
        .filter(|r| r.path == SLACK_PATH)
        .map(|r| r.json())
        .collect();
    assert!(!slack.is_empty());
    for v in &slack {
        let mut mrkdwn = vec![v["text"].as_str().unwrap().to_string()];
        mrkdwn_texts(v, &mut mrkdwn);
        let t = mrkdwn.join("\n");
        none_live(
            "slack",
            &t,
            &["<!channel>", "<https://evil", "@channel", "@here"],
        );
        assert!(t.contains("&lt;!channel&gt;"), "{t}");
        let mut all = Vec::new();
        strings(v, &mut all);
        assert!(!all.join("\n").contains("@channel"), "{all:?}");
    }
}

/// The text of every mrkdwn text object in a Slack message.
fn mrkdwn_texts(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(o)
            if o.get("type").and_then(|t| t.as_str()) == Some("mrkdwn") =>
        {
            out.push(o["text"].as_str().unwrap_or_default().to_string())
        }
        serde_json::Value::Object(o) => o.values().for_each(|x| mrkdwn_texts(x, out)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| mrkdwn_texts(x, out)),
        _ => {}
    }
}

/// Chat text as a reader sees it: backslash escapes and word joiners taken out.
fn unmark(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().filter(|&c| c != '\u{2060}');
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every string value in a JSON document.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_slack_answer_other_than_ok_is_not_delivered() {
    let p = Platforms::start().await;
    p.script(vec![Reply {
        status: 200,
        retry_after: None,
        body: "invalid_token",
    }]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    enqueue(&store, "team", &two_alerts()[..1]);
    let report = paced(&chat("team", "slack", &p.url(SLACK_PATH)))
        .deliver(&store, Mode::Poll)
        .await
        .unwrap();
    assert_eq!(report.receivers[0].delivered, 0, "{report:?}");
    let d = delivery(&store, "team", "3f0c9a1e");
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(d.last_error.unwrap().contains("invalid_token"));
}
