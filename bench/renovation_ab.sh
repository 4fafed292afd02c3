#!/usr/bin/env bash
# (a) GET /users/me, (b) login and (d) refresh, two builds side by side in one run:
#   [BASE_BIN=…] NEW_BIN=… bash bench/renovation_ab.sh [ROUNDS] [sqlite|postgres]
# Each build gets its own database, seeded by itself (bench/seed.py); each round runs the
# builds in alternating order, each on a fresh server: (a) and (b) as in bench/run.sh, then
# (d) with never-used refresh tokens signed in for that round. Prints rps p50 p99 per
# scenario and build; judge the builds by the ratio of their medians. Without BASE_BIN only
# the new build runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}" DB="${2:-sqlite}"
DURATION="${BENCH_DURATION:-8}"
CONNS=32 HASH_CONNS=16 THREADS=2 USERS=2000 PORT=18282
PASSWORD="bench password 7f3a9c"
BASE="http://127.0.0.1:$PORT"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
declare -A BINS=([new]="${NEW_BIN:?}")
BUILDS="new"
if [ -n "${BASE_BIN:-}" ]; then BINS[base]=$BASE_BIN; BUILDS="base new"; fi

SERVER_PID=""
stop_server() { [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }; }
trap stop_server EXIT
url_of() { # build
  if [ "$DB" = sqlite ]; then echo "sqlite://bench/out/ab-$1/bench.db"; else echo "${PG_ADMIN%/*}/doorman_ab_$1"; fi
}
start_server() { # build
  DATABASE_URL="$(url_of "$1")" DOORMAN_HASH_PRIORITY=idle DOORMAN_BIND="127.0.0.1:$PORT" \
    DOORMAN_RATE_LIMIT_PER_SECOND=0 DOORMAN_HASH_QUEUE=256 DOORMAN_ACCESS_TTL=1h RUST_LOG=warn \
    "${BINS[$1]}" serve >"bench/out/ab-$1/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    curl -sf "$BASE/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "doorman ($1) did not become ready"; cat "bench/out/ab-$1/server.log"; exit 1
}
parse_wrk() { awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2}
  END {printf "%s %s %s\n", rps, p50, p99}' "$1"; }
# Never-used refresh tokens for (d): sign-ins of this round, one file per wrk thread.
fresh_refresh_tokens() { # out dir
  python3 - "$BASE" "$PASSWORD" "$1" "$((CONNS * 2))" "$THREADS" <<'PY'
import json, os, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, password, out, n, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def login(i):
    body = json.dumps({"email": f"user{i}@bench.local", "password": password}).encode()
    req = urllib.request.Request(base + "/api/v1/auth/login", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["refresh_token"]
with ThreadPoolExecutor(8) as pool:
    tokens = list(pool.map(login, range(100, 100 + n)))
os.makedirs(f"{out}/refresh", exist_ok=True)
for t in range(threads):
    with open(f"{out}/refresh/{t + 1}", "w") as f:
        f.write("\n".join(tokens[t::threads]) + "\n")
PY
}

for build in $BUILDS; do
  dir="bench/out/ab-$build"
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "$DB" = postgres ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_ab_$build WITH (FORCE)" -c "CREATE DATABASE doorman_ab_$build"
  fi
  start_server "$build"
  python3 bench/seed.py "$BASE" "$(url_of "$build")" "$USERS" "$PASSWORD" "$dir" $((CONNS * 2)) "$THREADS" >/dev/null
  stop_server
done

echo "columns: req/s p50 p99 ($DB, $DURATION s each, wrk -t$THREADS)"
for round in $(seq 1 "$ROUNDS"); do
  order=$BUILDS
  if [ $((round % 2)) -eq 0 ]; then order=$(echo "$BUILDS" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'); fi
  for build in $order; do
    dir="bench/out/ab-$build"
    start_server "$build"
    export BENCH_TOKENS="$dir/access-tokens" BENCH_USERS="$USERS" BENCH_PASSWORD="$PASSWORD" BENCH_REFRESH_DIR="$dir/refresh"
    wrk -t"$THREADS" -c"$CONNS" -d2s -s bench/wrk/me.lua "$BASE" >/dev/null 2>&1 # warm-up
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s bench/wrk/me.lua "$BASE" >"$dir/a.txt" 2>&1
    wrk -t"$THREADS" -c"$HASH_CONNS" -d"${DURATION}s" --latency -s bench/wrk/login.lua "$BASE" >"$dir/b.txt" 2>&1
    fresh_refresh_tokens "$dir"
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s bench/wrk/refresh.lua "$BASE" >"$dir/d.txt" 2>&1
    stop_server
    printf 'round %s %-4s (a) %s  (b) %s  (d) %s\n' "$round" "$build" \
      "$(parse_wrk "$dir/a.txt")" "$(parse_wrk "$dir/b.txt")" "$(parse_wrk "$dir/d.txt")"
  done
done
