//! Microsoft Teams: one Workflows-webhook message per cycle, `{"type": "message",
//! "attachments": [one Adaptive Card 1.4]}` with a heading TextBlock and, per alert, a
//! Container of a TextBlock (the summary) and a FactSet (value, change, period, series, rule,
//! cause, id). Teams refuses messages over about 28 KB: a longer cycle is split into several
//! cards, each alert whole, and an alert too long for a card on its own is shortened.

use serde::Serialize;

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

/// The messages for one cycle: one, unless the cards would exceed Teams' size limit.
pub(super) fn messages(alerts: &[Alert], test: bool) -> Vec<Message> {
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
                text: part_title(alerts, test, i, of, MAX_TEXT),
                wrap: true,
                size: Some("Large"),
                weight: Some("Bolder"),
                color: None,
            }];
            body.extend(containers.by_ref().take(r.len()));
            card(body)
        })
        .collect()
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
    let fact = |title: &str, value: String| Fact {
        title: title.to_string(),
        value: clip(&value, MAX_TEXT),
    };
    Element::Container {
        separator: true,
        items: vec![
            Element::TextBlock {
                text: clip(
                    &format!("[{}] {}", a.severity.to_string().to_uppercase(), a.summary),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::alert;

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
