#!/usr/bin/env bash
# Where a stall of GET /api/v1/users/me comes from: wrk at 28 connections for SECONDS
# beside bench/stall_probe.py (a timed client at 4 connections, a heartbeat process, and
# samples of doorman's threads and the machine's steal, iowait and pressure every 20 ms).
# `bash bench/stall_probe.sh [sqlite|postgres] [SECONDS]` (default postgres, 300), on the
# release build (BENCH_BIN). Needs wrk, curl, python3, and psql for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-postgres}"
SECONDS_RUN="${2:-300}"
BIN="${BENCH_BIN:-target/release/doorman}"
PORT=18091
BASE="http://127.0.0.1:$PORT"
PASSWORD='correct horse battery staple'
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=$(mktemp -d)
echo "results in $OUT"
case "$WHICH" in
  sqlite) DB_URL="sqlite://$OUT/bench.db" ;;
  postgres)
    name="doorman_stall_probe_$$"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $name"
    DB_URL="${PG_ADMIN%/*}/$name"
    ;;
  *) echo "usage: bench/stall_probe.sh [sqlite|postgres] [SECONDS]"; exit 1 ;;
esac
export DATABASE_URL="$DB_URL" DOORMAN_BIND="127.0.0.1:$PORT" DOORMAN_RATE_LIMIT_PER_SECOND=0 RUST_LOG=warn
"$BIN" serve >"$OUT/server.log" 2>&1 & PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  if [ "$WHICH" = postgres ]; then psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.2; done
: >"$OUT/tokens"
for i in $(seq 1 20); do
  curl -sf "$BASE/api/v1/users" -H 'content-type: application/json' -d "{\"email\": \"user$i@bench.local\", \"password\": \"$PASSWORD\"}" >/dev/null
  curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' -d "{\"email\": \"user$i@bench.local\", \"password\": \"$PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' >>"$OUT/tokens"
done
BENCH_TOKENS="$OUT/tokens" wrk -t2 -c28 -d"$((SECONDS_RUN + 2))s" --latency -s bench/wrk/me.lua "$BASE" >"$OUT/wrk.txt" 2>&1 &
WRK=$!
python3 bench/stall_probe.py "$BASE" "$OUT/tokens" "$PID" "$SECONDS_RUN" "$OUT"
wait "$WRK"
# doorman's own timing of the same requests, from the moment it read each one: how many
# took longer than 50, 100 and 250 ms inside doorman.
curl -s "$BASE/metrics" | awk '/^http_request_duration_seconds_bucket/ && /users\/me/ && /GET/ {
    match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[le] = $NF }
  END { printf "doorman: /users/me %d requests, over 50 ms %d, over 100 ms %d, over 250 ms %d\n",
    n["+Inf"], n["+Inf"] - n["0.05"], n["+Inf"] - n["0.1"], n["+Inf"] - n["0.25"] }'
grep -A5 'Latency Distribution' "$OUT/wrk.txt"; grep 'Requests/sec' "$OUT/wrk.txt"
