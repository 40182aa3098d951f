#!/usr/bin/env bash
# The README's billing walk-through ("Billing offline: the Stripe fake"), runnable as is
# against a server started with the Stripe fake:
#   make stripe-fake   # one terminal
#   STRIPE_API_BASE=http://127.0.0.1:12111 STRIPE_SECRET_KEY=sk_test_fake \
#   STRIPE_WEBHOOK_SECRET=whsec_test_fake make run   # another
#   BASE=http://127.0.0.1:3000 scripts/walkthrough-billing.sh
# Upgrades a new user to Pro through Checkout, pays on the fake's page, and checks the plan,
# the gateway's quota and the invoice. (make test runs it through scripts/e2e-walkthrough.sh.)
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:3000}
EMAIL=${EMAIL:-payer-$RANDOM$RANDOM@example.com}
field() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if k.isdigit() else d[k]
print(d)' "$1"; }
json() { curl -sS --fail-with-body -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" "$@"; }

echo "1. a user with an API key, on Free"
curl -sS --fail-with-body -X POST "$BASE/api/user/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\",\"first_name\":\"Ada\",\"last_name\":\"Lovelace\"}" >/dev/null
TOKEN=$(curl -sS --fail-with-body -X POST "$BASE/api/user/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\"}" | field access_token)
KEY=$(json -X POST "$BASE/api/user/api-keys" -d '{"name":"billing"}' | field secret)
curl -sS --fail-with-body -D - -o /dev/null "$BASE/api/v1/echo/hello" -H "X-API-Key: $KEY" | grep -i '^x-quota-limit: 1000'

echo "2. upgrade to Pro: without a card on file, Stripe Checkout"
CHECKOUT=$(json -X POST "$BASE/api/user/subscription/upgrade" -d '{"plan_id":"plan_pro"}' | field checkout_url)
echo "checkout: $CHECKOUT"

echo "3. pay on the hosted page (what the Pay button posts)"
curl -sS --fail-with-body -o /dev/null -w 'redirected to %{redirect_url}\n' -X POST "$CHECKOUT" -d card=4242424242424242

echo "4. the webhook arrives: Pro, and the gateway applies Pro's quota"
for _ in $(seq 1 100); do
  PLAN=$(json "$BASE/api/user/subscription" | field plan.id)
  [[ $PLAN == plan_pro ]] && break
  sleep 0.1
done
[[ $PLAN == plan_pro ]] || { echo "still on $PLAN" >&2; exit 1; }
# The gateway caches a key's plan for up to 5 seconds.
for _ in $(seq 1 70); do
  LIMIT=$(curl -sS --fail-with-body -D - -o /dev/null "$BASE/api/v1/echo/hello" -H "X-API-Key: $KEY" |
    tr -d '\r' | sed -n 's/^x-quota-limit: //Ip')
  [[ $LIMIT == 50000 ]] && break
  sleep 0.1
done
echo "x-quota-limit: $LIMIT"
[[ $LIMIT == 50000 ]] || { echo "the gateway still applies $LIMIT" >&2; exit 1; }

echo "5. the invoice"
INVOICES=$(json "$BASE/api/user/billing/invoices")
echo "$INVOICES"
echo "$INVOICES" | field data.0.status | grep -qx paid
echo "$INVOICES" | field data.0.amount_paid | grep -qx 900
echo "billing walk-through OK"
