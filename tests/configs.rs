//! The shipped configs stay valid, and `check` never prints a secret.

mod common;

use common::Statwatch;

fn check(path: &str, envs: &[(&str, &str)]) -> std::process::Output {
    Statwatch::with_config(std::path::Path::new(path))
        .args(["check"])
        .only_env(envs)
        .output()
}

#[test]
fn the_default_config_validates_with_no_secrets_set() {
    let o = check("config/statwatch.toml", &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("receiver   journal (log)"), "{out}");
    assert!(
        out.contains("brief      nl-industry (\"Dutch manufacturing\") lead nl.industry.yoy"),
        "{out}"
    );
    for key in [
        "Seizoencorrectie=A042500",
        "VerwachteBedrijvigheid_2",
        "WERT03=X13JDKB",
        "WERT03=X13JDKSB",
    ] {
        assert!(out.contains(key), "{key}: {out}");
    }
    assert!(
        out.contains("warning    source destatis: no GENESIS credentials"),
        "{out}"
    );
}

#[test]
fn the_example_config_validates_and_check_hides_secrets() {
    let secrets = [
        ("STATWATCH_WEBHOOK_SECRET", "whsec-3b1f9e"),
        ("SMTP_PASSWORD", "smtp-pw-77a1"),
        ("DESTATIS_TOKEN", "tok-5c2d8e"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/slackTok9",
        ),
    ];
    let o = check("config/example.toml", &secrets);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    for (_, secret) in secrets {
        assert!(!out.contains(secret), "check printed a secret: {out}");
    }
    assert!(out.contains("(signed)"), "{out}");
    assert!(
        !out.contains("T0EXAMPLE"),
        "a chat URL's path is a secret: {out}"
    );
    assert!(
        out.contains("receiver   team-chat (slack) -> https://hooks.slack.com/..."),
        "{out}"
    );
    assert!(out.contains("receiver   alertmanager (alertmanager) -> http://127.0.0.1:9093, http://127.0.0.1:9094 (resolve after 24 h)"), "{out}");
}

#[test]
fn a_missing_secret_names_the_key_and_line() {
    let o = check(
        "config/example.toml",
        &[
            ("SMTP_PASSWORD", "x"),
            ("DESTATIS_TOKEN", "y"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("config/example.toml:")
            && err.contains(
                "receivers.ops.secret: environment variable STATWATCH_WEBHOOK_SECRET is not set"
            ),
        "{err}"
    );
}

/// A config under the test's own temp dir: GOOD + `extra`.
fn check_text(text: &str) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statwatch.toml");
    std::fs::write(&path, text).unwrap();
    let o = check(path.to_str().unwrap(), &[]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o, out)
}

const BASE: &str = r#"
state_dir = "/tmp/statwatch-configs-test"
[sources.cbs]
kind = "cbs"
schedule = "0 30 6 * * Mon-Fri"
[[series]]
id = "nl.x"
source = "cbs"
table = "85806NED"
measure = "M"
"#;

#[test]
fn check_shows_a_webhook_url_without_its_path() {
    // Slack-style URLs carry the token in the path.
    let (o, out) = check_text(&format!(
        "{BASE}[receivers.chat]\nkind = \"webhook\"\nurl = \"https://hooks.example.org/services/T0A1/B0B2/xoxTOKENsecret9\"\n"
    ));
    assert!(o.status.success(), "{out}");
    assert!(
        !out.contains("xoxTOKENsecret9"),
        "check printed the token: {out}"
    );
    assert!(!out.contains("T0A1"), "check printed the URL path: {out}");
    assert!(out.contains("https://hooks.example.org/..."), "{out}");
}

#[test]
fn a_secret_of_the_wrong_type_is_not_echoed() {
    for (key, line) in [
        ("receivers.ops.secret", "secret = 84817201337"),
        ("receivers.ops.secret", "secret = 8481.7201337"),
        ("receivers.ops.secret", "secret = [\"84817201337\"]"),
    ] {
        let (o, out) = check_text(&format!(
            "{BASE}[receivers.ops]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\n{line}\n"
        ));
        assert_eq!(o.status.code(), Some(2), "{out}");
        assert!(out.contains(key), "{out}");
        assert!(!out.contains("84817201337"), "the secret was echoed: {out}");
        assert!(!out.contains("7201337"), "the secret was echoed: {out}");
    }
    // Also inside an inline table, where the line's first key is another one.
    let (o, out) = check_text(&format!(
        "{BASE}[receivers]\nops = {{ kind = \"webhook\", url = \"http://127.0.0.1:9/h\", secret = 84817201337 }}\n"
    ));
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(!out.contains("84817201337"), "the secret was echoed: {out}");
}
