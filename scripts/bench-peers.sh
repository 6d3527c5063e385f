#!/usr/bin/env bash
# scripts/bench.sh plus LiteLLM's proxy as a third column (not run in CI). Installs LiteLLM
# from PyPI into target/bench-venv on first use. Its `litellm[proxy]` extra pins a package the
# registry does not carry, so the `litellm` wheel (which contains the proxy server) is installed
# with the extra's runtime dependencies named one by one. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
LITELLM_VERSION="${LITELLM_VERSION:-1.110.2}"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
venv="$target_dir/bench-venv"
if ! "$venv/bin/python" -c "import litellm.proxy.proxy_server" >/dev/null 2>&1 \
    || [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$LITELLM_VERSION" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "litellm==$LITELLM_VERSION" \
    uvicorn uvloop gunicorn 'fastapi>=0.136.3' 'starlette>=1.0.1' orjson pyyaml backoff \
    apscheduler rq python-multipart email-validator cryptography pyjwt pynacl websockets \
    fastapi-sso 'rich<14' semver expression 'mcp>=2.3.0' soundfile \
    litellm-proxy-extras litellm-enterprise
  # Fails here, not in the middle of a benchmark, if a dependency is still missing.
  "$venv/bin/python" -c "import litellm.proxy.proxy_server"
fi
exec bash scripts/bench.sh --litellm "$venv/bin/litellm" "$@"
