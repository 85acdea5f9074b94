//! A message's inline images: the chart of each brief's or alert's series, drawn from the
//! observations read at send time and filed under a Content-ID that the HTML part refers to
//! (`cid:`). Shared by the mail's alerts (`mail_html`) and its briefs (`brief_html`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::mail_chart::{png_chart, ChartError, ChartSpec, CHART_SIZE};
use super::render::period_text;
use crate::model::{Alert, StoredObservation};

/// The stored observations of every series a message is about, read at send time.
pub(crate) type SeriesData = BTreeMap<String, Vec<StoredObservation>>;

/// An inline image: referenced from the HTML as `cid:{cid}`.
pub(crate) struct Inline {
    pub cid: String,
    pub png: Vec<u8>,
}

#[derive(Serialize)]
pub(super) struct ChartRef {
    pub(super) cid: String,
    width: u32,
    height: u32,
    alt: String,
}

/// Draws the alert's chart, if its series has data, and files it under a new Content-ID;
/// `title` is drawn above it.
pub(super) fn chart(
    a: &Alert,
    data: &SeriesData,
    title: Option<&str>,
    images: &mut Vec<Inline>,
) -> Result<Option<ChartRef>, ChartError> {
    let Some(obs) = data.get(&a.series) else {
        return Ok(None);
    };
    let spec = ChartSpec {
        obs,
        period: a.period,
        old_value: a.old_value(),
        unit: &a.unit,
        title,
    };
    let Some(png) = png_chart(&spec)? else {
        return Ok(None);
    };
    let alt = format!(
        "{}: the last periods, {} marked",
        title.unwrap_or(&a.title),
        period_text(a)
    );
    Ok(Some(inline(images, png, CHART_SIZE, alt)))
}

/// Files a PNG under a new Content-ID (unique within the message, which is all a `cid:`
/// reference needs).
pub(super) fn inline(
    images: &mut Vec<Inline>,
    png: Vec<u8>,
    (width, height): (u32, u32),
    alt: String,
) -> ChartRef {
    let cid = format!("chart{}@statwatch", images.len() + 1);
    images.push(Inline {
        cid: cid.clone(),
        png,
    });
    ChartRef {
        cid,
        width,
        height,
        alt,
    }
}
