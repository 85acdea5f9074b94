//! sd_notify: READY, STATUS, WATCHDOG (honouring `WATCHDOG_PID`), RELOADING, STOPPING.
//! Outside systemd every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

pub(super) fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// Half of `WATCHDOG_USEC` when the watchdog applies to this process. As libsystemd's
/// `sd_watchdog_enabled`: an unset `WATCHDOG_PID` means any process, a set one must be ours.
pub(super) fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// `RELOADING=1` with `MONOTONIC_USEC`, which systemd 253+ requires alongside it.
pub(super) fn reloading() -> Vec<NotifyState<'static>> {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    states
}
