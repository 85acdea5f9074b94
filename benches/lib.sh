# Shared by the bench scripts (sourced, not run): the repository and target paths, a work
# directory removed at exit (KEEP=1 keeps it) with the servers and daemon a script started
# (SERVER_PID, DAEMON_PID) stopped, the release binary (STATWATCH_BIN=path measures that one
# instead of a fresh build: an older build, to compare), and the 2-million-cell table of
# cbs_table_server.py with the config that watches all of it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
SERVER_PID=""
DAEMON_PID=""
cleanup() {
    if [[ -n "$DAEMON_PID" ]]; then kill "$DAEMON_PID" 2>/dev/null || true; fi
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [[ -z "${KEEP:-}" ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

BIN="${STATWATCH_BIN:-$TARGET/release/statwatch}"
if [[ -z "${STATWATCH_BIN:-}" ]]; then
    echo "== building statwatch (release)" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin statwatch)
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# Generates the whole table and serves it: sets SERVER_PID, PORT and CELLS.
start_table_server() {
    python3 "$ROOT/benches/cbs_table_server.py" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 240); do
        grep -q '^PORT' "$WORK/server.out" 2>/dev/null && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.err" >&2; exit 1; fi
        sleep 0.25
    done
    read -r _ PORT _ CELLS <"$WORK/server.out"
}

# A config watching the whole table (one [[series]] entry, 16,680 series): FILE STATE_DIR.
write_whole_table_config() {
    cat >"$1" <<CONFIG
state_dir = "$2"

[sources.cbs]
kind = "cbs"
base_url = "http://127.0.0.1:$PORT"
schedule = "0 30 6 * * *"
timeout_secs = 60
history_years = 12

[[series]]
id = "nl.region.{RegioS}.{measure}"
source = "cbs"
table = "80000NED"
measure = "*"
dimensions = { RegioS = "*" }
title = "{measure.title}: {RegioS.title}"
unit = ""

[receivers.journal]
kind = "log"
CONFIG
}
