//! Crash points for the crash tests: with `STATWATCH_FAULT=<point>` in its environment the
//! process aborts (as a SIGKILL or a power cut would end it: no destructors, no flush beyond
//! what was already on disk) when it reaches that point. tests/crash.rs uses it to show what a
//! crash at exactly that moment leaves; random kill delays rarely land in a window of a few
//! milliseconds. Without the variable a point costs one environment lookup per poll.

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
