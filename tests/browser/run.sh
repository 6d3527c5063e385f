#!/usr/bin/env bash
# Browser tests of the inspector page (docs/inspector.md): playwright-core driving Debian's
# Chromium headless (/usr/bin/chromium, or CHROMIUM=...). The test starts its own mock-gemini
# and pollux on ephemeral loopback ports (target/debug binaries, or POLLUX_BIN / MOCK_BIN) and
# stops them by PID. Screenshots land in tests/browser/artifacts/. BROWSER_INSTALL_ONLY=1
# only installs the npm packages (.ci/run does that first).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log() { printf '[browser] %s\n' "$*" >&2; }

# node_modules is reinstalled (npm ci) when package-lock.json changes.
want=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
have=""
[[ -f "$HERE/node_modules/.lock.sha256" ]] && have=$(cat "$HERE/node_modules/.lock.sha256")
if [[ ! -d "$HERE/node_modules" || "$want" != "$have" ]]; then
    log "installing playwright-core and openai in tests/browser (npm ci)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$HERE/node_modules/.lock.sha256"
fi
if [[ -n "${BROWSER_INSTALL_ONLY:-}" ]]; then
    exit 0
fi

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x "$CHROMIUM" ]]; then
    log "no Chromium at $CHROMIUM: apt-get install chromium (.ci/run does)"
    exit 1
fi
if [[ ! -x "$TARGET_DIR/debug/pollux" || ! -x "$TARGET_DIR/debug/mock-gemini" ]]; then
    log "building pollux and mock-gemini (debug)"
    (cd "$ROOT" && cargo build -p pollux-server -p mock-gemini)
fi
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export CARGO_TARGET_DIR="$TARGET_DIR" CHROMIUM
cd "$HERE"
node --test --test-concurrency=1 inspector.test.mjs
