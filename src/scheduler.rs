//! When sources poll: the validated [`Schedule`] (cron in its own time zone), the start-up
//! catch-up rule, and how long the daemon loop may sleep.
//!
//! Pure functions over [`Schedule`] and instants, so the DST and catch-up rules are unit
//! tested with literal dates. The next tick is computed afresh from the `chrono_tz::Tz` every
//! time (never from an offset captured once), so a 06:30 Europe/Amsterdam schedule stays at
//! 06:30 local time across the March and October switches in a long-running daemon.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression {expr:?}: {message}")]
    Invalid { expr: String, message: String },
    #[error("cron expression {expr:?} never fires")]
    NeverFires { expr: String },
}

/// A validated cron schedule, with the zone it is evaluated in.
#[derive(Clone)]
pub struct Schedule {
    pub expr: String,
    pub cron: Cron,
    pub tz: Tz,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} in {}", self.expr, self.tz)
    }
}

impl Schedule {
    /// Parses a 6-field cron expression (with seconds) the way tokio-cron-scheduler does.
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, ScheduleError> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| ScheduleError::Invalid {
                expr: expr.to_string(),
                message: e.to_string(),
            })?;
        let now = Utc::now().with_timezone(&tz);
        cron.find_next_occurrence(&now, false)
            .map_err(|_| ScheduleError::NeverFires {
                expr: expr.to_string(),
            })?;
        Ok(Schedule {
            expr: expr.to_string(),
            cron,
            tz,
        })
    }
}

