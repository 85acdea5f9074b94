//! What a message says, whichever receiver carries it: the headline alert, the subject line,
//! the plain-text body, and errors and answers shortened to one line for `last_error`.

use std::fmt::Write as _;
use std::ops::Range;

use chrono::Utc;
use rand::Rng;

use super::digest::{holds, Digest};
use crate::model::{figure, signed, Alert, AlertKind, Cause, Details, Period, Severity};

/// The alert that names a message: its first brief (the story of the release), else the
/// most severe alert, the earliest detected among equals.
pub(crate) fn headline(alerts: &[Alert]) -> Option<&Alert> {
    if let Some(b) = alerts.iter().find(|a| a.is_brief()) {
        return Some(b);
    }
    alerts.iter().min_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.detected_at.cmp(&b.detected_at))
            .then(a.id.cmp(&b.id))
    })
}

/// Subject line: the headline's summary, with " (+N more)" when the message carries more.
pub(crate) fn subject(alerts: &[Alert], test: bool) -> String {
    let mut s = match headline(alerts) {
        Some(a) if alerts.len() > 1 => format!("{} (+{} more)", a.summary, alerts.len() - 1),
        Some(a) => a.summary.clone(),
        None => "statwatch: no alerts".to_string(),
    };
    if test && !s.starts_with("[statwatch test]") {
        s = format!("[statwatch test] {s}");
    }
    s
}

/// Renders an error with its causes, one line ("a: b: c"), for `last_error` and logs.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Shortens a receiver's answer for `last_error`: one line, at most `max` characters.
pub(crate) fn short(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Cuts `text` to at most `max` characters (not bytes: the chat services count characters),
/// ending in `…` when cut. Line breaks are kept.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The alert's value with its unit: `+1.3 %`.
pub(crate) fn value_text(a: &Alert) -> String {
    match a.value {
        Some(v) => format!("{}{}", signed(v, &a.unit), unit_suffix(a)),
        // An alert about a whole source (source_failing) has no value.
        None => "-".to_string(),
    }
}

fn unit_suffix(a: &Alert) -> String {
    if a.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", a.unit)
    }
}

/// The change from the period before, with that period and its value: `+0.3 from 2025-02
/// (+1.0 %)`, or `no earlier period`.
pub(crate) fn change_text(a: &Alert) -> String {
    match (&a.previous, a.value) {
        (Some(p), Some(v)) => format!(
            "{} from {} ({}{})",
            signed(v - p.value, &a.unit),
            p.period,
            signed(p.value, &a.unit),
            unit_suffix(a)
        ),
        _ => "no earlier period".to_string(),
    }
}

/// `2025-03 (2025MM03)`, or `-` for an alert about a whole source.
pub(crate) fn period_text(a: &Alert) -> String {
    match a.period {
        Some(p) => format!("{p} ({})", a.source_period),
        None => "-".to_string(),
    }
}

/// `new period`, or `revision (was 1.0)`.
pub(crate) fn cause_text(a: &Alert) -> String {
    match a.cause {
        Cause::NewPeriod => "new period".to_string(),
        Cause::Revision => match a.old_value() {
            Some(old) => format!("revision (was {})", figure(old, &a.unit)),
            None => "revision".to_string(),
        },
        Cause::Overdue => "overdue: no new period".to_string(),
        Cause::SourceFailing if a.recovered() => "source polls again".to_string(),
        Cause::SourceFailing => match a.last_error() {
            Some(e) => format!("source failing: {e}"),
            None => "source failing".to_string(),
        },
        Cause::TableChanged => "the office changed the table".to_string(),
    }
}

/// Cuts `text` into pieces of at most `max` units, where each character weighs what it will
/// take once escaped (`&` is five in Slack's `&amp;`). Cuts fall at line ends; a line longer
/// than `max` on its own is cut between characters, so no escape is ever split. Used for a
/// brief's whole text, which a chat service may only take in limited pieces.
pub(crate) fn split_lines(text: &str, max: usize, weight: impl Fn(char) -> usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let (mut cur, mut used) = (String::new(), 0);
    let mut flush = |cur: &mut String, used: &mut usize| {
        let piece = cur.trim_end_matches('\n');
        if !piece.is_empty() {
            out.push(piece.to_string());
        }
        cur.clear();
        *used = 0;
    };
    for line in text.split_inclusive('\n') {
        let w: usize = line.chars().map(&weight).sum();
        if used + w > max {
            flush(&mut cur, &mut used);
        }
        if w <= max {
            cur.push_str(line);
            used += w;
            continue;
        }
        for c in line.chars() {
            let cw = weight(c);
            if used + cw > max {
                flush(&mut cur, &mut used);
            }
            cur.push(c);
            used += cw;
        }
    }
    flush(&mut cur, &mut used);
    out
}

