//! Slack: one incoming-webhook message per cycle in Block Kit (`{"text": <fallback>,
//! "blocks": [...]}`), built from typed blocks and kept within Slack's documented limits: 50
//! blocks a message, 150 characters in a header, 3,000 in a section's text, 2,000 in a field,
//! 10 fields a section. A brief is its whole text in mrkdwn sections (cut at line ends into
//! pieces of at most 3,000 characters); an alert is a section with fields. A cycle with more
//! blocks than one message holds is split into several messages (each brief and alert whole,
//! in order); text over a limit is shortened, never refused.

use std::ops::Range;

use serde::Serialize;

use super::digest::Digest;
use super::escape::{slack as escape, slack_plain, slack_weight};
use super::render::{
    cause_text, change_text, clip, part_title, parts, period_text, split_lines, value_text,
};
use crate::model::{Alert, Severity};

/// Blocks in one message.
pub(super) const MAX_BLOCKS: usize = 50;
/// Characters in a header's plain text.
pub(super) const MAX_HEADER: usize = 150;
/// Characters in a section's text, and in a context element's.
pub(super) const MAX_SECTION: usize = 3000;
/// Characters in one field of a section.
pub(super) const MAX_FIELD: usize = 2000;
/// Blocks a message has for its items: the header takes one of the 50.
const ITEM_BLOCKS: usize = MAX_BLOCKS - 1;

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

    /// Mrkdwn from escaped text, shortened without cutting an escape in two.
    fn mrkdwn(text: &str, max: usize) -> Text {
        Text::Mrkdwn {
            text: clip_escaped(text, max),
        }
    }
}

/// Escaped text (see [`escape`]) shortened to `max` characters without cutting an escape in
/// two: the `…` of a clipped text may have split an `&amp;`, which is then dropped whole.
fn clip_escaped(text: &str, max: usize) -> String {
    let mut t = clip(text, max);
    if t != text {
        if let Some(amp) = t.rfind('&').filter(|&i| !t[i..].contains(';')) {
            t.truncate(amp);
            t.push('…');
        }
    }
    t
}

fn badge(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":red_circle: CRITICAL",
        Severity::Warning => ":large_orange_circle: WARNING",
        Severity::Info => ":large_blue_circle: INFO",
    }
}

/// The messages for one cycle, each with the alerts it carries: one, unless the briefs and
/// alerts need more blocks than Slack allows.
pub(super) fn messages(alerts: &[Alert], test: bool) -> Vec<(Range<usize>, Message)> {
    let items: Vec<Vec<Block>> = alerts
        .iter()
        .map(|a| match a.brief_text() {
            Some(text) if a.is_brief() => brief_blocks(a, text),
            _ => alert_blocks(a).into(),
        })
        .collect();
    let sizes: Vec<usize> = items.iter().map(Vec::len).collect();
    let mut ranges = parts(&sizes, ITEM_BLOCKS, usize::MAX);
    if ranges.is_empty() {
        // test-notify always has an alert; an empty cycle is never sent. Still a valid message.
        ranges.push(0..0);
    }
    let of = ranges.len();
    let mut items = items.into_iter();
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let title = part_title(alerts, test, i, of, MAX_HEADER);
            let mut blocks = vec![Block::Header {
                text: Text::plain(&slack_plain(&title), MAX_HEADER),
            }];
            blocks.extend(items.by_ref().take(r.len()).flatten());
            // The fallback is read as mrkdwn (mentions, links) like a section.
            let message = Message {
                text: clip_escaped(&escape(&title), MAX_SECTION),
                blocks,
            };
            (r, message)
        })
        .collect()
}

