#!/usr/bin/env bash
# A flood: one [[series]] group over a table dimension of KEYS keys (default 200,000), first
# synced, then a release that adds a period to every key, so one poll fires KEYS `release`
# alerts. Served by benches/flood_cbs.py on loopback.
#
# Each `statwatch poll` (release build) is measured with /usr/bin/time -v (wall, peak RSS);
# the state_dir with `du -sb` after it. RECEIVER picks where the alerts go: `none` (stored
# only, no receiver: the poll alone), `log` (default; a log line each, to /dev/null) or
# `webhook` (POSTed to the bench server, which reports the largest body).
#
# Measured on a debug build (2 shared, heavily loaded cores: wall times are not comparable),
# log receiver, FAULT_AT=after-poll-commit (the poll and its commit, no delivery):
#   20,000 alerts   before: 576 MB peak RSS, store +3,338 bytes/alert
#                   after:  175 MB peak RSS, store +2,226 bytes/alert (no rule firing: 118 MB)
#   200,000 alerts  before: not run here (about 24 KB of RSS per alert at 20,000; the issue
#                           measured 6.2 GB on a release build)
#                   after:  844 MB peak RSS, store +2,834 bytes/alert
# With delivery to the log receiver, 20,000 alerts peak at 406 MB: delivery claims and
# settles a receiver's entries in one transaction each (notify, not the poll).
#
# Not part of `cargo test` or CI: run it by hand,
#   bash benches/flood.sh [KEYS]           RECEIVER=webhook bash benches/flood.sh 20000
# STATWATCH_BIN=path measures that binary instead (a debug build, an older build).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
KEYS="${1:-200000}"
RECEIVER="${RECEIVER:-log}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [[ -z "${KEEP:-}" ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

BIN="${STATWATCH_BIN:-$TARGET/release/statwatch}"
if [[ -z "${STATWATCH_BIN:-}" ]]; then
    echo "== building statwatch (release)" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin statwatch)
fi

echo "== generating a table of $KEYS keys and starting the server" >&2
python3 "$ROOT/benches/flood_cbs.py" "$KEYS" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 600); do
    grep -q '^PORT' "$WORK/server.out" 2>/dev/null && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.err" >&2; exit 1; fi
    sleep 0.25
done
read -r _ PORT <"$WORK/server.out"
URL="http://127.0.0.1:$PORT"

case "$RECEIVER" in
none) RECEIVERS="" ;;
log) RECEIVERS=$'[receivers.journal]\nkind = "log"' ;;
webhook) RECEIVERS=$'[receivers.hook]\nkind = "webhook"\n'"url = \"$URL/hook\"" ;;
*) echo "RECEIVER is none, log or webhook" >&2; exit 2 ;;
esac

mkdir -p "$WORK/sw"
cat >"$WORK/sw/statwatch.toml" <<EOF
state_dir = "$WORK/sw/state"

[sources.cbs]
kind = "cbs"
base_url = "$URL"
schedule = "0 30 6 * * *"
timeout_secs = 60
history_years = 2

[[series]]
id = "flood.{RegioS}"
source = "cbs"
table = "FLOOD"
measure = "Waarde_1"
dimensions = { RegioS = "*" }
title = "Flood {RegioS.title}"
unit = ""

[[rules]]
id = "flood-release"
series = "flood.*"
kind = "release"

$RECEIVERS
EOF

# Fields of a /usr/bin/time -v report: peak RSS MB, wall seconds.
measure() {
    awk -F': ' '
        /Maximum resident set size/ {r=$2}
        /Elapsed \(wall clock\)/ {n=split($2, p, ":"); w=0; for (i=1;i<=n;i++) w=w*60+p[i]}
        END {printf "%.0f %.2f\n", r/1024, w}' "$1"
}

# FAULT_AT=after-poll-commit stops the release poll right after its commit (the binary's crash
# point): the poll measured without delivery.
poll() {
    env ${2:+STATWATCH_FAULT="$2"} RUST_LOG="${RUST_LOG:-warn}" /usr/bin/time -v "$BIN" \
        --config "$WORK/sw/statwatch.toml" poll >"$WORK/$1.out" 2>"$WORK/$1.time" \
        || [[ -n "${2:-}" ]] || { tail -20 "$WORK/$1.time" >&2; exit 1; }
}

echo "== first sync" >&2
poll base
read -r B_RSS B_WALL < <(measure "$WORK/base.time")
B_DISK=$(du -sb "$WORK/sw/state" | cut -f1)

curl -fsS "$URL/_release" >/dev/null
echo "== release: $KEYS alerts" >&2
poll flood "${FAULT_AT:-}"
read -r F_RSS F_WALL < <(measure "$WORK/flood.time")
F_DISK=$(du -sb "$WORK/sw/state" | cut -f1)
read -r LARGEST POSTS < <(curl -fsS "$URL/_largest")
ALERTS=$("$BIN" --config "$WORK/sw/statwatch.toml" alerts --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' || echo "?")
grep -i "flood\|alerts in one poll" "$WORK/flood.time" | head -3 >&2 || true

echo
echo "flood: $KEYS keys, receiver $RECEIVER, $BIN"
printf '%-22s %8s %12s %14s\n' "" "wall s" "peak RSS MB" "store bytes"
printf '%-22s %8s %12s %14s\n' "poll (first sync)" "$B_WALL" "$B_RSS" "$B_DISK"
printf '%-22s %8s %12s %14s\n' "poll (release)" "$F_WALL" "$F_RSS" "$F_DISK"
echo "store growth per alert: $(awk -v a="$B_DISK" -v b="$F_DISK" -v n="$KEYS" 'BEGIN{printf "%.0f", (b-a)/n}') bytes; alerts --json rows: $ALERTS"
if [[ "$RECEIVER" == webhook ]]; then echo "webhook: $POSTS POSTs, largest body $LARGEST bytes"; fi
