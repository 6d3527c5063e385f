#!/usr/bin/env bash
# Runs the cargo-fuzz targets (docs/fuzzing.md) and prints one summary line per target.
#
#   fuzz/run.sh [--smoke] [target...]
#
# Default: every target for FUZZ_SECONDS (60) each on its corpus (fuzz/seed.sh builds it).
# --smoke: what `make test` runs: every seed and regression input once, then FUZZ_SMOKE_SECONDS
# (5) of fuzzing from a fixed seed. Fails when any target crashes, panics, overflows its
# stack, times out on one input (FUZZ_TIMEOUT, 10 s) or goes past FUZZ_RSS_MB (2048); the
# input is saved under fuzz/artifacts/<target>/ and the line says how to replay it.
set -euo pipefail
shopt -s nullglob
fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz/.."

CARGO_FUZZ_VERSION=0.13.2
toolchain=${FUZZ_TOOLCHAIN:-nightly}
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
sanitizer=${FUZZ_SANITIZER:-address}
# Its own target dir: nightly sanitizer builds share nothing with the stable CARGO_TARGET_DIR.
target_dir=${FUZZ_TARGET_DIR:-$fuzz/target}
smoke=0
if [[ "${1:-}" == --smoke ]]; then
    smoke=1
    seconds=${FUZZ_SMOKE_SECONDS:-5}
    shift
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(chat_request chat_translate sse_decoder stream_translate schema_json schema_legacy v1beta_filter)
fi

# Longest input per target: a little above the largest seed, so work grows with structure
# (nesting, `$ref` fan-out) rather than with sheer size.
max_len() {
    case $1 in
        chat_request | chat_translate | stream_translate) echo 8192 ;;
        sse_decoder | schema_json | schema_legacy) echo 4096 ;;
        *) echo 1024 ;;
    esac
}

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
    echo "fuzz: the $toolchain toolchain is missing: rustup toolchain install $toolchain --profile minimal" >&2
    exit 1
fi
if [[ "$(cargo "+$toolchain" fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: cargo-fuzz $CARGO_FUZZ_VERSION is missing: cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked" >&2
    exit 1
fi

"$fuzz/seed.sh" >/dev/null
features=()
[[ -n "${FUZZ_FEATURES:-}" ]] && features=(--features "$FUZZ_FEATURES")
# -a: debug assertions (integer overflow, slice bounds in debug_assert!s) stay on.
if ! env -u CARGO_TARGET_DIR cargo "+$toolchain" fuzz build -O -a -s "$sanitizer" \
    --target-dir "$target_dir" "${features[@]}" >"$fuzz/build.log" 2>&1; then
    cat "$fuzz/build.log" >&2
    echo "fuzz: FAILED: cargo fuzz build" >&2
    exit 1
fi
host=$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$host/release"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
for t in "${targets[@]}"; do
    if [[ ! -x "$bin_dir/$t" ]]; then
        printf 'fuzz %-17s FAILED: not built (fuzz/build.log)\n' "$t"
        failed+=("$t")
        continue
    fi
    mkdir -p "$fuzz/artifacts/$t"
    args=(-dict="$fuzz/dict/json.dict" -max_len="$(max_len "$t")" -timeout="$timeout"
        -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -max_total_time="$seconds"
        -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/")
    ((smoke)) && args+=(-seed=1)
    log="$logs/$t.log"
    rc=0
    # Regression inputs are replayed whole first: in the corpus, libFuzzer would cut the ones
    # longer than -max_len.
    regressions=("$fuzz/regressions/$t"/*)
    if ((${#regressions[@]})); then
        "$bin_dir/$t" -timeout="$timeout" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
            "${regressions[@]}" >"$log" 2>&1 || rc=$?
        if ((rc)); then
            failed+=("$t")
            input=$(grep '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')
            printf 'fuzz %-17s FAILED on regression input %s\n' "$t" "${input#"$PWD"/}"
            printf '     replay: %s %s\n' "$bin_dir/$t" "$input"
            grep -m1 -B2 -A12 -E 'panicked at|ERROR: ' "$log" | sed 's/^/     | /'
            continue
        fi
    fi
    "$bin_dir/$t" "${args[@]}" "$fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "$fuzz/corpus/$t" -type f | wc -l)
    if ((rc == 0)); then
        printf 'fuzz %-17s ok: %s runs in %s s (%s/s), corpus %s\n' \
            "$t" "${runs:-?}" "$seconds" "${rate:-?}" "$corpus"
        continue
    fi
    failed+=("$t")
    kind=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer): [a-z-]+( [a-z-]+)?' "$log" |
        sed 's/^ERROR: [A-Za-z]*: //' || true)
    grep -q 'panicked at' "$log" && kind="panic: $(grep -m1 -A1 'panicked at' "$log" | tail -n 1)"
    input=$(grep -m1 -oE 'Test unit written to [^ ]+' "$log" | sed 's/^Test unit written to //' || true)
    printf 'fuzz %-17s FAILED (%s) after %s runs; input: %s\n' \
        "$t" "${kind:-exit $rc}" "${runs:-?}" "${input:-none}"
    printf '     replay: %s %s\n' "$bin_dir/$t" "${input:-<input>}"
    grep -m1 -B2 -A12 -E 'panicked at|ERROR: ' "$log" | sed 's/^/     | /'
done
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
