#!/usr/bin/env bash
# `make test-deploy`: checks deploy/ without a cluster, a container builder or systemd running.
#   1. kubernetes-validate (PyPI, pinned in requirements.txt): every manifest in
#      deploy/kubernetes against the Kubernetes schemas, strict (unknown fields are errors), for
#      the oldest version the manifests support (1.30: preStop sleep) and the newest it knows.
#   2. check_deploy.py: the manifests and the systemd unit agree with the binary (environment
#      variables it reads, probes, ports, drain timeouts, non-root user, cited benchmarks).
#   3. hadolint (PyPI wheel with the static binary) on deploy/Dockerfile.
#   4. systemd-analyze verify and an offline `security` score for deploy/systemd/pollux.service,
#      or a message saying they were skipped when systemd-analyze is not installed.
#   5. image.py: lints the Dockerfile's shape, replays its build stage in a plain shell under
#      target/deploy-image (kept: the next run rebuilds only what changed; the first one is a
#      full release build, ~7 CPU-minutes) and runs the binary as the image would.
# Prints `deploy: N passed, N failed` and exits non-zero if any step failed.
# DEPLOY_INSTALL_ONLY=1 only installs deploy/tests/.venv (.ci/run does that first).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PYTHON=${PYTHON:-python3}
VENV="$HERE/.venv"
KUBE_VERSIONS=(1.30.0 1.37.0)

log() { printf '[deploy] %s\n' "$*" >&2; }

# The venv is rebuilt when requirements.txt changes (its hash is kept inside the venv).
want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
have=$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)
if [[ ! -x "$VENV/bin/python" || "$want" != "$have" ]]; then
    log "installing kubernetes-validate and hadolint into deploy/tests/.venv"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$HERE/requirements.txt"
    echo "$want" >"$VENV/.requirements.sha256"
fi
if [[ -n "${DEPLOY_INSTALL_ONLY:-}" ]]; then
    log "deploy test packages ready"
    exit 0
fi

cd "$ROOT"
passed=0
failed=()
step() {
    log "$1"
    if "${@:2}"; then passed=$((passed + 1)); else failed+=("$1"); fi
}

manifests=()
for f in deploy/kubernetes/*.yaml; do
    # kustomize's own file is not a Kubernetes object; check_deploy.py reads it.
    [[ $(basename "$f") == kustomization.yaml ]] || manifests+=("$f")
done
for version in "${KUBE_VERSIONS[@]}"; do
    step "kubernetes-validate --strict -k $version (${#manifests[@]} files)" \
        "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}"
done
step "manifests and unit agree with pollux (check_deploy.py)" \
    "$VENV/bin/python" "$HERE/check_deploy.py" "$ROOT"
step "hadolint deploy/Dockerfile" "$VENV/bin/hadolint" deploy/Dockerfile

systemd_checks() {
    local work status=0
    work=$(mktemp -d)
    # verify insists that ExecStart exists; the unit names the installed path.
    sed "s|^ExecStart=/usr/local/bin/pollux|ExecStart=$(command -v true)|" \
        deploy/systemd/pollux.service >"$work/pollux.service"
    systemd-analyze verify "$work/pollux.service" || status=$?
    # Exposure in tenths: 20 is 2.0, the top of systemd's "OK" band.
    systemd-analyze security --offline=true --threshold=20 --no-pager "$work/pollux.service" \
        | tail -n 1 || status=$?
    rm -rf "$work"
    return "$status"
}
if command -v systemd-analyze >/dev/null; then
    step "systemd-analyze verify and security (deploy/systemd/pollux.service)" systemd_checks
else
    log "skipped: systemd-analyze is not installed, deploy/systemd/pollux.service not verified"
fi

step "Dockerfile lint, build stage replayed in a shell, binary run as the image would" \
    "$VENV/bin/python" "$HERE/image.py" "$ROOT" --replay "$TARGET_DIR/deploy-image"

for f in "${failed[@]}"; do
    log "FAILED: $f"
done
echo "deploy: $passed passed, ${#failed[@]} failed"
[[ ${#failed[@]} -eq 0 ]]
