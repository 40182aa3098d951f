# Sourced by the scripts that test the real `tollgate` binary (build it first).
#
# start_tollgate DATA_DIR LOG: starts ${CARGO_TARGET_DIR:-target}/debug/tollgate on a free
# loopback port with a data directory, the admin ops@example.com / admin-pass-123 and
# loopback webhook receivers allowed (ALLOW_INSECURE_WEBHOOK_URLS, default true here), its
# output in LOG; sets `port`, `base` and `pid`, and returns once /health answers (failing,
# with the log, if the server exits first). Set an EXIT trap that stops "$pid" before calling.
# A `port` set beforehand (by start_stripe_fake) is used.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_tollgate() {
  local data=$1 log=$2
  port=${port:-$(free_port)}
  base="http://127.0.0.1:$port"
  PORT=$port DATA_DIR="$data" ADMIN_EMAIL=ops@example.com ADMIN_PASSWORD=admin-pass-123 RUST_LOG=info,access=debug \
    ALLOW_INSECURE_WEBHOOK_URLS=${ALLOW_INSECURE_WEBHOOK_URLS:-true} \
    "${CARGO_TARGET_DIR:-target}/debug/tollgate" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "$base/health" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "tollgate exited" >&2; return 1; }
    sleep 0.1
  done
  echo "tollgate did not answer on $base within 10 s" >&2
  return 1
}

# start_stripe_fake LOG: starts ${CARGO_TARGET_DIR:-target}/debug/stripe-fake (build it first)
# on a free loopback port, posting its webhooks to the tollgate that start_tollgate starts next
# (whose port it picks: `port`); sets `stripe_base` and `stripe_pid`, and exports the STRIPE_*
# settings that server then reads. Stop "$stripe_pid" in the EXIT trap too.
start_stripe_fake() {
  local log=$1 fake_port
  port=$(free_port)
  fake_port=$(free_port)
  stripe_base="http://127.0.0.1:$fake_port"
  STRIPE_FAKE_PORT=$fake_port STRIPE_FAKE_WEBHOOK_URL="http://127.0.0.1:$port/api/stripe/webhook" \
    STRIPE_WEBHOOK_SECRET=whsec_test_fake "${CARGO_TARGET_DIR:-target}/debug/stripe-fake" >"$log" 2>&1 &
  stripe_pid=$!
  export STRIPE_API_BASE=$stripe_base STRIPE_SECRET_KEY=sk_test_local STRIPE_WEBHOOK_SECRET=whsec_test_fake
  for _ in $(seq 1 100); do
    curl -sf "$stripe_base/_fake/health" >/dev/null && return 0
    kill -0 "$stripe_pid" 2>/dev/null || { cat "$log"; echo "stripe-fake exited" >&2; return 1; }
    sleep 0.1
  done
  echo "stripe-fake did not answer on $stripe_base within 10 s" >&2
  return 1
}
