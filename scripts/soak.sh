#!/usr/bin/env bash
# Soak test (not in CI): REQUESTS mixed requests (default 100000) through a release `pollux`
# in front of mock-gemini; reports pollux's RSS after warm-up and at the end, and fails if a
# request failed unexpectedly or a stream / upstream slot was left open.
# See docs/operations.md ("Soak test").
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-100000}"
cargo build --release -p pollux-server --bin pollux -p pollux-bench --bin pollux-soak
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "$target_dir/release/pollux-soak" "$target_dir/release/pollux" "$REQUESTS"
