#!/usr/bin/env bash
# How many copies of a 10 MiB inline image a fresh Pollux holds at its peak: starts
# mock-gemini and `pollux --workers 1` (loopback, ephemeral ports), warms Pollux up with a few
# small requests, reads its peak resident memory (VmHWM), posts one chat request carrying a
# 10 MiB base64 data URL, reads VmHWM again and prints the growth as a multiple of the payload.
# Issue #6's target is about 2 copies. Not run in CI; stops both processes by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${MIB:-10}"
source scripts/measure-lib.sh
measure_setup image-peak.sh image-peak
"${POLLUX_BIN:-$bin/pollux}" --listen "127.0.0.1:$port" --upstream "$upstream" --api-key bench-key \
    --workers 1 >/dev/null 2>"$out/pollux.log" &
pollux=$!
measure_track "$pollux"
measure_wait_healthy

python3 - "$port" "$pollux" "$MIB" <<'PY'
import base64, json, os, sys, urllib.request
port, pid, mib = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def hwm_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
def post(body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200, r.status
        r.read()
small = json.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}).encode()
for _ in range(20):
    post(small)
b64 = base64.b64encode(os.urandom(mib * 1024 * 1024 * 3 // 4)).decode()
body = json.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64}}]}]}).encode()
before = hwm_kb()
post(body)
after = hwm_kb()
grew = (after - before) * 1024
print(f"payload {len(b64) / 2**20:.1f} MiB of base64; VmHWM {before / 1024:.1f} -> {after / 1024:.1f} MiB; "
      f"peak growth {grew / 2**20:.1f} MiB = {grew / len(b64):.2f} copies")
PY
