#!/usr/bin/env bash
# doorman's benchmark: `bash bench/run.sh [sqlite|postgres|all]` (default: all).
#
# Builds release, seeds 10,000 users, and drives doorman with wrk on this machine (load
# generator included). For each database it prints requests/s, p50 and p99 of
#   (a) GET /api/v1/users/me   (b) login   (c) register   (d) refresh (never-used tokens)
#   (f) GET /dashboard, the console's task page, with a cookie session and 50 tasks (right
#       after (a), judged against it), and the console's first visit's transfer size
#   (e) (a) while a login flood runs at full tilt: closed loop (wrk, as fast as it goes),
#       and open loop (examples/loadgen.rs: a fixed rate, a tenth and a fifth of what (a)
#       reached, alone and during the flood, each request timed from when it was due; three
#       such pairs per rate, judged by their medians); and refreshes the same way, at a
#       tenth of what (d) reached
#
# Needs cargo, curl and python3; for PostgreSQL a server at BENCH_PG_URL (a superuser's
# URL, default postgres://postgres@127.0.0.1:5432/postgres) with psql and pgbench beside
# it; wrk is installed from Debian's packages when missing (as root). As root the run also
# resets the peak RSS before each scenario; otherwise each peak is the peak since start.
# next to the machine's ceilings (argon2id hashes/s on all cores; pgbench -S and -N) and the
# server's peak RSS in each run; and how long doorman takes to be ready on an existing
# SQLite database; then judges each result against its target, with every ceiling measured
# right beside the scenario it bounds, and (a) on the two databases side by side, in
# alternating rounds. Results also go to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-all}"
DURATION="${BENCH_DURATION:-10}"   # seconds per scenario
CONNS="${BENCH_CONNECTIONS:-32}"   # connections for (a), (d) and pgbench
HASH_CONNS="${BENCH_HASH_CONNECTIONS:-16}" # connections for login/register
E_ROUNDS="${BENCH_E_ROUNDS:-3}"    # (e) open loop: alone/during pairs, judged by their medians
[[ $E_ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_E_ROUNDS must be a whole number of at least 1"; exit 1; }
THREADS=2
USERS=10000
PASSWORD="bench password 7f3a9c"
PORT=18080
BASE="http://127.0.0.1:$PORT"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=bench/out
mkdir -p "$OUT"
rm -f "$OUT"/verdicts-*.md "$OUT"/*-a_rps "$OUT"/*-rss "$OUT"/*-e_open_*

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "installing wrk (Debian)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | head -n 1 || true)
for tool in cargo curl python3; do need "$tool" || { echo "bench/run.sh needs $tool"; exit 1; }; done
if [ "$WHICH" != sqlite ]; then
  # PostgreSQL's scenarios are judged against pgbench's ceilings: without it there is no run.
  for tool in psql "$PGBENCH"; do
    need "$tool" || { echo "the PostgreSQL run needs psql and pgbench (Debian: postgresql-client, postgresql)"; exit 1; }
  done
fi

echo "== building release"
cargo build --release --quiet --bin doorman --example argon2_ceiling --example loadgen
BIN=target/release/doorman

SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT
echo "kernel $(uname -r), sched_autogroup_enabled=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)"

# Access tokens live for an hour here (15 minutes by default), so that the tokens seeded at
# the start still work in the last scenarios of a long run.
start_server() { # DATABASE_URL [hash priority]
  env DATABASE_URL="$1" DOORMAN_HASH_PRIORITY="${2:-idle}" DOORMAN_BIND="127.0.0.1:$PORT" \
    DOORMAN_RATE_LIMIT_PER_SECOND=0 DOORMAN_HASH_QUEUE=256 DOORMAN_ACCESS_TTL=1h RUST_LOG=warn \
    "$BIN" serve >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    curl -sf "$BASE/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "doorman did not become ready"; cat "$OUT/server.log"; exit 1
}

# PostgreSQL's autovacuum would analyze the tables as the scenarios grow them (sessions from
# 64 to thousands); where it is off, as in this machine's PostgreSQL (conf.d/90-ci.conf), the
# planner keeps the estimates of the near-empty tables that migrations created, and the plans
# that doorman's connections cached when the sessions table was tiny (a sequential scan of
# it for every batched lookup). `settle` runs ANALYZE between scenarios, outside every
# measured window, as autovacuum would have done by then; on SQLite it does nothing.
settle() {
  [ "$DB_LABEL" != postgres ] || psql -q "$DB_URL" -c ANALYZE
}

# Peak RSS without sampling (a sampler forking every 100 ms would itself disturb the
# latencies): `reset_peak_rss` resets the kernel's high-water mark, `peak_rss` reads it (and
# keeps it for the RSS verdict). Where the kernel cannot reset it, the peak is since start.
reset_peak_rss() { { echo 5 >"/proc/$SERVER_PID/clear_refs"; } 2>/dev/null || true; }
peak_rss() { # label
  local kib
  kib=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  echo "$kib" >>"$OUT/$1-rss"
  awk -v k="$kib" 'BEGIN {printf "%.1f MiB", k / 1024}'
}

# "rps p50 p99 non-2xx" from a wrk report.
parse_wrk() { # file
  awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2} /Non-2xx/ {err=$5}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? 0 : err)}' "$1"
}
run_wrk() { # name script connections
  wrk -t"$THREADS" -c"$3" -d"${DURATION}s" --latency -s "bench/wrk/$2" "$BASE" >"$OUT/$1.txt" 2>&1
  parse_wrk "$OUT/$1.txt"
}
# The login flood, in the background for DURATION + 2 s (its report in $1, its pid in FLOOD).
start_flood() { # report file
  wrk -t1 -c"$HASH_CONNS" -d"$((DURATION + 2))s" --latency -s bench/wrk/login.lua "$BASE" >"$1" 2>&1 &
  FLOOD=$!
  sleep 1
}

# (f)'s user: user1 with 50 tasks, signed in through the console's login form; prints the
# session cookie's "name=value".
console_session() {
  local jar="$OUT/console-cookies" csrf token i
  rm -f "$jar"
  token=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\": \"user1@bench.local\", \"password\": \"$PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  for i in $(seq 1 50); do
    curl -sf -o /dev/null "$BASE/api/v1/tasks" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d "{\"title\": \"Task $i of the benchmark\"}"
  done
  csrf=$(curl -sf -c "$jar" "$BASE/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
  curl -sf -o /dev/null -b "$jar" -c "$jar" "$BASE/login" -H "origin: $BASE" \
    --data-urlencode "csrf=$csrf" --data-urlencode "identifier=user1@bench.local" \
    --data-urlencode "password=$PASSWORD"
  awk '$6 ~ /doorman_session$/ {print $6 "=" $7}' "$jar"
}
# The compressed bytes of a first visit to the console: the login page and its stylesheet.
first_visit_bytes() {
  local page css
  page=$(curl -s --compressed -o "$OUT/login.html" -w '%{size_download}' "$BASE/login")
  css=$(curl -s --compressed -o /dev/null -w '%{size_download}' "$BASE$(grep -o '/assets/app\.[0-9a-f]*\.css' "$OUT/login.html")")
  echo $((page + css))
}

row() { printf '| %-44s | %9s | %9s | %9s | %6s | %9s |\n' "$@"; }
# One row of a run's table, printed and kept in its results file.
record() { # label name req/s p50 p99 non-2xx rss
  local label=$1
  shift
  row "$@" | tee -a "$OUT/results-$label.md"
}

echo "== argon2id ceiling"
ARGON=$(target/release/examples/argon2_ceiling 5)
echo "$ARGON"

# The machine's speed drifts by a quarter within minutes, so every hashing scenario is
# judged against the ceiling measured right before and right after it (their mean).
ceiling() { target/release/examples/argon2_ceiling 3 | awk '{print $(NF-4)}'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (a + b) / 2}'; }
# What RATE is of the mean of the ceilings measured before and after it, in per cent.
share_of() { percent "$1" "$(mean "$2" "$3")"; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0 && a != "") printf "%.1f", 100 * a / b; else print "nan"}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
# A field of a loadgen summary line (rate_target=… achieved=…/s p50=1.20ms …).
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# loadgen prints latencies as 1.20ms, or n/a when nothing came back.
ms() { case $1 in *ms) echo "${1%ms}" ;; *) echo nan ;; esac; }
# "met" when awk finds CONDITION true of x (nan never is).
judge() { awk -v x="$1" "BEGIN {print (x != \"nan\" && x != \"\" && ($2)) ? \"met\" : \"missed\"}"; }
# One line of a run's verdicts, printed after its tables.
verdict() { echo "- $2" >>"$OUT/verdicts-$1.md"; }

# (e): /users/me at full speed while a login flood runs; the hashing threads at priority $2.
flood_scenario() { # label priority
  local label=$1 priority=$2 rps p50 p99 err before after
  before=$(ceiling)
  reset_peak_rss
  start_flood "$OUT/$label-e_flood_$priority.txt"
  read -r rps p50 p99 err <<<"$(run_wrk "$label-e_me_during_flood_$priority" me.lua "$CONNS")"
  wait "$FLOOD" || true
  settle
  record "$label" "e_me_during_flood, hash priority $priority (c=$CONNS)" "$rps" "$p50" "$p99" "$err" "$(peak_rss "$label")"
  read -r rps p50 p99 err <<<"$(parse_wrk "$OUT/$label-e_flood_$priority.txt")"
  record "$label" "e_the_login_flood, hash priority $priority (c=$HASH_CONNS)" "$rps" "$p50" "$p99" "$err" ""
  after=$(ceiling)
  verdict "$label" "no target: (e) closed loop, hashing at priority $priority: the flood got $(share_of "$rps" "$before" "$after") % of the ceiling beside it ($before, $after)"
}

# (e), open loop: /users/me (or refreshes) at a fixed rate, alone and then while the login
# flood runs; E_ROUNDS such pairs, judged by the median of their p99 ratios and of the
# flood's shares.
open_loop_scenario() { # label me|refresh rate [what differs, for the verdict]
  local label=$1 what=$2 rate=$3 how=${4:-} round alone during before after rps p50 p99 err bad=0 file
  local loadgen=(target/release/examples/loadgen --rate "$rate" --duration "$DURATION" --connections "$CONNS")
  case $what in
    me) loadgen+=(--url "$BASE/api/v1/users/me" --tokens "$BENCH_TOKENS") ;;
    refresh) loadgen+=(--url "$BASE/api/v1/auth/refresh" --refresh "$OUT/refresh-chains") ;;
  esac
  local ratios=() shares=() rounds=()
  for round in $(seq 1 "$E_ROUNDS"); do
    file="$OUT/$label-e_open_${what}_${rate}${how:+_alt}_$round"
    alone=$("${loadgen[@]}" | tee "$file-alone.txt" | awk '/^rate_target=/') || true
    fresh_chains "$what" "$alone"
    before=$(ceiling)
    reset_peak_rss
    start_flood "$file-flood.txt"
    during=$("${loadgen[@]}" | tee "$file-during.txt" | awk '/^rate_target=/') || true
    wait "$FLOOD" || true
    fresh_chains "$what" "$during"
    settle
    open_row "$label" "e_open_${what}_alone at $rate/s${how:+, $how} ($round)" "$alone" ""
    open_row "$label" "e_open_${what}_during_flood at $rate/s${how:+, $how} ($round)" "$during" "$(peak_rss "$label")"
    read -r rps p50 p99 err <<<"$(parse_wrk "$file-flood.txt")"
    record "$label" "e_open_the_login_flood${how:+, $how} ($round, c=$HASH_CONNS)" "$rps" "$p50" "$p99" "$err" ""
    after=$(ceiling)
    bad=$((bad + $(failures "$alone") + $(failures "$during") + err))
    ratios+=("$(awk -v a="$(ms "$(field p99 "$alone")")" -v d="$(ms "$(field p99 "$during")")" \
      'BEGIN {if (a != "nan" && d != "nan" && a > 0) printf "%.2f", d / a; else print "nan"}')")
    shares+=("$(share_of "$rps" "$before" "$after")")
    rounds+=("$(field p99 "$alone") → $(field p99 "$during") at ${shares[-1]} %")
  done
  local ratio share outcome
  ratio=$(median "${ratios[@]}")
  share=$(median "${shares[@]}")
  outcome=$(judge "$ratio" "x <= 2")
  [ "$(judge "$share" "x >= 70")" = met ] || outcome=missed
  case " ${ratios[*]} ${shares[*]} " in *" nan "*) outcome=missed ;; esac
  [ "$bad" -eq 0 ] || outcome="missed ($bad failed requests)"
  local target="/users/me"
  [ "$what" = me ] || target="refreshes (never-used tokens)"
  verdict "$label" "$outcome: (e) $target, open loop at $rate/s${how:+, $how}, median of $E_ROUNDS rounds: p99 during the flood ${ratio}× that alone (target ≤ 2×), the flood at $share % of the ceiling beside it (target ≥ 70 %); rounds (p99 alone → during, flood): $(IFS=';'; echo "${rounds[*]}" | sed 's/;/; /g')"
}

# The open loop at a tenth and at a fifth of what (a) reached.
open_loops() { # label a_rps [what differs, for the verdict]
  local share
  for share in 10 5; do
    open_loop_scenario "$1" me "$(awk -v r="$2" -v s="$share" 'BEGIN {printf "%d", r / s}')" "${3:-}"
  done
}

# Refreshes during the flood: one session per connection, signed in here, outside every
# measured window; loadgen refreshes each in a chain (every token used once) and leaves the
# chains' latest tokens in the file for the next run.
refresh_chains() {
  local i
  for i in $(seq 1 "$CONNS"); do
    { curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
      -d "{\"email\":\"user$i@bench.local\",\"password\":\"$PASSWORD\"}"; echo; } \
      | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p'
  done >"$OUT/refresh-chains"
  [ "$(wc -l <"$OUT/refresh-chains")" -eq "$CONNS" ] || { echo "could not sign in $CONNS sessions for (e)'s refreshes"; exit 1; }
}

# After a refresh run with any failure (a chain that broke, or a run that ended early and
# left its file with tokens already used), sessions anew for the next, outside every
# measured window; the failures still count against the run that had them.
fresh_chains() { # me|refresh summary
  [ "$1" = refresh ] && [ "$(failures "$2")" -ne 0 ] && refresh_chains || true
}

# Errors plus non-2xx answers in a loadgen summary line; one when the line is missing.
failures() { # summary
  [ -n "$1" ] || { echo 1; return; }
  awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "errors" || kv[1] == "non2xx") n += kv[2] }} END {print n + 0}' <<<"$1"
}

# One table row from a loadgen summary line.
open_row() { # label name summary rss
  local achieved
  achieved=$(field achieved "$3")
  record "$1" "$2" "${achieved%/s}" "$(field p50 "$3")" "$(field p99 "$3")" "$(failures "$3")" "$4"
}

# pgbench at (a)'s and (d)'s connection count, right after the scenario it is the ceiling of.
pgbench_verdict() { # label S|N doorman_rps what
  local tps share
  tps=$("$PGBENCH" -M prepared -"$2" -c "$CONNS" -j "$THREADS" -T "$DURATION" "$PG_BASE/doorman_pgbench" 2>&1 \
    | awk '/^tps/ {print $3; exit}') || tps=""
  echo "pgbench -$2 -M prepared -c $CONNS -j $THREADS: ${tps:-failed} tps" | tee -a "$OUT/results-$1.md"
  share=$(percent "$3" "$tps")
  verdict "$1" "$(judge "$share" "x >= 50"): $4 $3 req/s = $share % of \`pgbench -$2 -M prepared\` (${tps:-failed} tps, right after it; target ≥ 50 %)"
}

bench_db() { # label database_url
  local label=$1 url=$2
  echo
  echo "== $label"
  start_server "$url"
  python3 bench/seed.py "$BASE" "$url" "$USERS" "$PASSWORD" "$OUT" $((CONNS * 2)) "$THREADS"
  # Kept for (a) side by side at the end.
  cp "$OUT/access-tokens" "$OUT/$label-access-tokens"
  echo "$url" >"$OUT/$label-url"
  DB_LABEL=$label DB_URL=$url
  settle
  export BENCH_TOKENS="$OUT/access-tokens" BENCH_USERS="$USERS" BENCH_PASSWORD="$PASSWORD" BENCH_REFRESH_DIR="$OUT/refresh"
  BENCH_COOKIE=$(console_session)
  export BENCH_COOKIE

  {
    echo "### $label"
    echo
    row "scenario" "req/s" "p50" "p99" "non-2xx" "peak RSS"
    row "---" "---:" "---:" "---:" "---:" "---:"
  } >"$OUT/results-$label.md"

  : >"$OUT/verdicts-$label.md"
  : >"$OUT/$label-rss"
  local bytes name script conns rps p50 p99 err me_rps=0 refresh_rps=0 before after hashing share
  for spec in "a_me:me.lua:$CONNS" "f_dashboard:dashboard.lua:$CONNS" "b_login:login.lua:$HASH_CONNS" "c_register:register.lua:$HASH_CONNS" "d_refresh:refresh.lua:$CONNS"; do
    IFS=: read -r name script conns <<<"$spec"
    hashing=$([ "$script" = login.lua ] || [ "$script" = register.lua ] && echo 1 || echo 0)
    [ "$hashing" = 0 ] || before=$(ceiling)
    reset_peak_rss
    read -r rps p50 p99 err <<<"$(run_wrk "$label-$name" "$script" "$conns")"
    record "$label" "$name (c=$conns)" "$rps" "$p50" "$p99" "$err" "$(peak_rss "$label")"
    [ "$name" = a_me ] && me_rps=$rps
    if [ "$name" = f_dashboard ]; then
      share=$(percent "$rps" "$me_rps")
      verdict "$label" "$(judge "$share" "x >= 30"): (f) GET /dashboard $rps/s = $share % of (a)'s $me_rps/s (target ≥ 30 %), p99 $p99"
      bytes=$(first_visit_bytes)
      verdict "$label" "$(judge "$bytes" "x <= 102400"): the console's first visit (login page + CSS, compressed) is $bytes bytes (target ≤ 100 KiB)"
    fi
    [ "$name" = d_refresh ] && refresh_rps=$rps
    if [ "$label" = postgres ] && [ -n "$PGBENCH" ]; then
      case $name in
        a_me) pgbench_verdict "$label" S "$rps" "(a) /users/me" ;;
        d_refresh)
          pgbench_verdict "$label" N "$rps" "(d) refresh"
          # pgbench -N leaves dirty pages and WAL behind; write them out before (e).
          psql -q "$PG_ADMIN" -c CHECKPOINT ;;
      esac
    fi
    if [ "$hashing" = 1 ]; then
      after=$(ceiling)
      share=$(share_of "$rps" "$before" "$after")
      verdict "$label" "$(judge "$share" "x >= 90"): (${name%%_*}) ${name#*_} $rps/s = $share % of the argon2id ceiling beside it ($before, $after; target ≥ 90 %)"
    fi
    settle
  done
  echo "$me_rps" >"$OUT/$label-a_rps"

  open_loops "$label" "$me_rps"
  refresh_chains
  open_loop_scenario "$label" refresh "$(awk -v r="$refresh_rps" 'BEGIN {printf "%d", r / 10}')"
  flood_scenario "$label" idle
  stop_server
  start_server "$url" 0
  flood_scenario "$label" 0
  stop_server

  local peak
  peak=$(sort -n "$OUT/$label-rss" | tail -n 1 | awk '{printf "%.1f", $1 / 1024}')
  verdict "$label" "$(judge "$peak" "x <= 64"): peak RSS $peak MiB over every scenario (target ≤ 64 MiB)"

  if [ "$label" = sqlite ]; then
    local start end
    start=$(date +%s%N)
    start_server "$url"
    end=$(date +%s%N)
    local ready=$(( (end - start) / 1000000 ))
    echo "ready on an existing SQLite database: $ready ms (incl. the 50 ms poll step)" | tee -a "$OUT/results-$label.md"
    verdict "$label" "$(judge "$ready" "x <= 200"): ready in $ready ms on an existing SQLite database, including the 50 ms poll step (target ≤ 200 ms)"
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
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_pgbench WITH (FORCE)"
fi

# (a) on both databases side by side. The two sections above run minutes apart on a
# machine whose speed drifts by a quarter within minutes, so whether SQLite is higher is
# judged here: three rounds of (a) on SQLite then on PostgreSQL, by the medians.
side_by_side() {
  local round label rps sqlite=() postgres=() rounds=() s p
  for round in 1 2 3; do
    for label in sqlite postgres; do
      export BENCH_TOKENS="$OUT/$label-access-tokens"
      start_server "$(cat "$OUT/$label-url")"
      rps=$(run_wrk "$label-a_me_side_by_side_$round" me.lua "$CONNS" | awk '{print $1}')
      stop_server
      if [ "$label" = sqlite ]; then sqlite+=("$rps"); else postgres+=("$rps"); fi
    done
    rounds+=("${sqlite[-1]} vs ${postgres[-1]}")
  done
  s=$(median "${sqlite[@]}")
  p=$(median "${postgres[@]}")
  verdict both "$(judge "$s" "x > $p"): (a) side by side, the medians of three rounds: SQLite $s req/s against PostgreSQL $p (target: higher); rounds (SQLite vs PostgreSQL): $(IFS=';'; echo "${rounds[*]}" | sed 's/;/; /g')"
}

if [ "$WHICH" = all ]; then
  sqlite_rps=$(cat "$OUT/sqlite-a_rps") postgres_rps=$(cat "$OUT/postgres-a_rps")
  verdict both "no target: (a) in the sections above, minutes apart: SQLite $sqlite_rps req/s, PostgreSQL $postgres_rps"
  echo
  echo "== (a) side by side"
  side_by_side
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS doorman_bench WITH (FORCE)"
fi
for label in sqlite postgres both; do
  [ -s "$OUT/verdicts-$label.md" ] || continue
  echo
  echo "== $label against the targets"
  cat "$OUT/verdicts-$label.md"
done

echo
echo "$ARGON" | tee "$OUT/argon2.txt"
echo "results: $OUT/results-*.md, verdicts: $OUT/verdicts-*.md"
