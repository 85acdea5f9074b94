//! Slack: one incoming-webhook message per cycle in Block Kit (`{"text": <fallback>,
//! "blocks": [...]}`), built from typed blocks and kept within Slack's documented limits: 50
//! blocks a message, 150 characters in a header, 3,000 in a section's text, 2,000 in a field,
//! 10 fields a section. A cycle with more alerts than one message holds is split into several
//! messages (each alert whole, in order); text over a limit is shortened, never refused.

use serde::Serialize;

use super::render::{cause_text, change_text, clip, part_title, parts, period_text, value_text};
use crate::model::{Alert, Severity};

/// Blocks in one message.
pub(super) const MAX_BLOCKS: usize = 50;
/// Characters in a header's plain text.
pub(super) const MAX_HEADER: usize = 150;
/// Characters in a section's text, and in a context element's.
pub(super) const MAX_SECTION: usize = 3000;
/// Characters in one field of a section.
pub(super) const MAX_FIELD: usize = 2000;
/// Each alert is a section and a context block; the header takes one block of the 50.
const BLOCKS_PER_ALERT: usize = 2;
const ALERTS_PER_MESSAGE: usize = (MAX_BLOCKS - 1) / BLOCKS_PER_ALERT;

#[derive(Debug, Serialize)]
pub(super) struct Message {
    /// The notification text, and what clients without Block Kit show.
    text: String,
    blocks: Vec<Block>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Header {
        text: Text,
    },
    Section {
        text: Text,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    Context {
        elements: Vec<Text>,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum Text {
    #[serde(rename = "plain_text")]
    Plain { text: String, emoji: bool },
    #[serde(rename = "mrkdwn")]
    Mrkdwn { text: String },
}

impl Text {
    fn plain(text: &str, max: usize) -> Text {
        Text::Plain {
            text: clip(text, max),
            emoji: true,
        }
    }

    /// Mrkdwn from text that may hold `&`, `<` or `>` (Slack reads those as markup), escaped
    /// as Slack asks, then shortened without cutting an escape in two.
    fn mrkdwn(text: &str, max: usize) -> Text {
        let mut t = clip(text, max);
        if t != text {
            // The `…` of a clipped text may have split an `&amp;`: drop the broken entity.
            if let Some(amp) = t.rfind('&').filter(|&i| !t[i..].contains(';')) {
                t.truncate(amp);
                t.push('…');
            }
        }
        Text::Mrkdwn { text: t }
    }
}

/// `&`, `<`, `>` as Slack's mrkdwn wants them.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn badge(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":red_circle: CRITICAL",
        Severity::Warning => ":large_orange_circle: WARNING",
        Severity::Info => ":large_blue_circle: INFO",
    }
}

/// The messages for one cycle: one, unless the alerts need more blocks than Slack allows.
pub(super) fn messages(alerts: &[Alert], test: bool) -> Vec<Message> {
    let ranges = parts(&vec![1; alerts.len()], usize::MAX, ALERTS_PER_MESSAGE);
    let of = ranges.len().max(1);
    if ranges.is_empty() {
        // test-notify always has an alert; an empty cycle is never sent. Still a valid message.
        return vec![message(alerts, alerts, test, 0, 1)];
    }
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| message(alerts, &alerts[r], test, i, of))
        .collect()
}

fn message(all: &[Alert], part: &[Alert], test: bool, i: usize, of: usize) -> Message {
    let title = part_title(all, test, i, of, MAX_HEADER);
    let mut blocks = vec![Block::Header {
        text: Text::plain(&title, MAX_HEADER),
    }];
    for a in part {
        blocks.extend(alert_blocks(a));
    }
    Message {
        text: clip(&title, MAX_SECTION),
        blocks,
    }
}

/// One alert: its summary with value, change, period and series as fields, and a context line
/// with the rule, the cause and the id (the id lets a reader match it to `statwatch alerts`).
fn alert_blocks(a: &Alert) -> [Block; BLOCKS_PER_ALERT] {
    let field = |label: &str, value: &str| {
        Text::mrkdwn(&format!("*{label}*\n{}", escape(value)), MAX_FIELD)
    };
    let section = Block::Section {
        text: Text::mrkdwn(
            &format!("{}  *{}*", badge(a.severity), escape(&a.summary)),
            MAX_SECTION,
        ),
        fields: vec![
            field("Value", &value_text(a)),
            field("Change", &change_text(a)),
            field("Period", &period_text(a)),
            field(
                "Series",
                &format!("{} ({} table {})", a.series, a.source, a.table),
            ),
        ],
    };
    let context = Block::Context {
        elements: vec![Text::mrkdwn(
            &escape(&format!(
                "rule {} · {} · id {}",
                a.rule,
                cause_text(a),
                a.id
            )),
            MAX_SECTION,
        )],
    };
    [section, context]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::alert;

    #[test]
    fn a_long_cycle_is_split_within_the_limits() {
        let mut alerts = Vec::new();
        for i in 0..120 {
            let mut a = alert(&format!("id-{i}"), Severity::Info, &"x<&>".repeat(2000));
            a.title = "t".repeat(5000);
            alerts.push(a);
        }
        let msgs = messages(&alerts, false);
        assert_eq!(msgs.len(), 120usize.div_ceil(ALERTS_PER_MESSAGE));
        let mut sections = 0;
        for m in &msgs {
            assert!(m.blocks.len() <= MAX_BLOCKS);
            let v = serde_json::to_value(m).unwrap();
            for b in v["blocks"].as_array().unwrap() {
                let len = |t: &serde_json::Value| t["text"].as_str().unwrap().chars().count();
                match b["type"].as_str().unwrap() {
                    "header" => assert!(len(&b["text"]) <= MAX_HEADER),
                    "section" => {
                        sections += 1;
                        assert!(len(&b["text"]) <= MAX_SECTION);
                        for f in b["fields"].as_array().unwrap() {
                            assert!(len(f) <= MAX_FIELD);
                        }
                    }
                    "context" => {}
                    other => panic!("unexpected block {other}"),
                }
            }
        }
        assert_eq!(sections, 120, "every alert is in a message");
        assert!(msgs[0].text.ends_with("(part 1 of 5)"), "{}", msgs[0].text);
    }

    #[test]
    fn markup_characters_are_escaped_and_escapes_never_cut() {
        let Text::Mrkdwn { text } = Text::mrkdwn(&escape(&"&".repeat(10)), 12) else {
            panic!()
        };
        assert!(text.ends_with("&amp;…"), "{text}");
        let a = alert("a", Severity::Warning, "a < b & c");
        let v = serde_json::to_value(messages(&[a], false)).unwrap();
        let s = v[0]["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(s.contains("a &lt; b &amp; c"), "{s}");
    }
}
