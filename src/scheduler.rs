//! When sources poll: the validated [`Schedule`] (cron in its own time zone), the start-up
//! catch-up rule, and how long the daemon loop may sleep.
//!
//! Pure functions over [`Schedule`] and instants, so the DST and catch-up rules are unit
//! tested with literal dates. The next tick is computed afresh from the `chrono_tz::Tz` every
//! time (never from an offset captured once), so a 06:30 Europe/Amsterdam schedule stays at
//! 06:30 local time across the March and October switches in a long-running daemon. In the
//! hour repeated when clocks go back, a schedule that fires every hour fires in both passes
//! (every real hour), a daily time once; a local time skipped in spring fires as the gap ends.

use std::fmt;
use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{DateTime, FixedOffset, Offset, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression {expr:?}: {source}")]
    Invalid {
        expr: String,
        #[source]
        source: croner::errors::CronError,
    },
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
            .map_err(|source| ScheduleError::Invalid {
                expr: expr.to_string(),
                source,
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
///
/// croner matches local times and gives a local time that occurs twice (the hour repeated
/// when clocks go back) only its first instant, so an hourly schedule would skip a whole
/// real hour on the autumn switch. The second instants are looked up in the fixed offset
/// that follows the switch, and fire when [`fires_at`] says so.
pub fn next_fire(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // croner carries the fraction of a second over into its answer; ticks are whole seconds.
    let mut from = after.trunc_subsecs(0);
    // Each round rejects at most one repeated instant; a fold is an hour of them at most.
    for _ in 0..MAX_REJECTED {
        let zoned = schedule
            .cron
            .find_next_occurrence(&from.with_timezone(&schedule.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        let offsets = [Some(from), zoned].map(|t| t.map(|t| offset_at(schedule.tz, t)));
        let repeated = offsets
            .into_iter()
            .flatten()
            .filter_map(|off| next_in_offset(schedule, from, off));
        let next = zoned
            .into_iter()
            .chain(repeated)
            .filter(|t| *t > from)
            .min()?;
        if fires_at(schedule, next) {
            return Some(next);
        }
        from = next;
    }
    None
}

/// How many repeated instants in a row [`next_fire`] may pass over (an every-second
/// schedule has 3,600 in a one-hour fold; none of them is passed over, see [`fires_at`]).
const MAX_REJECTED: usize = 4000;

fn offset_at(tz: Tz, t: DateTime<Utc>) -> FixedOffset {
    tz.offset_from_utc_datetime(&t.naive_utc()).fix()
}

/// The next match after `from` of the schedule read in the fixed offset `off`, if the zone
/// is really at that offset then (so the instant's local time in the zone matches too).
fn next_in_offset(
    schedule: &Schedule,
    from: DateTime<Utc>,
    off: FixedOffset,
) -> Option<DateTime<Utc>> {
    let t = schedule
        .cron
        .find_next_occurrence(&from.with_timezone(&off), false)
        .ok()?
        .with_timezone(&Utc);
    (offset_at(schedule.tz, t) == off).then_some(t)
}

/// Whether the schedule fires at `t`, an instant whose local time matches it. A local time
/// that occurs twice (clocks going back) fires at its second instant only when the schedule
/// also matches one fold earlier, as cron does: an hourly or every-20-minutes schedule keeps
/// firing every real hour through the fold (02:00 CEST, 02:00 CET, 03:00 CET), while a
/// daily 02:30 fires once.
fn fires_at(schedule: &Schedule, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&schedule.tz).naive_local();
    match schedule.tz.from_local_datetime(&local) {
        LocalResult::Ambiguous(first, second) if second == t => {
            let fold = second.with_timezone(&Utc) - first.with_timezone(&Utc);
            let earlier = (first.with_timezone(&Utc) - fold).with_timezone(&schedule.tz);
            schedule.cron.is_time_matching(&earlier).unwrap_or(false)
        }
        _ => true,
    }
}

/// The most recent scheduled time at or before `now`, if there is one (consistent with
/// [`next_fire`]: in the repeated hour after clocks go back, its second instants count).
pub fn previous_fire(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut last = schedule
        .cron
        .find_previous_occurrence(&now.with_timezone(&schedule.tz), true)
        .ok()
        .map(|t| t.with_timezone(&Utc))?;
    // croner's answer may be the first instant of a repeated local time; a second instant
    // between it and `now` is more recent. Bounded by the fold, so by MAX_REJECTED fires.
    for _ in 0..MAX_REJECTED {
        match next_fire(schedule, last) {
            Some(t) if t <= now => last = t,
            _ => break,
        }
    }
    Some(last)
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
    fn a_bad_expression_keeps_the_parser_error_as_its_source() {
        let e = Schedule::parse("0 61 * * * *", chrono_tz::UTC).unwrap_err();
        let cause = std::error::Error::source(&e).expect("the parser's error");
        assert_eq!(
            e.to_string(),
            format!("invalid cron expression \"0 61 * * * *\": {cause}")
        );
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
    fn hourly_fires_every_real_hour_when_clocks_go_back() {
        // 2025-10-26: 03:00 CEST becomes 02:00 CET at 01:00Z, so 02:00 local happens twice.
        let s = sched("0 0 * * * *", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-10-25T22:30:00Z", 5),
            [
                "2025-10-25T23:00:00+00:00", // 01:00 CEST
                "2025-10-26T00:00:00+00:00", // 02:00 CEST
                "2025-10-26T01:00:00+00:00", // 02:00 CET
                "2025-10-26T02:00:00+00:00", // 03:00 CET
                "2025-10-26T03:00:00+00:00",
            ]
        );
        // Started inside the repeated hour: its second instants, once each.
        assert_eq!(
            next_fire(&s, utc("2025-10-26T00:30:00Z")).unwrap(),
            utc("2025-10-26T01:00:00Z")
        );
        assert_eq!(
            next_fire(&s, utc("2025-10-26T01:00:00Z")).unwrap(),
            utc("2025-10-26T02:00:00Z")
        );
    }

    #[test]
    fn hourly_fires_every_real_hour_when_clocks_go_forward() {
        // 2025-03-30: 02:00 CET becomes 03:00 CEST at 01:00Z; 02:00 local never happens.
        let s = sched("0 0 * * * *", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-03-29T22:30:00Z", 4),
            [
                "2025-03-29T23:00:00+00:00", // 00:00 CET
                "2025-03-30T00:00:00+00:00", // 01:00 CET
                "2025-03-30T01:00:00+00:00", // 03:00 CEST
                "2025-03-30T02:00:00+00:00", // 04:00 CEST
            ]
        );
    }

    #[test]
    fn hourly_has_no_gap_and_no_repeat_over_a_year() {
        let s = sched("0 0 * * * *", "Europe/Amsterdam");
        let mut t = next_fire(&s, utc("2025-01-01T00:00:00Z")).unwrap();
        while t < utc("2026-01-01T00:00:00Z") {
            let next = next_fire(&s, t).unwrap();
            assert_eq!(next - t, chrono::Duration::hours(1), "after {t}");
            t = next;
        }
    }

    #[test]
    fn frequent_schedules_run_through_the_repeated_hour() {
        let s = sched("0 */20 * * * *", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-10-26T00:30:00Z", 5),
            [
                "2025-10-26T00:40:00+00:00", // 02:40 CEST
                "2025-10-26T01:00:00+00:00", // 02:00 CET
                "2025-10-26T01:20:00+00:00",
                "2025-10-26T01:40:00+00:00",
                "2025-10-26T02:00:00+00:00", // 03:00 CET
            ]
        );
        let s = sched("* * * * * *", "Europe/Amsterdam");
        assert_eq!(
            fires(&s, "2025-10-26T00:59:58Z", 3),
            [
                "2025-10-26T00:59:59+00:00",
                "2025-10-26T01:00:00+00:00",
                "2025-10-26T01:00:01+00:00",
            ]
        );
    }

    #[test]
    fn a_daily_time_in_the_repeated_or_missing_hour_fires_once() {
        let s = sched("0 30 2 * * *", "Europe/Amsterdam");
        // Autumn: 02:30 CEST only, not again at 02:30 CET.
        assert_eq!(
            fires(&s, "2025-10-25T22:30:00Z", 2),
            ["2025-10-26T00:30:00+00:00", "2025-10-27T01:30:00+00:00"]
        );
        assert_eq!(
            next_fire(&s, utc("2025-10-26T01:00:00Z")).unwrap(),
            utc("2025-10-27T01:30:00Z")
        );
        // Spring: 02:30 does not exist; it fires as the gap ends (03:00 CEST), once.
        assert_eq!(
            fires(&s, "2025-03-29T22:30:00Z", 2),
            ["2025-03-30T01:00:00+00:00", "2025-03-31T00:30:00+00:00"]
        );
    }

    #[test]
    fn previous_fire_and_catch_up_see_the_repeated_hour() {
        let s = sched("0 0 * * * *", "Europe/Amsterdam");
        assert_eq!(
            previous_fire(&s, utc("2025-10-26T01:30:00Z")).unwrap(),
            utc("2025-10-26T01:00:00Z")
        );
        // Polled at 02:00 CEST, down over 02:00 CET: one catch-up poll.
        assert!(needs_catch_up(
            &s,
            Some(utc("2025-10-26T00:00:05Z")),
            utc("2025-10-26T01:30:00Z")
        ));
        assert!(!needs_catch_up(
            &s,
            Some(utc("2025-10-26T01:00:05Z")),
            utc("2025-10-26T01:30:00Z")
        ));
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
        // Ticks are whole seconds, whatever the fraction of `after`.
        assert_eq!(
            next_fire(&s, utc("2025-03-28T07:00:00.25Z")).unwrap(),
            utc("2025-03-31T06:00:00Z")
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
