//! The config as a whole: a good file validates; bad ones are refused naming file, key and
//! line:column; secrets never print.

use super::*;

const GOOD: &str = r#"
state_dir = "/tmp/x"
timezone = "Europe/Amsterdam"

[sources.cbs]
kind = "cbs"
schedule = "0 */5 6-9 * * Mon-Fri"

[[series]]
id = "nl.industry.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = "307500   " }
unit = "%"

[[rules]]
id = "nl-industry-turn"
series = "nl.*"
kind = "sign_change"
severity = "warning"

[receivers.journal]
kind = "log"
subscribe = ["nl-*"]
"#;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("test.toml"), src)
}

fn err(src: &str) -> String {
    parse(src).unwrap_err().to_string()
}

#[test]
fn a_good_config_validates() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.sources["cbs"].schedule.tz, chrono_tz::Europe::Amsterdam);
    assert_eq!(
        c.series[0].dimensions["BedrijfstakkenBranchesSBI2008"],
        "307500"
    );
    assert!(c.rules[0].applies_to("nl.industry.yoy"));
    let subscribed = |rule| {
        c.receivers["journal"]
            .subscribe
            .iter()
            .any(|g| g.is_match(rule))
    };
    assert!(subscribed("nl-industry-turn"));
    assert!(!subscribed("de-x"));
}

