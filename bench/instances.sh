#!/usr/bin/env bash
# Throughput with 1, 2 and 3 doorman instances on one PostgreSQL behind nginx's round robin,
# all on this machine's cores: `bash bench/instances.sh`
#
# Uses the 10,000-user database of bench/million.sh (bench_million_10000: run that first)
# and its release build. For each N in 1 2 3 (ROUNDS times, alternating): N doorman
# processes, nginx (Debian's, started here with a generated configuration in bench/out/) in
# front, then wrk through nginx on (a) GET /api/v1/users/me and (b) login; and once per
# round (a) straight to one instance, to show what the proxy itself costs.
# Results: bench/out/instances/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNECTIONS:-32}"
HASH_CONNS="${BENCH_HASH_CONNECTIONS:-16}"
ROUNDS="${BENCH_ROUNDS:-2}"
USERS=10000
PASSWORD="bench password 7f3a9c"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_URL="${PG_ADMIN%/*}/bench_million_$USERS"
OUT=$PWD/bench/out/instances
PROXY_PORT=18590
mkdir -p "$OUT"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "needs nginx (Debian: apt-get install -y nginx-light)"; exit 1; }

if ! psql -qAt "$PG_ADMIN" -c "SELECT 1 FROM pg_database WHERE datname = 'bench_million_$USERS'" | grep -q 1; then
  echo "needs the database bench_million_$USERS: run bash bench/million.sh postgres first"; exit 1
fi
[ -n "${MILLION_NO_BUILD:-}${DOORMAN_BIN:-}" ] || cargo build --release --quiet --bin doorman
BIN="${DOORMAN_BIN:-target/release/doorman}"

PIDS=()
stop_all() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done; PIDS=(); }
trap stop_all EXIT

start_instances() { # n
  local i port
  for i in $(seq 1 "$1"); do
    port=$((18590 + i))
    DATABASE_URL="$DB_URL" DOORMAN_BIND="127.0.0.1:$port" DOORMAN_HASH_PRIORITY="${BENCH_HASH_PRIORITY:-0}" \
      DOORMAN_RATE_LIMIT_PER_SECOND=0 DOORMAN_HASH_QUEUE=256 DOORMAN_ACCESS_TTL=1h RUST_LOG=warn \
      "$BIN" serve >>"$OUT/server-$i.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local servers=""
  for i in $(seq 1 "$1"); do servers+="    server 127.0.0.1:$((18590 + i));"$'\n'; done
  mkdir -p "$OUT/nginx"
  cat >"$OUT/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/body;
  proxy_temp_path $OUT/nginx/proxy;
  fastcgi_temp_path $OUT/nginx/fastcgi;
  uwsgi_temp_path $OUT/nginx/uwsgi;
  scgi_temp_path $OUT/nginx/scgi;
  upstream doorman {
$servers    keepalive 64;
  }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location / {
      proxy_pass http://doorman;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
    }
  }
}
EOF
  "$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PROXY_PORT/health/ready" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "nginx did not answer"; cat "$OUT/nginx/error.log"; exit 1
}

tokens() { # base
  python3 - "$1" "$PASSWORD" "$OUT/access-tokens" <<'EOF'
import json, sys, urllib.request
base, password, out = sys.argv[1:4]
def login(i):
    body = json.dumps({"email": f"user{i}@bench.local", "password": password}).encode()
    req = urllib.request.Request(base + "/api/v1/auth/login", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["access_token"]
open(out, "w").write("\n".join(login(i) for i in range(2, 68) if i % 50) + "\n")
EOF
}

parse_wrk() {
  awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2} /Non-2xx/ {err=$5}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? 0 : err)}' "$1"
}
measure() { # label script connections url
  local file="$OUT/$(tr -c 'a-zA-Z0-9' _ <<<"$1").txt" rps p50 p99 err
  BENCH_TOKENS="$OUT/access-tokens" BENCH_USERS=$USERS BENCH_PASSWORD="$PASSWORD" \
    wrk -t2 -c"$3" -d"${DURATION}s" --timeout 10s --latency -s "bench/wrk/$2" "$4" >"$file" 2>&1 || true
  read -r rps p50 p99 err <<<"$(parse_wrk "$file")"
  printf '| %-48s | %10s | %9s | %9s | %6s |\n' "$1" "$rps" "$p50" "$p99" "$err" | tee -a "$OUT/results.md"
}

{
  echo
  echo "### 1, 2 and 3 instances behind nginx ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD), $(nproc) cores)"
  echo
  printf '| %-48s | %10s | %9s | %9s | %6s |\n' scenario req/s p50 p99 non-2xx
  printf '| %-48s | %10s | %9s | %9s | %6s |\n' --- ---: ---: ---: ---:
} | tee -a "$OUT/results.md"
for round in $(seq 1 "$ROUNDS"); do
  for n in 1 2 3; do
    start_instances "$n"
    tokens "http://127.0.0.1:$PROXY_PORT"
    psql -q "$DB_URL" -c ANALYZE
    [ "$n" != 1 ] || measure "(a) GET /users/me, 1 instance, no proxy ($round)" me.lua "$CONNS" "http://127.0.0.1:18591"
    measure "(a) GET /users/me, $n behind nginx ($round)" me.lua "$CONNS" "http://127.0.0.1:$PROXY_PORT"
    measure "(b) login, $n behind nginx ($round)" login.lua "$HASH_CONNS" "http://127.0.0.1:$PROXY_PORT"
    stop_all
  done
done
