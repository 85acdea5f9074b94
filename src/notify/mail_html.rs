//! The HTML part of an email: every brief (its text and a chart of its lead series), then
//! every alert (summary, value, previous, period, cause, rule, id and a chart of its series),
//! rendered from an embedded minijinja template with autoescape on: CBS titles and brief text
//! are shown as text, never as markup. The charts travel as inline PNG parts (`cid:`).

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::brief_html::{brief_view, BriefView};
use super::digest::{holds, Digest};
use super::mail_chart::ChartError;
use super::mail_images::{chart, ChartRef, Inline, SeriesData};
use super::render::{cause_text, change_text, period_text, subject, test_alert, value_text};
use crate::model::Alert;

const NAME: &str = "mail.html";
const TEMPLATE: &str = include_str!("templates/mail.html");

#[derive(Debug, thiserror::Error)]
pub enum MailHtmlError {
    #[error("the mail template {NAME}: {0}")]
    Template(#[from] minijinja::Error),
    #[error(transparent)]
    Chart(#[from] ChartError),
}

pub(crate) struct Rendered {
    pub html: String,
    pub images: Vec<Inline>,
}

#[derive(Serialize)]
struct Item {
    id: String,
    rule: String,
    series: String,
    title: String,
    text: String,
    severity: String,
    summary: String,
    /// (label, text) rows, in the plain text's order.
    rows: Vec<(&'static str, String)>,
    chart: Option<ChartRef>,
}

#[derive(Serialize)]
struct Page {
    subject: String,
    test: bool,
    /// What the alerts part holds (`3 alerts`), none without alerts.
    heading: Option<String>,
    digest: Option<DigestView>,
    briefs: Vec<BriefView>,
    alerts: Vec<Item>,
}

/// A digest's summary, above the alerts (see notify::digest).
#[derive(Serialize)]
struct DigestView {
    heading: String,
    by_severity: String,
    counts: Vec<String>,
    top_heading: String,
    /// (severity, summary) of the most severe alerts.
    top: Vec<(String, String)>,
    rest: String,
}

impl DigestView {
    fn of(d: &Digest) -> DigestView {
        DigestView {
            heading: d.heading(),
            by_severity: d.by_severity(),
            counts: d.count_lines(),
            top_heading: d.top_heading(),
            top: d
                .top
                .iter()
                .map(|a| (a.severity.to_string().to_uppercase(), a.summary.clone()))
                .collect(),
            rest: d.rest(),
        }
    }
}

/// The compiled template. Built once per Notifier, so a broken template fails start-up.
pub(crate) struct MailHtml {
    env: Environment<'static>,
}

impl MailHtml {
    /// Compiles the template and renders a test message once (no charts): strict undefined
    /// makes a misspelt field an error here, at start, rather than in a delivery.
    pub(crate) fn load() -> Result<MailHtml, MailHtmlError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // The name ends in .html, so autoescape is on; said explicitly so a rename cannot
        // turn it off.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template(NAME, TEMPLATE)?;
        let html = MailHtml { env };
        html.render(&[test_alert()], true, &SeriesData::new(), None)?;
        Ok(html)
    }

    /// The HTML and its charts; an alert whose series has no stored data gets no chart.
    pub(crate) fn render(
        &self,
        alerts: &[Alert],
        test: bool,
        data: &SeriesData,
        digest: Option<&Digest>,
    ) -> Result<Rendered, MailHtmlError> {
        let mut images = Vec::new();
        let mut briefs = Vec::new();
        let mut plain = Vec::new();
        for a in alerts {
            if a.is_brief() {
                briefs.push(brief_view(a, data, &mut images)?);
            } else {
                let chart = chart(a, data, None, &mut images)?;
                plain.push(item(a, chart));
            }
        }
        let ctx = Page {
            subject: subject(alerts, test),
            test,
            heading: (!plain.is_empty()).then(|| holds(0, plain.len())),
            digest: digest.map(DigestView::of),
            briefs,
            alerts: plain,
        };
        let html = self
            .env
            .get_template(NAME)?
            .render(Value::from(Serde(&ctx)))?;
        Ok(Rendered { html, images })
    }
}

fn item(a: &Alert, chart: Option<ChartRef>) -> Item {
    let mut rows = Vec::new();
    if !a.series.is_empty() {
        rows.push(("series", format!("{} ({})", a.series, a.title)));
    }
    rows.push(("value", value_text(a)));
    rows.push(("previous", change_text(a)));
    rows.push(("period", period_text(a)));
    let source = if a.table.is_empty() {
        a.source.clone()
    } else {
        format!("{} table {}", a.source, a.table)
    };
    rows.push(("source", source));
    rows.push(("cause", cause_text(a)));
    rows.push(("rule", format!("{} ({}, {})", a.rule, a.kind, a.severity)));
    rows.push(("id", a.id.clone()));
    Item {
        id: a.id.clone(),
        rule: a.rule.clone(),
        series: a.series.clone(),
        title: a.title.clone(),
        text: a.brief_text().unwrap_or(&a.summary).to_string(),
        severity: a.severity.to_string().to_uppercase(),
        summary: a.summary.clone(),
        rows,
        chart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::tests::alert;

    #[test]
    fn the_template_loads_and_escapes_titles() {
        let html = MailHtml::load().unwrap();
        let mut a = alert("id-x", Severity::Info, "a <b>bold</b> summary");
        a.title = "A & B <i>".into();
        let r = html.render(&[a], false, &SeriesData::new(), None).unwrap();
        assert!(
            r.html.contains("a &lt;b&gt;bold&lt;&#x2f;b&gt; summary"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<i>") && r.html.contains("id-x"));
        assert!(r.images.is_empty() && !r.html.contains("cid:"));
    }
}
