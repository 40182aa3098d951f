#!/usr/bin/env bash
# The README's "Metering without the proxy" walk-through, runnable as is against a running
# server:  BASE=http://127.0.0.1:3000 scripts/walkthrough-track.sh
# A newcomer creates a project and a key in it, reports 100 calls in one batch, and sees them
# in the usage summary and the by-endpoint latencies within 5 seconds; then verifies a key.
# (make test runs it against a fresh server through scripts/e2e-walkthrough.sh.)
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:3000}
EMAIL=${EMAIL:-seller-$RANDOM$RANDOM@example.com}
field() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if k.isdigit() else d[k]
print(d)' "$1"; }
json_post() { # path body [bearer]
  curl -sS --fail-with-body -X POST "$BASE$1" -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2"
}

echo "1. register and log in $EMAIL"
json_post /api/user/auth/register \
  "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\",\"first_name\":\"Sam\",\"last_name\":\"Seller\"}" >/dev/null
TOKEN=$(json_post /api/user/auth/login "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\"}" | field access_token)

echo "2. a project and a key in it"
PROJECT=$(json_post /api/user/projects '{"name":"my own API"}' "$TOKEN" | field id)
SRV_KEY=$(json_post "/api/user/projects/$PROJECT/api-keys" '{"name":"server"}' "$TOKEN" | field secret)
echo "project $PROJECT, key ${SRV_KEY:0:12}..."

echo "3. 100 calls reported in one batch"
EVENTS=$(python3 -c 'import json; print(json.dumps({"events": [
  {"endpoint": "/users/{id}" if i % 2 else "/orders", "method": "GET", "status_code": 200 if i % 10 else 500,
   "response_time_ms": 10 + i, "id": f"call-{i}"} for i in range(100)]}))')
started=$SECONDS
TRACKED=$(curl -sS --fail-with-body -X POST "$BASE/api/v1/track" -H "X-API-Key: $SRV_KEY" \
  -H 'Content-Type: application/json' -d "$EVENTS")
echo "$TRACKED" | field accepted | grep -qx 100

echo "4. counted at once; in the project's statistics within 5 seconds"
curl -sS --fail-with-body "$BASE/api/user/usage/summary" -H "Authorization: Bearer $TOKEN" | field used | grep -qx 100
for _ in $(seq 1 50); do
  BY_ENDPOINT=$(curl -sS --fail-with-body "$BASE/api/user/usage/by-endpoint?project_id=$PROJECT" \
    -H "Authorization: Bearer $TOKEN")
  TOTAL=$(echo "$BY_ENDPOINT" | python3 -c 'import json,sys; print(sum(r["count"] for r in json.load(sys.stdin)["data"]))')
  [[ "$TOTAL" == 100 ]] && break
  sleep 0.1
done
echo "$BY_ENDPOINT"
[[ "$TOTAL" == 100 ]] || { echo "only $TOTAL of 100 calls in the statistics" >&2; exit 1; }
(( SECONDS - started <= 5 )) || { echo "the statistics took $((SECONDS - started)) s" >&2; exit 1; }
echo "$BY_ENDPOINT" | field data.0.p95_ms | grep -Eq '^[0-9]+$'
curl -sS --fail-with-body "$BASE/api/user/usage/analytics?project_id=$PROJECT" -H "Authorization: Bearer $TOKEN" |
  field calls | grep -qx 100

echo "5. verify a key as the seller's server would"
VERIFY=$(curl -sS --fail-with-body -X POST "$BASE/api/user/projects/$PROJECT/verify-secret" \
  -H "Authorization: Bearer $TOKEN" | field verify_secret)
VERIFIED=$(json_post /api/v1/verify "{\"key\":\"$SRV_KEY\",\"cost\":1}" "$VERIFY")
echo "$VERIFIED"
echo "$VERIFIED" | field valid | grep -qx True
echo "$VERIFIED" | field remaining | grep -qx 899
echo "walk-through (track) OK"
