//! The shipped configs stay valid, and `check` never prints a secret.

use std::process::Command;

fn check(path: &str, envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_statwatch"))
        .args(["--config", path, "check"])
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .unwrap()
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
}

#[test]
fn a_missing_secret_names_the_key_and_line() {
    let o = check(
        "config/example.toml",
        &[("SMTP_PASSWORD", "x"), ("DESTATIS_TOKEN", "y")],
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
