#!/usr/bin/env bash
# (a) and (f) side by side, three alternating rounds, on the release build and SQLite, without
# the rest of run.sh (no seeding of 10,000 users, no floods): for a quick look at the console's
# cost. `cargo build --release` first.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp -d); BASE=http://127.0.0.1:18080; PASSWORD='correct horse battery staple'
export DATABASE_URL="sqlite://$OUT/bench.db" DOORMAN_BIND=127.0.0.1:18080 DOORMAN_RATE_LIMIT_PER_SECOND=0 RUST_LOG=warn
./target/release/doorman serve >"$OUT/server.log" 2>&1 & PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.2; done
: >"$OUT/tokens"
for i in $(seq 1 20); do
  curl -sf "$BASE/api/v1/users" -H 'content-type: application/json' -d "{\"email\": \"user$i@bench.local\", \"password\": \"$PASSWORD\"}" >/dev/null
  curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' -d "{\"email\": \"user$i@bench.local\", \"password\": \"$PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' >>"$OUT/tokens"
done
token=$(head -n 1 "$OUT/tokens")
for i in $(seq 1 50); do
  curl -sf -o /dev/null "$BASE/api/v1/tasks" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "{\"title\": \"Task $i of the benchmark\"}"
done
jar="$OUT/jar"
csrf=$(curl -sf -c "$jar" "$BASE/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
curl -sf -o /dev/null -b "$jar" -c "$jar" "$BASE/login" -H "origin: $BASE" --data-urlencode "csrf=$csrf" --data-urlencode "identifier=user1@bench.local" --data-urlencode "password=$PASSWORD"
export BENCH_TOKENS="$OUT/tokens" BENCH_COOKIE=$(awk '$6 ~ /doorman_session$/ {print $6 "=" $7}' "$jar")
curl -s -o /dev/null -w 'dashboard check: %{http_code}\n' -H "Cookie: $BENCH_COOKIE" "$BASE/dashboard"
# (f) itself, then what its cost is made of, in the same rounds: the page without gzip
# ("plain"), and the same trip to the database with an empty list ("empty": ?show=done).
run() { # name script [env...]
  local name=$1 script=$2; shift 2
  env "$@" wrk -t2 -c32 -d8s --latency -s "bench/wrk/$script.lua" "$BASE" >"$OUT/$name-$round.txt" 2>&1
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$name-$round.txt"); p99=$(awk '$1=="99%" {print $2}' "$OUT/$name-$round.txt")
  non=$(awk '/Non-2xx/ {print $NF}' "$OUT/$name-$round.txt"); echo "round $round $name: $rps req/s, p99 $p99, non-2xx ${non:-0}"
}
for round in 1 2 3; do
  run me me
  run dashboard dashboard
  run dashboard-plain dashboard BENCH_ENCODING=-
  run dashboard-empty dashboard BENCH_PATH='/dashboard?show=done'
done
plain=$(curl -s -o /dev/null -w '%{size_download}' -H "Cookie: $BENCH_COOKIE" "$BASE/dashboard")
gz=$(curl -s -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: gzip' -H "Cookie: $BENCH_COOKIE" "$BASE/dashboard")
echo "dashboard page: $plain bytes, $gz gzipped"
page=$(curl -s --compressed -o "$OUT/login.html" -w '%{size_download}' "$BASE/login")
css=$(curl -s --compressed -o /dev/null -w '%{size_download}' "$BASE$(grep -o '/assets/app\.[0-9a-f]*\.css' "$OUT/login.html")")
echo "first visit: $((page + css)) bytes compressed (login $page + css $css)"
