//! Microsoft Teams: one Workflows-webhook message per cycle, `{"type": "message",
//! "attachments": [one Adaptive Card 1.4]}` with a heading TextBlock and, per brief, a
//! Container of its whole text (one TextBlock a line: Teams does not break lines inside one
//! reliably) and, per alert, a Container of a TextBlock (the summary) and a FactSet (value,
//! change, period, series, rule, cause, id). Teams refuses messages over about 28 KB: a longer
//! cycle is split into several cards, each brief and alert whole, and one too long for a card
//! on its own is shortened.

use std::ops::Range;

use serde::Serialize;

use super::digest::Digest;
use super::escape::teams as escape;
use super::render::{cause_text, change_text, clip, part_title, parts, period_text, value_text};
use crate::model::{Alert, Severity};

pub(super) const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The Adaptive Card version: 1.4 is what Teams renders in every client.
pub(super) const CARD_VERSION: &str = "1.4";
/// Bytes of JSON one message may take: Teams' limit is about 28 KB, and the envelope and the
/// heading need some room.
pub(super) const MAX_MESSAGE_BYTES: usize = 24_000;
/// Characters of one text (a summary or a fact): long enough for any real summary.
const MAX_TEXT: usize = 2_000;

#[derive(Debug, Serialize)]
pub(super) struct Message {
    #[serde(rename = "type")]
    kind: &'static str,
    attachments: Vec<Attachment>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    content_type: &'static str,
    content: Card,
}

#[derive(Debug, Serialize)]
struct Card {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    body: Vec<Element>,
    /// Full width in Teams: facts wrap badly in the default narrow card.
    msteams: MsTeams,
}

#[derive(Debug, Serialize)]
struct MsTeams {
    width: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum Element {
    TextBlock {
        text: String,
        wrap: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        weight: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        color: Option<&'static str>,
    },
    FactSet {
        facts: Vec<Fact>,
    },
    Container {
        items: Vec<Element>,
        separator: bool,
    },
}

#[derive(Debug, Serialize)]
struct Fact {
    title: String,
    value: String,
}

/// The messages for one cycle, each with the alerts it carries: one, unless the cards would
/// exceed Teams' size limit.
pub(super) fn messages(alerts: &[Alert], test: bool) -> Vec<(Range<usize>, Message)> {
    let containers: Vec<Element> = alerts.iter().map(container).collect();
    let sizes: Vec<usize> = containers
        .iter()
        .map(|c| serde_json::to_vec(c).map(|v| v.len()).unwrap_or(MAX_TEXT))
        .collect();
    let mut ranges = parts(&sizes, MAX_MESSAGE_BYTES - 2_000, usize::MAX);
    if ranges.is_empty() {
        ranges.push(0..0);
    }
    let of = ranges.len();
    let mut containers = containers.into_iter();
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut body = vec![Element::TextBlock {
                text: clip(
                    &escape(&part_title(alerts, test, i, of, MAX_TEXT)),
                    MAX_TEXT,
                ),
                wrap: true,
                size: Some("Large"),
                weight: Some("Bolder"),
                color: None,
            }];
            body.extend(containers.by_ref().take(r.len()));
            (r, card(body))
        })
        .collect()
}

/// A digest in one card: the heading, the counts, the briefs that fit the size left (each
/// whole; the others named), the most severe alerts, and where the rest is.
pub(super) fn digest_message(d: &Digest, test: bool) -> Message {
    let mut title = d.heading();
    if test {
        title = format!("[statwatch test] {title}");
    }
    let text = |t: String, weight: Option<&'static str>| Element::TextBlock {
        text: clip(&escape(&t), MAX_TEXT),
        wrap: true,
        size: None,
        weight,
        color: None,
    };
    let mut body = vec![
        Element::TextBlock {
            text: clip(&escape(&title), MAX_TEXT),
            wrap: true,
            size: Some("Large"),
            weight: Some("Bolder"),
            color: None,
        },
        text(d.by_severity(), Some("Bolder")),
        Element::FactSet {
            facts: d
                .counts
                .iter()
                .map(|c| Fact {
                    title: clip(&escape(&format!("{} ({})", c.rule, c.severity)), MAX_TEXT),
                    value: c.n.to_string(),
                })
                .collect(),
        },
    ];
    let mut tail = vec![text(d.top_heading(), Some("Bolder"))];
    tail.extend(d.top.iter().map(|a| container(a)));
    tail.push(text(d.rest(), None));
    let size = |e: &[Element]| serde_json::to_vec(e).map(|v| v.len()).unwrap_or(MAX_TEXT);
    let mut room = MAX_MESSAGE_BYTES.saturating_sub(size(&body) + size(&tail) + 1_000);
    let mut left_out = 0;
    for b in &d.briefs {
        let c = brief_container(b, &Digest::brief_text(b));
        let n = size(std::slice::from_ref(&c));
        if n > room {
            left_out += 1;
            continue;
        }
        room -= n;
        body.push(c);
    }
    if left_out > 0 {
        body.push(text(
            format!("{left_out} more brief(s) did not fit in this card: see statwatch alerts"),
            None,
        ));
    }
    body.extend(tail);
    card(body)
}

