#!/usr/bin/env bash
# What the inspector costs per request (docs/benchmarks.md, "The inspector"): one mock-gemini
# and three `pollux --workers 1` in front of it (inspector on with bodies, on with
# `--inspector-bodies off`, and `--inspector off`), all on loopback ephemeral ports. Each
# round sends N requests one at a time (`pollux-bench --drive`) to each Pollux in turn, and
# reads each Pollux's CPU time (schedstat of its threads, in ns) around its block: CPU per request is
# Pollux's own work, with no network or mock time in it. Prints, per variant, the median over
# ROUNDS rounds of the CPU microseconds per request and of the latency p50. Stops every process
# it started, by PID. Needs release builds of pollux, mock-gemini and pollux-bench
# (BIN=target/release by default). STREAM=1 sends streamed requests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
N=${N:-2000}
ROUNDS=${ROUNDS:-7}
kind=()
[[ "${STREAM:-0}" == 1 ]] && kind=(--stream)
work=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap stop EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
: >"$work/mock.out"
"$BIN/mock-gemini" --listen 127.0.0.1:0 --no-validate --no-record >"$work/mock.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do url=$(sed -n 's/^mock-gemini listening on //p' "$work/mock.out"); [[ -n "$url" ]] && break; sleep 0.05; done
declare -A port pid
variants=(on bodies-off off)
for v in "${variants[@]}"; do
    port[$v]=$(free_port)
    case $v in
        on) flags=() ;;
        bodies-off) flags=(--inspector-bodies off) ;;
        off) flags=(--inspector off) ;;
    esac
    env -u POLLUX_INSPECTOR RUST_LOG=info "$BIN/pollux" --listen "127.0.0.1:${port[$v]}" --upstream "$url" \
        --api-key bench-key --workers 1 "${flags[@]}" >/dev/null 2>"$work/$v.log" &
    pid[$v]=$!
    pids+=($!)
done
for v in "${variants[@]}"; do
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/${port[$v]}") 2>/dev/null && break; sleep 0.05; done
    "$BIN/pollux-bench" --drive "127.0.0.1:${port[$v]}" "${kind[@]}" --serial 500 >/dev/null
done
# Nanoseconds on CPU, summed over the process's threads (schedstat's first field).
cpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
declare -A cpus lats
for r in $(seq "$ROUNDS"); do
    for v in "${variants[@]}"; do
        before=$(cpu "${pid[$v]}")
        out=$("$BIN/pollux-bench" --drive "127.0.0.1:${port[$v]}" "${kind[@]}" --serial "$N")
        after=$(cpu "${pid[$v]}")
        us=$(awk -v a="$after" -v b="$before" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / 1e3 / n }')
        lat=$(sed -n 's/.*p50 \([0-9.]*\) µs.*/\1/p' <<<"$out")
        cpus[$v]+="$us "
        lats[$v]+="$lat "
        echo "round $r $v: CPU $us µs/request, p50 $lat µs" >&2
    done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for v in "${variants[@]}"; do
    echo "$v: CPU per request (median of $ROUNDS) $(median <<<"${cpus[$v]}") µs, latency p50 (median) $(median <<<"${lats[$v]}") µs"
done
