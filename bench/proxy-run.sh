#!/usr/bin/env bash
# driftwatch proxy benchmark: the same upstream (driftwatch serve with the example model, 1 process)
# reached directly, through nginx (Debian package, keep-alive upstream), and through `driftwatch
# proxy` in several configurations; same wrk load. Every dw-* target sets its engine, capture and
# capture worker explicitly (DRIFTWATCH_PROXY_ENGINE, DRIFTWATCH_PROXY_CAPTURE_ENABLED,
# DRIFTWATCH_PROXY_CAPTURE_WORKER; sampling 100%), so a change of a default cannot change what a
# target measures. The goals in the report are judged on dw-on, the shipped default.
# For the comparison in the same run it can also start the previous http-proxy based proxy
# (dw-old-off / dw-old-on: bench/legacy/http-proxy-server.mjs swapped in by a module hook, same
# CLI, queue and drain), and two processes for every core: `driftwatch proxy --workers 2` (dw-on-x2)
# against nginx with 2 worker processes (nginx-2w).
# Besides req/s and latency it records the CPU time of the proxy process (and of the upstream) per
# request from /proc/PID/stat, and the proxy's capture counters after every run.
# Writes bench/out/proxy/results.json and the section between <!-- proxy-bench:start --> and
# <!-- proxy-bench:end --> in bench/RESULTS.md (the rest of that file is left as it is).
#
#   bash bench/proxy-run.sh            (or: npm run bench:proxy)
#   BENCH_QUICK=1 bash bench/proxy-run.sh
#
# Environment:
#   BENCH_DURATION  measured seconds per run (default 6; 4 with BENCH_QUICK=1)
#   BENCH_WARMUP    warmup seconds before every measured run, not recorded (default 2)
#   BENCH_REPEAT    runs per (target, batch, concurrency) cell, interleaved round-robin over the
#                   targets; the report shows medians (default 3; 1 with BENCH_QUICK=1)
#   BENCH_BATCHES   rows per request (default "1 100"; "1" with BENCH_QUICK=1)
#   BENCH_CONC      concurrencies (default "1 16 64"; "16 1" with BENCH_QUICK=1)
#   BENCH_PROXY_TARGETS  subset of (default: direct nginx pipe dw-off dw-on dw-on-node):
#                   direct        wrk straight to the upstream
#                   nginx         nginx, 1 worker, keep-alive upstream
#                   nginx-2w      nginx, 2 worker processes, otherwise as nginx
#                   dw-off        engine fast, capture off
#                   dw-on         engine fast, capture on, extraction in a worker thread: the
#                                 shipped default; the goals are judged on it
#                   dw-on-inloop  engine fast, capture on, extraction on the proxy's event loop
#                                 (proxy.capture.worker: false)
#                   dw-off-node   engine node (node:http + http.request), capture off
#                   dw-on-node    engine node, capture on, worker thread: the previous default
#                   dw-old-off    the http-proxy data path before the lean one (bench/legacy/), capture off
#                   dw-old-on     the same, capture on, worker thread
#                   dw-on-x2      as dw-on, `driftwatch proxy --workers 2`: two processes sharing the port
#                                 (node:cluster), each with its own capture worker thread; the CPU
#                                 counted is the primary's and both workers'
#                   pipe          bench/pipe-proxy.mjs: a TCP relay in Node with no HTTP work at all,
#                                 the floor any Node.js proxy starts from on this box
#                   dw-on-worker  old name of dw-on (before engine fast and the worker were the
#                                 defaults it meant capture in a worker): still accepted, runs dw-on
#                   dw-off-base   as dw-off, run from the build of BENCH_BASELINE (below)
#                   dw-on-base    as dw-on, run from the build of BENCH_BASELINE
#   BENCH_BASELINE  a git ref (commit, tag, branch): that commit is checked out into
#                   bench/out/proxy/baseline (git worktree) and built there, and its proxy runs as
#                   dw-off-base / dw-on-base in the same round-robin as the current build, for a
#                   same-run A/B of a change (the targets are added when BENCH_PROXY_TARGETS does not
#                   name them). The ref must know the DRIFTWATCH_PROXY_* settings above. The checkout
#                   is removed once the servers are stopped, however the run ends (bench/lib.sh).
#                   Each tree's CLI is the file its own package.json names as bin.driftwatch.
#   BENCH_PROXY_REPORT  markdown file the report section is written into (default bench/RESULTS.md)
#   BENCH_QUICK=1   batch 1 at concurrency 16 and 1, 1 repeat, 4 s
#   BENCH_SKIP_BUILD=1  do not run npm run build first
#
# nginx: Debian's package (`apt-get install -y nginx`). When it is missing the nginx target is
# skipped with a warning and the report says so. nginx runs in the foreground with a generated
# config in bench/out/proxy/nginx/ (nginx -p/-c/-e), so /etc/nginx and /var/log/nginx are not used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH="$ROOT/bench"
OUT="$BENCH/out/proxy"
MODEL_DIR="examples/seattle-weather/model"
MODEL_NAME="seattle-weather"
CSV="node_modules/vega-datasets/data/seattle-weather.csv"

