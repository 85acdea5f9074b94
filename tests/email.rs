//! Email delivery against a REAL SMTP server process: Debian's python3-aiosmtpd
//! (`tests/smtp_server.py`) on 127.0.0.1 with STARTTLS (required) or implicit TLS, AUTH, and a
//! certificate from a test CA generated here with rcgen and trusted through `smtp.ca_file`:
//! one message per cycle, auth and TLS failures, a server that is down, a backlog in mails of
//! bounded size. What a mail's HTML shows is in tests/email_content.rs.

mod common;

use common::notify::*;
use common::smtp::*;
use common::*;
use statwatch::model::{DeliveryState, Severity};
use statwatch::notify::Mode;
use statwatch::store::Store;

fn str_of<'a>(m: &'a serde_json::Value, k: &str) -> &'a str {
    m[k].as_str().unwrap_or_default()
}

#[tokio::test]
async fn starttls_auth_delivers_one_message_with_every_alert() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let server = SmtpServer::start(port, &pki, &dir.path().join("spool"), "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    let alerts = [
        alert(
            "id-info",
            Severity::Info,
            "Industrie: Produktion −1,2 % (März)",
        ),
        alert("id-crit", Severity::Critical, "NL industry turned negative"),
        alert("id-warn", Severity::Warning, "Third month of growth"),
    ];
    enqueue(&store, "macro", &alerts);
    let n = notifier(&email_config(port, "starttls", PASSWORD, Some(&pki.ca)));

    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.receivers[0].delivered, 3);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "one message per receiver");
    let m = &msgs[0];
    assert_eq!(m["tls"], true, "sent after STARTTLS");
    assert_eq!(m["authenticated"], true);
    assert_eq!(str_of(m, "mail_from"), "statwatch@example.org");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["macro@example.org", "ops@example.org"])
    );
    assert_eq!(
        str_of(m, "subject"),
        "NL industry turned negative (+2 more)"
    );
    assert_eq!(str_of(m, "content_type"), "multipart/alternative");
    assert_eq!(str_of(m, "charset"), "utf-8");
    let body = str_of(m, "body");
    for a in &alerts {
        assert!(body.contains(&a.id), "id {} missing:\n{body}", a.id);
        assert!(
            body.contains(&a.summary),
            "summary {:?} missing:\n{body}",
            a.summary
        );
    }
    assert!(body.contains("85806NED") && body.contains("2025-03"));
    for a in &alerts {
        let d = delivery(&store, "macro", &a.id);
        assert_eq!(d.state, DeliveryState::Delivered);
        assert_eq!(d.attempts, 1);
    }
    // Nothing goes twice.
    n.deliver(&store, Mode::Poll).await.unwrap();
    assert_eq!(enqueue(&store, "macro", &alerts), 0);
    n.deliver(&store, Mode::Due).await.unwrap();
    assert_eq!(server.messages().len(), 1);
    assert_no_secret(PASSWORD, "the logs", &logs());
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_without_the_password() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let server = SmtpServer::start(port, &pki, &dir.path().join("spool"), "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    enqueue(&store, "macro", &[alert("id-auth", Severity::Info, "x")]);
    let wrong = "wrong-pass-Ux71";
    let n = notifier(&email_config(port, "starttls", wrong, Some(&pki.ca)));

    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    let d = delivery(&store, "macro", "id-auth");
    let e = d.last_error.clone().unwrap();
    // aiosmtpd answers 535 (a permanent reply): the entry fails for good.
    assert!(e.contains("535") && e.contains("Authentication"), "{e}");
    assert_eq!(d.state, DeliveryState::Failed);
    let t = n.test("macro").await.unwrap_err();
    assert!(t.to_string().contains("535"), "{t}");
    assert!(server.messages().is_empty());
    for (what, text) in [
        ("last_error", e),
        ("the report", format!("{report:?}")),
        ("test-notify's error", format!("{t} {t:?}")),
        ("the notifier", format!("{n:?}")),
        ("the logs", logs()),
    ] {
        assert_no_secret(wrong, what, &text);
        assert_no_secret(PASSWORD, what, &text);
    }
}

#[tokio::test]
async fn a_server_that_is_down_keeps_the_alert_pending_until_it_is_up() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let store = Store::open(&dir.path().join("db")).unwrap();
    enqueue(
        &store,
        "macro",
        &[alert("id-down", Severity::Warning, "later")],
    );
    let n = notifier(&email_config(port, "starttls", PASSWORD, Some(&pki.ca)));

    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(report.failed());
    assert_eq!(report.receivers[0].pending, 1);
    let d = delivery(&store, "macro", "id-down");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 3);
    assert!(d.last_error.as_deref().unwrap().contains("onnect"), "{d:?}");

    let server = SmtpServer::start(port, &pki, &dir.path().join("spool"), "starttls");
    let report = n.deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    let d = delivery(&store, "macro", "id-down");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 4);
    n.deliver(&store, Mode::Poll).await.unwrap();
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "exactly once");
    assert_eq!(str_of(&msgs[0], "subject"), "later");
    assert!(str_of(&msgs[0], "body").contains("id-down"));
    assert_no_secret(PASSWORD, "the logs", &logs());
}

#[tokio::test]
async fn implicit_tls_and_test_notify() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let server = SmtpServer::start(port, &pki, &dir.path().join("spool"), "implicit");
    let n = notifier(&email_config(port, "implicit", PASSWORD, Some(&pki.ca)));
    n.test("macro").await.unwrap();
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["tls"], true);
    assert!(str_of(&msgs[0], "subject").starts_with("[statwatch test]"));
    assert!(str_of(&msgs[0], "body").starts_with("[statwatch test]"));
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_retried_later() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let server = SmtpServer::start(port, &pki, &dir.path().join("spool"), "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    enqueue(&store, "macro", &[alert("id-tls", Severity::Info, "x")]);
    // No ca_file: the test CA is not trusted, so TLS must fail (verification is never off).
    let n = notifier(&email_config(port, "starttls", PASSWORD, None));
    let report = n.deliver(&store, Mode::Due).await.unwrap();
    assert!(report.failed());
    let d = delivery(&store, "macro", "id-tls");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 1);
    let e = d.last_error.unwrap().to_lowercase();
    assert!(e.contains("certificate") || e.contains("tls"), "{e}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_backlog_goes_out_as_several_mails_of_bounded_size() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let port = free_port();
    let server = SmtpServer::start(port, &pki, &dir.path().join("spool"), "starttls");
    let store = Store::open(&dir.path().join("db")).unwrap();
    let alerts: Vec<_> = (0..5)
        .map(|i| {
            let mut a = alert(
                &format!("id-mail-{i}"),
                Severity::Info,
                &format!("alert {i}"),
            );
            a.detected_at += chrono::Duration::milliseconds(i - 100);
            a
        })
        .collect();
    enqueue(&store, "macro", &alerts);
    let config = email_config(port, "starttls", PASSWORD, Some(&pki.ca))
        .replace("kind = \"email\"", "kind = \"email\"\nmax_batch_alerts = 2");
    let report = notifier(&config).deliver(&store, Mode::Poll).await.unwrap();
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.receivers[0].delivered, 5);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 3, "2 + 2 + 1 alerts");
    for a in &alerts {
        let carrying = msgs
            .iter()
            .filter(|m| str_of(m, "body").contains(&a.id))
            .count();
        assert_eq!(carrying, 1, "{} in exactly one mail", a.id);
    }
}
