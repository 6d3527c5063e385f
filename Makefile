# Pollux developer commands. `make run` starts the server; `make test` runs every test.
# Needs only a Rust toolchain, python3 (3.11+, with venv/pip) and node 20 + npm.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
DEMO_PORT ?= 8080

.PHONY: help run test test-rust test-clients test-browser test-deploy fuzz fuzz-smoke demo bench bench-peers bench-instructions soak fmt lint clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

run: ## Build (release) and start pollux with default settings (see docs/configuration.md).
	$(CARGO) run --release -p pollux-server --bin pollux

# Every step runs even when an earlier one failed, so one run reports everything; the target
# fails at the end if any step did.
test: ## Every test: fmt check, clippy, cargo tests, rustdoc (warnings denied), a fuzz smoke run, the client compatibility suites, the inspector's browser tests, then the deploy/ checks.
	@ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; \
	failed=(); \
	step() { echo "==> $$*"; "$$@" || failed+=("$$*"); }; \
	step $(CARGO) fmt --all -- --check; \
	step $(CARGO) clippy --workspace --all-targets -- -D warnings; \
	step $(CARGO) test --workspace; \
	step env RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps; \
	step $(MAKE) --no-print-directory fuzz-smoke; \
	step $(MAKE) --no-print-directory test-clients; \
	step $(MAKE) --no-print-directory test-browser; \
	step $(MAKE) --no-print-directory test-deploy; \
	if (( $${#failed[@]} )); then printf 'make test: FAILED step: %s\n' "$${failed[@]}"; exit 1; fi

test-rust: ## Only the Rust tests.
	@ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; $(CARGO) test --workspace

test-clients: ## Only the client suites (openai SDKs, LangChain, Agents SDK, Vercel AI SDK against mock-gemini).
	$(CARGO) build -p pollux-server -p mock-gemini
	tests/clients/run.sh

test-browser: ## Only the inspector page's browser tests (playwright-core driving Debian's Chromium; docs/inspector.md).
	$(CARGO) build -p pollux-server -p mock-gemini
	tests/browser/run.sh

test-deploy: ## Only the deploy/ checks: Kubernetes schemas, hadolint, systemd-analyze, the Dockerfile's build replayed in a shell (docs/deployment.md).
	deploy/tests/run.sh

fuzz: ## Every cargo-fuzz target for FUZZ_SECONDS (60) each; fails on any crash, timeout or OOM (docs/fuzzing.md).
	fuzz/run.sh

fuzz-smoke: ## Each fuzz target over its seeds and regression inputs, then 5 s of fuzzing (FUZZ_SMOKE_SECONDS).
	fuzz/run.sh --smoke

demo: ## Try Pollux without a Gemini key: pollux on 127.0.0.1:8080 (DEMO_PORT) in front of mock-gemini.
	$(CARGO) build --release -p pollux-server -p mock-gemini
	@work=$$(mktemp -d); \
	target=$${CARGO_TARGET_DIR:-target}; \
	: >"$$work/mock.out"; \
	"$$target/release/mock-gemini" --listen 127.0.0.1:0 >"$$work/mock.out" & mock=$$!; \
	pollux=""; \
	stop() { kill $$mock $$pollux 2>/dev/null || true; wait $$mock $$pollux 2>/dev/null || true; rm -rf "$$work"; }; \
	trap 'stop; echo; echo "demo stopped"; exit 0' INT TERM; trap stop EXIT; \
	for _ in $$(seq 100); do url=$$(sed -n 's/^mock-gemini listening on //p' "$$work/mock.out" || true); [[ -n "$$url" ]] && break; sleep 0.1; done; \
	[[ -n "$$url" ]] || { echo "mock-gemini did not start" >&2; exit 1; }; \
	GEMINI_API_KEY=demo-key "$$target/release/pollux" --listen 127.0.0.1:$(DEMO_PORT) --upstream "$$url" & pollux=$$!; \
	for _ in $$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$(DEMO_PORT)) 2>/dev/null && break; kill -0 $$pollux 2>/dev/null || exit 1; sleep 0.1; done; \
	sleep 0.2; kill -0 $$pollux 2>/dev/null || { echo "pollux did not start (is port $(DEMO_PORT) free?)" >&2; exit 1; }; \
	echo; \
	echo "Pollux is listening on http://127.0.0.1:$(DEMO_PORT) in front of mock-gemini ($$url)."; \
	echo "The mock answers 'mock-gemini says: <your last message>'. Try:"; \
	echo; \
	echo "  curl -s http://127.0.0.1:$(DEMO_PORT)/v1/chat/completions -H 'content-type: application/json' \\"; \
	echo "    -d '{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello, Pollux!\"}]}'"; \
	echo; \
	echo "Press Ctrl-C to stop both."; \
	wait $$pollux

bench: ## End-to-end load benchmark: mock-gemini direct vs Pollux (docs/benchmarks.md); `cargo bench -p pollux-translate` for the micro-benchmarks.
	bash scripts/bench.sh

bench-peers: ## The same, with LiteLLM's proxy as a third column (installs it into target/bench-venv).
	bash scripts/bench-peers.sh

bench-instructions: ## Instructions Pollux executes per chat and per Responses request (valgrind callgrind; STREAM=1 for streams): a repeatable figure for before/after a change.
	bash scripts/instructions.sh

soak: ## 100k mixed requests through a release build (pollux-soak, in crates/bench); reports RSS drift (REQUESTS=20000 for a shorter run).
	scripts/soak.sh

fmt: ## Format the Rust code.
	$(CARGO) fmt --all

lint: ## fmt check and clippy, as `make test` runs them.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean: ## Remove build output and the client suites' installed packages.
	$(CARGO) clean
	rm -rf tests/clients/.venv tests/clients/node/node_modules tests/clients/codex/node_modules tests/browser/node_modules tests/browser/artifacts deploy/tests/.venv
