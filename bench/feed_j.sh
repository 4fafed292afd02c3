#!/usr/bin/env bash
# (j) the revocation feed with 100,000 revoked sessions in its window, beside (a) GET
# /api/v1/users/me in the same run, three alternating rounds, on the release build:
#   first   GET /api/v1/auth/revocations            (no cursor: a full page of 200, ~36 KB)
#   tip     GET /api/v1/auth/revocations?after=TIP  (a caught-up poller: nothing new)
#   304     the same with If-None-Match: its ETag   (what a poller mostly sends)
# `bash bench/feed_j.sh [sqlite|postgres]` (default sqlite). Needs wrk, hey (Debian's
# package), curl, python3, and for PostgreSQL psql and a server at BENCH_PG_URL. BENCH_BIN
# picks the binary (default target/release/doorman; `cargo build --release` first);
# BENCH_CONNECTIONS wrk's connections (default 32, the throughput rows); then hey on 4
# connections, a few pollers at a time (the latency rows).
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-sqlite}"
BIN="${BENCH_BIN:-target/release/doorman}"
CONNS="${BENCH_CONNECTIONS:-32}"
DURATION="${BENCH_DURATION:-8}"   # seconds per scenario
REVOKED=100000
PORT=18090
BASE="http://127.0.0.1:$PORT"
PASSWORD='correct horse battery staple'
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=$(mktemp -d)
echo "results in $OUT"

case "$WHICH" in
  sqlite) DB_URL="sqlite://$OUT/bench.db" ;;
  postgres)
    name="doorman_feed_bench_$$"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $name"
    DB_URL="${PG_ADMIN%/*}/$name"
    ;;
  *) echo "usage: bench/feed_j.sh [sqlite|postgres]"; exit 1 ;;
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

# Twenty users through the API (their tokens drive (a)), then the revoked sessions straight
# into the database, spread over the feed's window (the last 15 minutes, less 30 s).
: >"$OUT/tokens"
for i in $(seq 1 20); do
  curl -sf "$BASE/api/v1/users" -H 'content-type: application/json' -d "{\"email\": \"user$i@bench.local\", \"password\": \"$PASSWORD\"}" >/dev/null
  curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' -d "{\"email\": \"user$i@bench.local\", \"password\": \"$PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' >>"$OUT/tokens"
done
python3 bench/seed_revoked.py "$DB_URL" "$REVOKED"

# Walk the feed to its tip as a poller would, once every revocation has settled (the
# cursor does not pass those younger than the database deadline + 1 s); keep the tip's
# cursor, then that URL's ETag.
sleep 7
python3 - "$BASE" "$OUT" <<'EOF'
import json, sys, urllib.request
base, out = sys.argv[1:3]
after, seen, pages = None, set(), 0
while True:
    url = base + "/api/v1/auth/revocations" + (f"?after={after}" if after else "")
    with urllib.request.urlopen(url) as r:
        page, etag = json.load(r), r.headers["ETag"]
    pages += 1
    seen.update(item["sid"] for item in page["items"])
    after = page["next"]
    if len(page["items"]) < 200:  # the feed's page size (service::revocations::PAGE)
        break
with urllib.request.urlopen(base + f"/api/v1/auth/revocations?after={after}") as r:
    assert r.headers["ETag"] and not json.load(r)["items"], "the tip is not empty"
    etag = r.headers["ETag"]
open(f"{out}/tip", "w").write(after)
open(f"{out}/tip-etag", "w").write(etag)
print(f"walked the feed: {len(seen)} revoked sessions in {pages} pages")
EOF
TIP=$(cat "$OUT/tip"); ETAG=$(cat "$OUT/tip-etag")
curl -s -o "$OUT/first.json" -w 'first page: %{http_code}, %{size_download} bytes\n' "$BASE/api/v1/auth/revocations"
curl -s -o /dev/null -w 'tip with its ETag: %{http_code}\n' -H "If-None-Match: $ETAG" "$BASE/api/v1/auth/revocations?after=$TIP"

