//! The plain-text brief: the facts in the order a statistician would say them (lead and its
//! run, context, breakdown, the cycle's alerts). Complete on its own: every channel that
//! cannot show charts sends exactly this.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::facts::{Facts, Mover, Run, Sign};
use crate::model::signed;
use crate::rules::ordinal;

/// What the text names series by: title and unit per series id (a missing one reads as the
/// id, unit-less).
#[derive(Debug, Default, Clone)]
pub struct Labels {
    pub titles: BTreeMap<String, String>,
    pub units: BTreeMap<String, String>,
}

impl Labels {
    fn title<'a>(&'a self, series: &'a str) -> &'a str {
        self.titles.get(series).map_or(series, String::as_str)
    }

    fn unit(&self, series: &str) -> &str {
        self.units.get(series).map_or("", String::as_str)
    }

    /// A value with its sign, and " %" for percentages (other units are read from the title).
    fn value(&self, series: &str, v: f64) -> String {
        let unit = self.unit(series);
        format!("{}{}", signed(v, unit), if unit == "%" { " %" } else { "" })
    }

    /// A figure of the series without its unit (a previous value, a change).
    fn bare(&self, series: &str, v: f64) -> String {
        signed(v, self.unit(series))
    }
}

/// "positive for the 3rd month in a row, after 18 months of negative values since 2023-07".
pub fn run_text(run: &Run, unit_word: &str) -> String {
    let mut s = match run.length {
        1 => format!("{} for the first {unit_word}", run.sign.name()),
        n => format!(
            "{} for the {} {unit_word} in a row",
            run.sign.name(),
            ordinal(n as u32)
        ),
    };
    if let (Some(sign), Some(len), Some(since)) =
        (run.previous_sign, run.previous_length, run.previous_since)
    {
        let plural = if len == 1 { "" } else { "s" };
        let values = match sign {
            Sign::Zero => "zero values".to_string(),
            other => format!("{} values", other.name()),
        };
        let _ = write!(
            s,
            ", after {len} {unit_word}{plural} of {values} since {since}"
        );
    }
    s
}

fn movers(labels: &Labels, list: &[Mover]) -> String {
    list.iter()
        .map(|m| format!("{} {}", m.title, labels.value(&m.series, m.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line that opens the list of the release's alerts at the end of a brief's text.
pub const ALERTS_HEADING: &str = "Alerts of this release:";

/// The brief as plain text; `alerts` are the summaries of the cycle's alerts on its series.
pub fn render(title: &str, facts: &Facts, labels: &Labels, alerts: &[String]) -> String {
    let lead = &facts.lead;
    let unit_word = match lead.period {
        crate::model::Period::Month(..) => "month",
        crate::model::Period::Quarter(..) => "quarter",
        crate::model::Period::Year(_) => "year",
    };
    let mut s = format!("{title}, {}\n\n", lead.period);
    let _ = writeln!(
        s,
        "{}: {} in {}, {}.",
        labels.title(&lead.series),
        labels.value(&lead.series, lead.value),
        lead.period,
        run_text(&lead.run, unit_word)
    );
    for c in &facts.context {
        let _ = write!(
            s,
            "{}: {} in {}",
            labels.title(&c.series),
            labels.value(&c.series, c.value),
            c.period
        );
        match (c.previous_value, c.change) {
            (Some(p), Some(ch)) => {
                let _ = writeln!(
                    s,
                    " (from {} the period before, {}).",
                    labels.bare(&c.series, p),
                    labels.bare(&c.series, ch)
                );
            }
            _ => s.push_str(".\n"),
        }
    }
    if let Some(b) = &facts.breakdown {
        let _ = writeln!(
            s,
            "Of {} series ({}) in {}, {} rose and {} fell.",
            b.total, b.glob, b.period, b.rose, b.fell
        );
        if !b.top.is_empty() {
            let _ = writeln!(s, "Highest: {}.", movers(labels, &b.top));
            let _ = writeln!(s, "Lowest: {}.", movers(labels, &b.bottom));
        }
    }
    if !alerts.is_empty() {
        s.push('\n');
        s.push_str(ALERTS_HEADING);
        s.push('\n');
        for a in alerts {
            let _ = writeln!(s, "- {a}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::briefs::facts::{Breakdown, Context, Lead};
    use crate::model::Period;

    #[test]
    fn the_text_says_the_run_the_context_and_the_movers() {
        let m = |s: &str, t: &str, v: f64| Mover {
            series: s.into(),
            title: t.into(),
            value: v,
        };
        let facts = Facts {
            lead: Lead {
                series: "nl.industry.yoy".into(),
                period: Period::Month(2025, 3),
                value: 1.3,
                run: Run {
                    sign: Sign::Positive,
                    length: 3,
                    previous_sign: Some(Sign::Negative),
                    previous_length: Some(18),
                    previous_since: Some(Period::Month(2023, 7)),
                },
            },
            context: vec![
                Context {
                    series: "nl.confidence".into(),
                    period: Period::Month(2025, 4),
                    value: -3.3,
                    previous_value: Some(-1.5),
                    change: Some(-1.8),
                },
                Context {
                    series: "de.industry.mom".into(),
                    period: Period::Month(2025, 3),
                    value: 3.0,
                    previous_value: Some(-1.0),
                    change: Some(4.0),
                },
            ],
            breakdown: Some(Breakdown {
                glob: "b.*".into(),
                period: Period::Month(2025, 3),
                rose: 4,
                fell: 4,
                total: 8,
                top: vec![m("b.344400", "33 Repair", 11.9)],
                bottom: vec![
                    m("b.343000", "30 Transport", -7.1),
                    m("b.330300", "25 Metal", -4.0),
                ],
            }),
        };
        let mut labels = Labels::default();
        labels
            .titles
            .insert("nl.industry.yoy".into(), "Output y/y".into());
        labels.units.insert("nl.industry.yoy".into(), "%".into());
        labels.units.insert("b.344400".into(), "%".into());
        labels.units.insert("b.330300".into(), "%".into());
        labels.units.insert("de.industry.mom".into(), "%".into());
        let t = render("Dutch manufacturing", &facts, &labels, &["x fired".into()]);
        assert!(t.starts_with("Dutch manufacturing, 2025-03\n"), "{t}");
        assert!(t.contains("Output y/y: +1.3 % in 2025-03, positive for the 3rd month in a row, after 18 months of negative values since 2023-07."), "{t}");
        assert!(
            t.contains("nl.confidence: -3.3 in 2025-04 (from -1.5 the period before, -1.8)."),
            "{t}"
        );
        assert!(
            t.contains("Of 8 series (b.*) in 2025-03, 4 rose and 4 fell."),
            "{t}"
        );
        assert!(t.contains("Highest: 33 Repair +11.9 %."), "{t}");
        // Percentages have one decimal always, as CBS and Destatis print them.
        assert!(
            t.contains("Lowest: 30 Transport -7.1, 25 Metal -4.0 %."),
            "{t}"
        );
        assert!(
            t.contains("de.industry.mom: +3.0 % in 2025-03 (from -1.0 the period before, +4.0)."),
            "{t}"
        );
        assert!(t.ends_with("- x fired\n"), "{t}");
    }
}
