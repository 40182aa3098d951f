#!/usr/bin/env bash
# Starts the real `tollgate` binary on a free loopback port with a fresh data directory,
# runs the README walk-through against it, checks first-start admin creation, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -q -p tollgate-local --bin tollgate
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$data/server.log"
PORT=$port DATA_DIR="$data" ADMIN_EMAIL=ops@example.com ADMIN_PASSWORD=admin-pass-123 RUST_LOG=info \
  "${CARGO_TARGET_DIR:-target}/debug/tollgate" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "server exited" >&2; exit 1; }
  sleep 0.1
done
BASE="http://127.0.0.1:$port" scripts/walkthrough.sh
# The admin from ADMIN_EMAIL/ADMIN_PASSWORD can log in on the admin route.
curl -sS --fail-with-body -X POST "http://127.0.0.1:$port/api/admin/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"ops@example.com","password":"admin-pass-123"}' >/dev/null
# Logs are JSON lines with a request id, and hold no secret.
grep -q '"request_id":"req_' "$log" || { echo "no request ids in the JSON logs" >&2; cat "$log"; exit 1; }
if grep -Eq 'sk_live_|admin-pass-123|correct-horse-42' "$log"; then echo "a secret reached the logs" >&2; exit 1; fi
# Graceful shutdown on SIGTERM.
kill -TERM "$pid"; wait "$pid"; trap - EXIT; rm -rf "$data"
echo "end-to-end walk-through against the binary: OK"
