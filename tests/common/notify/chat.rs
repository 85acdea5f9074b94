//! Helpers of the chat tests (`tests/chat.rs`, `tests/chat_cycles.rs`): a paced notifier, a
//! chat receiver's config, the samples written for people to look at, two alerts and a long
//! brief.

use std::time::Duration;

use statwatch::model::Severity;
use statwatch::notify::Notifier;

use super::{alert, notifier};

/// A notifier with short in-poll pauses and pacing (the platforms' own pacing is tested in
/// `split_parts_are_paced_to_slacks_rate_limit`).
pub fn paced(extra: &str) -> Notifier {
    notifier(extra).with_pace(Duration::from_millis(5))
}

/// A chat receiver `name` of `kind` at `url`.
pub fn chat(name: &str, kind: &str, url: &str) -> String {
    format!("[receivers.{name}]\nkind = \"{kind}\"\nurl = \"{url}\"\ntimeout_secs = 2\n")
}

/// Writes a message byte for byte as sent, for the closing note.
pub fn sample(name: &str, body: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/receivers");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), body).unwrap();
}

/// A brief as the pipeline stores it, its text longer than one Slack section (3,000
/// characters): the March 2025 brief of tests/briefs.rs with a release of 60 revisions, and
/// branch titles with the characters chat markup reads (`&`, `<`, `*`, `_`).
pub fn long_brief() -> (statwatch::model::Alert, String) {
    let mut text = String::from(
        "Dutch manufacturing, 2025-03\n\n\
         Industrial production NL, y/y % (calendar adjusted): +1.3 % in 2025-03, positive for the 3rd month in a row, after 18 months of negative values since 2023-07.\n\
         Industrial production DE, y/y % (calendar adjusted): +0.3 % in 2025-03 (from -3.6 the period before, +3.9).\n\
         Industrial production DE, m/m % (calendar and seasonally adjusted): +3.5 % in 2025-03 (from -1.3 the period before, +4.8).\n\
         Of 8 series (nl.industry.branch.*.yoy) in 2025-03, 4 rose and 4 fell.\n\
         Highest: 13-15 Textiel-, kleding- & lederindustrie +11.9 %, 27 Elektrische apparatenindustrie <EA> +9.2 %.\n\
         Lowest: 29-30 Transportmiddelenindustrie -7.1 %, 25 Metaal_producten -4.0 %.\n\n\
         Alerts of this release:\n",
    );
    for i in 0..60 {
        text.push_str(&format!(
            "- Branch {i:02} & co, y/y % (calendar adjusted): 2025-02 revised from +1.0 to -0.3: now negative\n"
        ));
    }
    let mut b = alert(
        "brief-2025-03",
        Severity::Info,
        "Dutch manufacturing: Industrial production NL, y/y % (calendar adjusted): +1.3 % in 2025-03",
    );
    b.kind = "brief".into();
    b.rule = "nl-industry".into();
    b.title = "Dutch manufacturing".into();
    b.details = serde_json::json!({"text": text, "facts": {}})
        .as_object()
        .cloned()
        .unwrap()
        .into();
    (b, text)
}

/// Two alerts of one release, as the chat tests send them.
pub fn two_alerts() -> Vec<statwatch::model::Alert> {
    let a = alert(
        "3f0c9a1e",
        Severity::Info,
        "Industrial production NL, y/y % (calendar adjusted): positive for the 3rd month in a row (+1.3 in 2025-03)",
    );
    let mut b = alert(
        "9b21c0d4",
        Severity::Warning,
        "Industrial production NL, y/y % (calendar adjusted): turned negative (-0.3 in 2025-02, revised from +1.0) after 1 month of positive values",
    );
    b.rule = "nl-industry-turn".into();
    b.period = Some(statwatch::model::Period::Month(2025, 2));
    b.source_period = "2025MM02".into();
    b.value = Some(-0.3);
    b.cause = statwatch::model::Cause::Revision;
    b.details = serde_json::json!({"old_value": 1.0, "new_sign": "negative"})
        .as_object()
        .cloned()
        .unwrap()
        .into();
    b.previous = Some(statwatch::model::Previous {
        period: statwatch::model::Period::Month(2025, 1),
        value: 0.1,
    });
    vec![a, b]
}
