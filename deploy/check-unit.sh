#!/bin/sh
# Verifies deploy/statwatch.service: `systemd-analyze verify` (syntax, directives, that the
# executables exist) and `systemd-analyze security --offline=true`, failing unless the
# exposure score is at most 2.0. Needs systemd-analyze (Debian/Ubuntu package: systemd) and a
# built statwatch binary (STATWATCH_BIN, else target/release or target/debug). UNIT checks
# another copy of the unit, e.g. the installed one (deploy/package-test.sh): with
# STATWATCH_BIN=/usr/bin/statwatch, that file itself is checked.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
unit=${UNIT:-$here/statwatch.service}
max_score=${MAX_SCORE:-2.0}

command -v systemd-analyze >/dev/null 2>&1 || {
    echo "check-unit: systemd-analyze not found (apt-get install -y systemd)" >&2
    exit 1
}
bin=${STATWATCH_BIN:-}
if [ -z "$bin" ]; then
    for b in "$root/target/release/statwatch" "$root/target/debug/statwatch"; do
        if [ -x "$b" ]; then bin=$b; break; fi
    done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
    echo "check-unit: no statwatch binary (cargo build, or set STATWATCH_BIN)" >&2
    exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# verify checks that ExecStart= binaries exist: a copy of the unit that points at the built
# binary, and nothing else changed.
if [ "$bin" = /usr/bin/statwatch ]; then
    checked=$unit
else
    checked="$tmp/statwatch.service"
    sed -e "s|/usr/bin/statwatch|$bin|g" "$unit" >"$checked"
fi

echo "== systemd-analyze verify"
out=$(systemd-analyze verify "$checked" 2>&1) || {
    printf '%s\n' "$out" >&2
    echo "check-unit: verify failed" >&2
    exit 1
}
# verify exits 0 on some warnings about this unit; treat any line naming it as a failure.
# (Lines about other units, e.g. missing dbus on a build machine, are not ours.)
ours=$(printf '%s\n' "$out" | grep -F 'statwatch.service' || true)
if [ -n "$ours" ]; then
    printf '%s\n' "$ours" >&2
    echo "check-unit: verify reported problems" >&2
    exit 1
fi
echo "ok"

echo "== systemd-analyze security --offline=true"
sec=$(systemd-analyze security --offline=true --no-pager "$checked" 2>&1) || true
printf '%s\n' "$sec"
score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' | tail -n 1)
[ -n "$score" ] || {
    echo "check-unit: no exposure score in the output" >&2
    exit 1
}
if awk -v s="$score" -v m="$max_score" 'BEGIN { exit !(s <= m) }'; then
    echo "check-unit: exposure $score <= $max_score: ok"
else
    echo "check-unit: exposure $score > $max_score" >&2
    exit 1
fi
