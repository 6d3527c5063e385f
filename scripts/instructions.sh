#!/usr/bin/env bash
# Instructions Pollux executes per chat request, counted by valgrind's callgrind: unlike
# latencies, the count repeats to within a fraction of a percent from run to run and machine to
# machine, so it shows what a code change did (docs/benchmarks.md, "Instructions per
# request"). Not run in CI. Needs valgrind (callgrind_control, callgrind_annotate).
#
# Starts mock-gemini and, under callgrind, `pollux --workers 1` in front of it (both on
# loopback, ephemeral ports), warms up with WARMUP requests, zeroes the counters, sends
# REQUESTS plain 1.5 KB chat requests one at a time (`pollux-bench --drive`), dumps the
# counters and stops both processes by PID. The dump stays in target/callgrind/ for
# `callgrind_annotate --inclusive=yes target/callgrind/callgrind.out.1`.
set -euo pipefail
cd "$(dirname "$0")/.."
# POLLUX_BIN measures another build (say, one from before a change) against the same mock.
REQUESTS="${REQUESTS:-2000}"
WARMUP="${WARMUP:-200}"
for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool not found (install valgrind)" >&2; exit 2; }
done
source scripts/measure-lib.sh
measure_setup instructions.sh callgrind
RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "${POLLUX_BIN:-$bin/pollux}" --listen "127.0.0.1:$port" --upstream "$upstream" --api-key bench-key \
    --workers 1 >/dev/null 2>"$out/pollux.log" &
pollux=$!
measure_track "$pollux"
measure_wait_healthy

"$bin/pollux-bench" --drive "127.0.0.1:$port" --serial "$WARMUP" >/dev/null
callgrind_control -z "$pollux" >/dev/null 2>&1
"$bin/pollux-bench" --drive "127.0.0.1:$port" --serial "$REQUESTS"
callgrind_control -d "$pollux" >/dev/null 2>&1
kill -INT "$pollux"
wait "$pollux" 2>/dev/null || true
total="$(callgrind_annotate "$out/callgrind.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "instructions per request: $((total / REQUESTS)) (callgrind, $REQUESTS requests after $WARMUP warm-up; dump: $out/callgrind.out.1)"
