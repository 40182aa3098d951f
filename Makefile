# tollgate developer commands (GNU make). `make help` lists them.
#
# Prerequisites on a fresh Debian machine: the Rust toolchain, python3 and pip (test tools:
# moto, localstripe, cfn-lint and schemathesis go into ./.venv, created by scripts/setup-test-tools.sh).
# For the AWS targets and `make bench` also:
#   cargo-lambda:  pip install cargo-lambda   (PyPI; brings its own zig linker)
#   aws-sam-cli:   pip install aws-sam-cli    (best in its own virtualenv)

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every Lambda binary of the workspace (= the SAM Metadata.BuildProperties.Binary values).
# Each needs its package's `lambda` feature (required-features), which brings the runtime and
# the AWS clients its main.rs uses. Built together, the features unify; each binary still links
# only the clients its main.rs calls.
LAMBDA_BINS := auth account api-keys public gateway usage-worker admin admin-billing admin-jobs usage billing stripe-webhook webhook-worker notifications-worker scheduler
LAMBDA_BIN_FLAGS := --features lambda $(foreach bin,$(LAMBDA_BINS),--bin $(bin))

# The test tools (moto_server, cfn-lint, and a python3 that can import moto) come first on
# PATH, so the Rust tests that spawn `python3 scripts/moto_single.py` use the venv.
VENV_PATH := PATH="$(CURDIR)/.venv/bin:$$PATH"

.PHONY: help run dashboard test-dashboard stripe-fake test bench lint build-lambda sam-build deploy deploy-dashboard clean-data

help:
	@echo "make run           run the whole platform as one local process (SQLite in ./data), the dashboard at /"
	@echo "make dashboard     build the dashboard SPA (dashboard/dist: npm ci, npm run build)"
	@echo "make test-dashboard  the dashboard's tests only: eslint, tsc, vitest, build, end to end in headless Chromium"
	@echo "make stripe-fake   a stateful fake of the Stripe API on 127.0.0.1:12111 (tools/stripe-fake/README.md)"
	@echo "make test          install test tools into .venv, cargo test, cfn-lint, bench --quick, walk-through,"
	@echo "                   OpenAPI fuzz (schemathesis), the dashboard's tests, lint"
	@echo "make bench         the benchmark (Lambda binaries: release; server: server profile); numbers in BENCHMARKS.md"
	@echo "make lint          cargo fmt --check and clippy -D warnings"
	@echo "make build-lambda  cargo lambda build --release for each Lambda binary"
	@echo "make sam-build     sam build --beta-features (output in .aws-sam/)"
	@echo "make deploy        sam-build, sam deploy (settings in samconfig.toml), then deploy-dashboard"
	@echo "make deploy-dashboard  build the dashboard if needed, upload it to the stack's bucket, invalidate CloudFront"
	@echo "make clean-data    delete ./data (the local server's database, outbox, secrets)"

# The server reads PORT, DATA_DIR, ADMIN_EMAIL and ADMIN_PASSWORD from the environment;
# make passes its environment through to recipes, so e.g.
#   PORT=8080 ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=... make run
# The server serves the dashboard from dashboard/dist (DASHBOARD_DIR), built first if missing.
run:
	@[ -f "$${DASHBOARD_DIR:-dashboard/dist}/index.html" ] || $(MAKE) --no-print-directory dashboard
	cargo run -p tollgate-local --bin tollgate

dashboard:
	@echo "==> building the dashboard (dashboard/dist)"
	cd dashboard && npm ci --no-audit --no-fund && npm run build

test-dashboard:
	@bash scripts/test-dashboard.sh

# The Stripe fake for local development: STRIPE_FAKE_PORT (12111), STRIPE_FAKE_WEBHOOK_URL
# (http://127.0.0.1:3000/api/stripe/webhook; empty: do not post), STRIPE_WEBHOOK_SECRET.
stripe-fake:
	cargo run -p stripe-fake

test:
	@echo "==> test tools (.venv: moto[server], localstripe, cfn-lint, schemathesis)"
	@bash scripts/setup-test-tools.sh
	@echo "==> cargo test --workspace --locked"
	$(VENV_PATH) cargo test --workspace --locked
	@echo "==> cfn-lint template.yaml"
	$(VENV_PATH) cfn-lint template.yaml
	@echo "==> the benchmark still runs (debug build, --quick; real numbers: make bench)"
	cargo build --locked -q $(LAMBDA_BIN_FLAGS)
	cargo build --locked -q -p tollgate-local --bin tollgate
	$(VENV_PATH) cargo run --locked -q -p tollgate-tests --bin bench -- --quick --cold-start --debug-binaries > /dev/null
	@echo "==> README walk-through against the real server binary"
	@bash scripts/e2e-walkthrough.sh
	@echo "==> the OpenAPI document against the real server binary (schemathesis, fixed seed)"
	@bash scripts/fuzz-openapi.sh
	@echo "==> the dashboard: eslint, tsc, vitest, build, end to end in headless Chromium against the real binary"
	@bash scripts/test-dashboard.sh
	@$(MAKE) --no-print-directory lint
	@echo "==> all tests passed"

# The benchmark: gateway overhead vs the upstream, /api/v1/track batch ingestion beside it,
# store round trips per call, usage worker throughput, DynamoDB calls per call (moto from
# .venv), and each Lambda binary's size and cold-start init. The Lambda binaries are built as
# deployed, by cargo-lambda (release profile: size; generic x86-64, see
# [workspace.metadata.lambda.build] in Cargo.toml, and zig's linker; the
# bench reads target/lambda/<name>/bootstrap, the file `sam build` copies); the benchmark,
# which runs the single-process server, with the `server` profile (speed), as that server
# is built. Numbers: BENCHMARKS.md.
bench:
	@bash scripts/setup-test-tools.sh
	cargo lambda build --release --locked $(LAMBDA_BIN_FLAGS)
	cargo build --profile server --locked -p tollgate-local --bin tollgate
	$(VENV_PATH) cargo run --profile server --locked -p tollgate-tests --bin bench -- --dynamodb --cold-start

lint:
	@echo "==> cargo fmt --check"
	cargo fmt --all -- --check
	@echo "==> cargo clippy"
	cargo clippy --workspace --all-targets --locked -- -D warnings
	@echo "==> shell scripts: no pipe into head (with pipefail, head exiting first kills the writer: exit 141)"
	@! grep -nE '\|[[:space:]]*head([[:space:]]|$$)' .ci/run scripts/*.sh

# Binaries land in target/lambda/<name>/bootstrap (x86_64, glibc 2.30 via zig).
build-lambda:
	@set -e; for bin in $(LAMBDA_BINS); do \
		echo "==> cargo lambda build --release --features lambda --bin $$bin"; \
		cargo lambda build --release --features lambda --bin $$bin; \
	done

sam-build:
	sam build --beta-features

# Always deploy a fresh build: without .aws-sam/build, `sam deploy` would upload the
# whole workspace (CodeUri: .) as each function's code.
# Then the dashboard: built if missing or older than its sources, uploaded to the stack's
# bucket, /index.html invalidated on CloudFront (scripts/deploy-dashboard.sh; the stack is
# STACK_NAME, default tollgate as in samconfig.toml; it needs the AWS CLI).
deploy: sam-build
	sam deploy
	bash scripts/deploy-dashboard.sh

deploy-dashboard:
	bash scripts/deploy-dashboard.sh

clean-data:
	rm -rf ./data
