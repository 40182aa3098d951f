#!/usr/bin/env bash
# The README's curl walk-through, runnable as is against a running server:
#   BASE=http://127.0.0.1:3000 scripts/walkthrough.sh
# (make test runs it against a fresh server through scripts/e2e-walkthrough.sh.)
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:3000}
EMAIL=${EMAIL:-ada-$RANDOM$RANDOM@example.com}
# field PATH: print one field of the JSON on stdin (a.b.0.c).
field() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if k.isdigit() else d[k]
print(d)' "$1"; }

echo "1. register $EMAIL"
curl -sS --fail-with-body -X POST "$BASE/api/user/auth/register" \
  -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\",\"first_name\":\"Ada\",\"last_name\":\"Lovelace\",\"company_name\":\"Analytical Engines\"}"
echo

echo "2. log in (the refresh token also arrives as an HttpOnly cookie)"
TOKEN=$(curl -sS --fail-with-body -X POST "$BASE/api/user/auth/login" \
  -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\"}" | field access_token)
echo "access token: ${TOKEN:0:24}..."

echo "3. create an API key (the secret is shown only here)"
KEY=$(curl -sS --fail-with-body -X POST "$BASE/api/user/api-keys" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"my first key"}')
echo "$KEY"
echo "$KEY" | field secret | grep -Eq '^sk_live_[0-9A-Za-z]{22}_[0-9A-Za-z]{6}$'


echo "4. list keys"
KEYS=$(curl -sS --fail-with-body "$BASE/api/user/api-keys" -H "Authorization: Bearer $TOKEN")
echo "$KEYS"
echo "$KEYS" | field data.0.status | grep -qx active

echo "5. a metered call through the gateway to the built-in echo endpoint"
SECRET=$(echo "$KEY" | field secret)
ECHO=$(curl -sS --fail-with-body -i "$BASE/api/v1/echo/hello" -H "X-API-Key: $SECRET")
echo "$ECHO"
echo "$ECHO" | grep -qi '^x-quota-used: 1'

echo "6. usage: counted at once, logged within seconds"
curl -sS --fail-with-body "$BASE/api/user/usage/summary" -H "Authorization: Bearer $TOKEN" | field used | grep -qx 1
for _ in $(seq 1 50); do
  LOGGED=$(curl -sS --fail-with-body "$BASE/api/user/usage/detailed" -H "Authorization: Bearer $TOKEN")
  echo "$LOGGED" | grep -q '"path":"/api/v1/echo/hello"' && break
  sleep 0.1
done
echo "$LOGGED"
echo "$LOGGED" | field data.0.status | grep -qx 200
echo "walk-through OK"
