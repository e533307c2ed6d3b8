# Shared by bench/run.sh and bench/proxy-run.sh (sourced, not run).
# Every server a benchmark starts runs in its own session (setsid): its pid is its process group,
# which holds its children (cluster workers, nginx workers). SPID[name]=pid must be declared by
# the caller; install_cleanup stops them all on exit, interrupt or termination.

stop_servers() {
  local rc=$?
  trap - EXIT INT TERM
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
  # A caller's own clean-up, run once its servers are gone (proxy-run.sh: the baseline checkout).
  if declare -F after_stop >/dev/null; then after_stop || true; fi
  exit "$rc"
}

install_cleanup() {
  trap stop_servers EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM
}
