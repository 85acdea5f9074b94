//! Crash points for the crash tests: with `STATWATCH_FAULT=<point>` in its environment the
//! process aborts (as a SIGKILL or a power cut would end it: no destructors, no flush beyond
//! what was already on disk) when it reaches that point. tests/crash.rs uses it to show what a
//! crash at exactly that moment leaves; random kill delays rarely land in a window of a few
//! milliseconds. Without the variable a point costs one environment lookup per poll.
//! Also one panic point, in every daemon task ([`PANIC_IN_DUTY`]).

use tracing::error;

/// Right after a poll's one transaction is on disk, before anything is delivered.
pub(crate) const AFTER_POLL_COMMIT: &str = "after-poll-commit";

/// In a commit, after a first sync's records are written ahead, before its transaction.
pub(crate) const AFTER_WRITE_AHEAD: &str = "after-write-ahead";

/// In a commit, after its transaction, before its new outbox entries are in the due index.
pub(crate) const AFTER_POLL_TRANSACTION: &str = "after-poll-transaction";

/// Aborts the process if `STATWATCH_FAULT` names this point.
pub(crate) fn point(name: &str) {
    if std::env::var_os("STATWATCH_FAULT").is_some_and(|v| v == name) {
        error!(
            point = name,
            "STATWATCH_FAULT: aborting here, as a crash would"
        );
        std::process::abort();
    }
}

/// `STATWATCH_FAULT=panic:<duty>` (`panic:source cbs`, `panic:heartbeat`: a duty's name as
/// docs/daemon.md lists them): that duty's task panics as it starts, as a bug in it would, so
/// a test sees what the daemon does when a task dies. Unlike the crash points, not an abort.
pub(crate) const PANIC_IN_DUTY: &str = "panic:";

/// Panics if `STATWATCH_FAULT` is [`PANIC_IN_DUTY`] followed by `duty`.
pub(crate) fn panic_in(duty: &str) {
    let fault = std::env::var("STATWATCH_FAULT").unwrap_or_default();
    if fault.strip_prefix(PANIC_IN_DUTY) == Some(duty) {
        panic!("STATWATCH_FAULT: a panic in the {duty} task");
    }
}
