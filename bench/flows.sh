#!/usr/bin/env bash
# The benchmark's (g) and (h), beside (b), in one run:
#   (b) password login, by wrk (bench/wrk/login.lua) and by examples/flows.rs `login`;
#   (g) the whole two-step sign-in (password, then TOTP): target ≥ 90 % of (b);
#   (h) passwordless sign-in (passkey options + assertion): target ≥ 10× (b).
# (g) and (h) are judged against (b) by the same client (flows), in the same round.
#   bash bench/flows.sh [sqlite|postgres|all] [ROUNDS (3)]
# Needs a release build (made here), wrk, python3; for PostgreSQL a server at BENCH_PG_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-all}"
ROUNDS="${2:-3}"
DURATION="${BENCH_DURATION:-10}"
HASH_CONNS="${BENCH_HASH_CONNECTIONS:-16}" # clients for (b) and (g), as run.sh's login
FAST_CONNS="${BENCH_CONNECTIONS:-32}"      # clients for (h), as run.sh's (a)
USERS=10000
TWOSTEP_USERS="${BENCH_TWOSTEP_USERS:-1200}" # accounts enrolled per (g) round: each signs in once
PASSWORD="bench password 7f3a9c"
PORT=18080
BASE="http://127.0.0.1:$PORT"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=bench/out/flows
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

echo "== building release"
cargo build --release --quiet --bin doorman --example flows
BIN=target/release/doorman
FLOWS=target/release/examples/flows

SERVER_PID=""
stop_server() { [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }; }
trap stop_server EXIT
start_server() { # database_url
  # Settings as run.sh's; the public URL names the host the software authenticator signs for.
  DATABASE_URL="$1" DOORMAN_HASH_PRIORITY=idle DOORMAN_BIND="127.0.0.1:$PORT" \
    DOORMAN_PUBLIC_URL="http://localhost:$PORT" DOORMAN_RATE_LIMIT_PER_SECOND=0 \
    DOORMAN_HASH_QUEUE=256 DOORMAN_ACCESS_TTL=1h RUST_LOG=warn \
    "$BIN" serve >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    curl -sf "$BASE/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "doorman did not become ready"; cat "$OUT/server.log"; exit 1
}

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; } # name line
flows() { # mode first users connections
  "$FLOWS" --base "$BASE" --origin "http://localhost:$PORT" --password "$PASSWORD" --mode "$1" \
    --first "$2" --users "$3" --connections "$4" --duration "$DURATION"
}
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.3f}' if b else 'n/a')" "$@"; }

bench_db() { # label database_url
  local label=$1 url=$2 round wrk_b line b g h first
  echo
  echo "== $label"
  start_server "$url"
  python3 bench/seed.py "$BASE" "$url" "$USERS" "$PASSWORD" "$OUT" 2 2 >/dev/null
  [ "$label" != postgres ] || psql -q "$url" -c ANALYZE
  export BENCH_USERS="$USERS" BENCH_PASSWORD="$PASSWORD"
  for round in $(seq 1 "$ROUNDS"); do
    wrk_b=$(wrk -t 2 -c "$HASH_CONNS" -d "${DURATION}s" -s bench/wrk/login.lua "$BASE" | awk '/Requests\/sec/ {print $2}')
    line=$(flows login 1 "$USERS" "$HASH_CONNS"); echo "$label round $round (b) wrk: $wrk_b/s; flows: $line"
    b=$(field rate "$line"); b=${b%/s}
    # Accounts of their own each round, past those the earlier rounds enrolled.
    first=$((1001 + (round - 1) * TWOSTEP_USERS))
    line=$(flows twostep "$first" "$TWOSTEP_USERS" "$HASH_CONNS"); echo "$label round $round (g): $line"
    g=$(field rate "$line"); g=${g%/s}
    first=$((9001 + (round - 1) * FAST_CONNS))
    line=$(flows passkey "$first" "$FAST_CONNS" "$FAST_CONNS"); echo "$label round $round (h): $line"
    h=$(field rate "$line"); h=${h%/s}
    echo "$label round $round: (g)/(b) = $(ratio "$g" "$b") (target ≥ 0.9); (h)/(b) = $(ratio "$h" "$b") (target ≥ 10)" \
      | tee -a "$OUT/verdicts"
  done
  stop_server
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = all ]; then
  rm -f "$OUT"/bench.db*
  bench_db sqlite "sqlite://$OUT/bench.db"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_flows" -c "CREATE DATABASE doorman_flows"
  bench_db postgres "${PG_ADMIN%/*}/doorman_flows"
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_flows"
fi
echo
cat "$OUT/verdicts"
