#!/usr/bin/env bash
# Client compatibility suites: real, unmodified client libraries driving Pollux, with
# mock-gemini scripted per test as the upstream. Python (one pytest run, python/): the openai SDK,
# LangChain's langchain-openai (test_langchain*.py; test_langchain_replicas.py starts three
# replicas sharing a redis-server behind nginx of its own), the OpenAI Agents SDK (test_agents*.py),
# pydantic-ai (test_pydantic_ai.py); chat and the Responses API (test_*responses.py).
# Node (node/): the openai SDK (test/), the Vercel AI SDK (ai-sdk/: @ai-sdk/openai-compatible on
# chat, @ai-sdk/openai on the Responses API); its chat, tools and streaming tests run a second
# time against the Vertex-mode Pollux (POLLUX_UPSTREAM=vertex). Codex (codex/): the OpenAI Codex CLI's
# `codex exec` agent loop on /v1/responses, its own package-lock.json because the package
# ships a ~300 MB native binary.
#
# Starts on ephemeral loopback ports:
#   - mock-gemini                       (MOCK_URL)
#   - pollux with GEMINI_API_KEY set    (POLLUX_URL)          the usual deployment; may fetch
#                                                             images from 127.0.0.1; no retries
#   - pollux without a key              (POLLUX_NOKEY_URL)    client bearer forwarded to Gemini;
#                                                             default SSRF guard and retries
#   - pollux --upstream vertex          (POLLUX_VERTEX_URL)   Vertex AI paths, OAuth tokens from
#                                                             the mock's metadata-server stand-in
# runs each suite against them, stops them by PID on exit, prints one summary line per client
# and a closing `N passed, N failed` line, and exits non-zero on any failure.
#
# Uses target/debug/{pollux,mock-gemini} when they exist (`make test` has just built them) and
# runs `cargo build -p pollux-server -p mock-gemini` only when they do not. Override with
# POLLUX_BIN / MOCK_BIN. Select suites with CLIENTS="python node codex" (default: all three).
# Extra arguments are passed to pytest (e.g. `-k stream -x`). CLIENTS_INSTALL_ONLY=1 only
# installs the client packages (.ci/run does that first). CLIENTS_KEEP_LOGS=1 keeps the
# server logs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
POLLUX_BIN=${POLLUX_BIN:-$TARGET_DIR/debug/pollux}
MOCK_BIN=${MOCK_BIN:-$TARGET_DIR/debug/mock-gemini}
CLIENTS=${CLIENTS:-python node codex}
PYTHON=${PYTHON:-python3}
VENV="$HERE/.venv"

log() { printf '[clients] %s\n' "$*" >&2; }

# --- client dependencies ----------------------------------------------------------------------
# The venv is rebuilt when requirements.txt changes (its hash is kept inside the venv).
ensure_venv() {
    local want have=""
    want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
    [[ -f "$VENV/.requirements.sha256" ]] && have=$(cat "$VENV/.requirements.sha256")
    if [[ ! -x "$VENV/bin/python" || "$want" != "$have" ]]; then
        log "installing Python client packages into tests/clients/.venv"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            -r "$HERE/requirements.txt"
        echo "$want" >"$VENV/.requirements.sha256"
    fi
}

# DIR/node_modules is reinstalled (npm ci) when DIR/package-lock.json changes.
ensure_node_modules() {
    local dir="$HERE/$1" want have=""
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    [[ -f "$dir/node_modules/.lock.sha256" ]] && have=$(cat "$dir/node_modules/.lock.sha256")
    if [[ ! -d "$dir/node_modules" || "$want" != "$have" ]]; then
        log "installing Node client packages in tests/clients/$1 (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
        echo "$want" >"$dir/node_modules/.lock.sha256"
    fi
}

for client in $CLIENTS; do
    case $client in
        python) ensure_venv ;;
        node) ensure_node_modules node ;;
        codex) ensure_node_modules codex ;;
        *) log "unknown client '$client' in CLIENTS"; exit 2 ;;
    esac
done
if [[ -n "${CLIENTS_INSTALL_ONLY:-}" ]]; then
    log "client packages ready"
    exit 0
fi

# --- binaries -------------------------------------------------------------------------------
if [[ ! -x "$POLLUX_BIN" || ! -x "$MOCK_BIN" ]]; then
    log "building pollux and mock-gemini (debug)"
    (cd "$ROOT" && cargo build -p pollux-server -p mock-gemini)
fi


