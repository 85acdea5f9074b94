//! A digest: what a message that would hold more than a receiver's `digest_after` alerts
//! says to people (docs/payloads.md, "Digests"). Chat receivers get it instead of
//! the alerts, email on top of them: the briefs, the counts by rule and severity, the
//! [`TOP`] most severe alerts (severity, then largest change) and where to read the rest.
//! This file decides what a digest holds; each platform's file draws it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use url::Url;

use crate::briefs::text::ALERTS_HEADING;
use crate::model::{Alert, Cause, Severity};

/// How many alerts a digest shows.
pub(crate) const TOP: usize = 10;
/// How many lines of a brief's list of alerts a digest keeps.
const BRIEF_ALERTS: usize = 3;

/// A receiver's digest settings: `digest_after` and where the `/alerts` page is read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Digesting {
    pub(crate) after: usize,
    pub(crate) public_url: Option<Url>,
}

impl Digesting {
    /// The digest of a message's alerts, when it holds more than `after` (briefs not counted).
    pub(crate) fn of<'a>(&self, alerts: &'a [Alert]) -> Option<Digest<'a>> {
        let total = alerts.iter().filter(|a| !a.is_brief()).count();
        if total <= self.after {
            return None;
        }
        let briefs = alerts.iter().filter(|a| a.is_brief()).collect();
        let mut ranked: Vec<&Alert> = alerts.iter().filter(|a| !a.is_brief()).collect();
        ranked.sort_by(|a, b| most_severe_first(a, b));
        let mut counts: BTreeMap<(Severity, &str), usize> = BTreeMap::new();
        for a in &ranked {
            *counts.entry((a.severity, a.rule.as_str())).or_default() += 1;
        }
        let mut counts: Vec<Count> = counts
            .into_iter()
            .map(|((severity, rule), n)| Count {
                rule: rule.to_string(),
                severity,
                n,
            })
            .collect();
        counts.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.n.cmp(&a.n)));
        ranked.truncate(TOP);
        Some(Digest {
            briefs,
            top: ranked,
            total,
            counts,
            alerts_page: self.public_url.as_ref().map(alerts_page),
        })
    }
}

/// `{public_url}/alerts`, keeping a proxy's path prefix (`Url::join` would drop its last
/// segment without a trailing slash).
fn alerts_page(base: &Url) -> String {
    format!("{}/alerts", base.as_str().trim_end_matches('/'))
}

/// Most severe first; among equals the largest change, then the earliest detected.
fn most_severe_first(a: &Alert, b: &Alert) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then(magnitude(b).total_cmp(&magnitude(a)))
        .then(a.detected_at.cmp(&b.detected_at))
        .then(a.id.cmp(&b.id))
}

/// How much the alert's value moved: from the value it revised, else from the period
/// before; 0 when neither is known.
fn magnitude(a: &Alert) -> f64 {
    let Some(v) = a.value else { return 0.0 };
    let from = match a.cause {
        Cause::Revision => a.old_value(),
        _ => a.previous.as_ref().map(|p| p.value),
    };
    from.map(|f| (v - f).abs()).unwrap_or(0.0)
}

/// Alerts of one rule and severity in a digest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Count {
    pub(crate) rule: String,
    pub(crate) severity: Severity,
    pub(crate) n: usize,
}

/// What a digest holds.
#[derive(Debug)]
pub(crate) struct Digest<'a> {
    pub(crate) briefs: Vec<&'a Alert>,
    /// The most severe alerts, at most [`TOP`], in order.
    pub(crate) top: Vec<&'a Alert>,
    /// How many alerts the message holds (briefs not counted).
    pub(crate) total: usize,
    /// Most severe first, then the most alerts.
    pub(crate) counts: Vec<Count>,
    /// The `/alerts` page, when `[web] public_url` is set.
    pub(crate) alerts_page: Option<String>,
}

