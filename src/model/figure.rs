//! How a figure is written for people, everywhere statwatch writes one: alert summaries,
//! brief texts, mail, chat, the pages, the CLI, chart labels. One function, so a brief and
//! the alert beside it never disagree ("-4" in one, "-4.0" in the other).
//!
//! Statistics offices print growth rates, balances and index levels with one decimal always
//! ("-4.0 %", "+9.2 %", "93.0"); a reader comparing a message with the news release must
//! see the same figure. Counts and amounts are printed as they are ("2780526000").

/// Whether figures in `unit` are printed with at least one decimal: percentages (and
/// percentage points), balances and index levels (`2021=100`).
pub fn decimal_unit(unit: &str) -> bool {
    let u = unit.trim().to_lowercase();
    u.contains('%')
        || u.contains("=100")
        || ["balance", "saldo", "percent", "procent", "prozent", "index"]
            .iter()
            .any(|w| u.contains(w))
}

/// The figure: float noise removed (1.3 - 1.0 reads 0.3, not 0.30000000000000004) and, in a
/// [`decimal_unit`], at least one decimal ("-4.0"). Decimals the value has are kept, never
/// rounded away: a source that publishes two decimals is quoted exactly.
pub fn figure(v: f64, unit: &str) -> String {
    let v = denoise(v);
    let s = format!("{v}");
    if v.is_finite() && !s.contains('.') && decimal_unit(unit) {
        format!("{s}.0")
    } else {
        s
    }
}

/// [`figure`] with an explicit sign for positive values, as the news releases write changes
/// ("+1.3", "-0.3", "0.0").
pub fn signed(v: f64, unit: &str) -> String {
    let f = figure(v, unit);
    if denoise(v) > 0.0 {
        format!("+{f}")
    } else {
        f
    }
}

/// Rounded to six decimals, more than any statistics office publishes; -0 becomes 0.
fn denoise(v: f64) -> f64 {
    let r = (v * 1e6).round() / 1e6;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_balances_and_indices_have_one_decimal_always() {
        assert_eq!(signed(-4.0, "%"), "-4.0");
        assert_eq!(signed(9.2, "%"), "+9.2");
        assert_eq!(figure(1.3, "%"), "1.3");
        assert_eq!(signed(0.0, "%"), "0.0");
        assert_eq!(signed(-0.0, "balance"), "0.0");
        assert_eq!(signed(-2.0, "balance"), "-2.0");
        assert_eq!(figure(93.0, "2021=100"), "93.0");
        assert_eq!(signed(1.0, "% points"), "+1.0");
    }

    #[test]
    fn noise_goes_and_published_decimals_stay() {
        assert_eq!(signed(1.3 - 1.0, "%"), "+0.3");
        assert_eq!(signed(-1.5 - 0.3, "balance"), "-1.8");
        assert_eq!(figure(0.35, "%"), "0.35");
        assert_eq!(signed(1e-9, "%"), "0.0");
    }

    #[test]
    fn counts_and_amounts_are_written_as_they_are() {
        assert_eq!(figure(2_780_526_000.0, "Person-km"), "2780526000");
        assert_eq!(signed(12.0, "Anzahl"), "+12");
        assert_eq!(figure(3391.228, "jew. ME"), "3391.228");
        assert_eq!(signed(-4.0, ""), "-4");
    }
}
