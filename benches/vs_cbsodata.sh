#!/usr/bin/env bash
# statwatch against cbsodata, side by side on one local CBS server: the first sync of a whole
# 2-million-cell table (834 regions x 20 measures x 120 months, see cbs_table_server.py).
#
# statwatch: one [[series]] entry with RegioS = "*" and measure = "*" (16,680 series),
# `statwatch poll` (release build) on a fresh state_dir. cbsodata: `cbsodata.get_data(table)`
# in a venv under target/. Each is measured with /usr/bin/time -v (user+sys CPU, peak RSS,
# wall); statwatch's state_dir is measured with `du -sb` after the poll. A second poll of the
# same config (unchanged table: one catalogue request) is timed too.
#
# Not part of `cargo test` or CI: run it by hand, `bash benches/vs_cbsodata.sh`.
# Needs python3 (3.9+) with venv, and network access to PyPI for the first run only.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
VENV="$TARGET/bench-venv"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import cbsodata" 2>/dev/null; then
    echo "== creating $VENV with cbsodata" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet cbsodata
fi

echo "== generating the table and starting the server" >&2
start_table_server
TABLE=80000NED
echo "   port $PORT, $CELLS non-null cells" >&2

# Fields of a /usr/bin/time -v report: cpu seconds (user+sys), peak RSS MB, wall seconds.
measure() {
    awk -F': ' '
        /User time/ {u=$2} /System time/ {s=$2}
        /Maximum resident set size/ {r=$2}
        /Elapsed \(wall clock\)/ {n=split($2, p, ":"); w=0; for (i=1;i<=n;i++) w=w*60+p[i]}
        END {printf "%.2f %.0f %.2f\n", u+s, r/1024, w}' "$1"
}

echo "== cbsodata.get_data" >&2
cat >"$WORK/cbs.py" <<'EOF'
import sys
import cbsodata
cbsodata.options.catalog_url = sys.argv[1]   # host[:port]; paths are ODataFeed/odata/...
cbsodata.options.use_https = False
data = cbsodata.get_data(sys.argv[2])
print(len(data), "rows")
EOF
/usr/bin/time -v "$VENV/bin/python" "$WORK/cbs.py" "127.0.0.1:$PORT" "$TABLE" \
    >"$WORK/cbs.out" 2>"$WORK/cbs.time"
read -r C_CPU C_RSS C_WALL < <(measure "$WORK/cbs.time")

echo "== statwatch poll" >&2
mkdir -p "$WORK/sw"
write_whole_table_config "$WORK/sw/statwatch.toml" "$WORK/sw/state"
RUST_LOG=warn /usr/bin/time -v "$BIN" --config "$WORK/sw/statwatch.toml" poll \
    >"$WORK/sw1.out" 2>"$WORK/sw1.time" || { tail -20 "$WORK/sw1.time" >&2; exit 1; }
read -r S_CPU S_RSS S_WALL < <(measure "$WORK/sw1.time")
DISK=$(du -sb "$WORK/sw/state" | cut -f1)

RUST_LOG=warn /usr/bin/time -v "$BIN" --config "$WORK/sw/statwatch.toml" poll \
    >"$WORK/sw2.out" 2>"$WORK/sw2.time" || { tail -20 "$WORK/sw2.time" >&2; exit 1; }
read -r U_CPU U_RSS U_WALL < <(measure "$WORK/sw2.time")
grep -q ': unchanged' "$WORK/sw2.out" || { echo "second poll was not unchanged:" >&2; head "$WORK/sw2.out" >&2; }

echo
echo "table $TABLE: 834 regions x 20 measures x 120 months, $CELLS observations (non-null cells)"
printf '%-28s %10s %12s %8s\n' "" "CPU s" "peak RSS MB" "wall s"
printf '%-28s %10s %12s %8s\n' "cbsodata.get_data" "$C_CPU" "$C_RSS" "$C_WALL"
printf '%-28s %10s %12s %8s\n' "statwatch poll (first sync)" "$S_CPU" "$S_RSS" "$S_WALL"
printf '%-28s %10s %12s %8s\n' "statwatch poll (unchanged)" "$U_CPU" "$U_RSS" "$U_WALL"
echo "statwatch store: $DISK bytes on disk, $(awk -v d="$DISK" -v c="$CELLS" 'BEGIN{printf "%.1f", d/c}') bytes per observation"
awk -v sc="$S_CPU" -v cc="$C_CPU" -v sr="$S_RSS" -v cr="$C_RSS" -v d="$DISK" -v c="$CELLS" 'BEGIN{
    printf "targets: CPU <= cbsodata: %s; RSS <= half of cbsodata: %s; < 30 bytes/observation: %s\n",
        (sc <= cc ? "met" : "MISSED"), (sr <= cr / 2 ? "met" : "MISSED"), (d / c < 30 ? "met" : "MISSED")}'
