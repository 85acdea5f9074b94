#!/usr/bin/env bash
# The daemon's idle memory: VmRSS and VmHWM from /proc/PID/status of `statwatch run`, read
# 2 s after its first poll has finished (a fresh state_dir, so every source polls at start).
#
# 1. The default config (config/statwatch.toml) pointed at the tests' fake CBS and GENESIS
#    servers: the #[ignore]d test `idle_rss_after_the_first_poll` in tests/default_config.rs.
# 2. A config with a whole table: the 2-million-cell table of cbs_table_server.py (834 regions
#    x 20 measures x 120 months), one [[series]] entry with RegioS = "*" and measure = "*"
#    (16,680 series), as benches/vs_cbsodata.sh polls it.
#
# Not part of `cargo test` or CI, and nothing is asserted: run it by hand,
# `bash benches/idle_rss.sh`. STATWATCH_BIN=path measures that binary instead of a fresh
# release build (an older build, to compare).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

echo "== the default config, on the fake CBS and GENESIS servers" >&2
(cd "$ROOT" && STATWATCH_BIN="$BIN" cargo test --quiet --test default_config \
    idle_rss_after_the_first_poll -- --ignored --nocapture 2>/dev/null) |
    sed -n '/^default config/,/^Threads/p'

echo "== a whole table: generating it and starting the server" >&2
start_table_server
write_whole_table_config "$WORK/statwatch.toml" "$WORK/state"
RUST_LOG=info JOURNAL_STREAM=1:1 "$BIN" --config "$WORK/statwatch.toml" run \
    2>"$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 1 600); do
    grep -q 'poll finished' "$WORK/daemon.log" && break
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then tail -20 "$WORK/daemon.log" >&2; exit 1; fi
    sleep 0.1
done
grep -q 'poll finished' "$WORK/daemon.log" || { echo "no poll finished within 60 s" >&2; exit 1; }
sleep 2
echo "a whole table ($CELLS cells), after the first poll:"
grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|Threads)' "/proc/$DAEMON_PID/status" | tr -s ' \t' ' '
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=""
