//! Mattermost: one incoming-webhook post per cycle, `{"text": <Markdown>}` (the
//! Slack-compatible form every Mattermost server takes): a brief as its whole text (Mattermost
//! keeps single line breaks), an alert as its summary, figures and origin. A post holds at
//! most 16,383 characters (Mattermost's `MaxPostSize`); a longer cycle is split into several
//! posts, each brief and alert whole, and one longer than a post on its own is shortened.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Serialize;

use super::digest::Digest;
use super::escape::{mattermost as escape, mattermost_code as code};
use super::render::{cause_text, change_text, clip, part_title, parts, period_text, value_text};
use crate::model::Alert;

/// Characters in one post (Mattermost's default and minimum `MaxPostSize`).
pub(super) const MAX_POST: usize = 16_383;
/// What the heading of a part may take of a post; the alerts share the rest.
const HEADING_ROOM: usize = 400;

#[derive(Debug, Serialize)]
pub(super) struct Message {
    text: String,
}

/// The posts for one cycle, each with the alerts it carries: one, unless the text exceeds a
/// post.
pub(super) fn messages(alerts: &[Alert], test: bool) -> Vec<(Range<usize>, Message)> {
    let budget = MAX_POST - HEADING_ROOM;
    let blocks: Vec<String> = alerts
        .iter()
        .map(|a| match a.brief_text() {
            Some(text) if a.is_brief() => clip(&brief_block(a, text), budget),
            _ => clip(&alert(a), budget),
        })
        .collect();
    let sizes: Vec<usize> = blocks.iter().map(|b| b.chars().count()).collect();
    let mut ranges = parts(&sizes, budget, usize::MAX);
    if ranges.is_empty() {
        ranges.push(0..0);
    }
    let of = ranges.len();
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let heading = part_title(alerts, test, i, of, HEADING_ROOM - 10);
            let mut text = format!("#### {}\n", escape(&heading));
            for b in &blocks[r.clone()] {
                text.push_str(b);
            }
            let message = Message {
                text: clip(&text, MAX_POST),
            };
            (r, message)
        })
        .collect()
}

/// A digest in one post: the heading, the counts, the briefs (shortened to the room the
/// rest leaves), the most severe alerts, and where the rest is.
pub(super) fn digest_message(d: &Digest, test: bool) -> Message {
    let mut title = d.heading();
    if test {
        title = format!("[statwatch test] {title}");
    }
    let mut head = format!(
        "#### {}\n**{}**\n",
        escape(&title),
        escape(&d.by_severity())
    );
    for line in d.count_lines() {
        let _ = writeln!(head, "- {}", escape(&line));
    }
    let mut tail = format!("\n**{}**\n", escape(&d.top_heading()));
    for a in &d.top {
        tail.push_str(&alert(a));
    }
    // Our own words and the configured page, not escaped: the command reads as code and
    // the URL stays a link.
    let _ = write!(tail, "\n{}\n", d.rest());
    let (head, tail) = (clip(&head, MAX_POST / 4), clip(&tail, MAX_POST / 2));
    let room = MAX_POST - head.chars().count() - tail.chars().count();
    let briefs: String = d
        .briefs
        .iter()
        .map(|b| brief_block(b, &Digest::brief_text(b)))
        .collect();
    Message {
        text: clip(&format!("{head}{}{tail}", clip(&briefs, room)), MAX_POST),
    }
}

/// A brief: its first line (title and period) in bold, the rest line by line as it is
/// written, then the brief and its id.
fn brief_block(a: &Alert, text: &str) -> String {
    let mut s = String::from("\n");
    for (i, line) in text.trim_end().lines().enumerate() {
        if i == 0 {
            let _ = writeln!(s, "**{}**", escape(line));
        } else {
            let _ = writeln!(s, "{}", escape(line));
        }
    }
    let _ = writeln!(s, "\nbrief {} · id {}", code(&a.rule), code(&a.id));
    s
}

/// One alert: the summary in bold, then value, change and period, then where it comes from.
fn alert(a: &Alert) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n**[{}]** {}",
        a.severity.to_string().to_uppercase(),
        escape(&a.summary)
    );
    let _ = writeln!(
        s,
        "Value **{}** · change {} · period {}",
        escape(&value_text(a)),
        escape(&change_text(a)),
        escape(&period_text(a))
    );
    let _ = writeln!(
        s,
        "Series {} ({} table {}) · rule {} · {} · id {}",
        code(&a.series),
        escape(&a.source),
        escape(&a.table),
        code(&a.rule),
        escape(&cause_text(a)),
        code(&a.id)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::tests::{alert as sample, brief};

    /// The messages alone, without the alerts each carries.
    fn messages(alerts: &[Alert], test: bool) -> Vec<Message> {
        super::messages(alerts, test)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn a_long_cycle_is_split_into_posts_that_fit() {
        let alerts: Vec<Alert> = (0..120)
            .map(|i| sample(&format!("id-{i}"), Severity::Info, &"long ".repeat(100)))
            .collect();
        let msgs = messages(&alerts, false);
        assert!(msgs.len() > 1);
        for m in &msgs {
            assert!(m.text.chars().count() <= MAX_POST);
        }
        let all: String = msgs.iter().map(|m| m.text.as_str()).collect();
        for i in 0..120 {
            assert!(all.contains(&format!("id `id-{i}`")), "id-{i} missing");
        }
    }

    #[test]
    fn a_brief_is_its_whole_text_line_by_line() {
        let text = "Dutch manufacturing, 2025-03\n\nOf 8 series (nl.industry.branch.*.yoy) in 2025-03, 4 rose and 4 fell.\nLowest: 25 Metal -4.0 %.\n";
        let msgs = messages(
            &[brief("b1", text), sample("a1", Severity::Info, "x")],
            false,
        );
        assert_eq!(msgs.len(), 1);
        let t = &msgs[0].text;
        assert!(
            t.contains(
                "**Dutch manufacturing, 2025-03**\n\n\
                 Of 8 series (nl.industry.branch.\\*.yoy) in 2025-03, 4 rose and 4 fell.\n\
                 Lowest: 25 Metal -4.0 %.\n\nbrief `nl-industry` · id `b1`"
            ),
            "{t}"
        );
        assert!(t.contains("id `a1`"), "{t}");
    }

    #[test]
    fn one_post_for_a_short_cycle_with_value_change_and_period() {
        let msgs = messages(&[sample("a", Severity::Warning, "x*y")], false);
        assert_eq!(msgs.len(), 1);
        let t = &msgs[0].text;
        assert!(t.contains("**[WARNING]** x\\*y"), "{t}");
        assert!(t.contains("Value **+1.3 %** · change +0.3 from 2025-02 (+1.0 %) · period 2025-03"));
    }
}
