#!/usr/bin/env bash
# Development and CI helper for jiriaf-fw: install the dependencies, run a local Slurm and sshd, run the tests.
#
# Every subcommand is idempotent. All daemon state (configs, sockets, PID files, logs, keys) lives under
# $JIRIAF_DEV_STATE (default /tmp/jiriaf-dev). Outside it, only these paths are touched: the apt packages,
# /etc/munge/munge.key (created if missing), /run/sshd (sshd's compiled-in privilege-separation directory)
# and the virtualenv ($JIRIAF_DEV_VENV, default .venv in the repository).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${JIRIAF_DEV_STATE:-/tmp/jiriaf-dev}
VENV=${JIRIAF_DEV_VENV:-$REPO/.venv}
APT_PACKAGES=(slurm-wlm munge openssh-server stress python3 python3-venv prometheus)

usage() {
  cat <<EOF
usage: scripts/dev.sh COMMAND [ARGS...]

  install        install the apt packages (${APT_PACKAGES[*]}),
                 create the virtualenv $VENV and install jiriaf-fw with its test extras into it
  slurm-start    start munged, slurmctld and two slurmd daemons (nodes n1, n2; partition debug)
  slurm-stop     stop them by their recorded PIDs
  slurm-status   show which daemons run and the node states; exit 0 only when all run
  sshd-start     start a private sshd on 127.0.0.1:\${JIRIAF_DEV_SSHD_PORT:-2222} with its own keys
  sshd-stop      stop it
  test [ARGS]    run pytest (ARGS are passed on) and lint-imports with the virtualenv; starts the local
                 Slurm and sshd first when they are not running, and stops them again afterwards
  demo           install, start the local Slurm if needed, and run scripts/demo.sh: a pilot from
                 examples/local.yaml joins a Kubernetes API-server double and runs the paper's pod

State folder: $STATE (set JIRIAF_DEV_STATE to change it).
EOF
}

log() { printf 'dev.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_root() {
  [[ $(id -u) -eq 0 ]] || die "'$1' must run as root (the local Slurm runs its daemons and jobs as root)"
}

# Print the last lines of each log file given, for error reports.
show_log_tails() {
  local file
  for file in "$@"; do
    [[ -s $file ]] || continue
    printf '%s\n' "----- last lines of $file -----" >&2
    tail -n 20 "$file" >&2
  done
}

# pid_running PIDFILE COMM: true when the PID recorded in PIDFILE is a live (non-zombie) process named COMM.
# Checking the name keeps a recycled PID from being mistaken for our daemon.
pid_running() {
  local pidfile=$1 comm=$2 pid state
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$comm" ]] || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# start_daemon PIDFILE LOGFILE CMD...: start CMD in the background in a session of its own, so a Ctrl-C
# in the caller's terminal does not reach it, and record its PID. CMD must stay in the foreground and
# must not fork (slurmctld -D, slurmd -D, munged -F, sshd -D). Because a background child of a
# non-interactive shell is no process-group leader, setsid calls setsid(2) and execs without forking,
# so $! is the daemon's own PID.
start_daemon() {
  local pidfile=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  echo "$!" >"$pidfile"
}

# stop_daemon PIDFILE COMM [TIMEOUT_S]: send SIGTERM to the recorded PID, wait for it to exit, then
# SIGKILL after TIMEOUT_S seconds (default 30). Does nothing when the process is not running.
stop_daemon() {
  local pidfile=$1 comm=$2 timeout_s=${3:-30} pid deadline
  if ! pid_running "$pidfile" "$comm"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout_s))
  while pid_running "$pidfile" "$comm"; do
    if ((SECONDS >= deadline)); then
      log "$comm (PID $pid) still runs ${timeout_s}s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      timeout_s=10
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped $comm (PID $pid)"
}

# wait_until SECONDS DESCRIPTION CMD...: poll CMD every 0.25 s until it succeeds; fail after SECONDS.
wait_until() {
  local timeout_s=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout_s))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout_s}s waiting for $what"
      return 1
    fi
    sleep 0.25
  done
}

cmd_install() {
  local missing=() pkg python
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    require_root install
    log "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
  else
    log "apt packages already installed: ${APT_PACKAGES[*]}"
  fi

  python=${JIRIAF_DEV_PYTHON:-python3}
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is older than 3.11; set JIRIAF_DEV_PYTHON to a Python 3.11 or newer"
  if [[ ! -x $VENV/bin/python ]]; then
    log "creating the virtualenv $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  log "installing jiriaf-fw (editable, with test extras) into $VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$REPO[test]"
}

# Start the local Slurm (and sshd) unless they run already; the EXIT trap stops only what was started here.
started_services=()
stop_started_services() {
  local status=$? service
  for service in "${started_services[@]}"; do
    "${service}_stop" || true
  done
  return "$status"
}
ensure_services() {
  trap stop_started_services EXIT
  if ! slurm_all_running; then
    slurm_start
    started_services+=(slurm)
  fi
  if [[ $1 == with-sshd ]] && ! sshd_port_open; then
    sshd_start
    started_services+=(sshd)
  fi
}

cmd_test() {
  local pytest_status=0 lint_status=0 env_file
  [[ -x $VENV/bin/python ]] || die "no virtualenv at $VENV; run 'scripts/dev.sh install' first"
  ensure_services with-sshd
  for env_file in "$STATE/slurm/env.sh" "$STATE/ssh/env.sh"; do
    if [[ -r $env_file ]]; then
      log "using $env_file"
      # shellcheck source=/dev/null
      source "$env_file"
    fi
  done
  cd "$REPO"
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "$@" || pytest_status=$?
  "$VENV/bin/lint-imports" || lint_status=$?
  if ((pytest_status != 0)); then
    log "pytest failed with exit status $pytest_status"
    return "$pytest_status"
  fi
  if ((lint_status != 0)); then
    log "lint-imports failed with exit status $lint_status"
    return "$lint_status"
  fi
}

cmd_demo() {
  cmd_install
  ensure_services without-sshd
  JIRIAF_DEV_STATE=$STATE JIRIAF_DEV_VENV=$VENV "$REPO/scripts/demo.sh"
}

main() {
  local command=${1:-}
  (($#)) && shift
  # shellcheck source=scripts/lib/slurm.sh
  source "$REPO/scripts/lib/slurm.sh"
  # shellcheck source=scripts/lib/sshd.sh
  source "$REPO/scripts/lib/sshd.sh"
  case $command in
    install) cmd_install ;;
    slurm-start) slurm_start ;;
    slurm-stop) slurm_stop ;;
    slurm-status) slurm_status ;;
    sshd-start) sshd_start ;;
    sshd-stop) sshd_stop ;;
    test) cmd_test "$@" ;;
    demo) cmd_demo ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
