#!/usr/bin/env bash
# End-to-end load benchmark (not run in CI): builds release binaries, then `pollux-bench`
# starts mock-gemini and pollux (one worker, pinned to core 1), runs the same load against the
# mock directly and through Pollux, prints the figures side by side and stops every process it
# started. Extra arguments go to pollux-bench (`--quick`, `--rate 2000`, `--streams 1000`, ...;
# see `pollux-bench --help`). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Thousands of open streams need thousands of sockets: take the hard limit (the server itself
# never raises OS limits).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -p pollux-server -p mock-gemini -p pollux-bench
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "$target_dir/release/pollux-bench" --log-dir "$target_dir/bench-logs" "$@"
