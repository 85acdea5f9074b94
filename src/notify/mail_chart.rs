//! The email's charts: one PNG per brief or alert, drawn with plotters' bitmap backend and
//! the embedded font (crate::fonts), so mail clients that block remote images and strip SVG
//! still show them. The axes (value range, period labels) are the pages' too
//! (model::axes), so a chart in a mail reads like the chart on the series page.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::fonts::{self, FontError};
use crate::model::{
    figure, period_label, signed, value_range, Period, StoredObservation, SPARK_PERIODS,
};

/// The PNG's size in pixels (the HTML shows it at this size; wide enough for a phone's width
/// at 2x, small enough to keep a mail with ten charts well under a megabyte).
pub(crate) const CHART_SIZE: (u32, u32) = (640, 280);

const LINE: RGBColor = RGBColor(31, 100, 180);
const MARK: RGBColor = RGBColor(214, 60, 20);
const OLD: RGBColor = RGBColor(120, 120, 120);

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(transparent)]
    Font(#[from] FontError),
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    #[error("cannot encode the chart as PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

/// What one chart shows: the series, the period the alert or brief is about, and the value
/// that period had before a revision.
pub(crate) struct ChartSpec<'a> {
    pub obs: &'a [StoredObservation],
    pub period: Option<Period>,
    pub old_value: Option<f64>,
    /// The unit of the values, for how the labels write them.
    pub unit: &'a str,
    /// Drawn above the chart (a brief's lead: the series title and unit).
    pub title: Option<&'a str>,
}

/// The last [`SPARK_PERIODS`] observations, ending at the marked period when that is older
/// (an entry that waited in the outbox still shows its own period).
fn window(obs: &[StoredObservation], period: Option<Period>) -> &[StoredObservation] {
    let end = match period.and_then(|p| obs.iter().position(|o| o.period == p)) {
        Some(i) if i + SPARK_PERIODS < obs.len() => i + 1,
        _ => obs.len(),
    };
    &obs[end.saturating_sub(SPARK_PERIODS)..end]
}

/// The chart as PNG bytes; `None` when the series has no data to draw.
pub(crate) fn png_chart(spec: &ChartSpec<'_>) -> Result<Option<Vec<u8>>, ChartError> {
    fonts::register()?;
    let obs = window(spec.obs, spec.period);
    if obs.is_empty() {
        return Ok(None);
    }
    let (w, h) = CHART_SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(&mut rgb, obs, spec).map_err(|e| ChartError::Draw(e.to_string()))?;
    Ok(Some(encode(&rgb)?))
}

fn encode(rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    encode_sized(rgb, CHART_SIZE)
}