# --- servers ----------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pollux-clients.XXXXXX")
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 ]]; then
        for f in "$WORK"/*.log; do
            [[ -s "$f" ]] || continue
            log "--- last lines of $(basename "$f") ---"
            tail -n 30 "$f" >&2
        done
    fi
    if [[ -n "${CLIENTS_KEEP_LOGS:-}" ]]; then
        log "server logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PID PORT NAME: until 127.0.0.1:PORT accepts a connection (10 s at most).
wait_for_port() {
    local pid=$1 port=$2 name=$3
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it listened"
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    log "$name did not listen on 127.0.0.1:$port within 10 s"
    return 1
}

# mock-gemini picks its own port and prints it. The file exists before the mock starts: the
# redirection happens in the background child, possibly after the first read below.
: >"$WORK/mock-gemini.out"
"$MOCK_BIN" --listen 127.0.0.1:0 >"$WORK/mock-gemini.out" 2>"$WORK/mock-gemini.log" &
PIDS+=($!)
MOCK_PID=$!
MOCK_URL=""
for _ in $(seq 1 200); do
    MOCK_URL=$(sed -n 's/^mock-gemini listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$WORK/mock-gemini.out" || true)
    [[ -n "$MOCK_URL" ]] && break
    kill -0 "$MOCK_PID" 2>/dev/null || { log "mock-gemini exited"; exit 1; }
    sleep 0.05
done
[[ -n "$MOCK_URL" ]] || { log "mock-gemini printed no address"; exit 1; }

# start_pollux NAME KEY [FLAG...]: sets STARTED_URL. KEY empty means "no GEMINI_API_KEY"
# (bearer forwarding). Not called in $(...): the PID must reach PIDS in this shell. Settings
# from the caller's environment (POLLUX_*, GEMINI_*) are not inherited.
start_pollux() {
    local name=$1 key=$2 port pid
    shift 2
    port=$(free_port)
    local -a clean_env=(env)
    while IFS='=' read -r var _; do
        clean_env+=(-u "$var")
    done < <(env | grep -E '^(POLLUX|GEMINI|GOOGLE|CLOUDSDK|VERTEX)_[A-Z_]*=|^GCE_METADATA_HOST=' || true)
    if [[ -n "$key" ]]; then
        clean_env+=(GEMINI_API_KEY="$key")
    fi
    # Retries off: each test scripts exactly the upstream answers it expects.
    "${clean_env[@]}" RUST_LOG="${RUST_LOG:-info}" \
        "$POLLUX_BIN" --listen "127.0.0.1:$port" --upstream "${CLIENTS_UPSTREAM:-$MOCK_URL}" "$@" >"$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for_port "$pid" "$port" "$name"
    STARTED_URL="http://127.0.0.1:$port"
}

# The keyed Pollux may fetch image URLs from loopback (the tests serve images on 127.0.0.1) and
# does not retry upstream failures, so that each error test scripts exactly one failure. The
# other keeps the defaults: the SSRF guard refuses loopback, failures are retried.
start_pollux pollux test-key --media-allow-hosts 127.0.0.1 --max-retries 0
POLLUX_BASE=$STARTED_URL
start_pollux pollux-nokey ""
POLLUX_NOKEY_BASE=$STARTED_URL
# Vertex AI mode: a project, no credentials file, so tokens come from the "metadata server",
# which the mock stands in for (it accepts the tokens it issues).
MOCK_HOSTPORT=${MOCK_URL#http://}
CLIENTS_UPSTREAM=vertex start_pollux pollux-vertex "" --vertex-project proj-1 \
    --vertex-location us-central1 --vertex-base-url "$MOCK_URL" \
    --gce-metadata-host "$MOCK_HOSTPORT" --gcloud-config-dir "$WORK/no-gcloud" --max-retries 0
POLLUX_VERTEX_BASE=$STARTED_URL
export MOCK_URL
# test_langchain_replicas.py starts replicas of its own (with redis-server and nginx).
export POLLUX_BIN
export POLLUX_URL="$POLLUX_BASE/v1"
export POLLUX_NOKEY_URL="$POLLUX_NOKEY_BASE/v1"
export POLLUX_VERTEX_URL="$POLLUX_VERTEX_BASE/v1"
# The SDKs must never reach a real endpoint, whatever the caller's environment says.
export OPENAI_API_KEY=unused-by-tests OPENAI_BASE_URL="$POLLUX_URL"
unset OPENAI_ORG_ID OPENAI_PROJECT_ID HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
# Nor may the frameworks export traces anywhere (the tests disable them too).
unset LANGSMITH_API_KEY LANGCHAIN_API_KEY LANGSMITH_ENDPOINT LANGCHAIN_ENDPOINT
export LANGSMITH_TRACING=false LANGCHAIN_TRACING_V2=false OPENAI_AGENTS_DISABLE_TRACING=1
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
log "mock-gemini $MOCK_URL, pollux $POLLUX_BASE, pollux (no key) $POLLUX_NOKEY_BASE"

# --- suites -----------------------------------------------------------------------------------
TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0
SUMMARY=()

# record NAME PASSED FAILED SKIPPED XFAILED EXIT: a suite that failed without counting a
# failure (it crashed, or ran nothing) counts as one failure. Expected failures (tests of known
# Pollux bugs, marked xfail) count as skipped in the closing line.
record() {
    local name=$1 passed=$2 failed=$3 skipped=$4 xfailed=$5 status=$6
    if [[ $status -ne 0 && $failed -eq 0 ]]; then
        failed=1
    fi
    if [[ $((passed + failed)) -eq 0 ]]; then
        log "$name ran no test"
        failed=1
    fi
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped + xfailed))
    SUMMARY+=("$(printf '%-32s %3s passed, %s failed, %s skipped, %s expected failures' \
        "$name" "$passed" "$failed" "$skipped" "$xfailed")")
}

# One pytest run drives every Python client; conftest.py writes one line per client to
# $CLIENT_COUNTS: `name version passed failed skipped xfailed`.
run_python() {
    local status=0 name version passed failed skipped xfailed counted=0
    log "python clients: $("$VENV/bin/python" -m pip freeze 2>/dev/null |
        grep -E '^(openai|langchain-openai|openai-agents|pydantic-ai-slim)==' | tr '\n' ' ')"
    (cd "$HERE/python" && CLIENT_COUNTS="$WORK/python.counts" \
        "$VENV/bin/python" -m pytest -p no:cacheprovider "$@") || status=$?
    # pytest exits 5 when it collected nothing and 2-4 when it could not run: with no failure
    # counted for any client, record charges that status to the first line.
    if [[ -f "$WORK/python.counts" ]]; then
        while read -r name version passed failed skipped xfailed; do
            counted=$((counted + failed))
            # Extra pytest arguments (-k ...) may select no test of a client: not a failure.
            if [[ $# -gt 0 && $((passed + failed + skipped + xfailed)) -eq 0 ]]; then
                continue
            fi
            if [[ $counted -eq 0 && $status -ne 0 && $status -ne 1 ]]; then
                record "python $name $version" "$passed" "$failed" "$skipped" "$xfailed" "$status"
                counted=1
            else
                record "python $name $version" "$passed" "$failed" "$skipped" "$xfailed" 0
            fi
        done <"$WORK/python.counts"
    fi
    if [[ $counted -eq 0 && $status -ne 0 ]]; then
        record "python (pytest exit $status)" 0 0 0 0 "$status"
    fi
}

# run_node_suite NAME PACKAGE DIR [BASE [FILE...]]: one `node --test` run of BASE/DIR/*.test.mjs
# (BASE defaults to node; FILEs, when given, are the test files of DIR to run), summarised as
# "BASE NAME VERSION" with PACKAGE's installed version.
run_node_suite() {
    local name=$1 package=$2 dir=$3 base=${4:-node} version status=0 out passed failed skipped todo
    shift $(($# < 4 ? $# : 4))
    local -a files=("${@/#/$dir/}")
    out="$WORK/$base-${package//\//_}-${name//[^a-zA-Z0-9]/_}.out"
    version=$(cd "$HERE/$base" && node -p "require('./node_modules/$package/package.json').version")
    log "$base $name $version"
    # The glob is expanded in BASE, where the files are.
    (cd "$HERE/$base" || exit 1
        if [[ ${#files[@]} -eq 0 ]]; then files=("$dir"/*.test.mjs); fi
        node --test --test-concurrency=1 --test-reporter=spec "${files[@]}") \
        2>&1 | tee "$out" || status=$?
    # The spec reporter closes with lines like "ℹ pass 9", "ℹ fail 0", "ℹ skipped 0"; tests
    # marked todo (known Pollux bugs) count as expected failures.
    passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -n1)
    failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -n1)
    skipped=$(sed -n 's/^ℹ skipped \([0-9]*\)$/\1/p' "$out" | tail -n1)
    todo=$(sed -n 's/^ℹ todo \([0-9]*\)$/\1/p' "$out" | tail -n1)
    record "$base $name $version" "${passed:-0}" "${failed:-0}" "${skipped:-0}" "${todo:-0}" "$status"
}

run_node() {
    run_node_suite openai openai test
    # The chat, tools and streaming tests once more, against the Vertex-mode Pollux.
    POLLUX_URL="$POLLUX_VERTEX_URL" POLLUX_UPSTREAM=vertex run_node_suite "openai (vertex)" \
        openai test node chat.test.mjs tools.test.mjs streaming.test.mjs
    run_node_suite "ai (Vercel)" ai ai-sdk
}

for client in $CLIENTS; do
    case $client in
        python) run_python "$@" ;;
        node) run_node ;;
        codex) run_node_suite "CLI" @openai/codex test codex ;;
    esac
done

echo
echo "client compatibility summary:"
for line in "${SUMMARY[@]}"; do
    echo "  $line"
done
if [[ $TOTAL_SKIPPED -gt 0 ]]; then
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
else
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
fi
[[ $TOTAL_FAILED -eq 0 ]]