/// The first scheduled time strictly after `after`, or `None` if the expression never fires
/// again (which `check` rejects at load time, so only a far-future edge case).
pub fn next_fire(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .cron
        .find_next_occurrence(&after.with_timezone(&schedule.tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The most recent scheduled time at or before `now`, if there is one.
pub fn previous_fire(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .cron
        .find_previous_occurrence(&now.with_timezone(&schedule.tz), true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a source polls once at start-up: it never polled successfully, or its last
/// success is older than the most recent scheduled time (a tick was missed while the daemon
/// was down). However many ticks were missed, this asks for one poll.
pub fn needs_catch_up(
    schedule: &Schedule,
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    match last_success {
        None => true,
        Some(last) => previous_fire(schedule, now).is_some_and(|tick| last < tick),
    }
}

/// How long the loop may sleep before `next` (if any), never longer than `cap`: the loop
/// must wake regularly to send `WATCHDOG=1` and to notice a changed wall clock.
pub fn sleep_for(now: DateTime<Utc>, next: Option<DateTime<Utc>>, cap: Duration) -> Duration {
    match next {
        None => cap,
        Some(t) => (t - now).to_std().unwrap_or(Duration::ZERO).min(cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sched(expr: &str, tz: &str) -> Schedule {
        Schedule::parse(expr, tz.parse().unwrap()).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Every fire time in [from, from + n fires).
    fn fires(s: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = next_fire(s, t).unwrap();
            out.push(t.to_rfc3339());
        }
        out
    }

    #[test]
    fn cbs_schedule_keeps_local_time_across_march_switch() {
        // 2025-03-30 is a Sunday: clocks go from CET (+1) to CEST (+2) at 02:00.
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-03-27T12:00:00Z", 3),
            [
                "2025-03-28T05:30:00+00:00", // Fri, winter time
                "2025-03-31T04:30:00+00:00", // Mon, summer time
                "2025-04-01T04:30:00+00:00",
            ]
        );
    }

    #[test]
    fn cbs_schedule_keeps_local_time_across_october_switch() {
        // 2025-10-26 is a Sunday: clocks go back from CEST (+2) to CET (+1) at 03:00.
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-10-23T12:00:00Z", 3),
            [
                "2025-10-24T04:30:00+00:00", // Fri, summer time
                "2025-10-27T05:30:00+00:00", // Mon, winter time
                "2025-10-28T05:30:00+00:00",
            ]
        );
    }

    #[test]
    fn destatis_schedule_in_berlin() {
        let s = sched("0 0 8 * * Mon-Fri", "Europe/Berlin");
        assert_eq!(
            fires(&s, "2025-03-28T07:00:00Z", 2),
            ["2025-03-31T06:00:00+00:00", "2025-04-01T06:00:00+00:00"]
        );
        assert_eq!(
            fires(&s, "2025-10-24T06:00:00Z", 2),
            ["2025-10-27T07:00:00+00:00", "2025-10-28T07:00:00+00:00"]
        );
        // Exactly at a tick: the next one, not the same one again.
        assert_eq!(
            next_fire(&s, utc("2025-03-31T06:00:00Z")).unwrap(),
            utc("2025-04-01T06:00:00Z")
        );
    }

    #[test]
    fn a_long_running_loop_does_not_drift() {
        // Chaining next_fire from each fire time (what the daemon does) across both switches.
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        let mut t = utc("2025-03-01T00:00:00Z");
        let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        for _ in 0..200 {
            t = next_fire(&s, t).unwrap();
            let local = t.with_timezone(&tz);
            assert_eq!(local.format("%H:%M:%S").to_string(), "06:30:00", "{t}");
        }
        assert!(t > utc("2025-11-01T00:00:00Z"));
    }

    #[test]
    fn every_few_minutes_within_hours() {
        let s = sched("0 */5 6-9 * * Mon-Fri", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-05-09T07:58:00Z", 3),
            [
                "2025-05-12T04:00:00+00:00", // Fri 09:58 local is past 09:55; next is Mon 06:00
                "2025-05-12T04:05:00+00:00",
                "2025-05-12T04:10:00+00:00",
            ]
        );
    }

    #[test]
    fn previous_fire_is_inclusive_and_zone_aware() {
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        assert_eq!(
            previous_fire(&s, utc("2025-03-31T04:30:00Z")).unwrap(),
            utc("2025-03-31T04:30:00Z")
        );
        assert_eq!(
            previous_fire(&s, utc("2025-03-31T04:29:59Z")).unwrap(),
            utc("2025-03-28T05:30:00Z")
        );
    }

    #[test]
    fn never_polled_catches_up() {
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        assert!(needs_catch_up(&s, None, utc("2025-05-09T12:00:00Z")));
    }

    #[test]
    fn success_after_the_last_tick_needs_no_catch_up() {
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        // Fri 2025-05-09 06:30 local = 04:30Z; polled at 04:30:05Z, restarted at noon.
        assert!(!needs_catch_up(
            &s,
            Some(utc("2025-05-09T04:30:05Z")),
            utc("2025-05-09T12:00:00Z")
        ));
        // Over the weekend nothing is scheduled: still no catch-up on Sunday.
        assert!(!needs_catch_up(
            &s,
            Some(utc("2025-05-09T04:30:05Z")),
            utc("2025-05-11T20:00:00Z")
        ));
    }

    #[test]
    fn missed_ticks_ask_for_one_catch_up() {
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        // Last success Thursday; down over Friday's tick.
        assert!(needs_catch_up(
            &s,
            Some(utc("2025-05-08T04:30:05Z")),
            utc("2025-05-09T12:00:00Z")
        ));
        // Down for weeks: still just "yes" (one poll), not a count.
        assert!(needs_catch_up(
            &s,
            Some(utc("2025-03-01T04:30:05Z")),
            utc("2025-05-09T12:00:00Z")
        ));
    }

    #[test]
    fn catch_up_across_dst_uses_the_local_tick() {
        let s = sched("0 30 6 * * Mon-Fri", "Europe/Amsterdam");
        // Mon 2025-03-31 06:30 CEST is 04:30Z. A success at 05:00Z is after it (no catch-up)
        // although it is before 05:30Z, where a fixed winter offset would put the tick.
        assert!(!needs_catch_up(
            &s,
            Some(utc("2025-03-31T05:00:00Z")),
            utc("2025-03-31T10:00:00Z")
        ));
        // A success at 04:00Z that day predates the tick.
        assert!(needs_catch_up(
            &s,
            Some(utc("2025-03-31T04:00:00Z")),
            utc("2025-03-31T10:00:00Z")
        ));
    }

    #[test]
    fn sleep_is_capped_and_never_negative() {
        let now = Utc.with_ymd_and_hms(2025, 5, 9, 6, 0, 0).unwrap();
        let cap = Duration::from_secs(5);
        assert_eq!(sleep_for(now, None, cap), cap);
        assert_eq!(
            sleep_for(now, Some(now + chrono::Duration::seconds(2)), cap),
            Duration::from_secs(2)
        );
        assert_eq!(
            sleep_for(now, Some(now + chrono::Duration::hours(2)), cap),
            cap
        );
        assert_eq!(
            sleep_for(now, Some(now - chrono::Duration::seconds(2)), cap),
            Duration::ZERO
        );
    }
}
