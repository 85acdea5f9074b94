//! A brief as the HTML mail shows it, laid out like the release it is modelled on: a
//! headline (the lead's sentence), the lead's chart titled with its series title and unit, a
//! table of the context series (period, value, the period before, change), and a sorted bar
//! chart of the breakdown at the lead's period; then the rest of its text (the movers, the
//! alerts of the release). Everything comes from the brief record (`text`, `facts`, `drawn`)
//! and the stored series; a record without `drawn` (made by an older statwatch) falls back to
//! series ids for titles and draws no bars.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::mail_chart::{bars_size, png_bars, Bars, ChartError};
use super::mail_images::{chart, inline, ChartRef, Inline, SeriesData};
use crate::briefs::facts::{Facts, Mover};
use crate::model::{signed, Alert};

#[derive(Serialize)]
pub(super) struct BriefView {
    /// The first line of the text: the brief's title and period.
    title: String,
    headline: String,
    chart: Option<ChartRef>,
    context: Vec<ContextRow>,
    bars: Option<ChartRef>,
    /// Under the bars: the series left out between the highest and lowest, if any.
    bars_note: String,
    /// The lines the layout above does not show.
    rest: String,
    rule: String,
    series: String,
    id: String,
}

#[derive(Serialize)]
struct ContextRow {
    title: String,
    period: String,
    value: String,
    previous: String,
    change: String,
}

/// [`crate::model::Brief::drawn`] of a brief record (written by `briefs::drawn`).
#[derive(Deserialize, Default)]
struct Drawn {
    #[serde(default)]
    titles: BTreeMap<String, String>,
    #[serde(default)]
    units: BTreeMap<String, String>,
    #[serde(default)]
    bars: Vec<Mover>,
    #[serde(default)]
    hidden: usize,
}

impl Drawn {
    fn title<'a>(&'a self, series: &'a str) -> &'a str {
        self.titles.get(series).map_or(series, String::as_str)
    }

    fn unit(&self, series: &str) -> &str {
        self.units.get(series).map_or("", String::as_str)
    }
}

pub(super) fn brief_view(
    a: &Alert,
    data: &SeriesData,
    images: &mut Vec<Inline>,
) -> Result<BriefView, ChartError> {
    let text = a.brief_text().unwrap_or(&a.summary);
    let facts: Option<Facts> = a
        .brief_facts()
        .and_then(|f| serde_json::from_value(f.clone()).ok());
    let drawn: Drawn = a
        .brief()
        .and_then(|b| b.drawn.as_ref())
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let n_context = facts.as_ref().map_or(0, |f| f.context.len());
    // The text's layout (briefs::text): title, blank, the lead, one line per context series.
    let shown = if facts.is_some() { 3 + n_context } else { 1 };
    let unit = drawn.unit(&a.series);
    // The unit, unless the title already says it ("y/y %").
    let title = drawn.title(&a.series);
    let lead_title = match unit {
        u if u.is_empty() || title.contains(u) => title.to_string(),
        u => format!("{title} ({u})"),
    };
    let chart = chart(a, data, Some(&lead_title), images)?;
    let context = facts
        .as_ref()
        .map(|f| context_rows(f, &drawn))
        .unwrap_or_default();
    let (bars, bars_note) = match facts.as_ref().and_then(|f| f.breakdown.as_ref()) {
        Some(b) => {
            // The text below the chart says how many rose and fell; this says what the
            // chart leaves out.
            let note = match drawn.hidden {
                0 => String::new(),
                n => format!(
                    "The {n} series between the {} highest and lowest of {} are not drawn.",
                    drawn.bars.len(),
                    b.total
                ),
            };
            (bar_chart(&drawn, b.period, images)?, note)
        }
        None => (None, String::new()),
    };
    Ok(BriefView {
        title: lines.first().copied().unwrap_or(&a.title).to_string(),
        headline: lines.get(2).copied().unwrap_or(&a.summary).to_string(),
        chart,
        context,
        bars,
        bars_note,
        rest: lines
            .get(shown..)
            .unwrap_or_default()
            .join("\n")
            .trim()
            .to_string(),
        rule: a.rule.clone(),
        series: a.series.clone(),
        id: a.id.clone(),
    })
}

fn context_rows(f: &Facts, drawn: &Drawn) -> Vec<ContextRow> {
    f.context
        .iter()
        .map(|c| {
            let unit = drawn.unit(&c.series);
            // As the brief's text writes them: a sign, and " %" for percentages (other
            // units are in the title).
            let with_unit = |v: f64| match unit {
                "%" => format!("{} %", signed(v, unit)),
                _ => signed(v, unit),
            };
            ContextRow {
                title: drawn.title(&c.series).to_string(),
                period: c.period.to_string(),
                value: with_unit(c.value),
                previous: c
                    .previous_value
                    .map(with_unit)
                    .unwrap_or_else(|| "-".into()),
                change: c
                    .change
                    .map(|v| signed(v, unit))
                    .unwrap_or_else(|| "-".into()),
            }
        })
        .collect()
}

fn bar_chart(
    drawn: &Drawn,
    period: crate::model::Period,
    images: &mut Vec<Inline>,
) -> Result<Option<ChartRef>, ChartError> {
    let bars: Vec<(String, f64)> = drawn
        .bars
        .iter()
        .map(|m| (m.title.clone(), m.value))
        .collect();
    // The members share the breakdown's unit; the first one known stands for all.
    let unit = drawn
        .bars
        .iter()
        .map(|m| drawn.unit(&m.series))
        .find(|u| !u.is_empty())
        .unwrap_or("");
    let caption = format!("The breakdown in {period}, highest first");
    let spec = Bars {
        bars: &bars,
        unit,
        caption: &caption,
    };
    let Some(png) = png_bars(&spec)? else {
        return Ok(None);
    };
    let alt = format!("{caption}: {} series", bars.len());
    Ok(Some(inline(images, png, bars_size(bars.len()), alt)))
}
