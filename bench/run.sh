#!/usr/bin/env bash
# driftwatch scoring benchmark: driftwatch serve vs a minimal node:http+onnxruntime server vs the
# Flask+gunicorn+pandas baseline, with wrk. With BENCH_BASELINE it also runs the driftwatch of
# another commit in the same round-robin (driftwatch-base), for a same-run A/B of a change.
# Writes bench/out/results.json and bench/RESULTS.md (the proxy benchmark's section in it is kept).
# driftwatch is started as `node <CLI> serve`, where <CLI> is the file package.json names as
# bin.driftwatch (for the baseline: the baseline's own package.json).
#
#   bash bench/run.sh            (or: npm run bench)
#   BENCH_QUICK=1 bash bench/run.sh
#
# Environment:
#   BENCH_DURATION  measured seconds per run (default 6; 5 with BENCH_QUICK=1)
#   BENCH_WARMUP    warmup seconds before every measured run, not recorded (default 2)
#   BENCH_REPEAT    runs per (target, batch, concurrency) cell, interleaved round-robin over the
#                   targets; the report shows medians (default 3; 1 with BENCH_QUICK=1)
#   BENCH_BATCHES   rows per request (default "1 100")
#   BENCH_CONC      concurrencies (default "1 16 64"; "16" with BENCH_QUICK=1)
#   BENCH_TARGETS   subset of: driftwatch minimal flask driftwatch-w2 driftwatch-express driftwatch-nobatch
#                   (default: all six), and with BENCH_BASELINE:
#                   driftwatch-base     as driftwatch (1 process, defaults), run from the build of BENCH_BASELINE
#                   driftwatch-w2-base  as driftwatch-w2 (--workers 2), run from the build of BENCH_BASELINE
#   BENCH_BASELINE  a git ref (commit, tag, branch): that commit is checked out into bench/out/baseline
#                   (git worktree), built there with this checkout's tsc and node_modules, and run as
#                   driftwatch-base (and driftwatch-w2-base) in the same round-robin as this build.
#                   When BENCH_TARGETS names no *-base target, driftwatch-base is added, and
#                   driftwatch-w2-base too when driftwatch-w2 is among the targets. The report adds
#                   driftwatch / driftwatch-base ratios (medians and the range of the per-repeat
#                   pairs). The checkout is removed once the servers are stopped, however the run ends.
#   BENCH_REPORT    markdown file the report is written to (default bench/RESULTS.md)
#   BENCH_QUICK=1   batch 1 and 100 at concurrency 16, 1 repeat, 5 s
#   BENCH_SKIP_BUILD=1  do not run npm run build first
#   BENCH_PYTHON    python for the Flask baseline (default /usr/bin/python3: Debian's, with the apt
#                   packages; a pyenv/venv python3 earlier on PATH usually lacks them)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
MODEL_DIR="examples/seattle-weather/model"
PY="${BENCH_PYTHON:-/usr/bin/python3}"   # Debian's python3 with python3-flask/pandas/sklearn, not a pyenv one
CSV="node_modules/vega-datasets/data/seattle-weather.csv"

if [[ "${BENCH_QUICK:-0}" == "1" ]]; then
  DURATION="${BENCH_DURATION:-5}"
  REPEAT="${BENCH_REPEAT:-1}"
  BATCHES="${BENCH_BATCHES:-1 100}"
  CONCS="${BENCH_CONC:-16}"
else
  DURATION="${BENCH_DURATION:-6}"
  REPEAT="${BENCH_REPEAT:-3}"
  BATCHES="${BENCH_BATCHES:-1 100}"
  CONCS="${BENCH_CONC:-1 16 64}"
fi
WARMUP="${BENCH_WARMUP:-2}"
TARGETS="${BENCH_TARGETS:-driftwatch minimal flask driftwatch-w2 driftwatch-express driftwatch-nobatch}"
DURATION="${DURATION%s}"
WARMUP="${WARMUP%s}"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

# ---------------------------------------------------------------- prerequisites
APT_HINT="install them with: sudo apt-get install -y wrk gunicorn python3-flask python3-pandas python3-sklearn"
missing=()
command -v wrk >/dev/null 2>&1 || missing+=("wrk")
if [[ ! -x "$PY" ]]; then
  missing+=("$PY")