#[test]
fn unknown_keys_name_file_key_and_line() {
    let src = GOOD.replace("kind = \"cbs\"", "kind = \"cbs\"\nshedule = \"x\"");
    let e = err(&src);
    assert!(e.starts_with("test.toml:7:1: sources.cbs.shedule:"), "{e}");
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn shape_errors_name_the_key_and_the_array_element() {
    let e = err(&GOOD.replace("measure = \"KalendergecorrigeerdeProductie_14\"\n", ""));
    assert!(
        e.starts_with("test.toml:9:1: series[0]: missing field `measure`"),
        "{e}"
    );
    let e = err(&GOOD.replace("kind = \"cbs\"", "kind = \"cbs\"\ntimeout_secs = \"ten\""));
    assert!(
        e.starts_with("test.toml:7:16: sources.cbs.timeout_secs: invalid type"),
        "{e}"
    );
}

#[test]
fn bad_references_are_located() {
    let e = err(&GOOD.replace("source = \"cbs\"", "source = \"cbz\""));
    assert!(
        e.starts_with("test.toml:11:10: series[0].source: unknown source \"cbz\""),
        "{e}"
    );
    let e = err(&GOOD.replace("series = \"nl.*\"", "series = \"de.*\""));
    assert!(
        e.contains("rules[0].series") && e.contains("matches no configured series"),
        "{e}"
    );
    let e = err(&GOOD.replace("subscribe = [\"nl-*\"]", "subscribe = [\"de-*\"]"));
    assert!(
        e.contains("receivers.journal.subscribe") && e.contains("matches no configured rule"),
        "{e}"
    );
}

#[test]
fn schedules_and_zones_are_checked() {
    let e = err(&GOOD.replace("0 */5 6-9 * * Mon-Fri", "*/5 6-9 * * Mon-Fri"));
    assert!(
        e.contains("sources.cbs.schedule") && e.contains("invalid cron"),
        "{e}"
    );
    let e = err(&GOOD.replace("0 */5 6-9 * * Mon-Fri", "0 0 0 30 Feb *"));
    assert!(e.contains("never fires"), "{e}");
    let e = err(&GOOD.replace("Europe/Amsterdam", "Europe/Amsterdamm"));
    assert!(e.starts_with("test.toml:3:12: timezone:"), "{e}");
}

#[test]
fn rule_parameters_must_fit_the_kind() {
    let e = err(&GOOD.replace(
        "kind = \"sign_change\"",
        "kind = \"sign_change\"\nlength = 3",
    ));
    assert!(
        e.contains("rules[0].length") && e.contains("takes no length"),
        "{e}"
    );
    let e = err(&GOOD.replace(
        "kind = \"sign_change\"",
        "kind = \"streak\"\ndirection = \"positive\"",
    ));
    assert!(e.contains("needs length"), "{e}");
}

#[test]
fn secrets_expand_and_never_print() {
    std::env::set_var("STATWATCH_TEST_HOOK_SECRET", "hunter2");
    let src = format!(
        "{GOOD}\n[receivers.ops]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"${{STATWATCH_TEST_HOOK_SECRET}}\"\n"
    );
    let c = parse(&src).unwrap();
    let ReceiverKind::Webhook { secret, .. } = &c.receivers["ops"].kind else {
        panic!()
    };
    assert_eq!(secret.as_ref().unwrap().expose(), "hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
    let fallback = src.replace(
        "STATWATCH_TEST_HOOK_SECRET}",
        "STATWATCH_TEST_UNSET_VAR:-dev}",
    );
    let c = parse(&fallback).unwrap();
    let ReceiverKind::Webhook { secret, .. } = &c.receivers["ops"].kind else {
        panic!()
    };
    assert_eq!(secret.as_ref().unwrap().expose(), "dev");
    let e = err(&src.replace("STATWATCH_TEST_HOOK_SECRET", "STATWATCH_TEST_UNSET_VAR"));
    assert!(
        e.contains("receivers.ops.secret") && e.contains("STATWATCH_TEST_UNSET_VAR is not set"),
        "{e}"
    );
}

/// A config with a Slack (URL from the environment), a Mattermost, a Teams (URL from a file in
/// the returned directory) and an Alertmanager receiver, every URL holding `tok3n`.
fn chat_receivers() -> (tempfile::TempDir, String) {
    std::env::set_var(
        "STATWATCH_TEST_SLACK_URL",
        "https://hooks.slack.com/services/T0/B0/tok3n",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("teams-url");
    std::fs::write(
        &file,
        "https://example.webhook.office.com/workflows/abc/tok3n\n",
    )
    .unwrap();
    let src = format!(
        "{GOOD}\n[receivers.chat]\nkind = \"slack\"\nurl = \"${{STATWATCH_TEST_SLACK_URL}}\"\n\
         [receivers.mm]\nkind = \"mattermost\"\nurl = \"http://127.0.0.1:8065/hooks/tok3n\"\n\
         [receivers.teams]\nkind = \"teams\"\nurl_file = \"{}\"\n\
         [receivers.am]\nkind = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\", \"http://127.0.0.1:9094/\"]\n",
        file.display()
    );
    (dir, src)
}

#[test]
fn chat_and_alertmanager_receivers_validate_and_hide_the_url() {
    let (_dir, src) = chat_receivers();
    let c = parse(&src).unwrap();
    let ReceiverKind::Chat { platform, url, .. } = &c.receivers["teams"].kind else {
        panic!()
    };
    assert_eq!(*platform, ChatPlatform::Teams);
    assert!(url.expose().as_str().ends_with("/tok3n"));
    assert_eq!(c.receivers["chat"].kind_name(), "slack");
    let ReceiverKind::Alertmanager {
        urls,
        resolve_after,
        ..
    } = &c.receivers["am"].kind
    else {
        panic!()
    };
    assert_eq!(urls.len(), 2);
    assert_eq!(resolve_after.as_secs(), 24 * 3600);
    assert!(
        !format!("{c:?}").contains("tok3n"),
        "a chat URL is a secret"
    );

    let e = err(&src.replace("kind = \"slack\"", "kind = \"slack\"\nsecret = \"x\""));
    assert!(
        e.contains("receivers.chat.secret") && e.contains("a slack receiver takes no secret"),
        "{e}"
    );
    let e = err(&src.replace("kind = \"mattermost\"\nurl", "kind = \"mattermost\"\nx_url"));
    assert!(e.contains("x_url"), "{e}");
    let e = err(&src.replace("http://127.0.0.1:8065/hooks/tok3n", "ftp://h/tok3n"));
    assert!(
        e.contains("receivers.mm.url: not an http(s) URL") && !e.contains("tok3n"),
        "{e}"
    );
    let e = err(&src.replace("urls = [", "resolve_after_hours = 0\nurls = ["));
    assert!(e.contains("receivers.am.resolve_after_hours"), "{e}");
    let e = err(&src.replace("kind = \"teams\"", "kind = \"teams\"\nurls = []"));
    assert!(e.contains("a teams receiver takes no urls"), "{e}");
}

/// Message bounds: defaults per kind, the keys where they apply, and a range.
#[test]
fn chat_and_alertmanager_receivers_bound_their_messages() {
    use crate::config::BatchLimits;
    let (_dir, src) = chat_receivers();
    let c = parse(&src).unwrap();
    assert_eq!(c.receivers["am"].batch, BatchLimits::HTTP);
    assert_eq!(BatchLimits::HTTP.max_alerts, 500);
    assert_eq!(BatchLimits::HTTP.max_bytes, 512 * 1024);
    let bounded = src.replace(
        "urls = [",
        "max_batch_alerts = 50\nmax_batch_bytes = 100000\nurls = [",
    );
    let c = parse(&bounded).unwrap();
    let want = BatchLimits {
        max_alerts: 50,
        max_bytes: 100_000,
    };
    assert_eq!(c.receivers["am"].batch, want);
    let e = err(&src.replace("urls = [", "max_batch_bytes = 100\nurls = ["));
    assert!(
        e.contains("receivers.am.max_batch_bytes") && e.contains("16384 to"),
        "{e}"
    );
    let e = err(&src.replace("urls = [", "max_batch_alerts = 0\nurls = ["));
    assert!(e.contains("receivers.am.max_batch_alerts"), "{e}");
    let e = err(&src.replace(
        "kind = \"teams\"",
        "kind = \"teams\"\nmax_batch_bytes = 20000",
    ));
    assert!(
        e.contains("a teams receiver takes no max_batch_bytes"),
        "{e}"
    );

    // digest_after: 50 by default, set per chat (and email) receiver, refused where every
    // alert goes out anyway.
    assert_eq!(c.receivers["am"].digest_after, 50);
    let c = parse(&src.replace("kind = \"teams\"", "kind = \"teams\"\ndigest_after = 5")).unwrap();
    let teams = c
        .receivers
        .values()
        .find(|r| r.kind_name() == "teams")
        .unwrap();
    assert_eq!(teams.digest_after, 5);
    let e = err(&src.replace("urls = [", "digest_after = 5\nurls = ["));
    assert!(
        e.contains("an alertmanager receiver takes no digest_after")
            || e.contains("a alertmanager receiver takes no digest_after"),
        "{e}"
    );
    let e = err(&src.replace("kind = \"teams\"", "kind = \"teams\"\ndigest_after = 0"));
    assert!(
        e.contains("digest_after") && e.contains("out of range"),
        "{e}"
    );
}

#[test]
fn web_public_url_is_an_http_url_without_query() {
    let ok = format!("{GOOD}\n[web]\npublic_url = \"https://stats.example.org/statwatch/\"\n");
    let c = parse(&ok).unwrap();
    assert_eq!(
        c.web.unwrap().public_url.unwrap().as_str(),
        "https://stats.example.org/statwatch/"
    );
    for bad in [
        "ftp://x/",
        "stats.example.org",
        "https://x/?a=1",
        "https://u:p@x/",
    ] {
        let e = err(&ok.replace("https://stats.example.org/statwatch/", bad));
        assert!(e.contains("web.public_url"), "{bad}: {e}");
    }
}

#[test]
fn clear_text_smtp_only_on_loopback() {
    let src = format!(
        "{GOOD}\n[smtp]\nhost = \"smtp.example.org\"\ntls = \"none\"\nfrom = \"a@example.org\"\n"
    );
    assert!(err(&src).contains("smtp.tls"));
    assert!(parse(&src.replace("smtp.example.org", "127.0.0.1")).is_ok());
}

#[test]
fn the_flood_bound_defaults_to_ten_thousand_and_is_at_least_one() {
    assert_eq!(parse(GOOD).unwrap().store.flood_alerts, 10_000);
    let set = format!("{GOOD}\n[store]\nflood_alerts = 50000\n");
    assert_eq!(parse(&set).unwrap().store.flood_alerts, 50_000);
    let e = err(&format!("{GOOD}\n[store]\nflood_alerts = 0\n"));
    assert!(
        e.contains("store.flood_alerts") && e.contains("at least 1"),
        "{e}"
    );
}
