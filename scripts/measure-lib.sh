# Shared by scripts/instructions.sh and scripts/image-peak.sh (sourced, not run): release
# binaries, a mock-gemini upstream on an ephemeral loopback port, a free port for Pollux, and
# every started process stopped by PID when the script exits.
#
# measure_setup NAME OUTDIR-NAME: builds, sets $bin (release binaries; MEASURE_PROFILE=debug
#   for the debug ones) and $out (a fresh
#   target/OUTDIR-NAME), starts the mock and sets $upstream and $port.
# measure_track PID: stop PID on exit too.
# measure_wait_healthy: waits until the Pollux on $port answers /healthz.

measure_pids=()
measure_cleanup() {
    for p in "${measure_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap measure_cleanup EXIT

measure_track() { measure_pids+=("$1"); }

measure_setup() {
    local name="$1" dir="$2" target_dir
    # MEASURE_PROFILE=debug measures the debug build (when a release build does not fit).
    if [[ "${MEASURE_PROFILE:-release}" == debug ]]; then
        cargo build -p pollux-server -p mock-gemini -p pollux-bench
    else
        cargo build --release -p pollux-server -p mock-gemini -p pollux-bench
    fi
    target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    bin="$target_dir/${MEASURE_PROFILE:-release}"
    out="$target_dir/$dir"
    rm -rf "$out" && mkdir -p "$out"
    "$bin/mock-gemini" --listen 127.0.0.1:0 --no-validate --no-record >"$out/mock.out" 2>"$out/mock.log" &
    measure_track $!
    for _ in $(seq 100); do grep -q "http://" "$out/mock.out" 2>/dev/null && break; sleep 0.1; done
    upstream="$(grep -o 'http://[0-9.:]*' "$out/mock.out" | head -1)"
    [ -n "$upstream" ] || { echo "$name: mock-gemini did not start" >&2; exit 1; }
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
}

measure_wait_healthy() {
    for _ in $(seq 300); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
        sleep 0.1
    done
    echo "Pollux did not answer on port $port" >&2
    exit 1
}
