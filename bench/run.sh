#!/usr/bin/env bash
# doorman's benchmark: `bash bench/run.sh [sqlite|postgres|all]` (default: all).
#
# Builds release, seeds 10,000 users, and drives doorman with wrk on this machine (load
# generator included). For each database it prints requests/s, p50 and p99 of
#   (a) GET /api/v1/users/me   (b) login   (c) register   (d) refresh (never-used tokens)
#   (e) (a) while a login flood runs at full tilt: closed loop (wrk, as fast as it goes),
#       and open loop (examples/loadgen.rs: a fixed rate, a tenth and a fifth of what (a)
#       reached, alone and during the flood, each request timed from when it was due; three
#       such pairs per rate, judged by their medians)
# next to the machine's ceilings (argon2id hashes/s on all cores; pgbench -S and -N) and the
# server's peak RSS in each run; and how long doorman takes to be ready on an existing
# SQLite database; then judges each result against its target, with every ceiling measured
# right beside the scenario it bounds. Results also go to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-all}"
DURATION="${BENCH_DURATION:-10}"   # seconds per scenario
CONNS="${BENCH_CONNECTIONS:-32}"   # connections for (a), (d) and pgbench
HASH_CONNS="${BENCH_HASH_CONNECTIONS:-16}" # connections for login/register
E_ROUNDS="${BENCH_E_ROUNDS:-3}"    # (e) open loop: alone/during pairs, judged by their medians
THREADS=2
USERS=10000
PASSWORD="bench password 7f3a9c"
PORT=18080
BASE="http://127.0.0.1:$PORT"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=bench/out
mkdir -p "$OUT"
rm -f "$OUT"/verdicts-*.md "$OUT"/*-a_rps

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "installing wrk (Debian)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | head -n 1 || true)

echo "== building release"
cargo build --release --quiet --bin doorman --example argon2_ceiling --example loadgen
BIN=target/release/doorman

SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
# The kernel's autogroups put each session's processes into one scheduling group, so that
# PostgreSQL's backends compete with doorman's idle-priority hashing threads as equals
# (see bench/RESULTS.md). BENCH_AUTOGROUP=0|1 sets it for this run (as root) and restores it.
AUTOGROUP=/proc/sys/kernel/sched_autogroup_enabled
AUTOGROUP_BEFORE=$(cat "$AUTOGROUP" 2>/dev/null || echo "")
restore() {
  stop_server
  if [ -n "${BENCH_AUTOGROUP:-}" ] && [ -n "$AUTOGROUP_BEFORE" ]; then echo "$AUTOGROUP_BEFORE" >"$AUTOGROUP"; fi
}
trap restore EXIT
if [ -n "${BENCH_AUTOGROUP:-}" ]; then echo "$BENCH_AUTOGROUP" >"$AUTOGROUP"; fi
echo "kernel $(uname -r), sched_autogroup_enabled=$(cat "$AUTOGROUP" 2>/dev/null || echo n/a)"

start_server() { # DATABASE_URL [hash priority]
  DATABASE_URL="$1" DOORMAN_HASH_PRIORITY="${2:-idle}" DOORMAN_BIND="127.0.0.1:$PORT" DOORMAN_RATE_LIMIT_PER_SECOND=0 \
    DOORMAN_HASH_QUEUE=256 RUST_LOG=warn "$BIN" serve >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    curl -sf "$BASE/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "doorman did not become ready"; cat "$OUT/server.log"; exit 1
}

# Peak RSS without sampling (a sampler forking every 100 ms would itself disturb the
# latencies): `reset_peak_rss` resets the kernel's high-water mark, `peak_rss` reads it.
reset_peak_rss() { echo 5 >"/proc/$SERVER_PID/clear_refs"; }
peak_rss() { awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$SERVER_PID/status"; }

# Prints "rps p50 p99 errors" for one wrk run.
run_wrk() { # name script connections [extra env...]
  local name=$1 script=$2 conns=$3
  wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency -s "bench/wrk/$script" "$BASE" >"$OUT/$name.txt" 2>&1
  awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2} /Non-2xx/ {err=$5}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? 0 : err)}' "$OUT/$name.txt"
}

row() { printf '| %-44s | %9s | %9s | %9s | %6s | %9s |\n' "$@"; }

echo "== argon2id ceiling"
ARGON=$(target/release/examples/argon2_ceiling 5)
echo "$ARGON"

# The machine's speed drifts by a quarter within minutes, so every hashing scenario is
# judged against the ceiling measured right before and right after it (their mean).
ceiling() { target/release/examples/argon2_ceiling 3 | awk '{print $(NF-4)}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (a + b) / 2}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f %%", (b > 0 ? 100 * a / b : 0)}'; }
ms() { # a wrk or loadgen duration (850.00us, 1.20ms, 1.5s) in ms
  awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1000; else if (d ~ /ms$/) v += 0; else if (d ~ /s$/) v *= 1000; printf "%.3f", v }'
}
# Appends one line to the run's verdicts, which are printed after its table.
verdict() { echo "$*" >>"$OUT/verdicts-$label.md"; }

# (e): /users/me at full speed while a login flood runs; the hashing threads at priority $2.
flood_scenario() { # label priority
  local label=$1 priority=$2 r rps p50 p99 err before after
  before=$(ceiling)
  reset_peak_rss
  wrk -t1 -c"$HASH_CONNS" -d"$((DURATION + 2))s" --latency -s bench/wrk/login.lua "$BASE" >"$OUT/$label-e_flood_$priority.txt" 2>&1 &
  local flood=$!
  sleep 1
  r=$(run_wrk "$label-e_me_during_flood_$priority" me.lua "$CONNS")
  wait "$flood" || true
  read -r rps p50 p99 err <<<"$r"
  row "e_me_during_flood, hash priority $priority (c=$CONNS)" "$rps" "$p50" "$p99" "$err" "$(peak_rss)" | tee -a "$OUT/results-$label.md"
  r=$(awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2} /Non-2xx/ {err=$5}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? 0 : err)}' "$OUT/$label-e_flood_$priority.txt")
  read -r rps p50 p99 err <<<"$r"
  row "e_the_login_flood, hash priority $priority (c=$HASH_CONNS)" "$rps" "$p50" "$p99" "$err" "" | tee -a "$OUT/results-$label.md"
  after=$(ceiling)
  verdict "- (e) closed loop, hashing at priority $priority: the flood got $(pct "$rps" "$(mean "$before" "$after")") of the ceiling beside it ($before, $after)"
}

# (e), open loop: /users/me at a fixed rate, alone and then while the login flood runs.
open_loop_scenario() { # label rate
  local label=$1 rate=$2 alone during flood before after round r rps p50 p99 err
  local loadgen=(target/release/examples/loadgen --url "$BASE/api/v1/users/me" --rate "$rate"
    --duration "$DURATION" --connections "$CONNS" --tokens "$BENCH_TOKENS")
  local alone_p99=() during_p99=() shares=()
  for round in $(seq 1 "$E_ROUNDS"); do
    alone=$("${loadgen[@]}" | tee "$OUT/$label-e_open_me_alone.txt" | awk '/^rate_target=/')
    before=$(ceiling)
    reset_peak_rss
    wrk -t1 -c"$HASH_CONNS" -d"$((DURATION + 2))s" --latency -s bench/wrk/login.lua "$BASE" >"$OUT/$label-e_open_flood.txt" 2>&1 &
    flood=$!
    sleep 1
    during=$("${loadgen[@]}" | tee "$OUT/$label-e_open_me_during_flood.txt" | awk '/^rate_target=/')
    wait "$flood" || true
    open_row "e_open_me_alone at $rate/s ($round)" "$alone" ""
    open_row "e_open_me_during_flood at $rate/s ($round)" "$during" "$(peak_rss)"
    r=$(awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2} /Non-2xx/ {err=$5}
         END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? 0 : err)}' "$OUT/$label-e_open_flood.txt")
    read -r rps p50 p99 err <<<"$r"
    row "e_open_the_login_flood ($round, c=$HASH_CONNS)" "$rps" "$p50" "$p99" "$err" "" | tee -a "$OUT/results-$label.md"
    after=$(ceiling)
    alone_p99+=("$(ms "$(sed -n 's/.* p99=\([^ ]*\).*/\1/p' <<<"$alone")")")
    during_p99+=("$(ms "$(sed -n 's/.* p99=\([^ ]*\).*/\1/p' <<<"$during")")")
    shares+=("$(awk -v r="$rps" -v c="$(mean "$before" "$after")" 'BEGIN {printf "%.1f", (c > 0 ? 100 * r / c : 0)}')")
  done
  local a d
  a=$(median "${alone_p99[@]}")
  d=$(median "${during_p99[@]}")
  verdict "- (e) open loop at $rate/s, median of $E_ROUNDS rounds: p99 $a → $d ms ($(awk -v a="$a" -v d="$d" 'BEGIN {printf "%.2f", (a > 0 ? d / a : 0)}')×; target ≤ 2×), the flood at $(median "${shares[@]}") % of the ceiling beside it (target ≥ 70 %); rounds: p99 alone ${alone_p99[*]} ms, during ${during_p99[*]} ms, flood ${shares[*]} %"
}

