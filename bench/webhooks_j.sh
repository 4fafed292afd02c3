#!/usr/bin/env bash
# (j), the webhook half:
#   register  (c) POST /api/v1/users by wrk, with and without an active webhook subscribed
#             to `user.registered` (alternating rounds, one sink for all): target ≤ 5 %
#             slower with it. A single round varies by a fifth on a two-core machine; the
#             figure to trust is the median of many (`BENCH_DURATION=15 … sqlite 20`);
#   delivery  EVENTS pending deliveries put in the outbox at once (one real delivery copied
#             in SQL), drained by doorman's delivery loop to examples/webhook_sink.rs on
#             loopback, which reads each and answers 204 at once: target ≥ 1,000 events/s,
#             timed by the sink from the first arrival to the last.
#   bash bench/webhooks_j.sh [sqlite|postgres] [ROUNDS (3)]
# Needs wrk, curl, python3 (and psql for PostgreSQL); builds release unless DOORMAN_BIN is set.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-sqlite}"
ROUNDS="${2:-3}"
DURATION="${BENCH_DURATION:-10}"
HASH_CONNS="${BENCH_HASH_CONNECTIONS:-16}"
EVENTS="${BENCH_EVENTS:-20000}"
PORT=18092 SINK_PORT=18093
BASE="http://127.0.0.1:$PORT"
PASSWORD="bench password 7f3a9c"
ADMIN=admin@bench.local
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=bench/out/webhooks
mkdir -p "$OUT"
rm -rf "${OUT:?}"/*

# DOORMAN_BIN=<path> uses that binary (and the sink beside the release build) unbuilt.
if [ -z "${DOORMAN_BIN:-}" ]; then
  echo "== building release"
  cargo build --release --quiet --bin doorman --example webhook_sink
fi
BIN="${DOORMAN_BIN:-target/release/doorman}"
SINK=target/release/examples/webhook_sink

case "$WHICH" in
  sqlite) DB_URL="sqlite://$OUT/bench.db" ;;
  postgres)
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_webhooks_bench" -c "CREATE DATABASE doorman_webhooks_bench"
    DB_URL="${PG_ADMIN%/*}/doorman_webhooks_bench"
    ;;
  *) echo "usage: bench/webhooks_j.sh [sqlite|postgres] [ROUNDS]"; exit 1 ;;
esac

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ "$WHICH" != postgres ] || psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_webhooks_bench WITH (FORCE)" || true
}
trap cleanup EXIT

DATABASE_URL="$DB_URL" DOORMAN_BIND="127.0.0.1:$PORT" DOORMAN_RATE_LIMIT_PER_SECOND=0 \
  DOORMAN_HASH_PRIORITY=idle DOORMAN_HASH_QUEUE=256 DOORMAN_WEBHOOK_ALLOW_PRIVATE=true \
  DOORMAN_BOOTSTRAP_ADMIN_EMAIL="$ADMIN" DOORMAN_BOOTSTRAP_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn \
  "$BIN" serve >"$OUT/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do curl -sf "$BASE/health/ready" >/dev/null 2>&1 && break; sleep 0.05; done

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
api() { # method path [body]
  curl -sf -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
TOKEN=$(curl -sf "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$ADMIN\",\"password\":\"$PASSWORD\"}" | json "['access_token']")
sink() { # expect timeout: a sink in the background, its output in $OUT/sink.out
  "$SINK" --bind "127.0.0.1:$SINK_PORT" --expect "$1" --timeout "$2" >"$OUT/sink.out" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  for _ in $(seq 1 100); do grep -q listening "$OUT/sink.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "the sink did not start"; cat "$OUT/sink.out"; exit 1
}
# PostgreSQL's autovacuum analyses a table once a tenth of it changed; where it is off, as in
# this machine's PostgreSQL (conf.d/90-ci.conf), the planner keeps the estimates of the
# empty tables that migrations created, and doorman's connections keep the plans they cached
# while `webhook_deliveries` was tiny (a sequential scan of it for every claim and record).
# `settle` runs ANALYZE before each measured run, as autovacuum would have done by then (as
# bench/run.sh does), and on both databases waits 2 s, so that what the previous run left
# in flight (up to 16 registrations in the hash queue) is done before either variant starts.
settle() {
  [ "$WHICH" != postgres ] || psql -q "$DB_URL" -c ANALYZE
  sleep 2
}
register() { # seconds: registrations per second
  BENCH_PASSWORD="$PASSWORD" wrk -t 2 -c "$HASH_CONNS" -d "${1}s" -s bench/wrk/register.lua "$BASE" | awk '/Requests\/sec/ {print $2}'
}
# One sink answers every measured round: a round with a subscriber creates the endpoint,
# registers, lets what was queued go out and deletes the endpoint; a round without has no
# endpoint at all. Short rounds, many of them, alternating, so the machine's drift (tens of
# percent over minutes here) falls on both sides of each ratio.
subscribe() { WEBHOOK=$(api POST /api/v1/admin/webhooks "{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\",\"events\":[\"user.registered\"]}" | json "['id']"); }
unsubscribe() { sleep 2; api DELETE "/api/v1/admin/webhooks/$WEBHOOK" >/dev/null; } # what is queued goes out first
subscribed() { subscribe; RATE=$(register "$1"); unsubscribe; } # seconds: the rate into $RATE
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.3f}')" "$@"; }

echo "== (j) register with and without a webhook on user.registered ($WHICH)"
sink 1000000000 $((ROUNDS * (2 * DURATION + 10) + 60))
REGISTER_SINK=$SINK_PID
subscribed 5 # unmeasured: the tables and the connections' plans see deliveries first
: >"$OUT/rounds"
for round in $(seq 1 "$ROUNDS"); do
  order="without with"; [ $((round % 2)) = 0 ] && order="with without"
  for variant in $order; do
    settle
    if [ "$variant" = with ]; then
      subscribed "$DURATION"
      with=$RATE
    else
      without=$(register "$DURATION")
    fi
  done
  echo "$without $with" >>"$OUT/rounds"
  echo "round $round: register without $without/s, with $with/s: with/without = $(ratio "$with" "$without") (target ≥ 0.95)" | tee -a "$OUT/verdicts"
done
[ "$ROUNDS" = 0 ] || python3 - "$OUT/rounds" <<'EOF2' | tee -a "$OUT/verdicts"
import statistics, sys
rounds = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
ratios = sorted(with_ / without for without, with_ in rounds)
total = sum(w for _, w in rounds) / sum(wo for wo, _ in rounds)
print(f"register: median with/without {statistics.median(ratios):.3f} of {len(ratios)} rounds"
      f" (middle half {ratios[len(ratios) // 4]:.3f}–{ratios[(3 * len(ratios)) // 4]:.3f}),"
      f" all rounds' rates {total:.3f} (target ≥ 0.95)")
EOF2
kill "$REGISTER_SINK" 2>/dev/null || true; wait "$REGISTER_SINK" 2>/dev/null || true

echo "== (j) delivery: $EVENTS events drained to a sink on loopback ($WHICH)"
sink 1 30
id=$(api POST /api/v1/admin/webhooks "{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\",\"events\":[\"*\"]}" | json "['id']")
curl -sf "$BASE/api/v1/users" -H 'Content-Type: application/json' \
  -d "{\"email\":\"template@bench.local\",\"password\":\"$PASSWORD\"}" >/dev/null
wait "$SINK_PID" # the template delivery arrived
# The sink waits first; then the template's row, copied EVENTS times as new pending events in
# one transaction, which the delivery loop finds at its next poll.
sink "$EVENTS" 120
if [ "$WHICH" = sqlite ]; then
  python3 - "${DB_URL#sqlite://}" "$EVENTS" "$id" <<'EOF'
import sqlite3, sys, uuid
path, events, endpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = sqlite3.connect(path, timeout=30)
row = db.execute("SELECT type, payload, created_at FROM webhook_deliveries WHERE endpoint_id = ? LIMIT 1", (endpoint,)).fetchone()
db.executemany(
    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, type, payload, status, attempts, next_attempt_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
    [(str(uuid.uuid4()), endpoint, str(uuid.uuid4()), row[0], row[1], row[2], row[2]) for _ in range(events)],
)
db.commit()
EOF
else
  psql -q -v ON_ERROR_STOP=1 "$DB_URL" -c "
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, type, payload, status, attempts, next_attempt_at, created_at)
    SELECT gen_random_uuid(), d.endpoint_id, gen_random_uuid(), d.type, d.payload, 'pending', 0, d.created_at, d.created_at
    FROM (SELECT * FROM webhook_deliveries WHERE endpoint_id = '$id' LIMIT 1) d, generate_series(1, $EVENTS)"
fi
wait "$SINK_PID" || { echo "the sink did not receive $EVENTS deliveries in time"; cat "$OUT/sink.out"; exit 1; }
line=$(grep received= "$OUT/sink.out")
echo "delivery: $line (target ≥ 1000/s)" | tee -a "$OUT/verdicts"
echo
cat "$OUT/verdicts"
