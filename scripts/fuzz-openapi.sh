#!/usr/bin/env bash
# Fuzzes the real `tollgate` binary against its own OpenAPI document with schemathesis (from
# .venv, see scripts/setup-test-tools.sh; settings and the reasons for each exception in
# scripts/schemathesis.toml): every check, a fixed seed, a bounded number of examples.
#
# Starts the Stripe fake and the server (billing through the fake) on free loopback ports with a
# fresh data directory, registers and logs in
# a user, logs in the admin, creates an API key and a gateway endpoint (any method at
# /api/v1/fuzz, served by the built-in echo, the user on the Business plan so that the rate
# limit leaves room), then runs schemathesis twice: the user-facing operations (and the
# gateway) with the user's token and key, the admin operations with the admin's token. Fails on any server error, any answer the document does not describe and any
# check failure. The full output is in a temporary directory (kept on failure).
#
# Arguments are passed on to both schemathesis runs, e.g. `scripts/fuzz-openapi.sh --seed 7
# --max-examples 200` to explore beyond the fixed run of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
st="$root/.venv/bin/schemathesis"
[[ -x "$st" ]] || { echo "fuzz-openapi: $st missing; run scripts/setup-test-tools.sh" >&2; exit 1; }

source scripts/tollgate-server.sh
cargo build --locked -q -p tollgate-local --bin tollgate -p stripe-fake --bin stripe-fake
work=$(mktemp -d)
pid="" stripe_pid="" keep=""
cleanup() {
  [[ -z "$pid" ]] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [[ -z "$stripe_pid" ]] || { kill "$stripe_pid" 2>/dev/null || true; wait "$stripe_pid" 2>/dev/null || true; }
  if [[ -n "$keep" ]]; then echo "fuzz-openapi: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# Billing through the Stripe fake, so the billing routes are fuzzed for real.
start_stripe_fake "$work/stripe-fake.log"
ALLOW_INSECURE_WEBHOOK_URLS=false start_tollgate "$work/data" "$work/server.log"

# Sends JSON and prints one field of the answer (curl fails on an error status).
send() { # method path body field [bearer]
  curl -sS --fail-with-body -X "$1" "$base$2" -H 'Content-Type: application/json' ${5:+-H "Authorization: Bearer $5"} \
    -d "$3" | python3 -c "import json, sys; print(json.load(sys.stdin)$4)"
}
post() { send POST "$@"; }
post /api/user/auth/register \
  '{"email":"fuzzer@example.com","password":"correct-horse-42","first_name":"Fuzz","last_name":"Er"}' '["user"]["id"]' >/dev/null
user_token=$(post /api/user/auth/login '{"email":"fuzzer@example.com","password":"correct-horse-42"}' '["access_token"]')
admin_token=$(post /api/admin/auth/login '{"email":"ops@example.com","password":"admin-pass-123"}' '["access_token"]')
api_key=$(post /api/user/api-keys '{"name":"fuzz"}' '["secret"]' "$user_token")
default_project=$(curl -sS --fail-with-body "$base/api/user/projects" -H "Authorization: Bearer $user_token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
verify_secret=$(post "/api/user/projects/$default_project/verify-secret" '{}' '["verify_secret"]' "$user_token")
post /api/admin/endpoints '{"name":"fuzz","method":"ANY","path":"/fuzz","upstream_url":"builtin:echo"}' '["id"]' \
  "$admin_token" >/dev/null
subscription=$(curl -sS --fail-with-body "$base/api/user/subscription" -H "Authorization: Bearer $user_token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["subscription"]["id"])')
send PUT "/api/admin/subscriptions/$subscription" '{"plan_id":"plan_business"}' '["plan_id"]' "$admin_token" >/dev/null

# The admin's catalog operations need the admin's token; everything else (the auth routes,
# the user's routes, the gateway) runs as the user.
admin_ops='^/api/admin/(plans|subscriptions|endpoints|billing)'
run() { # name bearer schemathesis-arguments...
  local name=$1 bearer=$2
  shift 2
  echo "--- $name" >>"$work/schemathesis.log"
  TOLLGATE_FUZZ_BEARER=$bearer TOLLGATE_FUZZ_API_KEY=$api_key TOLLGATE_FUZZ_VERIFY_SECRET=$verify_secret \
    "$st" --no-color --config-file scripts/schemathesis.toml run "$base/api/openapi.json" "$@" \
    >>"$work/schemathesis.log" 2>&1
}
started=$SECONDS
status=0
run user "$user_token" --exclude-path-regex "$admin_ops" "$@" || status=$?
run admin "$admin_token" --include-path-regex "$admin_ops" "$@" || status=$?
elapsed=$((SECONDS - started))

grep -E '^(--- |=+ .* in [0-9.]+s =+$|  [0-9]+ generated)' "$work/schemathesis.log" | sed 's/^/  /'
if grep -q '"level":"ERROR"\|panicked' "$work/server.log"; then
  echo "fuzz-openapi: the server logged errors:" >&2
  grep '"level":"ERROR"\|panicked' "$work/server.log" | sed -n 1,20p >&2
  status=1
fi
if [[ $status -ne 0 ]]; then
  keep=1
  grep -E '^(_{3,} .* _{3,}|- ST[0-9]+ .*)$' "$work/schemathesis.log" | sed 's/^/  /' >&2 ||
    tail -20 "$work/schemathesis.log" >&2
  echo "fuzz-openapi: FAILED after ${elapsed}s; schemathesis output: $work/schemathesis.log" >&2
  exit 1
fi
echo "fuzz-openapi: no server error, no conformance failure (${elapsed}s)"
