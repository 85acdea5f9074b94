//! Fault points for the tests that run the binary: `STATWATCH_FAULT=<point>[,<point>...]`
//! in its environment makes the process misbehave at each named point, as that point's kind
//! says: a crash point ([`point`]) aborts (as a SIGKILL or a power cut would end it: no
//! destructors, no flush beyond what was already on disk), a failing point ([`fails`]) makes
//! its step return an error, a holding point ([`hold`]) waits there for the test, a panic
//! point ([`panic_in`], `panic:<duty>`) makes a daemon duty's task panic as a bug in it would.
//! They show what a fault at exactly that moment leaves (tests/crash.rs, tests/flood.rs,
//! tests/unfinished_commit.rs, tests/daemon.rs); random kill delays rarely land in a window
//! of a few milliseconds. Without the variable a point costs one environment lookup.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::{error, warn};

/// Crash point: right after a poll's one transaction is on disk, before anything is delivered.
pub(crate) const AFTER_POLL_COMMIT: &str = "after-poll-commit";

/// Crash point: in a commit, after its records are written ahead, before its transaction.
pub(crate) const AFTER_WRITE_AHEAD: &str = "after-write-ahead";

/// Crash point: in a commit, after its transaction, before its new outbox entries are in the
/// due index.
pub(crate) const AFTER_POLL_TRANSACTION: &str = "after-poll-transaction";

/// Holding point: in a commit, after its records are written ahead, before its transaction
/// (so a test can read the store meanwhile).
pub(crate) const HOLD_AFTER_WRITE_AHEAD: &str = "hold-after-write-ahead";

/// Failing point: a commit's transaction fails (its writes ahead are then undone).
pub(crate) const FAIL_POLL_TRANSACTION: &str = "fail-poll-transaction";

/// How long a holding point waits for its release at most: a test that never releases it
/// must not leave a process hanging.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

/// Whether `STATWATCH_FAULT` names this point.
fn named(name: &str) -> bool {
    std::env::var("STATWATCH_FAULT").is_ok_and(|v| v.split(',').any(|p| p == name))
}

/// Aborts the process if `STATWATCH_FAULT` names this point.
pub(crate) fn point(name: &str) {
    if named(name) {
        error!(
            point = name,
            "STATWATCH_FAULT: aborting here, as a crash would"
        );
        std::process::abort();
    }
}

/// Whether the step at this failing point is to fail: `STATWATCH_FAULT` names it, or (in
/// unit tests) it is [`arm`]ed on this thread.
pub(crate) fn fails(name: &str) -> bool {
    #[cfg(test)]
    if ARMED.with(|a| a.get() == Some(name)) {
        ARMED.with(|a| a.set(None));
        return true;
    }
    let fails = named(name);
    if fails {
        warn!(point = name, "STATWATCH_FAULT: failing here");
    }
    fails
}

/// If `STATWATCH_FAULT` names this point: unless the file `release` in the directory
/// `STATWATCH_FAULT_DIR` exists, creates `held` there and waits until `release` appears
/// (at most [`HOLD_LIMIT`]). A point reached after the release goes on at once.
pub(crate) fn hold(name: &str) {
    if !named(name) {
        return;
    }
    let Some(dir) = std::env::var_os("STATWATCH_FAULT_DIR").map(PathBuf::from) else {
        error!(
            point = name,
            "STATWATCH_FAULT: a holding point needs STATWATCH_FAULT_DIR; not holding"
        );
        return;
    };
    let release = dir.join("release");
    if release.exists() {
        return;
    }
    if let Err(e) = std::fs::write(dir.join("held"), name) {
        error!(point = name, error = %e, "STATWATCH_FAULT: cannot say it holds; not holding");
        return;
    }
    warn!(point = name, release = %release.display(), "STATWATCH_FAULT: holding here until the release file exists");
    let limit = Instant::now() + HOLD_LIMIT;
    while !release.exists() && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
thread_local! {
    static ARMED: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Makes the next failing point `name` reached on this thread fail (unit tests run on many
/// threads of one process, where an environment variable would reach them all).
#[cfg(test)]
pub(crate) fn arm(name: &'static str) {
    ARMED.with(|a| a.set(Some(name)));
}

/// `STATWATCH_FAULT=panic:<duty>` (`panic:source cbs`, `panic:heartbeat`: a duty's name as
/// docs/daemon.md lists them): that duty's task panics as it starts, as a bug in it would, so
/// a test sees what the daemon does when a task dies. Unlike the crash points, not an abort.
pub(crate) const PANIC_IN_DUTY: &str = "panic:";

/// Panics if `STATWATCH_FAULT` names [`PANIC_IN_DUTY`] followed by `duty`.
pub(crate) fn panic_in(duty: &str) {
    if named(&format!("{PANIC_IN_DUTY}{duty}")) {
        panic!("STATWATCH_FAULT: a panic in the {duty} task");
    }
}