if [[ "${BENCH_QUICK:-0}" == "1" ]]; then
  DURATION="${BENCH_DURATION:-4}"
  REPEAT="${BENCH_REPEAT:-1}"
  BATCHES="${BENCH_BATCHES:-1}"
  CONCS="${BENCH_CONC:-16 1}"
else
  DURATION="${BENCH_DURATION:-6}"
  REPEAT="${BENCH_REPEAT:-3}"
  BATCHES="${BENCH_BATCHES:-1 100}"
  CONCS="${BENCH_CONC:-1 16 64}"
fi
WARMUP="${BENCH_WARMUP:-2}"
TARGETS="${BENCH_PROXY_TARGETS:-direct nginx pipe dw-off dw-on dw-on-node}"
DURATION="${DURATION%s}"
WARMUP="${WARMUP%s}"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[proxy-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[proxy-bench] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

# ---------------------------------------------------------------- prerequisites
missing=()
command -v wrk >/dev/null 2>&1 || missing+=("wrk (apt-get install -y wrk)")
command -v node >/dev/null 2>&1 || missing+=("node (>= 20)")
command -v curl >/dev/null 2>&1 || missing+=("curl (apt-get install -y curl)")
if ((${#missing[@]})); then
  printf '[proxy-bench] missing prerequisites:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
[[ -f "$CSV" ]] || die "$CSV not found: run npm install (vega-datasets is a devDependency)"
for t in $TARGETS; do
  case "$t" in direct|nginx|nginx-2w|pipe|dw-off|dw-on|dw-on-inloop|dw-off-node|dw-on-node|dw-on-worker|dw-old-off|dw-old-on|dw-on-x2|dw-off-base|dw-on-base) ;; *) die "unknown target '$t' in BENCH_PROXY_TARGETS" ;; esac
done
BASELINE="${BENCH_BASELINE:-}"
BASE_DIR="$OUT/baseline"
if [[ -n "$BASELINE" ]]; then
  baseline_verify "$BASELINE"
  [[ " $TARGETS " == *"-base "* ]] || TARGETS="$TARGETS dw-off-base dw-on-base"
elif [[ " $TARGETS " == *"-base "* ]]; then
  die "the dw-*-base targets run the build of BENCH_BASELINE: set BENCH_BASELINE to a git ref"
fi
if [[ " $TARGETS " == *" dw-on-worker "* ]]; then
  log "note: dw-on-worker is an alias of dw-on now (engine fast, capture on, worker thread: the shipped default); running it as dw-on. The in-loop drain is dw-on-inloop."
  TARGETS=$(tr ' ' '\n' <<<"$TARGETS" | sed 's/^dw-on-worker$/dw-on/' | tr '\n' ' ')
fi
# A target named twice would be started twice on one name; keep its first place in the order.
TARGETS=$(tr ' ' '\n' <<<"$TARGETS" | awk 'NF && !seen[$0]++' | tr '\n' ' ')
# The proxy settings of a dw-* target: "engine capture worker". dw-old-* never reach the engine
# switch (the module hook replaces the module that holds both engines); node names what they are.
dw_settings() { # target
  case "$1" in
    dw-off | dw-off-base) echo "fast false true" ;;
    dw-on | dw-on-x2 | dw-on-base) echo "fast true true" ;;
    dw-on-inloop) echo "fast true false" ;;
    dw-off-node | dw-old-off) echo "node false true" ;;
    dw-on-node | dw-old-on) echo "node true true" ;;
    *) die "dw_settings: unknown target $1" ;;
  esac
}
SKIPPED=""
NGINX_BIN=""
if [[ " $TARGETS " == *" nginx "* || " $TARGETS " == *" nginx-2w "* ]]; then
  NGINX_BIN=$(command -v nginx 2>/dev/null || true)
  [[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
  if [[ -z "$NGINX_BIN" ]]; then
    printf '\n[proxy-bench] ################################################################\n' >&2
    printf '[proxy-bench] WARNING: nginx is not installed: the nginx targets are SKIPPED and the\n' >&2
    printf '[proxy-bench] report has no nginx comparison. Install it with:\n' >&2
    printf '[proxy-bench]     apt-get update && apt-get install -y nginx\n' >&2
    printf '[proxy-bench] ################################################################\n\n' >&2
    TARGETS=$(tr ' ' '\n' <<<"$TARGETS" | grep -vx -e nginx -e nginx-2w | tr '\n' ' ')
    SKIPPED="nginx (not installed: apt-get install -y nginx)"
  fi
fi
TARGETS=$(echo $TARGETS) # normalise spaces
[[ -n "$TARGETS" ]] || die "no targets left to run"

# ---------------------------------------------------------------- cleanup
# Every server runs in its own session (setsid): its pid is its process group, which holds its
# children (nginx workers).
# The baseline's checkout, if any, goes once its proxies are stopped (bench/lib.sh).
declare -A SPID PORT ADMIN RESTARTS
install_cleanup

# ---------------------------------------------------------------- build and inputs
mkdir -p "$OUT/logs" "$OUT/nginx/tmp" "$OUT/nginx-2w/tmp"
rm -f "$OUT"/logs/*.log "$OUT/runs.jsonl" "$OUT/events.jsonl" "$OUT/nginx/error.log" "$OUT/nginx-2w/error.log"
# Each proxy target writes its window deltas to a fresh store of its own, not to ./.driftwatch.
rm -rf "$OUT/stores" && mkdir -p "$OUT/stores"
touch "$OUT/events.jsonl"
if [[ "${BENCH_SKIP_BUILD:-0}" != "1" ]]; then
  log "building (npm run build)"
  npm run --silent build >"$OUT/logs/build.log" 2>&1 || { cat "$OUT/logs/build.log" >&2; die "npm run build failed"; }
fi
# The CLI entry of this tree (package.json bin.driftwatch; the baseline's is BASE_CLI).
CLI=$(cli_entry .) || exit 1
# Sets BASE_COMMIT and BASE_CLI (bench/lib.sh).
[[ -z "$BASELINE" ]] || baseline_build "$BASELINE" "$BASE_DIR" "$OUT/logs/baseline-build.log"
# shellcheck disable=SC2086
node "$BENCH/tools.mjs" bodies "$OUT" $BATCHES 100
CHECK_BODY="$OUT/body-100.json"

# ---------------------------------------------------------------- /proc readings
# utime+stime (clock ticks) of one process: all its threads, live and exited. Prints "total main"
# where main is the thread whose id is the pid (Node's JS thread; the rest is GC, libuv pool, ...).
proc_ticks() { # pid
  local s f m
  s=$(<"/proc/$1/stat") 2>/dev/null || { echo "0 0"; return; }
  read -r -a f <<<"${s##*) }" # f[0] is field 3 (state): utime is field 14 -> f[11], stime f[12]
  m=$(<"/proc/$1/task/$1/stat") 2>/dev/null || m=$s
  local t=$((f[11] + f[12]))
  read -r -a f <<<"${m##*) }"
  echo "$t $((f[11] + f[12]))"
}
# The pids that make up a target's proxy: nginx's master and its workers; driftwatch's one process,
# or with --workers its primary and its workers.
proxy_pids() { # target
  case "$1" in
    nginx | nginx-2w | dw-on-x2) echo "${SPID[$1]}" $(ps -o pid= --ppid "${SPID[$1]}" 2>/dev/null) ;;
    dw-* | pipe) echo "${SPID[$1]}" ;;
    *) echo "" ;;
  esac
}
# "proxy_total proxy_main upstream_total upstream_main machine_busy machine_all nworkers"
cpu_snapshot() { # target
  local target=$1 pt=0 pm=0 n=0 pid t m ut um
  for pid in $(proxy_pids "$target"); do
    read -r t m < <(proc_ticks "$pid")
    pt=$((pt + t))
    [[ "$pid" == "${SPID[$target]}" ]] && pm=$m
    n=$((n + 1))
  done
  read -r ut um < <(proc_ticks "${SPID[upstream]}")
  local cpu user nice sys idle iow irq sirq steal rest
  read -r cpu user nice sys idle iow irq sirq steal rest </proc/stat
  local busy=$((user + nice + sys + irq + sirq + steal))
  echo "$pt $pm $ut $um $busy $((busy + idle + iow)) $n"
}

# CPU time (ms, user+sys) of this shell's waited-for children so far, from bash's `times` (second
# line). `times` has to run in this shell itself (a subshell counts only its own children), so it
# writes to a file: `times >FILE` right before and after the measured wrk run (nothing else is
# started in between), children_cpu_ms FILE for each afterwards; wrk's CPU is the difference.
TIMES_FILE="$OUT/.times"
children_cpu_ms() {
  awk 'function ms(x, m) { m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); return (m * 60 + x) * 1000 }
    NR == 2 { printf "%d\n", ms($1) + ms($2) }' "$1"
}

# The proxy's capture counters (driftwatch only): "captured sampled_out too_large aborted dropped rows unparseable"
capture_counters() { # target
  local m
  m=$(curl -sf --max-time 5 "http://127.0.0.1:${ADMIN[$1]}/metrics") || { echo ""; return; }
  awk '
    /^driftwatch_capture_events_total\{/ {
      if ($0 ~ /outcome="captured"/) c += $NF; else if ($0 ~ /outcome="sampled_out"/) s += $NF;
      else if ($0 ~ /outcome="too_large"/) l += $NF; else if ($0 ~ /outcome="aborted"/) a += $NF }
    /^driftwatch_capture_dropped_total / { d += $NF }
    /^driftwatch_capture_rows_total/ { r += $NF }
    /^driftwatch_capture_unparseable_total/ { u += $NF }
    END { printf "%d %d %d %d %d %d %d\n", c, s, l, a, d, r, u }' <<<"$m"
}

# Every driftwatch target has them; dw-on-x2's /metrics is the sum over its workers.
has_counters() { [[ "$1" == dw-* ]]; }

# ---------------------------------------------------------------- servers
NGINX_MASTER_PROCESS=on
write_nginx_conf() { # port upstream_port dir worker_processes
  local dir=$3 conf="$3/nginx.conf" user_line=""
  # As root, nginx switches its workers to "nobody" unless told otherwise; root keeps it simple
  # (the worker only talks to sockets) and avoids depending on that user/group existing.
  if [[ "$(id -u)" == "0" ]]; then user_line="user root;"; fi
  cat >"$conf" <<EOF
# Generated by bench/proxy-run.sh for the proxy benchmark; rewritten on every run.
$user_line
worker_processes $4;
master_process $NGINX_MASTER_PROCESS;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  client_max_body_size 20m;
  client_body_buffer_size 1m;
  # nginx closes a keep-alive client connection after 1000 requests by default (so would it its
  # upstream connections); Node's servers (the upstream, driftwatch proxy) have no such limit.
  keepalive_requests 1000000;
  upstream scoring {
    server 127.0.0.1:$2;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://scoring;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
}

start_server() { # name
  local name=$1 port logf="$OUT/logs/$1.log"
  port=${PORT[$name]:-$(node "$BENCH/tools.mjs" freeport)} # a restart keeps the port
  printf -- '--- proxy-bench: starting %s on port %s at %s\n' "$name" "$port" "$(date -u +%FT%TZ)" >>"$logf"
  case "$name" in
    upstream)
      DRIFTWATCH_ADMIN_ENABLED=false setsid node "$CLI" serve --model "$MODEL_DIR" \
        --host 127.0.0.1 --port "$port" --log-level warn >>"$logf" 2>&1 </dev/null &
      ;;
    dw-*)
      local engine capture worker admin launch=("$CLI") extra=()
      read -r engine capture worker < <(dw_settings "$name")
      [[ "$name" == dw-old-* ]] && launch=(--import ./bench/legacy/use-http-proxy.mjs "$CLI")
      [[ "$name" == dw-on-x2 ]] && extra=(--workers 2)
      [[ "$name" == dw-*-base ]] && launch=("$BASE_CLI")
      admin=$(node "$BENCH/tools.mjs" freeport)
      ADMIN[$name]=$admin
      DRIFTWATCH_ADMIN_HOST=127.0.0.1 DRIFTWATCH_ADMIN_PORT=$admin DRIFTWATCH_PROXY_ENGINE=$engine \
        DRIFTWATCH_PROXY_CAPTURE_ENABLED=$capture DRIFTWATCH_PROXY_CAPTURE_WORKER=$worker DRIFTWATCH_PROXY_CAPTURE_SAMPLE_RATE=1 \
        DRIFTWATCH_STORE_EMBEDDED_PATH="$OUT/stores/$name.db" setsid node "${launch[@]}" proxy \
        --upstream "http://127.0.0.1:${PORT[upstream]}" --host 127.0.0.1 --port "$port" --model "$MODEL_NAME" \
        --log-level warn "${extra[@]}" >>"$logf" 2>&1 </dev/null &
      ;;
    pipe)
      setsid node "$BENCH/pipe-proxy.mjs" --port "$port" --upstream-port "${PORT[upstream]}" >>"$logf" 2>&1 </dev/null &
      ;;
    nginx | nginx-2w)
      local ndir="$OUT/$name" nworkers=1
      [[ "$name" == nginx-2w ]] && nworkers=2
      write_nginx_conf "$port" "${PORT[upstream]}" "$ndir" "$nworkers"
      "$NGINX_BIN" -t -q -e "$ndir/error.log" -p "$ndir/" -c "$ndir/nginx.conf" >>"$logf" 2>&1 ||
        { cat "$logf" "$ndir/error.log" >&2 2>/dev/null; die "nginx -t rejected $ndir/nginx.conf"; }
      setsid "$NGINX_BIN" -e "$ndir/error.log" -p "$ndir/" -c "$ndir/nginx.conf" >>"$logf" 2>&1 </dev/null &
      ;;
    *) die "start_server: unknown $name" ;;
  esac
  SPID[$name]=$!
  PORT[$name]=$port
  local how=""
  [[ "$name" == dw-* ]] && how=$(dw_settings "$name" | awk '{ printf ", engine %s, capture %s, worker %s", $1, $2, $3 }')
  log "starting $name on 127.0.0.1:$port (pid ${SPID[$name]}${ADMIN[$name]:+, admin port ${ADMIN[$name]}}$how)"
  if ! node "$BENCH/tools.mjs" wait "http://127.0.0.1:$port/ping" 60; then
    tail -n 30 "$logf" >&2
    [[ "$name" == nginx* ]] && tail -n 30 "$OUT/$name/error.log" >&2
    die "$name did not become ready"
  fi
  if [[ "$name" == dw-* ]] && ! node "$BENCH/tools.mjs" wait "http://127.0.0.1:${ADMIN[$name]}/metrics" 20; then
    die "$name: admin /metrics on port ${ADMIN[$name]} did not answer"
  fi
  # /healthz answers 200 once every worker of a group is up (the first one alone opens the port).
  if [[ "$name" == dw-on-x2 ]] && ! node "$BENCH/tools.mjs" wait "http://127.0.0.1:${ADMIN[$name]}/healthz" 30; then
    die "$name: not every worker became ready (admin /healthz)"
  fi
  local labels
  labels=$(node "$BENCH/tools.mjs" check "http://127.0.0.1:$port/invocations" "$CHECK_BODY") ||
    die "$name answered wrong predictions for $CHECK_BODY (see above)"
  log "$name ready, predictions match the reference (labels: ${labels:0:40}...)"
}

# The processes a target's runs go through.
parts_of() { # target
  case "$1" in direct) echo upstream ;; *) echo "upstream $1" ;; esac
}
alive() { # name
  kill -0 "${SPID[$1]}" 2>/dev/null && node "$BENCH/tools.mjs" wait "http://127.0.0.1:${PORT[$1]}/ping" 5 2>/dev/null
}
# A server that went away is recorded, restarted on the same port, and the run repeated; more
# than 2 restarts of one server abort the benchmark.
restart_server() { # name context
  local name=$1 context=$2 pid=${SPID[$1]} how st=0
  if kill -0 "$pid" 2>/dev/null; then
    how="stopped answering /ping (process $pid still running; killed)"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    wait "$pid" 2>/dev/null || st=$?
    if ((st > 128)); then how="process $pid exited by signal $((st - 128))"; else how="process $pid exited with status $st"; fi
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true
  unset "SPID[$name]"
  RESTARTS[$name]=$((${RESTARTS[$name]:-0} + 1))
  log "WARNING: $name $how $context; last log lines:"
  tail -n 10 "$OUT/logs/$name.log" | sed 's/^/    /' >&2
  node -e 'console.log(JSON.stringify({time:new Date().toISOString(),target:process.argv[1],event:"server_gone",how:process.argv[2],context:process.argv[3]}))' \
    "$name" "$how" "$context" >>"$OUT/events.jsonl"
  ((RESTARTS[$name] <= 2)) || die "$name went away ${RESTARTS[$name]} times; giving up"
  start_server "$name"
}

start_server upstream
for t in $TARGETS; do [[ "$t" == direct ]] || start_server "$t"; done
URL_direct="http://127.0.0.1:${PORT[upstream]}"
target_url() { if [[ "$1" == direct ]]; then echo "$URL_direct"; else echo "http://127.0.0.1:${PORT[$1]}"; fi; }
for n in nginx nginx-2w dw-on-x2; do
  if [[ -n "${SPID[$n]:-}" ]]; then log "$n: master/primary pid ${SPID[$n]}, worker pid(s): $(ps -o pid= --ppid "${SPID[$n]}" | xargs)"; fi
done

# ---------------------------------------------------------------- runs
wrk_run() { # target batch conc seconds
  local threads=$(($3 < 2 ? $3 : 2))
  BENCH_BODY_FILE="$OUT/body-$2.json" wrk -t"$threads" -c"$3" -d"$4s" --timeout 10s --latency \
    -s "$BENCH/post.lua" "$(target_url "$1")/invocations"
}

ncells=0
for _ in $BATCHES; do for _ in $CONCS; do ncells=$((ncells + 1)); done; done
ntargets=$(wc -w <<<"$TARGETS")
total=$((ncells * REPEAT * ntargets))
est=$((total * (DURATION + WARMUP + 1)))
log "targets: $TARGETS; batches: $BATCHES; concurrency: $CONCS; repeat: $REPEAT; ${DURATION}s (+${WARMUP}s warmup)"
log "$total runs, about $((est / 60))m$((est % 60))s"
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

n=0
for batch in $BATCHES; do
  for conc in $CONCS; do
    for ((rep = 1; rep <= REPEAT; rep++)); do
      for target in $TARGETS; do
        n=$((n + 1))
        label="$(printf '%-12s batch=%-3s c=%-2s rep=%s' "$target" "$batch" "$conc" "$rep")"
        for attempt in 1 2; do
          for p in $(parts_of "$target"); do alive "$p" || restart_server "$p" "before run $n ($label)"; done
          if ((WARMUP > 0)); then wrk_run "$target" "$batch" "$conc" "$WARMUP" >/dev/null 2>&1 || true; fi
          cap0=""
          has_counters "$target" && { sleep 0.1; cap0=$(capture_counters "$target"); } # let the drain catch up
          cpu0=$(cpu_snapshot "$target")
          times >"$TIMES_FILE.0"
          raw=$(wrk_run "$target" "$batch" "$conc" "$DURATION" 2>&1) || { printf '%s\n' "$raw" >&2; die "wrk failed for $label"; }
          times >"$TIMES_FILE.1"
          cpu1=$(cpu_snapshot "$target")
          cap1=""
          has_counters "$target" && { sleep 0.1; cap1=$(capture_counters "$target"); }
          json=$(sed -n 's/^BENCH_JSON //p' <<<"$raw" | tail -n 1)
          [[ -n "$json" ]] || { printf '%s\n' "$raw" >&2; die "no BENCH_JSON line in wrk output for $label"; }
          ok=1
          for p in $(parts_of "$target"); do alive "$p" || ok=0; done
          ((ok)) && break
          ((attempt == 1)) || die "$target went away during two attempts of $label"
          for p in $(parts_of "$target"); do alive "$p" || restart_server "$p" "during run $n ($label); the run is discarded and repeated"; done
        done
        line=$(node -e '
          const [target, batch, conc, rep, attempt, json, cpu0, cpu1, cap0, cap1, tck, wrkMs] = process.argv.slice(1);
          const a = cpu0.split(" ").map(Number), b = cpu1.split(" ").map(Number);
          const cpu = { clk_tck: Number(tck), proxy_ticks: b[0] - a[0], proxy_main_ticks: b[1] - a[1], upstream_ticks: b[2] - a[2],
            upstream_main_ticks: b[3] - a[3], machine_busy_ticks: b[4] - a[4], machine_all_ticks: b[5] - a[5], proxy_processes: b[6], wrk_cpu_ms: Number(wrkMs) };
          let capture = null;
          if (cap0 && cap1) {
            const x = cap0.split(" ").map(Number), y = cap1.split(" ").map(Number);
            const k = ["captured", "sampled_out", "too_large", "aborted", "dropped", "rows", "unparseable"];
            capture = Object.fromEntries(k.map((n, i) => [n, y[i] - x[i]]));
            capture.totals = Object.fromEntries(k.map((n, i) => [n, y[i]]));
          }
          console.log(JSON.stringify({ target, batch: +batch, concurrency: +conc, repeat: +rep, attempt: +attempt, wrk: JSON.parse(json), cpu, capture }));
        ' "$target" "$batch" "$conc" "$rep" "$attempt" "$json" "$cpu0" "$cpu1" "$cap0" "$cap1" "$CLK_TCK" "$(($(children_cpu_ms "$TIMES_FILE.1") - $(children_cpu_ms "$TIMES_FILE.0")))")
        printf '%s\n' "$line" >>"$OUT/runs.jsonl"
        summary=$(node -e '
          const r = JSON.parse(process.argv[1]); const w = r.wrk, c = r.cpu;
          const e = w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;
          const us = (t) => (w.requests ? ((t / c.clk_tck) * 1e6) / w.requests : NaN).toFixed(1);
          let s = `${w.rps.toFixed(0)} req/s  p50 ${w.latency_ms.p50.toFixed(3)}ms  p99 ${w.latency_ms.p99.toFixed(2)}ms`;
          if (r.target !== "direct") s += `  proxy ${us(c.proxy_ticks)}us/req`;
          s += `  upstream ${us(c.upstream_ticks)}us/req`;
          if (r.capture) s += `  captured ${r.capture.captured}/${w.requests} dropped ${r.capture.dropped}`;
          if (e || w.non2xx) s += `  errors ${e} non2xx ${w.non2xx}`;
          process.stdout.write(s);' "$line")
        log "[$n/$total] $label  $summary"
      done
    done
  done
done

# ---------------------------------------------------------------- results
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
CMD="bash bench/proxy-run.sh"
if [[ "${BENCH_QUICK:-0}" == "1" ]]; then CMD="BENCH_QUICK=1 $CMD"; fi
for v in BENCH_DURATION BENCH_WARMUP BENCH_REPEAT BENCH_BATCHES BENCH_CONC BENCH_PROXY_TARGETS BENCH_BASELINE BENCH_PROXY_REPORT BENCH_SKIP_BUILD; do
  if [[ -n "${!v:-}" ]]; then CMD="$v=\"${!v}\" $CMD"; fi
done
NGINX_VERSION=""
[[ -n "$NGINX_BIN" ]] && NGINX_VERSION=$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')
NGINX_PKG=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null || true)
versions="wrk=$(wrk -v 2>&1 | head -n 1 | awk '{print $2}');nginx=${NGINX_VERSION:-$([[ " $TARGETS " == *" nginx"* || -n "$SKIPPED" ]] && echo "not installed" || echo "not run")}${NGINX_VERSION:+${NGINX_PKG:+ (Debian $NGINX_PKG)}};onnxruntime-node=$(node -p 'require("./node_modules/onnxruntime-node/package.json").version');http-proxy=$(node -p 'require("./node_modules/http-proxy/package.json").version');driftwatch=$(node -p 'require("./package.json").version') ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ', src/ modified'))${BASE_COMMIT:+;driftwatch baseline=$BASE_COMMIT}"
# What each dw-* target ran with, so the report describes the settings of this run, not today's.
settings=""
for t in $TARGETS; do [[ "$t" == dw-* ]] && settings+="$t=$(dw_settings "$t" | tr ' ' ',');"; done
BENCH_SETTINGS="$settings" BENCH_NPROC="$(nproc)" BENCH_CMD="$CMD" BENCH_STARTED_AT="$STARTED_AT" BENCH_LOADAVG="$LOADAVG_START -> $LOADAVG_END" \
  BENCH_VERSIONS="$versions" BENCH_CFG="$DURATION|$WARMUP|$REPEAT|$BATCHES|$CONCS|$TARGETS|$SKIPPED|$NGINX_MASTER_PROCESS" \
  node -e '
    const fs = require("fs");
    const [out] = process.argv.slice(1);
    const [duration, warmup, repeat, batches, concs, targets, skipped, nginxMaster] = process.env.BENCH_CFG.split("|");
    const jsonl = (f) => fs.readFileSync(out + "/" + f, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    let nginxConf = null, nginx2wConf = null;
    // Only a conf written in this run (an nginx target ran): an older file may be left over.
    if (targets.split(/\s+/).includes("nginx")) try { nginxConf = fs.readFileSync(out + "/nginx/nginx.conf", "utf8"); } catch {}
    if (targets.split(/\s+/).includes("nginx-2w")) try { nginx2wConf = fs.readFileSync(out + "/nginx-2w/nginx.conf", "utf8"); } catch {}
    const meta = {
      command: process.env.BENCH_CMD,
      started_at: process.env.BENCH_STARTED_AT,
      finished_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      loadavg: process.env.BENCH_LOADAVG,
      machine: {
        nproc: Number(process.env.BENCH_NPROC),
        cpu_model: (/^model name\s*:\s*(.+)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8")) || [, "unknown"])[1].trim(),
        node: process.version,
        kernel: require("os").release(),
        mem_gb: Math.round(require("os").totalmem() / 2 ** 30 * 10) / 10,
      },
      versions: Object.fromEntries(process.env.BENCH_VERSIONS.split(";").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
      config: {
        duration_s: Number(duration), warmup_s: Number(warmup), repeat: Number(repeat),
        batches: batches.trim().split(/\s+/).map(Number), concurrency: concs.trim().split(/\s+/).map(Number),
        targets: targets.trim().split(/\s+/), skipped: skipped || null, nginx_master_process: nginxMaster,
        proxy_settings: Object.fromEntries(process.env.BENCH_SETTINGS.split(";").filter(Boolean).map((kv) => {
          const [t, v] = kv.split("="), [engine, capture, worker] = v.split(",");
          return [t, { engine, capture: capture === "true", worker: worker === "true", sample_rate: 1 }];
        })),
      },
      nginx_conf: nginxConf,
      nginx_2w_conf: nginx2wConf,
    };
    fs.writeFileSync(out + "/results.json", JSON.stringify({ meta, events: jsonl("events.jsonl"), runs: jsonl("runs.jsonl") }, null, 1) + "\n");
  ' "$OUT"
log "raw results: bench/out/proxy/results.json"
REPORT="${BENCH_PROXY_REPORT:-$BENCH/RESULTS.md}"
node "$BENCH/proxy-report.mjs" "$OUT/results.json" "$REPORT"
log "report: $REPORT (section between <!-- proxy-bench:start --> and <!-- proxy-bench:end -->)"
