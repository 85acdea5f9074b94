//! The one font every chart is drawn with: DejaVu Sans, embedded in the binary
//! (assets/fonts, Bitstream Vera license beside it) and registered with plotters' `ab_glyph`
//! backend. Nothing is looked up on the system at run time, so a chart looks the same on a
//! minimal server as on a desktop, and a missing font cannot fail a send.

use std::sync::OnceLock;

/// The family name charts ask for; plotters' default for axis labels.
pub(crate) const FAMILY: &str = "sans-serif";

const DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

#[derive(Debug, Clone, thiserror::Error)]
#[error("the embedded chart font cannot be read")]
pub struct FontError;

/// Registers the embedded font once per process. Called at start (Notifier::new) and before
/// each chart: plotters keeps fonts in a process-wide table, and with `ab_glyph` a family that
/// was never registered draws no text at all (the SVG pages too).
pub(crate) fn register() -> Result<(), FontError> {
    static DONE: OnceLock<Result<(), FontError>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS)
            .map_err(|_| FontError)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_font_registers() {
        super::register().unwrap();
        super::register().unwrap();
    }
}