fn encode_sized(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(rgb)?;
    Ok(out)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(rgb: &mut [u8], obs: &[StoredObservation], spec: &ChartSpec<'_>) -> DrawResult {
    let root = BitMapBackend::with_buffer(rgb, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let marked = spec
        .period
        .and_then(|p| obs.iter().position(|o| o.period == p));
    let old = marked.and(spec.old_value);
    let y = value_range(obs.iter().map(|o| o.value).chain(old));
    let labels: Vec<String> = obs.iter().map(|o| o.period.to_string()).collect();
    // Half a period of room at each end, so the first and last points are not cut in half.
    let x = -0.5..(obs.len() as f64 - 0.5);
    let mut builder = ChartBuilder::on(&root);
    if let Some(t) = spec.title {
        builder.caption(
            t,
            (fonts::FAMILY, 17).into_font().color(&RGBColor(34, 34, 34)),
        );
    }
    let mut chart = builder
        .margin_top(14)
        .margin_bottom(6)
        .margin_left(8)
        // Room for the last x label, which is centred on the last period.
        .margin_right(30)
        .x_label_area_size(30)
        .y_label_area_size(52)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&|x| period_label(&labels, *x))
        .y_label_formatter(&|v| figure(*v, spec.unit))
        .label_style((fonts::FAMILY, 14))
        // Only the labelled grid lines, faint: the series and its marked point are the story.
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let last = obs.len() as f64 - 0.5;
    chart.draw_series(LineSeries::new(
        [(-0.5, 0.0), (last, 0.0)],
        RGBColor(150, 150, 150).stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        obs.iter().enumerate().map(|(i, o)| (i as f64, o.value)),
        LINE.stroke_width(2),
    ))?;
    if let Some(i) = marked {
        let label = format!("{}: {}", labels[i], signed(obs[i].value, spec.unit));
        let old = old.map(|o| (o, format!("was {}", signed(o, spec.unit))));
        mark(&mut chart, (i, obs.len()), obs[i].value, old, label)?;
    }
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The alert's period as a filled point with its value; a revision's old value as an open
/// point joined to the new one, labelled "was …" (`old` is that value and its label). `at` is
/// (index, number of periods).
fn mark(
    chart: &mut Chart<'_, '_>,
    (i, n): (usize, usize),
    value: f64,
    old: Option<(f64, String)>,
    text: String,
) -> DrawResult {
    let x = i as f64;
    // Labels go on the side with room: left of a point in the right half, else right of it.
    let (dx, h) = if i * 2 >= n {
        (-10, HPos::Right)
    } else {
        (10, HPos::Left)
    };
    let label = |text: String, color: &'static RGBColor, v: VPos| {
        let style = TextStyle::from((fonts::FAMILY, 15).into_font())
            .color(color)
            .pos(Pos::new(h, v));
        Text::new(text, (dx, 0), style)
    };
    if let Some((old, was)) = &old {
        let old = *old;
        chart.draw_series(LineSeries::new([(x, old), (x, value)], OLD.stroke_width(1)))?;
        let below = old < value;
        let v = if below { VPos::Top } else { VPos::Bottom };
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, old))
                + Circle::new((0, 0), 5, OLD.stroke_width(2))
                + label(was.clone(), &OLD, v),
        ))?;
    }
    let v = match old {
        Some((o, _)) if o > value => VPos::Top,
        _ => VPos::Bottom,
    };
    chart.draw_series(std::iter::once(
        EmptyElement::at((x, value))
            + Circle::new((0, 0), 6, MARK.filled())
            + label(text, &MARK, v),
    ))?;
    Ok(())
}

/// Pixels per bar of a breakdown chart, and around the bars (caption, axis).
const BAR_HEIGHT: u32 = 22;
const BAR_FRAME: u32 = 80;
/// Room for the titles left of the bars, in pixels, and their length in characters.
const BAR_LABELS: u32 = 270;
const BAR_TITLE: usize = 42;
const RISE: RGBColor = RGBColor(31, 100, 180);
const FALL: RGBColor = RGBColor(214, 60, 20);

/// A breakdown's bars, highest first: each series' title and value.
pub(crate) struct Bars<'a> {
    pub bars: &'a [(String, f64)],
    pub unit: &'a str,
    pub caption: &'a str,
}

/// The size of a bar chart of `n` bars.
pub(crate) fn bars_size(n: usize) -> (u32, u32) {
    (CHART_SIZE.0, BAR_FRAME + BAR_HEIGHT * n as u32)
}

/// A sorted horizontal bar chart as PNG bytes, one bar per series labelled with its title,
/// the zero line drawn; `None` without bars.
pub(crate) fn png_bars(spec: &Bars<'_>) -> Result<Option<Vec<u8>>, ChartError> {
    fonts::register()?;
    if spec.bars.is_empty() {
        return Ok(None);
    }
    let (w, h) = bars_size(spec.bars.len());
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw_bars(&mut rgb, (w, h), spec).map_err(|e| ChartError::Draw(e.to_string()))?;
    Ok(Some(encode_sized(&rgb, (w, h))?))
}

