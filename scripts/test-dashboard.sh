#!/usr/bin/env bash
# The dashboard's tests: npm ci, ESLint, tsc --noEmit, Vitest, the production build (with its
# size budget), then the end-to-end run in headless Chromium against the real `tollgate`
# binary (debug build) serving that build, with the Stripe fake, on free ports and a fresh
# data directory (as scripts/e2e-walkthrough.sh starts them). Screenshots: target/dashboard-e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
bash scripts/setup-dashboard.sh
(
  cd dashboard
  echo "==> dashboard: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "==> dashboard: eslint"
  npx eslint . --max-warnings 0
  echo "==> dashboard: tsc --noEmit"
  npx tsc --noEmit
  echo "==> dashboard: vitest"
  npx vitest run
  echo "==> dashboard: vite build"
  npx vite build
  node scripts/check-size.mjs
)
echo "==> dashboard: end to end in headless Chromium"
source scripts/tollgate-server.sh
cargo build --locked -q -p tollgate-local --bin tollgate -p stripe-fake --bin stripe-fake
data=$(mktemp -d)
pid="" stripe_pid=""
stop() { [[ -z "$1" ]] || { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }; }
cleanup() { stop "$pid"; stop "$stripe_pid"; rm -rf "$data"; }
trap cleanup EXIT
export DASHBOARD_DIR="$root/dashboard/dist"
start_stripe_fake "$data/stripe-fake.log"
start_tollgate "$data" "$data/server.log"
# The committed API types are those of this server's OpenAPI document.
node dashboard/scripts/gen-api.mjs --check "$base/api/openapi.json"
if ! CHROMIUM="${CHROMIUM:-$(command -v chromium)}" BASE="$base" DATA_DIR="$data" ARTIFACTS="$root/target/dashboard-e2e" \
  timeout 900 node dashboard/e2e/run.mjs; then
  echo "--- server log (tail)" >&2
  tail -n 40 "$data/server.log" >&2
  exit 1
fi
# No secret reached the server's logs during the browser run.
if grep -Eq 'sk_live_|correct-horse-42|another-horse-43|admin-pass-123' "$data/server.log"; then echo "a secret reached the logs" >&2; exit 1; fi
echo "dashboard tests: OK in $(( $(date +%s) - started )) s"
