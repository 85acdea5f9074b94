//! Routing: which receivers want which alert. A receiver takes an alert when the alert's
//! severity is at least its `min_severity` and its rule id matches one of its `subscribe` globs
//! (no globs: every rule). A brief is routed by its brief id the same way, whatever the
//! receiver's `min_severity`.

use crate::config::{Config, ReceiverConfig};
use crate::model::Alert;

/// The names of the receivers an alert goes to, in name order.
pub fn receivers_for(config: &Config, alert: &Alert) -> Vec<String> {
    config
        .receivers
        .values()
        .filter(|r| wants(r, alert))
        .map(|r| r.name.clone())
        .collect()
}

/// Whether one receiver takes an alert.
fn wants(receiver: &ReceiverConfig, alert: &Alert) -> bool {
    // A brief is the story of a release, not an alarm: `min_severity` does not filter it.
    (alert.is_brief() || alert.severity >= receiver.min_severity)
        && (receiver.subscribe.is_empty()
            || receiver.subscribe.iter().any(|g| g.is_match(&alert.rule)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::tests::alert;
    use std::path::Path;

    const CONFIG: &str = r#"
state_dir = "/tmp/statwatch-route-test"

[sources.cbs]
kind = "cbs"
schedule = "0 */5 6-9 * * Mon-Fri"

[[series]]
id = "nl.industry.yoy"
source = "cbs"
table = "85806NED"
measure = "KalendergecorrigeerdeProductie_14"
dimensions = { BedrijfstakkenBranchesSBI2008 = "307500" }
unit = "%"

[receivers.all]
kind = "log"

[receivers.nl]
kind = "log"
subscribe = ["nl-*", "de-exports"]

[receivers.loud]
kind = "log"
min_severity = "warning"
"#;

    #[test]
    fn subscribe_globs_and_min_severity_pick_the_receivers() {
        let config = Config::parse(Path::new("t.toml"), CONFIG).unwrap();
        let mut a = alert("a", Severity::Info, "x");
        a.rule = "nl-industry-streak".into();
        assert_eq!(receivers_for(&config, &a), ["all", "nl"]);
        a.rule = "de-industry".into();
        assert_eq!(receivers_for(&config, &a), ["all"]);
        a.severity = Severity::Warning;
        assert_eq!(receivers_for(&config, &a), ["all", "loud"]);
        a.rule = "de-exports".into();
        a.severity = Severity::Critical;
        assert_eq!(receivers_for(&config, &a), ["all", "loud", "nl"]);
    }
}
