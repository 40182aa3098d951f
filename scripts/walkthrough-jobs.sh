#!/usr/bin/env bash
# The README's "Scheduled jobs" walk-through against a running local server and its data
# directory:  BASE=http://127.0.0.1:3000 DATA_DIR=./data scripts/walkthrough-jobs.sh
# A user on a plan of 10 calls a month makes 8 calls and finds the 80 % alert in the outbox
# and at their webhook endpoint, signed, within 5 seconds (the server needs
# ALLOW_INSECURE_WEBHOOK_URLS=true for the loopback receiver); running quota-alerts by hand then sends nothing more; and
# `tollgate job period-close --at <first second of next month>` closes the period once,
# however often it runs. (make test runs it through scripts/e2e-walkthrough.sh.)
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:3000}
DATA_DIR=${DATA_DIR:-./data}
TOLLGATE=${TOLLGATE:-${CARGO_TARGET_DIR:-target}/debug/tollgate}
ADMIN_EMAIL=${ADMIN_EMAIL:-ops@example.com}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-pass-123}
EMAIL=${EMAIL:-alerted-$RANDOM$RANDOM@example.com}
field() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if k.isdigit() else d[k]
print(d)' "$1"; }
call() { # method path [body] [bearer]
  curl -sS --fail-with-body -X "$1" "$BASE$2" -H 'Content-Type: application/json' ${4:+-H "Authorization: Bearer $4"} ${3:+-d "$3"}
}

echo "1. the admin makes a plan of 10 calls a month"
ADMIN=$(call POST /api/admin/auth/login "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | field access_token)
PLAN=$(call POST /api/admin/plans '{"name":"Tiny '"$RANDOM"'","billing_type":"subscription","price":0,"rate_limit":600,"monthly_limit":10,"retention_days":7}' "$ADMIN" | field id)

echo "2. $EMAIL registers, gets a key and is put on it"
call POST /api/user/auth/register \
  "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\",\"first_name\":\"Al\",\"last_name\":\"Ert\"}" >/dev/null
TOKEN=$(call POST /api/user/auth/login "{\"email\":\"$EMAIL\",\"password\":\"correct-horse-42\"}" | field access_token)
KEY=$(call POST /api/user/api-keys '{"name":"jobs"}' "$TOKEN" | field secret)
ORG=$(call GET /api/user/account/profile "" "$TOKEN" | field organization_id)
SUB=$(call GET "/api/admin/subscriptions?org_id=$ORG" "" "$ADMIN" | field data.0.id)
call PUT "/api/admin/subscriptions/$SUB" "{\"plan_id\":\"$PLAN\"}" "$ADMIN" >/dev/null

echo "3. a webhook endpoint for the quota events (a receiver on loopback: the server runs with"
echo "   ALLOW_INSECURE_WEBHOOK_URLS=true, as for local development)"
HOOKS=$(mktemp)
HOOK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$HOOK_PORT" "$HOOKS" <<'PY' &
import http.server, json, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        with open(out, "a") as f:
            f.write(json.dumps({"signature": self.headers.get("tollgate-signature"), "body": body}) + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", port), Hook).serve_forever()
PY
HOOK_PID=$!
trap 'kill $HOOK_PID 2>/dev/null || true; rm -f "$HOOKS"' EXIT
SECRET=$(call POST /api/user/webhooks "{\"url\":\"http://127.0.0.1:$HOOK_PORT/hook\",\"events\":[\"quota.threshold_reached\",\"quota.exceeded\"]}" "$TOKEN" | field secret)

echo "4. 8 calls: the 80 % alert is in the outbox and at the webhook, signed, within 5 seconds"
for _ in $(seq 1 8); do curl -sS --fail-with-body "$BASE/api/v1/echo/jobs" -H "X-API-Key: $KEY" >/dev/null; done
alerts() { grep -l "\"to\": \"$EMAIL\"" "$DATA_DIR"/outbox/*.json 2>/dev/null | xargs -r grep -l '"kind": "quota.threshold_reached"' | wc -l; }
for _ in $(seq 1 50); do [[ $(alerts) -ge 1 ]] && break; sleep 0.1; done
[[ $(alerts) -eq 1 ]] || { echo "expected one 80 % alert mail to $EMAIL, found $(alerts)" >&2; exit 1; }
grep -h "Used: 8 of 10 units (80.0%)" "$DATA_DIR"/outbox/*.json >/dev/null
for _ in $(seq 1 50); do [[ -s "$HOOKS" ]] && break; sleep 0.1; done
python3 - "$HOOKS" "$SECRET" <<'PY'
import hashlib, hmac, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 1, f"one delivery expected: {lines}"
parts = dict(p.split("=", 1) for p in lines[0]["signature"].split(","))
expected = hmac.new(sys.argv[2].encode(), f'{parts["t"]}.{lines[0]["body"]}'.encode(), hashlib.sha256).hexdigest()
assert hmac.compare_digest(parts["v1"], expected), "the signature does not verify"
event = json.loads(lines[0]["body"])
assert event["type"] == "quota.threshold_reached" and event["data"]["used"] == 8, event
PY

echo "5. quota-alerts by hand sends nothing more"
RUN=$(call POST /api/admin/jobs/quota-alerts/run "" "$ADMIN")
echo "$RUN" | field alerts_sent | grep -qx 0
echo "$RUN" | field status | grep -qx succeeded
sleep 0.5
[[ $(alerts) -eq 1 ]] || { echo "a second 80 % alert went out" >&2; exit 1; }
[[ $(wc -l < "$HOOKS") -eq 1 ]] || { echo "a second webhook delivery went out" >&2; exit 1; }

echo "6. period-close as of the first second of next month closes the period once"
NEXT=$(python3 -c 'import datetime as d; t=d.datetime.now(d.timezone.utc); y,m=(t.year+1,1) if t.month==12 else (t.year,t.month+1); print(f"{y:04}-{m:02}-01T00:00:01Z")')
FIRST=$(DATA_DIR="$DATA_DIR" "$TOLLGATE" job period-close --at "$NEXT")
SECOND=$(DATA_DIR="$DATA_DIR" "$TOLLGATE" job period-close --at "$NEXT")
echo "$FIRST" | field status | grep -qx succeeded
[[ $(echo "$FIRST" | field closed) -ge 1 ]] || { echo "nothing closed: $FIRST" >&2; exit 1; }
echo "$SECOND" | field closed | grep -qx 0
[[ $(echo "$SECOND" | field already_closed) -eq $(echo "$FIRST" | field organizations) ]]
call GET /api/admin/jobs "" "$ADMIN" | python3 -c 'import json,sys
jobs={j["name"]: j for j in json.load(sys.stdin)["data"]}
assert jobs["period-close"]["last_run"]["status"] == "succeeded", jobs["period-close"]
assert jobs["quota-alerts"]["schedule"] == "cron(15 * * * ? *)"'
echo "jobs walk-through: OK"