export BENCH_TOKENS="$OUT/tokens"
# The machine's steal time so far, in ms: time the hypervisor gave this machine's CPUs to
# someone else. A round with steal in it measured the host, not doorman.
steal_ms() { awk '/^cpu / {print $9 * 10}' /proc/stat; }
# wrk's latencies are only worth reading when they obey Little's law: requests in flight
# (rate x mean latency) cannot exceed the connections. With two connections on a wrk
# thread at c4 they did not: a caught-up poll at 6,000/s "averaged" 41-71 ms (254-394 in
# flight on 4 connections) and its "p99" was 0.8-1.4 s, while a client timing each request
# saw p99 2-6 ms and a max of 51 ms (bench/RESULTS.md, 08:03 UTC). Each row prints its
# implied in-flight count: read a row only when that is about its connections. (At c4
# every wrk thread gets one connection; that alone did not cure it.)
in_flight() { # wrk output -> rate x mean latency
  awk '/Requests\/sec/ {r=$2} /^ +Latency +[0-9]/ {l=$2; u=l; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", l);
       l = l / (u == "us" ? 1e6 : u == "ms" ? 1e3 : 1)} END {printf "%.1f", r * l}' "$1"
}
run() { # name connections wrk-args...
  local name=$1 c=$2 steal threads=2; shift 2
  [ "$c" -gt 4 ] || threads=$c
  steal=$(steal_ms)
  wrk -t"$threads" -c"$c" -d"${DURATION}s" --latency "$@" >"$OUT/$name-c$c-$round.txt" 2>&1
  local f="$OUT/$name-c$c-$round.txt"
  printf 'round %s c%-3s %-6s %9s req/s  p50 %-8s p99 %-8s non-2xx %s  steal %s ms  in flight %s\n' "$round" "$c" "$name" \
    "$(awk '/Requests\/sec/ {print $2}' "$f")" "$(awk '$1=="50%" {print $2}' "$f")" \
    "$(awk '$1=="99%" {print $2}' "$f")" "$(awk '/Non-2xx/ {print $NF}' "$f")" "$(($(steal_ms) - steal))" \
    "$(in_flight "$f")"
}
# At four connections the rows come from hey, which times each request itself: wrk's did
# not obey Little's law there (above). hey sends one token for (a).
hey_run() { # name connections hey-args...
  local name=$1 c=$2 steal f; shift 2
  f="$OUT/$name-c$c-$round.txt"
  steal=$(steal_ms)
  hey -z "${DURATION}s" -c "$c" "$@" >"$f" 2>&1
  printf 'round %s c%-3s %-6s %9s req/s  p50 %-8s p99 %-8s statuses %s  steal %s ms  in flight %s\n' "$round" "$c" "$name" \
    "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$f")" \
    "$(awk '$1=="50%" {printf "%.2fms", $3 * 1000}' "$f")" \
    "$(awk '$1=="99%" {printf "%.2fms", $3 * 1000}' "$f")" \
    "$(awk '/^ +\[[0-9]+\]/ {printf "%s%s", sep, $1 $2; sep=" "}' "$f")" "$(($(steal_ms) - steal))" \
    "$(awk '/Requests\/sec/ {r=$2} /Average:/ {a=$2} END {printf "%.1f", r * a}' "$f")"
}
for round in 1 2 3; do
  run me "$CONNS" -s bench/wrk/me.lua "$BASE"
  run first "$CONNS" "$BASE/api/v1/auth/revocations"
  run tip "$CONNS" "$BASE/api/v1/auth/revocations?after=$TIP"
  run 304 "$CONNS" -H "If-None-Match: $ETAG" "$BASE/api/v1/auth/revocations?after=$TIP"
done
for round in 1 2 3; do
  hey_run me 4 -H "Authorization: Bearer $(head -1 "$OUT/tokens")" "$BASE/api/v1/users/me"
  hey_run first 4 "$BASE/api/v1/auth/revocations"
  hey_run tip 4 "$BASE/api/v1/auth/revocations?after=$TIP"
  hey_run 304 4 -H "If-None-Match: $ETAG" "$BASE/api/v1/auth/revocations?after=$TIP"
done
