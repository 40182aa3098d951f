#!/usr/bin/env bash
# Starts the Stripe fake and the real `tollgate` binary (billing through the fake) on free
# loopback ports with a fresh data directory, runs the README walk-throughs against it (the
# API, then billing), checks first-start admin creation, and stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tollgate-server.sh
cargo build --locked -q -p tollgate-local --bin tollgate -p stripe-fake --bin stripe-fake
data=$(mktemp -d)
log="$data/server.log"
pid="" stripe_pid=""
stop() { [[ -z "$1" ]] || { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }; }
cleanup() { stop "$pid"; stop "$stripe_pid"; rm -rf "$data"; }
trap cleanup EXIT
start_stripe_fake "$data/stripe-fake.log"
start_tollgate "$data" "$log"
BASE="http://127.0.0.1:$port" scripts/walkthrough.sh
BASE="http://127.0.0.1:$port" scripts/walkthrough-billing.sh
BASE="http://127.0.0.1:$port" scripts/walkthrough-track.sh
BASE="http://127.0.0.1:$port" DATA_DIR="$data" scripts/walkthrough-jobs.sh
# The admin from ADMIN_EMAIL/ADMIN_PASSWORD can log in on the admin route.
curl -sS --fail-with-body -X POST "http://127.0.0.1:$port/api/admin/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"ops@example.com","password":"admin-pass-123"}' >/dev/null
# Logs are JSON lines with a request id, and hold no secret.
grep -q '"request_id":"req_' "$log" || { echo "no request ids in the JSON logs" >&2; cat "$log"; exit 1; }
if grep -Eq 'sk_live_|sk_test_|whsec_|admin-pass-123|correct-horse-42' "$log"; then echo "a secret reached the logs" >&2; exit 1; fi
# A backup (the daily job, by hand), then the server stops gracefully on SIGTERM.
DATA_DIR="$data" "${CARGO_TARGET_DIR:-target}/debug/tollgate" job backup >/dev/null
kill -TERM "$pid"; wait "$pid"
# Restore the backup into a new data directory, start on it: the same data.
backup=$(ls "$data"/backups/tollgate-*.db | tail -1)
DATA_DIR="$data/restored" "${CARGO_TARGET_DIR:-target}/debug/tollgate" restore "$backup"
unset port
start_tollgate "$data/restored" "$data/restored.log"
admin=$(curl -sS --fail-with-body -X POST "$base/api/admin/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"ops@example.com","password":"admin-pass-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# The jobs walk-through's period-close run was recorded before the backup: it is still there.
curl -sS --fail-with-body "$base/api/admin/jobs" -H "Authorization: Bearer $admin" | python3 -c 'import json,sys
jobs = {j["name"]: j for j in json.load(sys.stdin)["data"]}
assert (jobs["period-close"]["last_run"] or {}).get("status") == "succeeded", "the restored server lost its data"'
kill -TERM "$pid"; wait "$pid"; stop "$stripe_pid"; trap - EXIT; rm -rf "$data"
echo "end-to-end walk-through against the binary: OK"