# One table row from a loadgen summary line.
open_row() { # name summary rss
  local achieved p50 p99 bad
  achieved=$(sed -n 's/.*achieved=\([0-9.]*\).*/\1/p' <<<"$2")
  p50=$(sed -n 's/.* p50=\([^ ]*\).*/\1/p' <<<"$2")
  p99=$(sed -n 's/.* p99=\([^ ]*\).*/\1/p' <<<"$2")
  bad=$(awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "errors" || kv[1] == "non2xx") n += kv[2] }} END {print n + 0}' <<<"$2")
  row "$1" "$achieved" "$p50" "$p99" "$bad" "$3" | tee -a "$OUT/results-$label.md"
}

# pgbench at (a)'s and (d)'s connection count, right after the scenario it is the ceiling of.
pgbench_verdict() { # S|N doorman_rps what target_percent
  local tps
  tps=$("$PGBENCH" -M prepared -"$1" -c "$CONNS" -j "$THREADS" -T "$DURATION" "$PG_BASE/doorman_pgbench" 2>/dev/null \
    | awk '/^tps/ {print $3; exit}')
  echo "pgbench -$1 -M prepared -c $CONNS -j $THREADS: $tps tps" | tee -a "$OUT/results-$label.md"
  verdict "- $3 $2 req/s = $(pct "$2" "$tps") of \`pgbench -$1 -M prepared\` ($tps tps, right after it; target ≥ $4 %)"
}