fn card(body: Vec<Element>) -> Message {
    Message {
        kind: "message",
        attachments: vec![Attachment {
            content_type: CARD_CONTENT_TYPE,
            content: Card {
                schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                kind: "AdaptiveCard",
                version: CARD_VERSION,
                body,
                msteams: MsTeams { width: "Full" },
            },
        }],
    }
}

fn container(a: &Alert) -> Element {
    if let Some(text) = a.brief_text().filter(|_| a.is_brief()) {
        return brief_container(a, text);
    }
    let fact = |title: &str, value: String| Fact {
        title: title.to_string(),
        value: clip(&escape(&value), MAX_TEXT),
    };
    Element::Container {
        separator: true,
        items: vec![
            Element::TextBlock {
                text: clip(
                    &format!(
                        "[{}] {}",
                        a.severity.to_string().to_uppercase(),
                        escape(&a.summary)
                    ),
                    MAX_TEXT,
                ),
                wrap: true,
                size: None,
                weight: Some("Bolder"),
                color: Some(match a.severity {
                    Severity::Critical => "Attention",
                    Severity::Warning => "Warning",
                    Severity::Info => "Default",
                }),
            },
            Element::FactSet {
                facts: vec![
                    fact("Value", value_text(a)),
                    fact("Change", change_text(a)),
                    fact("Period", period_text(a)),
                    fact(
                        "Series",
                        format!("{} ({} table {})", a.series, a.source, a.table),
                    ),
                    fact("Rule", format!("{} · {}", a.rule, cause_text(a))),
                    fact("Id", a.id.clone()),
                ],
            },
        ],
    }
}

/// A brief: its first line (the title and period) bold, every further line as it is, then
/// the brief and its id, small. Lines past what one card holds are left out, marked `…`.
fn brief_container(a: &Alert, text: &str) -> Element {
    let block = |text: String, weight: Option<&'static str>, size: Option<&'static str>| {
        Element::TextBlock {
            text: clip(&text, MAX_TEXT),
            wrap: true,
            size,
            weight,
            color: None,
        }
    };
    // The card's own heading and envelope need some of the message; the text gets the rest.
    let mut room = MAX_MESSAGE_BYTES - 4_000;
    let mut items = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let line = escape(line);
        // A TextBlock's JSON is about 60 bytes besides its text.
        let cost = line.len() + 60;
        if cost > room {
            items.push(block("…".into(), None, None));
            break;
        }
        room -= cost;
        items.push(block(line, (i == 0).then_some("Bolder"), None));
    }
    items.push(block(
        format!("brief {} · id {}", escape(&a.rule), escape(&a.id)),
        None,
        Some("Small"),
    ));
    Element::Container {
        separator: true,
        items,
    }
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
    fn a_brief_is_every_line_of_its_text() {
        let text = "Dutch manufacturing, 2025-03\n\nOutput y/y: +1.3 % in 2025-03.\n\
                    Lowest: 25 Metal -4.0 %.\n\nAlerts of this release:\n- x fired\n";
        let msgs = messages(&[brief("b1", text)], false);
        assert_eq!(msgs.len(), 1);
        let v = serde_json::to_value(&msgs[0]).unwrap();
        let items = &v["attachments"][0]["content"]["body"][1]["items"];
        let lines: Vec<&str> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "Dutch manufacturing, 2025-03",
                "Output y/y: +1.3 % in 2025-03.",
                "Lowest: 25 Metal -4.0 %.",
                "Alerts of this release:",
                "- x fired",
                "brief nl-industry · id b1"
            ]
        );
        assert_eq!(items[0]["weight"], "Bolder");
        // A brief of a thousand long lines still makes a card Teams takes.
        let long: String = (0..1000)
            .map(|i| format!("line {i}: {}\n", "x".repeat(80)))
            .collect();
        let msgs = messages(&[brief("b2", &long)], false);
        assert_eq!(msgs.len(), 1);
        let json = serde_json::to_vec(&msgs[0]).unwrap();
        assert!(json.len() <= MAX_MESSAGE_BYTES, "{} bytes", json.len());
        assert!(String::from_utf8(json).unwrap().contains("id b2"));
    }

    #[test]
    fn a_long_cycle_becomes_cards_under_the_size_limit() {
        let alerts: Vec<Alert> = (0..120)
            .map(|i| alert(&format!("id-{i}"), Severity::Critical, &"x".repeat(900)))
            .collect();
        let msgs = messages(&alerts, false);
        assert!(msgs.len() > 1);
        let mut n = 0;
        for m in &msgs {
            let v = serde_json::to_value(m).unwrap();
            assert!(serde_json::to_vec(m).unwrap().len() <= MAX_MESSAGE_BYTES);
            assert_eq!(v["attachments"][0]["contentType"], CARD_CONTENT_TYPE);
            assert_eq!(v["attachments"][0]["content"]["version"], CARD_VERSION);
            n += v["attachments"][0]["content"]["body"]
                .as_array()
                .unwrap()
                .len()
                - 1;
        }
        assert_eq!(n, 120);
    }
}