/// Splits a message's items into consecutive parts of at most `max_items` items and at most
/// `budget` size units each (an item larger than the budget goes alone). Chat services refuse
/// a message over their limits; splitting keeps every alert and every part acceptable.
pub(crate) fn parts(sizes: &[usize], budget: usize, max_items: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start >= max_items.max(1) || (i > start && used + size > budget);
        if full {
            out.push(start..i);
            (start, used) = (i, 0);
        }
        used += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// A part's title, at most `max` characters: the subject, shortened so that ` (part 2 of 3)`
/// still shows when the cycle was split.
pub(crate) fn part_title(
    alerts: &[Alert],
    test: bool,
    part: usize,
    of: usize,
    max: usize,
) -> String {
    let suffix = if of > 1 {
        format!(" (part {} of {of})", part + 1)
    } else {
        String::new()
    };
    let room = max.saturating_sub(suffix.chars().count());
    format!("{}{suffix}", clip(&subject(alerts, test), room))
}

/// A digest's summary in plain text: counts, the most severe alerts, where the rest is.
pub(crate) fn digest_text(d: &Digest) -> String {
    let mut s = format!("{}\n{}\n", d.heading(), d.by_severity());
    for line in d.count_lines() {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(s, "\n{}", d.top_heading());
    for a in &d.top {
        let _ = writeln!(
            s,
            "  [{}] {}",
            a.severity.to_string().to_uppercase(),
            a.summary
        );
    }
    let _ = writeln!(s, "\n{}\n", d.rest());
    s
}

/// The plain-text body: every alert with what it is about, then every alert id; a digest's
/// summary, when the message is over `digest_after`, after the briefs and before the alerts.
pub(crate) fn body(alerts: &[Alert], test: bool, digest: Option<&Digest>) -> String {
    let mut s = String::new();
    if test {
        s.push_str(
            "[statwatch test] This is a test message from `statwatch test-notify`.\n\
             No rule fired; if you can read this, the receiver works.\n\n",
        );
    }
    // Briefs first, whole: the text is complete on its own.
    for b in alerts.iter().filter(|a| a.is_brief()) {
        s.push_str(b.brief_text().unwrap_or(&b.summary));
        let _ = writeln!(s, "\n  brief:    {} (id {})\n", b.rule, b.id);
    }
    if let Some(d) = digest {
        s.push_str(&digest_text(d));
    }
    let n = alerts.iter().filter(|a| !a.is_brief()).count();
    // A message of briefs alone says nothing of alerts (never "0 alerts").
    if n > 0 {
        let all = if digest.is_some() { "All " } else { "" };
        let _ = writeln!(s, "statwatch: {all}{}\n", holds(0, n));
    }
    for a in alerts.iter().filter(|a| !a.is_brief()) {
        let unit = if a.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", a.unit)
        };
        let _ = writeln!(
            s,
            "[{}] {}",
            a.severity.to_string().to_uppercase(),
            a.summary
        );
        // An alert about a whole source (source_failing) has no series, period or value.
        if !a.series.is_empty() {
            let _ = writeln!(s, "  series:   {} ({})", a.series, a.title);
        }
        if let Some(p) = a.period {
            let _ = writeln!(s, "  period:   {p} ({})", a.source_period);
        }
        if let Some(v) = a.value {
            let _ = writeln!(s, "  value:    {}{unit}", signed(v, &a.unit));
            match &a.previous {
                Some(p) => {
                    let previous = signed(p.value, &a.unit);
                    let _ = writeln!(s, "  previous: {previous}{unit} in {}", p.period);
                }
                None => s.push_str("  previous: none\n"),
            }
        }
        if a.table.is_empty() {
            let _ = writeln!(s, "  source:   {}", a.source);
        } else {
            let _ = writeln!(s, "  source:   {} table {}", a.source, a.table);
        }
        let _ = writeln!(s, "  cause:    {}", cause_text(a));
        let _ = writeln!(s, "  rule:     {} ({}, {})", a.rule, a.kind, a.severity);
        let _ = writeln!(s, "  id:       {}\n", a.id);
    }
    s.push_str("Alert ids:\n");
    for a in alerts {
        let _ = writeln!(s, "  {}", a.id);
    }
    s
}

/// The alert `test-notify` sends: clearly marked, with an id that no real alert can have.
pub(crate) fn test_alert() -> Alert {
    let now = Utc::now();
    let id = format!("test-{:016x}", rand::thread_rng().gen::<u64>());
    Alert {
        id,
        rule: "statwatch-test".into(),
        kind: AlertKind::Test,
        severity: Severity::Info,
        series: "statwatch.test".into(),
        title: "statwatch test alert".into(),
        source: "statwatch".into(),
        table: "test".into(),
        unit: "".into(),
        period: Period::month(
            chrono::Datelike::year(&now),
            chrono::Datelike::month(&now) as u8,
        ),
        source_period: "test".into(),
        value: Some(0.0),
        previous: None,
        cause: Cause::NewPeriod,
        summary: "[statwatch test] This is a test alert from statwatch test-notify; no rule fired"
            .into(),
        details: Details::Test { test: true },
        detected_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::test_alert;
    use crate::notify::tests::alert;

    #[test]
    fn subject_names_the_most_severe_alert() {
        let a = alert("a", Severity::Info, "info one");
        let b = alert("b", Severity::Critical, "critical one");
        let c = alert("c", Severity::Warning, "warning one");
        assert_eq!(subject(std::slice::from_ref(&a), false), "info one");
        assert_eq!(
            subject(&[a.clone(), b.clone(), c.clone()], false),
            "critical one (+2 more)"
        );
        // Equal severity: the earliest detected wins.
        let mut later = alert("z", Severity::Critical, "later critical");
        later.detected_at = b.detected_at + chrono::Duration::seconds(5);
        assert_eq!(
            subject(&[later, b.clone()], false),
            "critical one (+1 more)"
        );
        assert_eq!(subject(&[a], true), "[statwatch test] info one");
        let t = test_alert();
        assert!(subject(&[t], true).starts_with("[statwatch test] "));
        assert!(!subject(&[b], true).contains("[statwatch test] [statwatch test]"));
    }

    #[test]
    fn parts_respect_count_and_budget() {
        assert_eq!(parts(&[1; 5], 100, 2), vec![0..2, 2..4, 4..5]);
        assert_eq!(parts(&[40, 40, 40], 100, 10), vec![0..2, 2..3]);
        assert_eq!(parts(&[500, 1], 100, 10), vec![0..1, 1..2]);
        assert!(parts(&[], 100, 10).is_empty());
    }

    #[test]
    fn split_lines_cuts_at_line_ends_and_never_inside_an_escape() {
        let text = "first line\nsecond & line\n\nthird";
        let slack = |c: char| if c == '&' { 5 } else { 1 };
        assert_eq!(split_lines(text, 100, slack), [text]);
        assert_eq!(
            split_lines(text, 20, slack),
            ["first line", "second & line", "third"]
        );
        let long = "&".repeat(7);
        let pieces = split_lines(&long, 12, slack);
        assert_eq!(pieces, ["&&", "&&", "&&", "&"]);
        assert!(pieces
            .iter()
            .all(|p| p.chars().map(slack).sum::<usize>() <= 12));
        assert!(split_lines("", 10, slack).is_empty());
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("ééééé", 5), "ééééé");
        assert_eq!(clip("éééééé", 5), "éééé…");
        assert_eq!(clip("a\nb", 10), "a\nb");
    }

    #[test]
    fn change_reads_as_a_person_would_write_it() {
        let a = alert("a", Severity::Info, "x");
        assert_eq!(change_text(&a), "+0.3 from 2025-02 (+1.0 %)");
        assert_eq!(value_text(&a), "+1.3 %");
        assert_eq!(period_text(&a), "2025-03 (2025MM03)");
    }

    #[test]
    fn short_keeps_one_line() {
        assert_eq!(short("a\n  b\tc", 10), "a b c");
        assert_eq!(short("abcdefghijkl", 5), "abcde…");
    }

    #[test]
    fn the_test_alert_says_so_in_its_details() {
        let a = test_alert();
        assert!(a.is_test());
        assert_eq!(
            serde_json::to_string(&a.details).unwrap(),
            r#"{"test":true}"#
        );
    }

    #[test]
    fn body_lists_every_alert_and_id() {
        let a = alert("id-a", Severity::Info, "Industrie: groei (+1.3 in 2025-03)");
        let mut b = alert("id-b", Severity::Critical, "sign flipped");
        b.cause = Cause::Revision;
        b.details = Details::Revision { old_value: 1.0 };
        let text = body(&[a, b], false, None);
        for needle in [
            "id-a",
            "id-b",
            "Industrie: groei (+1.3 in 2025-03)",
            "sign flipped",
            "+1.3 %",
            "previous: +1.0 % in 2025-02",
            "cbs table 85806NED",
            "2025-03 (2025MM03)",
            "cause:    new period",
            "revision (was 1.0)",
            "[CRITICAL]",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        assert!(!text.contains("[statwatch test]"));
        assert!(body(&[], true, None).starts_with("[statwatch test]"));
    }
}