/// A digest in one message: the heading, the counts, the briefs that fit the blocks left
/// (each whole; the others named), the most severe alerts, and where the rest is.
pub(super) fn digest_message(d: &Digest, test: bool) -> Message {
    let mut title = d.heading();
    if test {
        title = format!("[statwatch test] {title}");
    }
    let note = |text: String| Block::Context {
        elements: vec![Text::mrkdwn(&escape(&text), MAX_SECTION)],
    };
    let mut blocks = vec![
        Block::Header {
            text: Text::plain(&slack_plain(&title), MAX_HEADER),
        },
        Block::Section {
            text: Text::mrkdwn(
                &format!(
                    "*{}*\n{}",
                    escape(&d.by_severity()),
                    escape(&d.count_lines().join("\n"))
                ),
                MAX_SECTION,
            ),
            fields: Vec::new(),
        },
    ];
    let tail: Vec<Block> = std::iter::once(note(d.top_heading()))
        .chain(d.top.iter().flat_map(|a| alert_blocks(a)))
        .chain(std::iter::once(Block::Section {
            text: Text::mrkdwn(&escape(&d.rest()), MAX_SECTION),
            fields: Vec::new(),
        }))
        .collect();
    let mut room = MAX_BLOCKS - blocks.len() - tail.len() - 1;
    let mut left_out = 0;
    for b in &d.briefs {
        let mut made = brief_blocks(b, &Digest::brief_text(b));
        if made.len() > room {
            left_out += 1;
            continue;
        }
        room -= made.len();
        blocks.append(&mut made);
    }
    if left_out > 0 {
        blocks.push(note(format!(
            "{left_out} more brief{} did not fit in this message: see `statwatch alerts`",
            if left_out == 1 { "" } else { "s" }
        )));
    }
    blocks.extend(tail);
    // The notification shows only this: the counts and what leads the release.
    let text = match d.lead() {
        Some(lead) => format!("{title} · {lead}"),
        None => title,
    };
    Message {
        text: clip_escaped(&escape(&text), MAX_SECTION),
        blocks,
    }
}

/// A brief: its whole text, in as many sections as Slack's 3,000 characters a section need
/// (cut at line ends), then a context line with the brief and its id. A brief longer than a
/// message could hold keeps what fits and ends in `…`.
fn brief_blocks(a: &Alert, text: &str) -> Vec<Block> {
    let mut pieces = split_lines(text, MAX_SECTION, slack_weight);
    if pieces.len() > ITEM_BLOCKS - 1 {
        pieces.truncate(ITEM_BLOCKS - 1);
        if let Some(last) = pieces.last_mut() {
            // The mark takes the place of the last character, so the piece still fits.
            let n = last.chars().count();
            *last = last
                .chars()
                .take(n.saturating_sub(1))
                .chain(['…'])
                .collect();
        }
    }
    let mut blocks: Vec<Block> = pieces
        .iter()
        .map(|p| Block::Section {
            text: Text::Mrkdwn { text: escape(p) },
            fields: Vec::new(),
        })
        .collect();
    blocks.push(Block::Context {
        elements: vec![Text::mrkdwn(
            &escape(&format!("brief {} · id {}", a.rule, a.id)),
            MAX_SECTION,
        )],
    });
    blocks
}

/// One alert: its summary with value, change, period and series as fields, and a context line
/// with the rule, the cause and the id (the id lets a reader match it to `statwatch alerts`).
fn alert_blocks(a: &Alert) -> [Block; 2] {
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
    use crate::notify::tests::{alert, brief};

    /// The messages alone, without the alerts each carries.
    fn messages(alerts: &[Alert], test: bool) -> Vec<Message> {
        super::messages(alerts, test)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn a_long_cycle_is_split_within_the_limits() {
        let mut alerts = Vec::new();
        for i in 0..120 {
            let mut a = alert(&format!("id-{i}"), Severity::Info, &"x<&>".repeat(2000));
            a.title = "t".repeat(5000);
            alerts.push(a);
        }
        let msgs = messages(&alerts, false);
        // Two blocks an alert, 49 blocks a message for them.
        assert_eq!(msgs.len(), 120usize.div_ceil(ITEM_BLOCKS / 2));
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
    fn a_brief_is_its_whole_text_in_sections_of_at_most_3000_characters() {
        // 200 lines of 40 characters, an `&` in each: about 8,800 characters escaped.
        let text: String = (0..200)
            .map(|i| format!("line {i:03}: output & orders rose 1.3 %.....\n"))
            .collect();
        let msgs = messages(
            &[brief("b1", &text), alert("a1", Severity::Info, "x")],
            false,
        );
        assert_eq!(msgs.len(), 1, "one message under the block limit");
        let v = serde_json::to_value(&msgs[0]).unwrap();
        let blocks = v["blocks"].as_array().unwrap();
        let sections: Vec<&str> = blocks
            .iter()
            .take_while(|b| b["type"] != "context")
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap())
            .collect();
        assert!(sections.len() >= 3, "{} sections", sections.len());
        assert!(sections.iter().all(|s| s.chars().count() <= MAX_SECTION));
        let back = sections.join("\n").replace("&amp;", "&");
        assert_eq!(back, text.trim_end(), "the whole text, in order");
        assert!(v.to_string().contains("brief nl-industry · id b1"));
        // The alert after it keeps its own blocks.
        assert!(v.to_string().contains("id a1"));
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
