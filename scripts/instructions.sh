#!/usr/bin/env bash
# Instructions Pollux executes per chat request and per Responses request, counted by
# valgrind's callgrind: unlike latencies, the count repeats to within a fraction of a percent
# from run to run and machine to machine, so it shows what a code change did
# (docs/benchmarks.md, "Instructions per request"). Not run in CI. Needs valgrind
# (callgrind_control, callgrind_annotate).
#
# Starts mock-gemini and, under callgrind, `pollux --workers 1` in front of it (both on
# loopback, ephemeral ports), warms up with WARMUP requests of each API, then for each API
# zeroes the counters, sends REQUESTS plain 1.5 KB requests one at a time (`pollux-bench
# --drive`; the chat request, then the same conversation as a Responses request) and dumps the
# counters, and stops both processes by PID. The dumps stay in target/callgrind/ for
# `callgrind_annotate --inclusive=yes target/callgrind/callgrind.out.1` (chat; `.2` is
# Responses, stored; `.3` Responses with `store: false`). APIS lists what to measure (`chat`,
# `responses`, `responses-unstored`); APIS=chat measures a build without the Responses API.
# STREAM=1 sends the streamed requests instead of the plain ones. OUT names the dump folder
# under target/ (default `callgrind`), so that two runs (say, POLLUX_INSPECTOR=on and =off) can
# go side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
# POLLUX_BIN measures another build (say, one from before a change) against the same mock.
REQUESTS="${REQUESTS:-2000}"
WARMUP="${WARMUP:-200}"
read -r -a apis <<<"${APIS:-chat responses responses-unstored}"
kind=(); label=plain
if [[ "${STREAM:-0}" == 1 ]]; then kind=(--stream); label=streamed; fi
for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool not found (install valgrind)" >&2; exit 2; }
done
source scripts/measure-lib.sh
measure_setup instructions.sh "${OUT:-callgrind}"
RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "${POLLUX_BIN:-$bin/pollux}" --listen "127.0.0.1:$port" --upstream "$upstream" --api-key bench-key \
    --workers 1 >/dev/null 2>"$out/pollux.log" &
pollux=$!
measure_track "$pollux"
measure_wait_healthy

for api in "${apis[@]}"; do
    "$bin/pollux-bench" --drive "127.0.0.1:$port" --api "$api" "${kind[@]}" --serial "$WARMUP" >/dev/null
done
# Each dump is numbered in order: callgrind.out.1 for the first API, .2 for the second, ...
declare -A per_request
dump=0
for api in "${apis[@]}"; do
    callgrind_control -z "$pollux" >/dev/null 2>&1
    echo -n "$api: "
    "$bin/pollux-bench" --drive "127.0.0.1:$port" --api "$api" "${kind[@]}" --serial "$REQUESTS"
    callgrind_control -d "$pollux" >/dev/null 2>&1
    dump=$((dump + 1))
    file="$out/callgrind.out.$dump"
    total="$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
    per_request[$api]=$((total / REQUESTS))
    echo "$api: instructions per $label request: ${per_request[$api]} (callgrind, $REQUESTS requests after $WARMUP warm-up; dump: $file)"
done
kill -INT "$pollux"
wait "$pollux" 2>/dev/null || true
if [[ -n "${per_request[chat]:-}" ]]; then
    for api in "${apis[@]}"; do
        [[ "$api" == chat ]] && continue
        awk -v r="${per_request[$api]}" -v c="${per_request[chat]}" -v a="$api" \
            'BEGIN { printf "%s / chat: %.3f\n", a, r / c }'
    done
fi
