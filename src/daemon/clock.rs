//! The wall clock as the scheduling loop sees it. Cron ticks are wall-clock instants (that is
//! what a schedule in a time zone means), but every wait is on the monotonic clock, and each
//! turn compares how far the two moved: a step of the wall clock (NTP, a resumed VM, `date
//! -s`) is logged and every source's next tick recomputed from the new wall time. Before,
//! a step back of an hour left every tick an hour ahead: no poll for the hour.
//!
//! Also what `/healthz` expects of each source: a poll that starts or ends by its next tick
//! plus a margin (see [`Metrics::expect`](crate::metrics::Metrics::expect)).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Daemon, Duty, MAX_SLEEP};
use crate::scheduler::next_fire;

/// A difference between the wall and the monotonic clock over one turn larger than this is
/// a step. A turn lasts at most [`MAX_SLEEP`] and NTP slews by at most 500 ppm, so slewing
/// never comes near it; a smaller step only moves a poll by less than this.
const STEP_TOLERANCE: Duration = Duration::from_secs(1);

/// The wall and monotonic times of the loop's last turn.
pub(super) struct WallClock {
    wall: DateTime<Utc>,
    mono: Instant,
}

impl WallClock {
    pub(super) fn new() -> WallClock {
        WallClock {
            wall: Utc::now(),
            mono: Instant::now(),
        }
    }

    /// The wall time now, and the step the wall clock made since the last read, if any.
    pub(super) fn read(&mut self) -> (DateTime<Utc>, Option<chrono::Duration>) {
        let (wall, mono) = (Utc::now(), Instant::now());
        let step = step(self.wall, wall, mono.saturating_duration_since(self.mono));
        (self.wall, self.mono) = (wall, mono);
        (wall, step)
    }
}

/// How much more (or less: negative) the wall clock moved from `before` to `after` than the
/// monotonic clock's `elapsed`, if more than [`STEP_TOLERANCE`].
fn step(
    before: DateTime<Utc>,
    after: DateTime<Utc>,
    elapsed: Duration,
) -> Option<chrono::Duration> {
    let elapsed = chrono::Duration::from_std(elapsed).ok()?;
    let step = (after - before) - elapsed;
    let tolerance = chrono::Duration::from_std(STEP_TOLERANCE).ok()?;
    (step.abs() > tolerance).then_some(step)
}

/// How long `/healthz` waits for a poll when the next tick is `wait` away: the wait, the
/// loop's own latency, and 1 % of the wait for the wall clock to drift from the monotonic
/// one the deadline is kept on (NTP slews by at most 0.05 %).
fn poll_allowance(wait: Duration) -> Duration {
    wait + MAX_SLEEP + wait / 100
}

impl Daemon {
    /// The wall clock stepped by `step` (now reads `now`): ticks still ahead are recomputed
    /// from the new time; a tick the step jumped over stays due, so it polls now, once.
    pub(super) fn clock_stepped(&mut self, now: DateTime<Utc>, step: chrono::Duration) {
        warn!(
            // Whole seconds: a step is at least one, and the sleep around it blurs the rest.
            step_secs = (step.num_milliseconds() as f64 / 1000.0).round() as i64,
            expected = %(now - step),
            wall_now = %now,
            "the wall clock stepped; recomputing every schedule from the new wall time"
        );
        for (name, armed) in &mut self.sources {
            let Some(was) = armed.next.filter(|t| *t > now) else {
                continue;
            };
            armed.next = next_fire(&self.config.sources[name].schedule, now);
            info!(source = %name, was = %was, next = ?armed.next, "next tick recomputed after the clock step");
        }
        let names: Vec<String> = self.sources.keys().cloned().collect();
        for name in names {
            self.expect_poll(&name, now);
        }
    }

    /// Tells `/healthz` that source `name` polls again by its next tick (plus a margin);
    /// called when a poll starts or ends, at start-up, on reload and after a clock step.
    pub(super) fn expect_poll(&self, name: &str, now: DateTime<Utc>) {
        let duty = Duty::Poll(name.to_string()).to_string();
        match self.sources.get(name).and_then(|a| a.next) {
            Some(next) => {
                let wait = (next - now).to_std().unwrap_or_default();
                self.metrics.expect(&duty, poll_allowance(wait));
            }
            // A schedule that never fires again is never late.
            None => self.metrics.retain_duties(|d| d != duty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_step_is_the_wall_time_moved_beyond_the_monotonic_time() {
        let t = utc("2025-10-26T10:00:00Z");
        let five = Duration::from_secs(5);
        // In step, or off by less than the tolerance (slewing, a slow turn): no step.
        assert_eq!(step(t, t + chrono::Duration::seconds(5), five), None);
        assert_eq!(
            step(t, t + chrono::Duration::milliseconds(5_900), five),
            None
        );
        // Back an hour during a five-second sleep.
        assert_eq!(
            step(t, t - chrono::Duration::seconds(3595), five),
            Some(-chrono::Duration::hours(1))
        );
        // Forward (a VM resumed after its monotonic clock stood still).
        assert_eq!(
            step(t, t + chrono::Duration::seconds(125), five),
            Some(chrono::Duration::minutes(2))
        );
    }

    #[test]
    fn the_poll_allowance_covers_the_wait_the_loop_and_drift() {
        assert_eq!(
            poll_allowance(Duration::from_secs(2)),
            Duration::from_millis(7_020)
        );
        let day = Duration::from_secs(86_400);
        assert_eq!(
            poll_allowance(day),
            day + MAX_SLEEP + Duration::from_secs(864)
        );
    }
}
