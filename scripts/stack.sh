# shellcheck shell=bash
# The local Portcullis stack: moto_server (DynamoDB + Secrets Manager) and `cargo lambda watch`
# (the three functions behind one HTTP port). SOURCE this file, do not run it:
#
#   source scripts/stack.sh
#   stack_start_moto && stack_init && stack_start_watch [dev|test]
#   ...
#   stack_stop
#
# Sourcing exports the environment contract that the Rust code reads (the PORTCULLIS_* tables,
# issuer and secret, DEV_LOGIN, and AWS_* pointing at moto on 127.0.0.1). PORTCULLIS_PORT (default
# 9000) and PORTCULLIS_AWS_PORT (default 5000) are respected when already set. Logs and pid files go
# to .local/ (gitignored). Prerequisites: scripts/bootstrap.sh (for .venv/) and, for stack_init,
# `cargo build --workspace --bins` (for target/debug/portcullis).
#
# Functions (each returns non-zero with a message on stderr when it fails):
#   stack_start_moto          start .venv/bin/moto_server on 127.0.0.1:$PORTCULLIS_AWS_PORT, wait for it
#   stack_init                target/debug/portcullis --local init (tables + secret, idempotent)
#   stack_start_watch [MODE]  start cargo lambda watch on 127.0.0.1:$PORTCULLIS_PORT, wait for it;
#                             MODE "test" (default): --ignore-changes, output to .local/watch.log only;
#                             MODE "dev": reload on code changes, output to the terminal and the log
#   stack_wait_watch          block until cargo lambda watch exits; returns its exit status
#   stack_stop                stop what this shell started (cargo lambda watch with the function
#                             processes it runs, then moto); idempotent
# State (plain shell variables, not exported): STACK_MOTO_PID, STACK_WATCH_PGID, STACK_WATCH_PID.

if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  printf 'stack.sh: source this file (source scripts/stack.sh), do not run it\n' >&2
  exit 2
fi

PORTCULLIS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORTCULLIS_LOCAL_DIR="$PORTCULLIS_ROOT/.local"

# --- environment contract --------------------------------------------------------------------------
export PORTCULLIS_PORT="${PORTCULLIS_PORT:-9000}"
export PORTCULLIS_AWS_PORT="${PORTCULLIS_AWS_PORT:-5000}"

_stack_valid_port() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }
if ! _stack_valid_port "$PORTCULLIS_PORT"; then
  printf 'stack.sh: error: PORTCULLIS_PORT=%q is not a port number (1-65535)\n' "$PORTCULLIS_PORT" >&2
  return 1
fi
if ! _stack_valid_port "$PORTCULLIS_AWS_PORT"; then
  printf 'stack.sh: error: PORTCULLIS_AWS_PORT=%q is not a port number (1-65535)\n' "$PORTCULLIS_AWS_PORT" >&2
  return 1
fi
if [[ "$PORTCULLIS_PORT" == "$PORTCULLIS_AWS_PORT" ]]; then
  printf 'stack.sh: error: PORTCULLIS_PORT and PORTCULLIS_AWS_PORT are both %s\n' "$PORTCULLIS_PORT" >&2
  return 1
fi

export PORTCULLIS_ISSUER="http://127.0.0.1:${PORTCULLIS_PORT}"
export PORTCULLIS_CLIENTS_TABLE=portcullis-clients
export PORTCULLIS_CODES_TABLE=portcullis-codes
export PORTCULLIS_TOKENS_TABLE=portcullis-tokens
export PORTCULLIS_SECRET_ID=portcullis-keys
export PORTCULLIS_LOGIN_URL="${PORTCULLIS_ISSUER}/auth/dev-login"
export DEV_LOGIN=true
export AWS_ENDPOINT_URL="http://127.0.0.1:${PORTCULLIS_AWS_PORT}"
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN
export RUST_LOG="${RUST_LOG:-info}"
# Never send the local stack's traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

STACK_MOTO_PID="${STACK_MOTO_PID:-}"
STACK_WATCH_PGID="${STACK_WATCH_PGID:-}"
STACK_WATCH_PID="${STACK_WATCH_PID:-}"

# --- helpers ---------------------------------------------------------------------------------------
_stack_log() { printf 'stack: %s\n' "$*" >&2; }
_stack_err() { printf 'stack: error: %s\n' "$*" >&2; }