bench_db() { # label database_url
  local label=$1 url=$2
  echo
  echo "== $label"
  start_server "$url"
  python3 bench/seed.py "$BASE" "$url" "$USERS" "$PASSWORD" "$OUT" $((CONNS * 2)) "$THREADS"
  export BENCH_TOKENS="$OUT/access-tokens" BENCH_USERS="$USERS" BENCH_PASSWORD="$PASSWORD" BENCH_REFRESH_DIR="$OUT/refresh"

  {
    echo "### $label"
    echo
    row "scenario" "req/s" "p50" "p99" "non-2xx" "peak RSS"
    row "---" "---:" "---:" "---:" "---:" "---:"
  } >"$OUT/results-$label.md"

  : >"$OUT/verdicts-$label.md"
  local name script conns r me_rps=0 before after
  for spec in "a_me:me.lua:$CONNS" "b_login:login.lua:$HASH_CONNS" "c_register:register.lua:$HASH_CONNS" "d_refresh:refresh.lua:$CONNS"; do
    IFS=: read -r name script conns <<<"$spec"
    if [ "$script" = login.lua ] || [ "$script" = register.lua ]; then before=$(ceiling); fi
    reset_peak_rss
    r=$(run_wrk "$label-$name" "$script" "$conns")
      read -r rps p50 p99 err <<<"$r"
    row "$name (c=$conns)" "$rps" "$p50" "$p99" "$err" "$(peak_rss)" | tee -a "$OUT/results-$label.md"
    [ "$name" = a_me ] && me_rps=$rps
    if [ "$label" = postgres ] && [ -n "$PGBENCH" ]; then
      case $name in
        a_me) pgbench_verdict S "$rps" "(a) /users/me" 50 ;;
        d_refresh) pgbench_verdict N "$rps" "(d) refresh" 50 ;;
      esac
    fi
    if [ "$script" = login.lua ] || [ "$script" = register.lua ]; then
      after=$(ceiling)
      verdict "- (${name%%_*}) ${name#*_} $rps/s = $(pct "$rps" "$(mean "$before" "$after")") of the argon2id ceiling beside it ($before, $after; target ≥ 90 %)"
    fi
  done
  echo "$me_rps" >"$OUT/$label-a_rps"

  for share in 10 5; do
    open_loop_scenario "$label" "$(awk -v r="$me_rps" -v s="$share" 'BEGIN {printf "%d", r / s}')"
  done
  flood_scenario "$label" idle
  stop_server
  start_server "$url" 0
  flood_scenario "$label" 0
  stop_server

  if [ "$label" = sqlite ]; then
    local start end
    start=$(date +%s%N)
    start_server "$url"
    end=$(date +%s%N)
    echo "ready on an existing SQLite database: $(( (end - start) / 1000000 )) ms (incl. the 50 ms poll step)" | tee -a "$OUT/results-$label.md"
    stop_server
  fi
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = all ]; then
  rm -f "$OUT"/bench.db*
  bench_db sqlite "sqlite://$OUT/bench.db"
fi

if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  PG_BASE="${PG_ADMIN%/*}"
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_bench WITH (FORCE)" -c "CREATE DATABASE doorman_bench"
  if [ -n "$PGBENCH" ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_pgbench WITH (FORCE)" -c "CREATE DATABASE doorman_pgbench"
    "$PGBENCH" -q -i -s 10 "$PG_BASE/doorman_pgbench" >/dev/null 2>&1
  fi
  bench_db postgres "$PG_BASE/doorman_bench"
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_bench WITH (FORCE)" -c "DROP DATABASE IF EXISTS doorman_pgbench WITH (FORCE)"
fi

for label in sqlite postgres; do
  [ -s "$OUT/verdicts-$label.md" ] || continue
  echo
  echo "== $label against the targets"
  cat "$OUT/verdicts-$label.md"
done
if [ "$WHICH" = all ]; then
  echo "- (a) SQLite $(cat "$OUT/sqlite-a_rps") req/s against PostgreSQL $(cat "$OUT/postgres-a_rps") (target: higher)"
fi

echo
echo "$ARGON" | tee "$OUT/argon2.txt"
echo "results: $OUT/results-*.md"
