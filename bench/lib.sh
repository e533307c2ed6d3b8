# Shared by bench/run.sh and bench/proxy-run.sh (sourced, not run). The caller defines log and die
# and runs from the repository root ($ROOT).
# Every server a benchmark starts runs in its own session (setsid): its pid is its process group,
# which holds its children (cluster workers, nginx workers). SPID[name]=pid must be declared by
# the caller; install_cleanup stops them all on exit, interrupt or termination, and then removes
# the BENCH_BASELINE checkout, if there is one.

# ---------------------------------------------------------------- the CLI of a tree
# cli_entry DIR: the driftwatch CLI of the tree in DIR, from its own package.json (bin.driftwatch;
# a bin that is a plain string counts too), so neither this checkout nor a baseline depends on
# where the entry file sits (dist/src/cli.js before the src/ restructure, dist/src/cli/main.js
# after it). Prints DIR/ENTRY (for DIR "." just ENTRY, relative to the repository root). Dies
# when package.json names no entry or the build did not produce the file; run it after the build,
# as `X=$(cli_entry DIR) || exit 1`.
cli_entry() { # dir
  local dir=$1 rel
  rel=$(cd "$dir" && node -p 'const b = require("./package.json").bin; (typeof b === "string" ? b : b?.driftwatch) ?? ""') ||
    die "could not read bin.driftwatch from $dir/package.json"
  [[ -n "$rel" ]] || die "$dir/package.json has no bin.driftwatch: cannot tell which file is the CLI"
  rel=${rel#./}
  [[ "$dir" == . ]] || rel="$dir/$rel"
  [[ -f "$rel" ]] || die "${rel#"$ROOT"/} (bin.driftwatch in ${dir#"$ROOT"/}/package.json) not found: the build did not produce it"
  printf '%s\n' "$rel"
}

# ---------------------------------------------------------------- BENCH_BASELINE
# A same-run A/B of a change: the commit BENCH_BASELINE names is checked out into a git worktree
# inside the repository (under bench/out/, so node finds this checkout's node_modules from there),
# built with this checkout's tsc, and its CLI run as the caller's *-base targets.
BASE_COMMIT="" # short hash of the baseline, once baseline_build has run
BASE_CLI=""    # the baseline's CLI entry file
BASE_WORKTREE="" # set as soon as a checkout may exist: stop_servers removes it

# baseline_verify REF: dies unless REF names a commit of this repository.
baseline_verify() { # ref
  git -C "$ROOT" rev-parse --verify --quiet "$1^{commit}" >/dev/null || die "BENCH_BASELINE=$1 is not a commit in this repository"
}

# baseline_build REF DIR LOG: check REF out into DIR (replacing a checkout a previous run left
# there) and build it; sets BASE_COMMIT and BASE_CLI. Output of git and tsc goes to LOG.
baseline_build() { # ref dir log
  local ref=$1 dir=$2 logf=$3
  BASE_COMMIT=$(git -C "$ROOT" rev-parse --short "$ref^{commit}")
  BASE_WORKTREE=$dir
  baseline_remove
  log "baseline: checking out $ref ($BASE_COMMIT) into ${dir#"$ROOT"/} and building it"
  # -f -f: an interrupted `worktree add` leaves its checkout locked, which one -f does not override.
  git -C "$ROOT" worktree add -f -f --detach "$dir" "$BASE_COMMIT" >"$logf" 2>&1 ||
    { cat "$logf" >&2; die "git worktree add $BASE_COMMIT failed"; }
  (cd "$dir" && "$ROOT/node_modules/.bin/tsc" -p tsconfig.build.json) >>"$logf" 2>&1 ||
    { cat "$logf" >&2; die "building the baseline $BASE_COMMIT failed"; }
  BASE_CLI=$(cli_entry "$dir") || exit 1
}

# baseline_remove: remove the baseline checkout (and its registration), if there is one. Never fails.
baseline_remove() {
  [[ -n "$BASE_WORKTREE" ]] || return 0
  if ! git -C "$ROOT" worktree remove -f -f "$BASE_WORKTREE" >/dev/null 2>&1; then
    # Not (or no longer) a registered worktree, e.g. an interrupted add: only ever under bench/out/.
    [[ "$BASE_WORKTREE" != "$ROOT/bench/out/"?* ]] || rm -rf "$BASE_WORKTREE"
  fi
  git -C "$ROOT" worktree prune >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- cleanup
stop_servers() {
  local rc=$?
  trap - EXIT INT TERM
  # Clean-up must run to the end: with no server started yet, SPID is declared but empty, which
  # set -u would take for unbound (and stop here, leaving the baseline checkout behind).
  set +u
  local name pid
  if ((${#SPID[@]})); then
    log "stopping servers"
    for name in "${!SPID[@]}"; do
      pid=${SPID[$name]}
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 10))
    for name in "${!SPID[@]}"; do
      pid=${SPID[$name]}
      while kill -0 -- "-$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
      if kill -0 -- "-$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop, killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
    done
  fi
  # The baseline's checkout goes once its servers are stopped, however the run ends (a checkout
  # left behind would also be typechecked as part of this project were it not excluded).
  baseline_remove || true
  exit "$rc"
}

install_cleanup() {
  trap stop_servers EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM
}
