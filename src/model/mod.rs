//! Plain data shared by every stage: periods, observations, releases, alerts and deliveries.
//! No I/O. One file per idea; everything is re-exported here, so `crate::model::X` is the path.

mod alert;
mod delivery;
mod observation;
mod period;

pub use alert::*;
pub use delivery::*;
pub use observation::*;
pub use period::*;

/// Formats a value with an explicit sign, as the news releases do ("+1.3", "-0.3", "0.0").
pub fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{v}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_read_like_news() {
        assert_eq!(signed(1.3), "+1.3");
        assert_eq!(signed(-0.3), "-0.3");
        assert_eq!(signed(0.0), "0");
    }
}