_stack_python() {
  if [[ -x "$PORTCULLIS_ROOT/.venv/bin/python" ]]; then
    "$PORTCULLIS_ROOT/.venv/bin/python" "$@"
  else
    python3 "$@"
  fi
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
_stack_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True when URL gives any HTTP answer (any status) within TIMEOUT seconds; no proxy.
_stack_http_answers() {
  _stack_python - "$1" "$2" <<'PY' 2>/dev/null
import sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    opener.open(sys.argv[1], timeout=float(sys.argv[2])).read()
except urllib.error.HTTPError:
    pass  # an HTTP error status is still an answer
except Exception:
    sys.exit(1)
PY
}

_stack_tail_log() {
  if [[ -s "$1" ]]; then
    _stack_log "last lines of ${1#"$PORTCULLIS_ROOT"/}:"
    tail -n 30 "$1" | sed 's/^/    /' >&2
  fi
}

# True when PID exists and is not a zombie (`kill -0` also succeeds on an unreaped zombie).
_stack_pid_alive() {
  local stat state
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat="${stat##*) }"
  state="${stat%% *}"
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Prints "pid ppid sid" for each live (non-zombie) process.
_stack_ps() {
  local f stat pid state ppid sess
  for f in /proc/[0-9]*/stat; do
    { read -r stat <"$f"; } 2>/dev/null || continue
    pid="${stat%% *}"
    stat="${stat##*) }"
    read -r state ppid _ sess _ <<<"$stat"
    [[ "$state" != Z && "$state" != X ]] || continue
    printf '%s %s %s\n' "$pid" "$ppid" "$sess"
  done
}

# Adds to _STACK_TREE (pid -> 1) the live processes of session ROOT and all live descendants of ROOT.
_stack_collect_tree() {
  local root="$1" row pid ppid sess changed=1
  local -A parent=()
  local -a rows
  mapfile -t rows < <(_stack_ps)
  for row in "${rows[@]}"; do
    read -r pid ppid sess <<<"$row"
    parent[$pid]=$ppid
    if [[ "$sess" == "$root" || "$pid" == "$root" ]]; then
      _STACK_TREE[$pid]=1
    fi
  done
  while ((changed)); do
    changed=0
    for pid in "${!parent[@]}"; do
      [[ -z "${_STACK_TREE[$pid]:-}" ]] || continue
      ppid="${parent[$pid]}"
      if [[ "$ppid" == "$root" || -n "${_STACK_TREE[$ppid]:-}" ]]; then
        _STACK_TREE[$pid]=1
        changed=1
      fi
    done
  done
}

# Stops cargo lambda watch, started by `setsid` as session and process group leader LEADER.
# cargo-lambda runs each function instance (`cargo run --bin NAME`) in a session of its own and
# stops them itself on TERM. So: note every descendant of LEADER, TERM LEADER's process group,
# wait up to ~15 s for all noted processes to end (noting new ones meanwhile), then KILL the rest.
_stack_kill_tree() {
  local leader="$1" deadline pid
  local -a left
  declare -gA _STACK_TREE=()
  _stack_collect_tree "$leader"
  if ! kill -TERM -- "-$leader" 2>/dev/null; then
    for pid in "${!_STACK_TREE[@]}"; do
      kill -TERM "$pid" 2>/dev/null || true
    done
  fi
  deadline=$((SECONDS + 15))
  while :; do
    ! _stack_pid_alive "$leader" || _stack_collect_tree "$leader"
    left=()
    for pid in "${!_STACK_TREE[@]}"; do
      ! _stack_pid_alive "$pid" || left+=("$pid")
    done
    ((${#left[@]} > 0 && SECONDS < deadline)) || break
    sleep 0.2
  done
  if ((${#left[@]} > 0)); then
    _stack_log "cargo lambda watch did not stop on TERM; sending KILL to ${left[*]}"
    for pid in "${left[@]}"; do
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  _STACK_TREE=()
}

# Terminates one process: TERM, up to ~10 s grace, then KILL; reaps it when it is our child.
_stack_kill_pid() {
  local pid="$1" i
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      _stack_pid_alive "$pid" || break
      sleep 0.1
    done
    if _stack_pid_alive "$pid"; then
      _stack_log "process $pid did not stop on TERM; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# --- moto ------------------------------------------------------------------------------------------
stack_start_moto() {
  local bin="$PORTCULLIS_ROOT/.venv/bin/moto_server"
  local log="$PORTCULLIS_LOCAL_DIR/moto.log"
  local url="http://127.0.0.1:${PORTCULLIS_AWS_PORT}/moto-api/"
  local timeout="${PORTCULLIS_MOTO_TIMEOUT:-30}"
  local deadline status

  if [[ -n "$STACK_MOTO_PID" ]] && _stack_pid_alive "$STACK_MOTO_PID"; then
    _stack_log "moto_server already running (pid $STACK_MOTO_PID)"
    return 0
  fi
  STACK_MOTO_PID=
  if [[ ! -x "$bin" ]]; then
    _stack_err "$bin not found; run scripts/bootstrap.sh (or make bootstrap) first"
    return 1
  fi
  if _stack_port_open "$PORTCULLIS_AWS_PORT"; then
    _stack_err "port 127.0.0.1:$PORTCULLIS_AWS_PORT is already in use (a moto_server left running?); stop that process or set PORTCULLIS_AWS_PORT to a free port"
    return 1
  fi

  mkdir -p "$PORTCULLIS_LOCAL_DIR"
  _stack_log "starting moto_server on 127.0.0.1:$PORTCULLIS_AWS_PORT (log: .local/moto.log)"
  "$bin" -H 127.0.0.1 -p "$PORTCULLIS_AWS_PORT" >"$log" 2>&1 </dev/null &
  STACK_MOTO_PID=$!
  printf '%s\n' "$STACK_MOTO_PID" >"$PORTCULLIS_LOCAL_DIR/moto.pid"

  deadline=$((SECONDS + timeout))
  while :; do
    if ! _stack_pid_alive "$STACK_MOTO_PID"; then
      status=0
      wait "$STACK_MOTO_PID" 2>/dev/null || status=$?
      _stack_err "moto_server exited during startup (status $status)"
      _stack_tail_log "$log"
      STACK_MOTO_PID=
      rm -f "$PORTCULLIS_LOCAL_DIR/moto.pid"
      return 1
    fi
    if _stack_port_open "$PORTCULLIS_AWS_PORT" && _stack_http_answers "$url" 2; then
      break
    fi
    if ((SECONDS >= deadline)); then
      _stack_err "moto_server did not answer on $url within ${timeout}s"
      _stack_tail_log "$log"
      _stack_stop_moto
      return 1
    fi
    sleep 0.2
  done
  _stack_log "moto_server is up (pid $STACK_MOTO_PID), AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
}

_stack_stop_moto() {
  if [[ -n "$STACK_MOTO_PID" ]]; then
    _stack_kill_pid "$STACK_MOTO_PID"
    _stack_log "stopped moto_server (pid $STACK_MOTO_PID)"
    STACK_MOTO_PID=
    rm -f "$PORTCULLIS_LOCAL_DIR/moto.pid"
  fi
}

# --- init ------------------------------------------------------------------------------------------
stack_portcullis_bin() {
  local target="${CARGO_TARGET_DIR:-target}"
  [[ "$target" == /* ]] || target="$PORTCULLIS_ROOT/$target"
  printf '%s\n' "$target/debug/portcullis"
}

stack_init() {
  local bin
  bin="$(stack_portcullis_bin)"
  if [[ ! -x "$bin" ]]; then
    _stack_err "$bin not found; build it first: cargo build --workspace --bins"
    return 1
  fi
  if ! _stack_port_open "$PORTCULLIS_AWS_PORT"; then
    _stack_err "nothing listens on $AWS_ENDPOINT_URL; call stack_start_moto first"
    return 1
  fi
  _stack_log "creating tables and secret: portcullis --local init"
  (cd "$PORTCULLIS_ROOT" && "$bin" --local init) || {
    _stack_err "portcullis --local init failed"
    return 1
  }
}

# --- cargo lambda watch ----------------------------------------------------------------------------
# Runs inside `setsid`: records its own pid (the new process group id), then runs the command.
# shellcheck disable=SC2016
_STACK_WATCH_INNER='
pidfile=$1 log=$2 mode=$3 root=$4
shift 4
cd "$root" || exit 1
echo "$$" >"$pidfile"
if [ "$mode" = dev ]; then
  "$@" 2>&1 | tee -a "$log"
  exit "${PIPESTATUS[0]}"
fi
exec "$@" >>"$log" 2>&1
'

stack_start_watch() {
  local mode="${1:-test}"
  local venv_bin="$PORTCULLIS_ROOT/.venv/bin"
  local log="$PORTCULLIS_LOCAL_DIR/watch.log"
  local pidfile="$PORTCULLIS_LOCAL_DIR/watch.pid"
  local url="http://127.0.0.1:${PORTCULLIS_PORT}/auth/oauth2/authorize"
  local timeout="${PORTCULLIS_WATCH_TIMEOUT:-120}"
  local deadline remaining status i
  local -a args

  case "$mode" in
    dev | test) ;;
    *)
      _stack_err "stack_start_watch: unknown mode '$mode' (use dev or test)"
      return 1
      ;;
  esac
  if [[ -n "$STACK_WATCH_PID" ]] && _stack_pid_alive "$STACK_WATCH_PID"; then
    _stack_log "cargo lambda watch already running (process group $STACK_WATCH_PGID)"
    return 0
  fi
  STACK_WATCH_PID=
  STACK_WATCH_PGID=
  if [[ ! -x "$venv_bin/cargo-lambda" ]]; then
    _stack_err "$venv_bin/cargo-lambda not found; run scripts/bootstrap.sh (or make bootstrap) first"
    return 1
  fi
  if _stack_port_open "$PORTCULLIS_PORT"; then
    _stack_err "port 127.0.0.1:$PORTCULLIS_PORT is already in use (a cargo lambda watch left running?); stop that process or set PORTCULLIS_PORT to a free port"
    return 1
  fi

  args=(lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORTCULLIS_PORT")
  [[ "$mode" == dev ]] || args+=(--ignore-changes)

  mkdir -p "$PORTCULLIS_LOCAL_DIR"
  rm -f "$pidfile"
  : >"$log"
  # In dev mode cargo-lambda reloads on file changes: keep it from reloading on its own log (and on
  # the venv or the build output), even where .gitignore is not read.
  printf '%s\n' '/.local/' '/.local/**' '/.venv/' '/.venv/**' '/target/' '/target/**' '*.log' \
    >"$PORTCULLIS_LOCAL_DIR/watch.ignore"
  _stack_log "starting cargo ${args[*]} (log: .local/watch.log)"
  PATH="$venv_bin:$PATH" CARGO_LAMBDA_IGNORE_FILE="$PORTCULLIS_LOCAL_DIR/watch.ignore" setsid -w bash -c "$_STACK_WATCH_INNER" stack-watch \
    "$pidfile" "$log" "$mode" "$PORTCULLIS_ROOT" cargo "${args[@]}" </dev/null &
  STACK_WATCH_PID=$!

  # The process group id is the pid of the process that setsid made a session leader.
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && break
    _stack_pid_alive "$STACK_WATCH_PID" || break
    sleep 0.05
  done
  STACK_WATCH_PGID="$(cat "$pidfile" 2>/dev/null || true)"

  deadline=$((SECONDS + timeout))
  while :; do
    if ! _stack_pid_alive "$STACK_WATCH_PID"; then
      status=0
      wait "$STACK_WATCH_PID" 2>/dev/null || status=$?
      _stack_err "cargo lambda watch exited during startup (status $status)"
      _stack_tail_log "$log"
      [[ -z "$STACK_WATCH_PGID" ]] || _stack_kill_tree "$STACK_WATCH_PGID"
      STACK_WATCH_PID=
      STACK_WATCH_PGID=
      rm -f "$pidfile"
      return 1
    fi
    if [[ -z "$STACK_WATCH_PGID" ]]; then
      STACK_WATCH_PGID="$(cat "$pidfile" 2>/dev/null || true)"
    fi
    remaining=$((deadline - SECONDS))
    # The first request makes cargo-lambda start the function (`cargo run`), which can take a
    # while: give that one request the rest of the time budget.
    if ((remaining > 0)) && _stack_port_open "$PORTCULLIS_PORT" &&
      _stack_http_answers "$url" "$remaining"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      _stack_err "cargo lambda watch did not answer on $url within ${timeout}s (set PORTCULLIS_WATCH_TIMEOUT to wait longer)"
      _stack_tail_log "$log"
      _stack_stop_watch
      return 1
    fi
    sleep 0.5
  done
  _stack_log "cargo lambda watch is up (process group $STACK_WATCH_PGID), issuer $PORTCULLIS_ISSUER"
}

stack_wait_watch() {
  if [[ -z "$STACK_WATCH_PID" ]]; then
    _stack_err "stack_wait_watch: cargo lambda watch was not started by this shell"
    return 1
  fi
  local status=0
  wait "$STACK_WATCH_PID" || status=$?
  return "$status"
}

_stack_stop_watch() {
  if [[ -z "$STACK_WATCH_PGID" && -n "$STACK_WATCH_PID" ]]; then
    STACK_WATCH_PGID="$(cat "$PORTCULLIS_LOCAL_DIR/watch.pid" 2>/dev/null || true)"
  fi
  if [[ -n "$STACK_WATCH_PGID" ]]; then
    _stack_kill_tree "$STACK_WATCH_PGID"
    _stack_log "stopped cargo lambda watch (process group $STACK_WATCH_PGID)"
  elif [[ -n "$STACK_WATCH_PID" ]]; then
    # Not yet past setsid: the launcher is the only process there is.
    _stack_kill_pid "$STACK_WATCH_PID"
  fi
  if [[ -n "$STACK_WATCH_PID" ]]; then
    wait "$STACK_WATCH_PID" 2>/dev/null || true
  fi
  STACK_WATCH_PID=
  STACK_WATCH_PGID=
  rm -f "$PORTCULLIS_LOCAL_DIR/watch.pid"
}

# --- stop ------------------------------------------------------------------------------------------
stack_stop() {
  _stack_stop_watch
  _stack_stop_moto
  return 0
}