impl Digest<'_> {
    /// `statwatch: 60 alerts and 1 brief (a digest)`.
    pub(crate) fn heading(&self) -> String {
        format!("statwatch digest: {}", holds(self.briefs.len(), self.total))
    }

    /// What a notification of the digest should say besides the counts: the first brief's
    /// summary, else the most severe alert's.
    pub(crate) fn lead(&self) -> Option<&str> {
        self.briefs
            .first()
            .or(self.top.first())
            .map(|a| a.summary.as_str())
    }

    /// `2 critical · 58 info`.
    pub(crate) fn by_severity(&self) -> String {
        let mut n: BTreeMap<Severity, usize> = BTreeMap::new();
        for c in &self.counts {
            *n.entry(c.severity).or_default() += c.n;
        }
        n.iter()
            .rev()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// One line per rule and severity: `58 × release (info)`.
    pub(crate) fn count_lines(&self) -> Vec<String> {
        self.counts
            .iter()
            .map(|c| format!("{} × {} ({})", c.n, c.rule, c.severity))
            .collect()
    }

    /// `The 10 most severe of 60:`.
    pub(crate) fn top_heading(&self) -> String {
        format!("The {} most severe of {}:", self.top.len(), self.total)
    }

    /// Where the rest is: the command, and the page when there is one.
    pub(crate) fn rest(&self) -> String {
        let other = self.total - self.top.len();
        let mut s = format!(
            "The other {other} alert{} are not shown here. All {}: run `statwatch alerts`",
            plural(other),
            self.total
        );
        if let Some(page) = &self.alerts_page {
            s.push_str(&format!(" or open {page}"));
        }
        s.push('.');
        s
    }

    /// A brief's text for the digest: its list of the release's alerts, which the digest
    /// sums up, is cut to its first [`BRIEF_ALERTS`] lines.
    pub(crate) fn brief_text(b: &Alert) -> String {
        let text = b.brief_text().unwrap_or(&b.summary);
        let Some(at) = text.find(ALERTS_HEADING) else {
            return text.to_string();
        };
        let (head, list) = text.split_at(at);
        let lines: Vec<&str> = list
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() <= BRIEF_ALERTS {
            return text.to_string();
        }
        let mut s = format!("{head}{ALERTS_HEADING}\n");
        for l in &lines[..BRIEF_ALERTS] {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&format!("- and {} more\n", lines.len() - BRIEF_ALERTS));
        s
    }
}

/// What a message holds, in words: `1 brief`, `3 alerts`, `1 brief and 3 alerts`.
pub(crate) fn holds(briefs: usize, alerts: usize) -> String {
    let b = format!("{briefs} brief{}", plural(briefs));
    let a = format!("{alerts} alert{}", plural(alerts));
    match (briefs, alerts) {
        (0, _) => a,
        (_, 0) => b,
        _ => format!("{b} and {a}"),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::{alert, brief};

    fn cycle(n: usize) -> Vec<Alert> {
        let mut out = vec![brief("b1", "Dutch manufacturing, 2025-03\nline two")];
        for i in 0..n {
            let mut a = alert(&format!("id-{i:02}"), Severity::Info, &format!("alert {i}"));
            a.rule = "rel".into();
            a.value = Some(i as f64);
            out.push(a);
        }
        out
    }

    #[test]
    fn a_digest_ranks_by_severity_then_change_and_counts_by_rule() {
        let mut alerts = cycle(60);
        alerts[30].severity = Severity::Critical;
        alerts[30].rule = "big".into();
        let d = Digesting {
            after: 50,
            public_url: Some("https://stats.example.org/statwatch/".parse().unwrap()),
        };
        let g = d.of(&alerts).expect("60 > 50");
        assert_eq!(g.total, 60);
        assert_eq!(g.briefs.len(), 1);
        assert_eq!(g.top.len(), TOP);
        assert_eq!(g.top[0].id, "id-29", "the critical one first");
        // Then the largest change from the period before (+1.0): the largest values.
        assert_eq!(g.top[1].id, "id-59");
        assert_eq!(g.top[2].id, "id-58");
        assert_eq!(g.by_severity(), "1 critical · 59 info");
        assert_eq!(g.count_lines(), ["1 × big (critical)", "59 × rel (info)"]);
        assert!(g
            .rest()
            .contains("`statwatch alerts` or open https://stats.example.org/statwatch/alerts"));
        assert_eq!(g.heading(), "statwatch digest: 1 brief and 60 alerts");
        assert!(Digesting { after: 60, ..d }.of(&alerts).is_none());
    }

    #[test]
    fn holds_says_what_is_there() {
        assert_eq!(holds(1, 0), "1 brief");
        assert_eq!(holds(0, 0), "0 alerts");
        assert_eq!(holds(2, 1), "2 briefs and 1 alert");
    }
}