fn draw_bars(rgb: &mut [u8], size: (u32, u32), spec: &Bars<'_>) -> DrawResult {
    let root = BitMapBackend::with_buffer(rgb, size).into_drawing_area();
    root.fill(&WHITE)?;
    let n = spec.bars.len();
    // Zero is always inside the range, so the zero line shows even when all rose.
    let x = value_range(spec.bars.iter().map(|b| b.1).chain([0.0]));
    // Room at both ends for the figures written beside the bars.
    let pad = (x.end - x.start) * 0.12;
    let x = (x.start - if x.start < 0.0 { pad } else { 0.0 })..(x.end + pad);
    let titles: Vec<String> = spec
        .bars
        .iter()
        .map(|b| crate::notify::render::clip(&b.0, BAR_TITLE))
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            spec.caption,
            (fonts::FAMILY, 17).into_font().color(&RGBColor(34, 34, 34)),
        )
        .margin(8)
        .margin_right(24)
        .x_label_area_size(26)
        .y_label_area_size(BAR_LABELS)
        .build_cartesian_2d(x.clone(), -0.5..(n as f64 - 0.5))?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(n)
        .disable_y_mesh()
        .x_label_formatter(&|v| figure(*v, spec.unit))
        .y_label_formatter(&|y| {
            // Bar i is drawn at n-1-i so the highest is on top.
            let i = n as f64 - 1.0 - y.round();
            if (y - y.round()).abs() < 0.01 && i >= 0.0 && (i as usize) < n {
                titles[i as usize].clone()
            } else {
                String::new()
            }
        })
        .label_style((fonts::FAMILY, 14))
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart.draw_series(spec.bars.iter().enumerate().map(|(i, (_, v))| {
        let y = (n - 1 - i) as f64;
        let color = if *v < 0.0 { FALL } else { RISE };
        Rectangle::new([(0.0, y - 0.35), (*v, y + 0.35)], color.filled())
    }))?;
    chart.draw_series(spec.bars.iter().enumerate().map(|(i, (_, v))| {
        let y = (n - 1 - i) as f64;
        let (dx, h) = if *v < 0.0 {
            (-4, HPos::Right)
        } else {
            (4, HPos::Left)
        };
        let style = TextStyle::from((fonts::FAMILY, 14).into_font())
            .color(&RGBColor(34, 34, 34))
            .pos(Pos::new(h, VPos::Center));
        EmptyElement::at((*v, y)) + Text::new(signed(*v, spec.unit), (dx, 0), style)
    }))?;
    chart.draw_series(LineSeries::new(
        [(0.0, -0.5), (0.0, n as f64 - 0.5)],
        RGBColor(60, 60, 60).stroke_width(1),
    ))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn series(n: usize) -> Vec<StoredObservation> {
        let t = Utc::now();
        (0..n)
            .map(|i| StoredObservation {
                period: Period::Month(2020 + (i / 12) as i32, (i % 12 + 1) as u8),
                source_period: Default::default(),
                value: i as f64,
                status: Default::default(),
                first_seen: t,
                value_seen: t,
                revisions: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn the_window_is_the_last_36_periods_and_keeps_an_older_marked_one() {
        let obs = series(60);
        let w = window(&obs, Some(obs[59].period));
        assert_eq!((w.len(), w[35].period), (36, obs[59].period));
        assert_eq!(window(&obs, None)[0].period, obs[24].period);
        let older = window(&obs, Some(obs[10].period));
        assert_eq!((older.len(), older[10].period), (11, obs[10].period));
        assert_eq!(window(&obs, Some(obs[30].period)).len(), 36);
    }

    #[test]
    fn a_chart_is_a_png_of_the_chart_size() {
        let obs = series(40);
        let spec = ChartSpec {
            obs: &obs,
            period: Some(obs[38].period),
            old_value: Some(-3.0),
            unit: "%",
            title: Some("Industrial production NL, y/y (%)"),
        };
        let png = png_chart(&spec).unwrap().unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!((reader.info().width, reader.info().height), CHART_SIZE);
        let empty = ChartSpec {
            obs: &[],
            period: None,
            old_value: None,
            unit: "",
            title: None,
        };
        assert!(png_chart(&empty).unwrap().is_none());
    }
}
