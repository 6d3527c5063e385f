#!/usr/bin/env bash
# What `--state redis://` adds to a request's latency (issue #17; docs/benchmarks.md, change 18).
# Not run in CI. Needs redis-server.
#
# Starts mock-gemini (instant answers), a redis-server of its own (no persistence) and two
# `pollux --workers 1` in front of the same mock, one with `--state redis://...` and one
# without, all on loopback ports, pinned like `make bench` pins the adapter (Pollux on core 1,
# the generator, the mock and Redis on core 0) when taskset and two cores are there. Then, in
# ROUNDS interleaved rounds, `pollux-bench --drive` sends REQUESTS requests one at a time of
# each kind (chat, Responses stored, Responses `store: false`; plain, then STREAM=1 streamed)
# to each Pollux, after WARMUP, and prints each p50. Redis's `INFO commandstats` is printed per
# kind: the Redis commands a request of that kind cost. Every process is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-2000}"
WARMUP="${WARMUP:-200}"
ROUNDS="${ROUNDS:-3}"
for tool in redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "bench-state.sh: $tool not found (apt-get install redis-server)" >&2; exit 2; }
done
source scripts/measure-lib.sh
measure_setup bench-state.sh bench-state
pin() { if [[ "$(nproc)" -ge 2 ]] && command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

redis_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
pin 0 redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.log" 2>&1 &
measure_track $!
for _ in $(seq 100); do grep -q "Ready to accept" "$out/redis.log" 2>/dev/null && break; sleep 0.1; done
redis_cmd() { redis-cli -p "$redis_port" "$@"; }

start_pollux() {  # NAME PORT [FLAGS...]
    local name=$1 p=$2
    shift 2
    RUST_LOG=warn pin 1 "$bin/pollux" --listen "127.0.0.1:$p" --upstream "$upstream" --api-key bench-key \
        --workers 1 "$@" >/dev/null 2>"$out/$name.log" &
    measure_track $!
    port=$p measure_wait_healthy
}
plain_port=$port
state_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
start_pollux pollux "$plain_port"
start_pollux pollux-state "$state_port" --state "redis://127.0.0.1:$redis_port/0"

kind=(); label=plain
if [[ "${STREAM:-0}" == 1 ]]; then kind=(--stream); label=streamed; fi
apis=(chat responses responses-unstored)
drive() { pin 0 "$bin/pollux-bench" --drive "127.0.0.1:$1" --api "$2" "${kind[@]}" --serial "$3"; }
for api in "${apis[@]}"; do
    drive "$plain_port" "$api" "$WARMUP" >/dev/null
    drive "$state_port" "$api" "$WARMUP" >/dev/null
done
echo "$label requests, $REQUESTS per kind and round, one at a time; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for api in "${apis[@]}"; do
        a="$(drive "$plain_port" "$api" "$REQUESTS" | sed -n 's/.*p50 \(.*\)$/\1/p')"
        redis_cmd CONFIG RESETSTAT >/dev/null
        b="$(drive "$state_port" "$api" "$REQUESTS" | sed -n 's/.*p50 \(.*\)$/\1/p')"
        calls="$(redis_cmd INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([a-z]*\):calls=\([0-9]*\),.*/\1=\2/p' | grep -v '^info=' | tr '\n' ' ' || true)"
        echo "round $round $api: without --state p50 $a, with --state redis p50 $b; Redis commands: ${calls:-none}"
    done
done
