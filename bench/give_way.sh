#!/usr/bin/env bash
# Do the hashing threads' give-way timer (DOORMAN_HASH_GIVE_WAY_US, crypto/give_way.rs) and
# idle cgroup (DOORMAN_HASH_CGROUP) still earn their place where doorman would run, on cores
# of its own?
#   bash bench/give_way.sh [ROUNDS]   (default 3; needs a release build, wrk, taskset)
# doorman on SQLite (no PostgreSQL competing) pinned to CPU 0; wrk, the seeding and
# everything else this script starts pinned to CPU 1. Hashing threads SCHED_IDLE, as in
# (e). Each round runs three variants in a rotating order, each on a fresh server over the
# same database: `plain` (give-way off, no cgroup), `give_way` (every 1000 µs) and `cgroup`
# (give-way off, hashing threads in a cgroup v1 `cpu` group with cpu.idle 1, made here as
# root and removed at exit; skipped where it cannot be made). Each: (a) GET /users/me
# alone, then (a) again during a login flood. Prints one line per measurement: rps, p50,
# p99 of the reads, and the flood's logins a second.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
DURATION="${BENCH_DURATION:-8}"
CONNS=32 HASH_CONNS=16 USERS=2000 PORT=18181
PASSWORD="bench password 7f3a9c"
BASE="http://127.0.0.1:$PORT"
OUT=bench/out/give_way
BIN="${BENCH_BIN:-target/release/doorman}"
mkdir -p "$OUT"
rm -f "$OUT"/bench.db*
URL="sqlite://$OUT/bench.db"
DOORMAN_CPU=0 REST_CPU=1

CGROUP=/sys/fs/cgroup/cpu/doorman-give-way-bench
{ mkdir -p "$CGROUP" && echo 1 >"$CGROUP/cpu.idle"; } 2>/dev/null || { rmdir "$CGROUP" 2>/dev/null || true; CGROUP=""; }
SERVER_PID=""
stop_server() { [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }; }
cleanup() { stop_server; [ -z "$CGROUP" ] || rmdir "$CGROUP" 2>/dev/null || true; }
trap cleanup EXIT
start_server() { # variant
  local give_way=0 cgroup=()
  case "$1" in
    give_way) give_way=1000 ;;
    cgroup) cgroup=(DOORMAN_HASH_CGROUP="$CGROUP") ;;
  esac
  env "${cgroup[@]}" DATABASE_URL="$URL" DOORMAN_HASH_PRIORITY=idle DOORMAN_HASH_GIVE_WAY_US="$give_way" \
    DOORMAN_BIND="127.0.0.1:$PORT" DOORMAN_RATE_LIMIT_PER_SECOND=0 DOORMAN_HASH_QUEUE=256 \
    DOORMAN_ACCESS_TTL=1h RUST_LOG=warn taskset -c "$DOORMAN_CPU" "$BIN" serve >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    curl -sf "$BASE/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "doorman did not become ready"; cat "$OUT/server.log"; exit 1
}
wrk_on_rest() { taskset -c "$REST_CPU" wrk "$@"; }
parse_wrk() { awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2}
  END {printf "%s %s %s\n", rps, p50, p99}' "$1"; }

start_server give_way
taskset -c "$REST_CPU" python3 bench/seed.py "$BASE" "$URL" "$USERS" "$PASSWORD" "$OUT" $((CONNS * 2)) 2 >/dev/null
stop_server
export BENCH_TOKENS="$OUT/access-tokens" BENCH_USERS="$USERS" BENCH_PASSWORD="$PASSWORD"

measure() { # variant, round
  start_server "$1"
  wrk_on_rest -t1 -c"$CONNS" -d2s -s bench/wrk/me.lua "$BASE" >/dev/null 2>&1 # warm-up
  wrk_on_rest -t1 -c"$CONNS" -d"${DURATION}s" --latency -s bench/wrk/me.lua "$BASE" >"$OUT/alone.txt" 2>&1
  wrk_on_rest -t1 -c"$HASH_CONNS" -d"$((DURATION + 2))s" -s bench/wrk/login.lua "$BASE" >"$OUT/flood.txt" 2>&1 &
  local flood=$!
  sleep 1
  wrk_on_rest -t1 -c"$CONNS" -d"${DURATION}s" --latency -s bench/wrk/me.lua "$BASE" >"$OUT/during.txt" 2>&1
  wait "$flood"
  stop_server
  printf 'round %s %-8s alone: %s  during flood: %s  logins/s: %s\n' "$2" "$1" \
    "$(parse_wrk "$OUT/alone.txt")" "$(parse_wrk "$OUT/during.txt")" \
    "$(awk '/^Requests\/sec/ {print $2}' "$OUT/flood.txt")"
}

echo "columns: rps p50 p99 of GET /users/me; doorman on CPU $DOORMAN_CPU, the rest on CPU $REST_CPU; cgroup: ${CGROUP:-none}"
for round in $(seq 1 "$ROUNDS"); do
  case $((round % 3)) in
    1) order="plain give_way cgroup" ;;
    2) order="give_way cgroup plain" ;;
    0) order="cgroup plain give_way" ;;
  esac
  for variant in $order; do
    [ "$variant" != cgroup ] || [ -n "$CGROUP" ] || continue
    measure "$variant" "$round"
  done
done