else
  for mod in flask pandas numpy sklearn gunicorn; do
    "$PY" -c "import $mod" >/dev/null 2>&1 || missing+=("python module '$mod' for $PY")
  done
fi
command -v node >/dev/null 2>&1 || missing+=("node (>= 20)")
if ((${#missing[@]})); then
  printf '[bench] missing prerequisites:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  printf '[bench] %s\n' "$APT_HINT" >&2
  printf '[bench] (the Python tools must be Debian'"'"'s, importable by %s; a pyenv/venv python3 on PATH is not used)\n' "$PY" >&2
  exit 1
fi
[[ -f "$CSV" ]] || die "$CSV not found: run npm install (vega-datasets is a devDependency)"
[[ -d node_modules/tsx ]] || die "node_modules/tsx not found: run npm install"
for t in $TARGETS; do
  case "$t" in driftwatch|minimal|flask|driftwatch-w2|driftwatch-express|driftwatch-nobatch|driftwatch-base|driftwatch-w2-base) ;; *) die "unknown target '$t' in BENCH_TARGETS" ;; esac
done
BASELINE="${BENCH_BASELINE:-}"
BASE_DIR="$OUT/baseline"
if [[ -n "$BASELINE" ]]; then
  baseline_verify "$BASELINE"
  if [[ " $TARGETS " != *"-base "* ]]; then
    TARGETS="$TARGETS driftwatch-base"
    [[ " $TARGETS " != *" driftwatch-w2 "* ]] || TARGETS="$TARGETS driftwatch-w2-base"
  fi
elif [[ " $TARGETS " == *"-base "* ]]; then
  die "driftwatch-base and driftwatch-w2-base run the build of BENCH_BASELINE: set BENCH_BASELINE to a git ref"
fi

# ---------------------------------------------------------------- cleanup
# Stops the servers, then removes the baseline checkout, if any (bench/lib.sh).
declare -A SPID PORT URL RESTARTS
install_cleanup

# ---------------------------------------------------------------- build and inputs
mkdir -p "$OUT/logs"
rm -f "$OUT"/logs/*.log "$OUT/runs.jsonl" "$OUT/events.jsonl"
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

# ---------------------------------------------------------------- servers
REF_LABELS=""
start_server() { # name
  local name=$1 port
  port=$(node "$BENCH/tools.mjs" freeport)
  local logf="$OUT/logs/$name.log"
  log "starting $name on 127.0.0.1:$port (log: ${logf#"$ROOT"/})"
  printf -- '--- bench: starting %s on port %s at %s\n' "$name" "$port" "$(date -u +%FT%TZ)" >>"$logf"
  case "$name" in
    driftwatch | driftwatch-base)
      local cli=$CLI
      [[ "$name" == *-base ]] && cli=$BASE_CLI
      DRIFTWATCH_ADMIN_ENABLED=false setsid node "$cli" serve --model "$MODEL_DIR" \
        --host 127.0.0.1 --port "$port" --log-level warn >>"$logf" 2>&1 </dev/null &
      ;;
    driftwatch-w2 | driftwatch-w2-base)
      local cli=$CLI
      [[ "$name" == *-base ]] && cli=$BASE_CLI
      DRIFTWATCH_ADMIN_ENABLED=false setsid node "$cli" serve --model "$MODEL_DIR" \
        --host 127.0.0.1 --port "$port" --workers 2 --log-level warn >>"$logf" 2>&1 </dev/null &
      ;;
    driftwatch-express)
      setsid node --import tsx "$BENCH/driftwatch-express.ts" "$port" "$MODEL_DIR" >>"$logf" 2>&1 </dev/null &
      ;;
    driftwatch-nobatch)
      DRIFTWATCH_ADMIN_ENABLED=false DRIFTWATCH_SERVE_BATCHING_ENABLED=false setsid node "$CLI" serve \
        --model "$MODEL_DIR" --host 127.0.0.1 --port "$port" --log-level warn >>"$logf" 2>&1 </dev/null &
      ;;
    minimal)
      setsid node --import tsx "$BENCH/minimal-server.ts" "$port" "$MODEL_DIR" >>"$logf" 2>&1 </dev/null &
      ;;
    flask)
      # like `mlflow models serve` with one worker: gunicorn, 1 sync worker
      setsid "$PY" -m gunicorn -w 1 -b "127.0.0.1:$port" --chdir "$BENCH" flask_baseline:app \
        >>"$logf" 2>&1 </dev/null &
      ;;
  esac
  SPID[$name]=$!
  PORT[$name]=$port
  URL[$name]="http://127.0.0.1:$port"
  if ! node "$BENCH/tools.mjs" wait "${URL[$name]}/ping" 60; then
    tail -n 30 "$logf" >&2
    die "$name did not become ready"
  fi
  local labels
  if ! labels=$(node "$BENCH/tools.mjs" check "${URL[$name]}/invocations" "$CHECK_BODY"); then
    die "$name answered wrong predictions for $CHECK_BODY (see above)"
  fi
  REF_LABELS=${REF_LABELS:-$labels}
  [[ "$labels" == "$REF_LABELS" ]] || die "$name labels differ from the other servers"
  log "$name ready (pid ${SPID[$name]}), predictions match the reference (labels: ${labels:0:40}...)"
}

# Is the server process still there and answering /ping?
server_alive() { # name
  kill -0 "${SPID[$1]}" 2>/dev/null && node "$BENCH/tools.mjs" wait "${URL[$1]}/ping" 5 2>/dev/null
}

# A server went away (this happened once on the shared machine with no trace in its log): record
# how it ended, restart it, and let the caller repeat the run. More than 2 restarts of one target
# abort the benchmark.
restart_server() { # name context
  local name=$1 context=$2 pid=${SPID[$1]} how
  if kill -0 "$pid" 2>/dev/null; then
    how="stopped answering /ping (process $pid still running; killed)"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    if ((st > 128)); then how="process $pid exited by signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null || echo '?'))"
    else how="process $pid exited with status $st"; fi
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true # leftover children (cluster workers)
  unset "SPID[$name]"
  RESTARTS[$name]=$((${RESTARTS[$name]:-0} + 1))
  log "WARNING: $name $how $context; last log lines:"
  tail -n 10 "$OUT/logs/$name.log" | sed 's/^/    /' >&2
  node -e 'console.log(JSON.stringify({time:new Date().toISOString(),target:process.argv[1],event:"server_gone",how:process.argv[2],context:process.argv[3]}))' \
    "$name" "$how" "$context" >>"$OUT/events.jsonl"
  ((RESTARTS[$name] <= 2)) || die "$name went away ${RESTARTS[$name]} times; giving up"
  start_server "$name"
}

for t in $TARGETS; do start_server "$t"; done

# ---------------------------------------------------------------- runs
wrk_run() { # target batch conc seconds
  local target=$1 batch=$2 conc=$3 secs=$4
  local threads=$((conc < 2 ? conc : 2))
  BENCH_BODY_FILE="$OUT/body-$batch.json" wrk -t"$threads" -c"$conc" -d"${secs}s" --timeout 10s --latency \
    -s "$BENCH/post.lua" "${URL[$target]}/invocations"
}

ncells=0
for _ in $BATCHES; do for _ in $CONCS; do ncells=$((ncells + 1)); done; done
ntargets=$(wc -w <<<"$TARGETS")
total=$((ncells * REPEAT * ntargets))
est=$((total * (DURATION + WARMUP)))
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
        label="$(printf '%-14s batch=%-3s c=%-2s rep=%s' "$target" "$batch" "$conc" "$rep")"
        for attempt in 1 2; do
          server_alive "$target" || restart_server "$target" "before run $n ($label)"
          if ((WARMUP > 0)); then
            wrk_run "$target" "$batch" "$conc" "$WARMUP" >/dev/null 2>&1 || true
          fi
          raw=$(wrk_run "$target" "$batch" "$conc" "$DURATION" 2>&1) || { printf '%s\n' "$raw" >&2; die "wrk failed for $label"; }
          json=$(sed -n 's/^BENCH_JSON //p' <<<"$raw" | tail -n 1)
          [[ -n "$json" ]] || { printf '%s\n' "$raw" >&2; die "no BENCH_JSON line in wrk output for $label"; }
          if server_alive "$target"; then break; fi
          ((attempt == 1)) || die "$target went away during two attempts of $label"
          restart_server "$target" "during run $n ($label); the run is discarded and repeated"
        done
        printf '{"target":"%s","batch":%d,"concurrency":%d,"repeat":%d,"attempt":%d,"wrk":%s}\n' \
          "$target" "$batch" "$conc" "$rep" "$attempt" "$json" >>"$OUT/runs.jsonl"
        summary=$(node -e 'const r=JSON.parse(process.argv[1]);const e=r.errors.connect+r.errors.read+r.errors.write+r.errors.timeout;process.stdout.write(`${r.rps.toFixed(0)} req/s  p50 ${r.latency_ms.p50.toFixed(2)}ms  p99 ${r.latency_ms.p99.toFixed(2)}ms`+(e||r.non2xx?`  errors ${e} non2xx ${r.non2xx}`:""))' "$json")
        log "[$n/$total] $label  $summary"
      done
    done
  done
done

# ---------------------------------------------------------------- results
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
CMD="bash bench/run.sh"
if [[ "${BENCH_QUICK:-0}" == "1" ]]; then CMD="BENCH_QUICK=1 $CMD"; fi
for v in BENCH_DURATION BENCH_WARMUP BENCH_REPEAT BENCH_BATCHES BENCH_CONC BENCH_TARGETS BENCH_BASELINE BENCH_REPORT; do
  if [[ -n "${!v:-}" ]]; then CMD="$v=\"${!v}\" $CMD"; fi
done
versions=$(
  printf 'wrk=%s;' "$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')"
  printf 'python=%s;' "$("$PY" -c 'import sys;print(sys.version.split()[0])')"
  "$PY" -c 'import pandas, numpy, gunicorn, importlib.metadata as m
print("flask=" + m.version("flask") + ";pandas=" + pandas.__version__ + ";numpy=" + numpy.__version__ + ";gunicorn=" + gunicorn.__version__ + ";", end="")'
  printf 'onnxruntime-node=%s;' "$(node -p 'require("./node_modules/onnxruntime-node/package.json").version')"
  printf 'driftwatch=%s' "$(node -p 'require("./package.json").version')"
  # With a baseline, which commits "this build" and the baseline are.
  if [[ -n "$BASE_COMMIT" ]]; then
    printf ' (%s%s);driftwatch baseline=%s' "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
      "$(git diff --quiet HEAD -- src 2>/dev/null || echo ', src/ modified')" "$BASE_COMMIT"
  fi
)
BENCH_NPROC="$(nproc)" BENCH_CMD="$CMD" BENCH_STARTED_AT="$STARTED_AT" BENCH_LOADAVG="$LOADAVG_START -> $LOADAVG_END" \
  BENCH_VERSIONS="$versions" BENCH_CFG="$DURATION|$WARMUP|$REPEAT|$BATCHES|$CONCS|$TARGETS" \
  node -e '
    const fs = require("fs");
    const [out] = process.argv.slice(1);
    const [duration, warmup, repeat, batches, concs, targets] = process.env.BENCH_CFG.split("|");
    const jsonl = (f) => fs.readFileSync(out + "/" + f, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const runs = jsonl("runs.jsonl");
    const events = jsonl("events.jsonl");
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
      versions: Object.fromEntries(process.env.BENCH_VERSIONS.split(";").filter(Boolean).map((kv) => kv.split("="))),
      config: {
        duration_s: Number(duration), warmup_s: Number(warmup), repeat: Number(repeat),
        batches: batches.trim().split(/\s+/).map(Number), concurrency: concs.trim().split(/\s+/).map(Number), targets: targets.trim().split(/\s+/),
      },
    };
    fs.writeFileSync(out + "/results.json", JSON.stringify({ meta, events, runs }, null, 1) + "\n");
  ' "$OUT"
log "raw results: bench/out/results.json"
REPORT="${BENCH_REPORT:-$BENCH/RESULTS.md}"
node "$BENCH/report.mjs" "$OUT/results.json" "$REPORT"
log "report: ${REPORT#"$ROOT"/}"
