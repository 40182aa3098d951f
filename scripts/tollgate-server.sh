# Sourced by the scripts that test the real `tollgate` binary (build it first).
#
# start_tollgate DATA_DIR LOG: starts ${CARGO_TARGET_DIR:-target}/debug/tollgate on a free
# loopback port with a data directory and the admin ops@example.com / admin-pass-123, its
# output in LOG; sets `port`, `base` and `pid`, and returns once /health answers (failing,
# with the log, if the server exits first). Set an EXIT trap that stops "$pid" before calling.
start_tollgate() {
  local data=$1 log=$2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  PORT=$port DATA_DIR="$data" ADMIN_EMAIL=ops@example.com ADMIN_PASSWORD=admin-pass-123 RUST_LOG=info,access=debug \
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
