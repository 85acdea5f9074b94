//! Charts as inline SVG, drawn by plotters' SVG backend: no JavaScript, no external assets,
//! so a page works offline and on a phone. No config or source string is put into a chart
//! (titles stay in the escaped HTML around it); axis labels are periods and numbers.

use plotters::prelude::*;

use crate::model::{period_label, value_range, StoredObservation, SPARK_PERIODS};

/// Line colour for latest values; first prints in a contrasting colour.
const LINE: RGBColor = RGBColor(31, 100, 180);
const FIRST_PRINT: RGBColor = RGBColor(214, 96, 20);

/// Makes the chart scale with its container (plotters writes fixed pixel sizes).
fn responsive(svg: String, class: &str) -> String {
    svg.replacen(
        "<svg ",
        &format!("<svg class=\"{class}\" preserveAspectRatio=\"xMidYMid meet\" "),
        1,
    )
}

/// A small line of the last [`SPARK_PERIODS`] values, no axes; empty for no data.
pub(super) fn sparkline(obs: &[StoredObservation]) -> String {
    let tail = &obs[obs.len().saturating_sub(SPARK_PERIODS)..];
    if tail.len() < 2 {
        return String::new();
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (144, 36)).into_drawing_area();
        let y = value_range(tail.iter().map(|o| o.value));
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(3)
            .build_cartesian_2d(0..tail.len() - 1, y)
        else {
            return String::new();
        };
        // Zero as a faint rule: whether a y/y series is above or below it is the point.
        let _ = chart.draw_series(LineSeries::new(
            [(0, 0.0), (tail.len() - 1, 0.0)],
            RGBColor(200, 200, 200),
        ));
        let _ = chart.draw_series(LineSeries::new(
            tail.iter().enumerate().map(|(i, o)| (i, o.value)),
            LINE.stroke_width(2),
        ));
        let _ = root.present();
    }
    responsive(svg, "spark")
}

/// The series chart: latest values as a line, each period's first print as a point (where
/// a revision moved the value, the point sits off the line).
pub(super) fn series_chart(obs: &[StoredObservation]) -> String {
    // Without the registered font the axis labels would silently not be drawn.
    if obs.is_empty() || crate::fonts::register().is_err() {
        return String::new();
    }
    let first = |o: &StoredObservation| o.revisions.first().map_or(o.value, |r| r.value);
    let y = value_range(obs.iter().flat_map(|o| [o.value, first(o)]));
    let labels: Vec<String> = obs.iter().map(|o| o.period.to_string()).collect();
    // Half a period of room at each end, so the first and last points are not cut in half.
    let x = -0.5..(obs.len() as f64 - 0.5);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 320)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(x, y)
        else {
            return String::new();
        };
        let label = |x: &f64| period_label(&labels, *x);
        let _ = chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&label)
            .light_line_style(RGBColor(238, 238, 238))
            .draw();
        let _ = chart.draw_series(LineSeries::new(
            obs.iter().enumerate().map(|(i, o)| (i as f64, o.value)),
            LINE.stroke_width(2),
        ));
        let _ = chart.draw_series(
            obs.iter()
                .enumerate()
                .map(|(i, o)| Circle::new((i as f64, first(o)), 3, FIRST_PRINT.filled())),
        );
        let _ = root.present();
    }
    responsive(svg, "chart")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Period, Vintage};
    use chrono::Utc;

    fn obs(m: u8, v: f64, first: Option<f64>) -> StoredObservation {
        let t = Utc::now();
        StoredObservation {
            period: Period::Month(2025, m),
            source_period: format!("2025MM{m:02}").into(),
            value: v,
            status: "Voorlopig".into(),
            first_seen: t,
            value_seen: t,
            revisions: first
                .map(|value| Vintage {
                    value,
                    status: "Voorlopig".into(),
                    seen_at: t,
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn charts_are_svg_with_a_line_and_first_print_points() {
        let series = vec![
            obs(1, -1.1, None),
            obs(2, -0.3, Some(1.0)),
            obs(3, 1.3, None),
        ];
        let svg = series_chart(&series);
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("<polyline"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert!(svg.contains("2025-02"), "{svg}");
        let spark = sparkline(&series);
        assert!(spark.starts_with("<svg class=\"spark\"") && spark.contains("<polyline"));
        assert_eq!(sparkline(&series[..1]), "");
        assert_eq!(series_chart(&[]), "");
    }
}
