//! The axes every chart shares, the pages' SVG and the mail's PNG alike: how many periods a
//! sparkline shows, the value range, the period tick labels. Pure, so a chart in a mail
//! reads like the chart on the series page.

/// How many periods a sparkline shows.
pub(crate) const SPARK_PERIODS: usize = 36;

/// The range of `values` padded a little, never empty (a flat series still gets a band).
pub(crate) fn value_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return -1.0..1.0;
    }
    let pad = ((hi - lo) * 0.08).max(0.5);
    (lo - pad)..(hi + pad)
}

/// The x axis label at `x`: ticks fall on whole periods only; the others stay unlabelled.
pub(crate) fn period_label(labels: &[String], x: f64) -> String {
    match (x.fract() == 0.0 && x >= 0.0).then_some(x as usize) {
        Some(i) => labels.get(i).cloned().unwrap_or_default(),
        None => String::new(),
    }
}
