#!/usr/bin/env bash
# tracksync helper: run it from any directory; it works in the project folder, sets up the
# project's virtual environment on first use (.venv, or an existing venv/), and passes every
# exit code through.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MIN_PYTHON="3.11"  # the pinned filelock (4.2.11) requires Python 3.11; pip refuses it on 3.10
SETUP_FAILED=69    # no usable Python, no venv, or a failed pip install
CRON_TAG="# tracksync-auto"
UNIT="tracksync"

usage() {
  cat <<'TXT'
Usage: run_sync.sh COMMAND [ARGS]

  test [pytest args]           run the test suite (python -m pytest), e.g. test -q
  demo                         start the sandbox with sample data, sync against it, stop it
  sync [args]                  python sync.py [args]          e.g. sync gitea-kimai --dry-run
  webhook [--host H] [--port P] serve Zammad webhooks (python sync.py webhook)
  report [args]                python report.py [args]        e.g. report history --limit 5
  export [args]                python report.py export [args] e.g. export --format json
  backup create|list|verify FILE|restore FILE|prune --keep N
  diagnose [flags]             python diagnose.py [flags]     e.g. diagnose --config
  connection [args]            python test_connection.py [args]
  cache clear|status           empty or describe the HTTP cache (python sync.py cache ...)
  auto [--every MINUTES] [--env-file PATH] | auto --remove
                               install (or remove) exactly one crontab line running the sync
                               (a run that finds the previous one still going exits 75)
  systemd [--every MINUTES] [--env-file PATH] [--system] | systemd [--system] --remove
                               write (or delete) tracksync.service + tracksync.timer as user
                               units (--system: /etc/systemd/system) and print the systemctl
                               lines that enable them; it never runs systemctl itself
  help, --version              this text; the version

Set-up: the first command creates .venv in the project folder (an existing .venv or venv is
reused) with python3 (or $PYTHON), Python 3.11 or newer, and installs requirements.txt into it;
test and demo also install requirements-dev.txt (pytest; the sandbox's contract checker). It
reinstalls only when those files change; pip's output goes to .venv/install.log.

Exit codes are those of the script run (see python sync.py --help); 69 when the environment
cannot be set up (no usable Python, no venv module, a failed install: one line says which).

Examples:
  ./run_sync.sh demo && ./run_sync.sh test -q
  ./run_sync.sh sync --dry-run --env-file /etc/tracksync/tracksync.env
  ./run_sync.sh systemd --every 15 --env-file /etc/tracksync/tracksync.env
TXT
}

version() {  # the package's version, read without starting Python
  sed -n 's/^__version__ = "\(.*\)"$/run_sync.sh (tracksync), version \1/p' "$HERE/common/__init__.py"
}

say() { echo "run_sync.sh: $*" >&2; }

# -- the virtual environment ------------------------------------------------------------------
VENV=""
PY=""
find_venv() {
  local candidate
  for candidate in "$HERE/.venv" "$HERE/venv"; do
    if [ -x "$candidate/bin/python" ]; then VENV="$candidate"; PY="$candidate/bin/python"; return 0; fi
  done
  return 1
}

python_ok() {  # python_ok INTERPRETER -> prints its version; fails when older than MIN_PYTHON
  "$1" -c "import sys; print('%d.%d' % sys.version_info[:2]); sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" 2>/dev/null
}

create_venv() {
  local base="${PYTHON:-python3}" version output
  if ! command -v "$base" >/dev/null 2>&1; then
    say "Python $MIN_PYTHON or newer is needed, but $base was not found (install python3, or set PYTHON=/path/to/python3)"
    return $SETUP_FAILED
  fi
  if ! version="$(python_ok "$base")"; then
    say "Python $MIN_PYTHON or newer is needed; $base is ${version:-not a working Python} (set PYTHON=/path/to/python3.11 or newer)"
    return $SETUP_FAILED
  fi
  say "creating the virtual environment $HERE/.venv (Python $version)"
  if ! output="$("$base" -m venv "$HERE/.venv" 2>&1)"; then
    rm -rf "$HERE/.venv"  # a half-made venv (no pip) would be reused next time
    say "cannot create .venv: $base -m venv failed ($(printf '%s\n' "$output" | grep -v '^\s*$' | tail -n 1)); on Debian/Ubuntu: apt install python3-venv"
    return $SETUP_FAILED
  fi
  find_venv
}

requirements_hash() {
  if command -v sha256sum >/dev/null 2>&1; then cat "$@" | sha256sum | cut -d' ' -f1
  else cat "$@" | shasum -a 256 | cut -d' ' -f1; fi
}

# setup runtime|dev: a venv with the requirements of that level installed (pip only inside it)
setup() {
  local level="$1" file="requirements.txt" files=(requirements.txt) stamp hash version
  if [ "$level" = dev ]; then file="requirements-dev.txt"; files=(requirements.txt requirements-dev.txt); fi
  if ! find_venv; then create_venv || return; fi
  if ! version="$(python_ok "$PY")"; then
    say "Python $MIN_PYTHON or newer is needed; ${VENV#"$HERE/"} has Python ${version:-that does not run} (remove it and run again)"
    return $SETUP_FAILED
  fi
  stamp="$VENV/.tracksync-$level.sha256"
  hash="$(cd "$HERE" && requirements_hash "${files[@]}")" || return 1
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && return 0
  local log="$VENV/install.log"
  say "installing $file into ${VENV#"$HERE/"} (log: $log)"
  {
    echo "== $(date '+%Y-%m-%d %H:%M:%S') pip install -r $file"
    (cd "$HERE" && "$PY" -m pip install --disable-pip-version-check --no-input --progress-bar off -r "$file")
  } >>"$log" 2>&1
  local code=$?
  if [ "$code" -ne 0 ]; then
    say "installing $file failed (pip exit $code; log: $log)"
    return $SETUP_FAILED
  fi
  echo "$hash" >"$stamp"
  [ "$level" = dev ] && (cd "$HERE" && requirements_hash requirements.txt) >"$VENV/.tracksync-runtime.sha256"
  return 0
}

# -- demo ---------------------------------------------------------------------------------------
DEMO_DIR=""
DEMO_PID=""
DEMO_KEEP=0
demo_cleanup() {
  [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null && wait "$DEMO_PID" 2>/dev/null
  [ -n "$DEMO_DIR" ] && [ "$DEMO_KEEP" -eq 0 ] && rm -rf "$DEMO_DIR"
}

# The sandbox prints "sandbox: FAILED <service>: ..." or "sandbox: VIOLATION <service>: ..." on
# stderr (its log) for a stand-in that broke while serving or saw traffic off its contract.
demo_sandbox_problem() {
  local line service rest
  line="$(grep -m 1 -E '^sandbox: (FAILED|VIOLATION) ' "$DEMO_DIR/sandbox.log")" || {
    kill -0 "$DEMO_PID" 2>/dev/null && return 1
    echo "the sandbox stopped: $(tail -n 1 "$DEMO_DIR/sandbox.log")"
    return 0
  }
  rest="${line#sandbox: * }"; service="${rest%%: *}"; rest="${rest#*: }"
  case "$line" in
    "sandbox: FAILED "*) echo "the $service stand-in failed: $rest" ;;
    *) echo "the $service stand-in saw traffic off its API contract: $rest" ;;
  esac
}

demo_fail() {  # demo_fail REASON [CODE]: one line, the folder with the sandbox log stays
  DEMO_KEEP=1
  echo "demo: $1 (log: $DEMO_DIR/sandbox.log)" >&2
  return "${2:-1}"
}

demo_step() {  # demo_step NAME ARGS...: run sync.py; its output is shown unless a stand-in failed
  local name="$1" code problem
  shift
  "$PY" sync.py --env-file "$DEMO_DIR/demo.env" "$@" >"$DEMO_DIR/$name.out" 2>"$DEMO_DIR/$name.err"; code=$?
  if problem="$(demo_sandbox_problem)"; then demo_fail "$problem"; return; fi
  if [ "$code" -ne 0 ]; then
    cat "$DEMO_DIR/$name.out"; cat "$DEMO_DIR/$name.err" >&2
    DEMO_KEEP=1
    echo "demo: the $name sync exited $code; its output and the sandbox log are in $DEMO_DIR" >&2
    return "$code"
  fi
  cat "$DEMO_DIR/$name.err" >&2
}

demo() {
  local env_file line code
  DEMO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tracksync-demo.XXXXXX")" || { echo "demo: cannot create a temporary folder" >&2; return 1; }
  trap demo_cleanup EXIT
  env_file="$DEMO_DIR/demo.env"
  "$PY" -m sandbox --seed demo --env-out "$env_file" >"$DEMO_DIR/sandbox.out" 2>"$DEMO_DIR/sandbox.log" &
  DEMO_PID=$!
  for _ in $(seq 1 300); do
    [ -s "$env_file" ] && break
    if ! kill -0 "$DEMO_PID" 2>/dev/null; then
      wait "$DEMO_PID"; code=$?  # 78: a contract file cannot be read; 69: no port to listen on
      [ "$code" -eq 78 ] || [ "$code" -eq 69 ] || code=1
      line="$(grep -v '^\s*$' "$DEMO_DIR/sandbox.log" | tail -n 1)"
      case "$line" in
        "sandbox: "*) demo_fail "${line#sandbox: }" "$code" ;;
        *) demo_fail "the sandbox did not start: ${line:-no message}" "$code" ;;
      esac
      return
    fi
    sleep 0.1
  done
  [ -s "$env_file" ] || { demo_fail "the sandbox did not start within 30 seconds"; return; }
  {
    echo "DATABASE_PATH=$DEMO_DIR/demo.db"
    echo "LOG_FILE=$DEMO_DIR/demo.log"
    echo "CACHE_DIR=$DEMO_DIR/cache"
    echo "EXPORT_DIR=$DEMO_DIR/exports"
    echo "SYNC_JOBS=gitea-kimai,zammad-kimai"
    echo "ZAMMAD_DEFAULT_ACTIVITY=Support"
  } >>"$env_file"
  echo "== Sandbox running (Gitea, Zammad and Kimai stand-ins on loopback). The plan of the first sync:"
  demo_step plan --dry-run || return
  head -n 10 "$DEMO_DIR/plan.out"
  echo "  ... ($(grep -cE '^ +create ' "$DEMO_DIR/plan.out") creates in all, gitea-kimai and zammad-kimai)"
  echo "== First sync: Gitea issues -> Kimai activities, Zammad ticket time -> Kimai timesheets"
  demo_step first || return
  cat "$DEMO_DIR/first.out"
  echo "== Second sync (nothing changed, so nothing is written):"
  demo_step second || return
  cat "$DEMO_DIR/second.out"
}

# -- cron and systemd ---------------------------------------------------------------------------
EVERY_CHOICES="1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 minutes or 60, 120, 180, 240, 360, 480, 720, 1440 (whole hours)"
check_every() {  # check_every WHAT VALUE: minutes that divide an hour, or hours that divide a day, so runs are evenly spaced
  local what="$1" every="$2"
  case "$every" in ''|*[!0-9]*) every=0 ;; esac
  every=$((10#$every))
  if [ "$every" -ge 1 ] && [ "$every" -lt 60 ] && [ $((60 % every)) -eq 0 ]; then return 0; fi
  if [ "$every" -ge 60 ] && [ "$every" -le 1440 ] && [ $((every % 60)) -eq 0 ] && [ $((1440 % every)) -eq 0 ]; then return 0; fi
  echo "$what: --every takes $EVERY_CHOICES, so that runs are evenly spaced (got '$2')" >&2
  return 2
}

cron_schedule() {  # cron_schedule MINUTES: the five time fields
  if [ "$1" -lt 60 ]; then printf '*/%s * * * *' "$1"; elif [ "$1" -eq 1440 ]; then printf '0 0 * * *'
  else printf '0 */%s * * *' "$(($1 / 60))"; fi
}

absolute() { printf '%s/%s' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"; }

auto() {
  local every=15 remove=0 env_file=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --every) every="${2:-}"; shift 2 || shift ;;
      --remove) remove=1; shift ;;
      --env-file) env_file="${2:-}"; shift 2 || shift ;;
      *) echo "usage: run_sync.sh auto [--every MINUTES] [--env-file PATH] | auto --remove" >&2; return 2 ;;
    esac
  done
  check_every auto "$every" || return
  command -v crontab >/dev/null || { echo "auto: crontab is not installed" >&2; return 69; }
  local current
  current="$(crontab -l 2>/dev/null | grep -vF "$CRON_TAG" || true)"
  if [ "$remove" -eq 1 ]; then
    printf '%s\n' "$current" | sed '/^$/d' | crontab - && echo "removed the tracksync crontab line"
    return
  fi
  setup runtime || return
  local env_arg="" log="$HERE/cron.log" line
  [ -n "$env_file" ] && printf -v env_arg ' --env-file %q' "$(absolute "$env_file")"
  # flock -n -E 75: a run that finds the previous one still going exits 75 (retry later), not 1;
  # --quiet: cron.log (and cron's mail) gets a run's output only when something changed or failed
  printf -v line '%s cd %q && flock -n -E 75 %q %q %q --quiet%s >> %q 2>&1' \
    "$(cron_schedule "$((10#$every))")" "$HERE" "$HERE/.cron.lock" "$PY" "$HERE/sync.py" "$env_arg" "$log"
  line="${line//%/\\%} $CRON_TAG"  # cron turns a bare % into a line break
  { printf '%s\n' "$current" | sed '/^$/d'; echo "$line"; } | crontab - || return 1
  echo "installed: $line"
}

unit_quote() {  # one ExecStart= argument: "...", with \ " % $ escaped for systemd
  local text="$1"
  text="${text//\\/\\\\}"; text="${text//\"/\\\"}"; text="${text//%/%%}"; text="${text//\$/\$\$}"
  printf '"%s"' "$text"
}

systemd_units() {
  local every=15 env_file="$HERE/.env" system=0 remove=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --every) every="${2:-}"; shift 2 || shift ;;
      --env-file) env_file="${2:-}"; shift 2 || shift ;;
      --system) system=1; shift ;;
      --remove) remove=1; shift ;;
      *) echo "usage: run_sync.sh systemd [--every MINUTES] [--env-file PATH] [--system] | systemd [--system] --remove" >&2
         return 2 ;;
    esac
  done
  check_every systemd "$every" || return
  every=$((10#$every))
  local dir ctl="systemctl --user"
  if [ "$system" -eq 1 ]; then dir="${TRACKSYNC_UNIT_DIR:-/etc/systemd/system}"; ctl="systemctl"
  else dir="${TRACKSYNC_UNIT_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user}"; fi
  local service="$dir/$UNIT.service" timer="$dir/$UNIT.timer"
  if [ "$remove" -eq 1 ]; then
    local found=0 file
    for file in "$service" "$timer" "$dir/timers.target.wants/$UNIT.timer"; do
      if [ -e "$file" ] || [ -L "$file" ]; then
        rm -f "$file" || { echo "systemd: cannot remove $file" >&2; return 77; }
        echo "removed $file"; found=1
      fi
    done
    [ "$found" -eq 1 ] || echo "no tracksync units in $dir"
    printf 'stop the timer (systemd still knows it until the reload) and forget the units with:\n  %s stop %s.timer\n  %s daemon-reload\n' "$ctl" "$UNIT" "$ctl"
    return 0
  fi
  case "$HERE$env_file" in *$'\n'*) echo "systemd: paths with a line break cannot go into a unit file" >&2; return 2 ;; esac
  env_file="$(absolute "$env_file")"
  setup runtime || return
  mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ] || {
    echo "systemd: cannot write to $dir$([ "$system" -eq 1 ] && echo ' (--system needs root: sudo)')" >&2; return 77; }
  local calendar="*:0/$every" user_line=""
  [ "$every" -ge 60 ] && calendar="*-*-* 0/$((every / 60)):00:00"
  [ "$every" -eq 60 ] && calendar="hourly"
  [ "$system" -eq 1 ] && user_line="User=$(stat -c %U "$HERE" 2>/dev/null || id -un)"$'\n'
  cat >"$service" <<UNIT_EOF || return 1
# Written by run_sync.sh systemd; remove with: run_sync.sh systemd$([ "$system" -eq 1 ] && echo ' --system') --remove
[Unit]
Description=tracksync: one sync run (run_sync.sh sync --quiet)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
${user_line}WorkingDirectory=${HERE//%/%%}
ExecStart=$(unit_quote "$HERE/run_sync.sh") sync --quiet --env-file $(unit_quote "$env_file")
# 75 = temporary (lock held by another run, rate limited, stopped politely): the next tick retries
SuccessExitStatus=75
# systemctl stop sends SIGTERM: the sync finishes the item in flight, records the run, exits 75
TimeoutStopSec=120
UNIT_EOF
  cat >"$timer" <<UNIT_EOF || return 1
# Written by run_sync.sh systemd
[Unit]
Description=tracksync: sync every $every minutes

[Timer]
OnCalendar=$calendar
Persistent=true
Unit=$UNIT.service

[Install]
WantedBy=timers.target
UNIT_EOF
  echo "wrote $service"
  echo "wrote $timer"
  [ -f "$env_file" ] || echo "note: $env_file does not exist yet; the sync reads it" >&2
  printf 'enable the timer with:\n  %s daemon-reload\n  %s enable --now %s.timer\n' "$ctl" "$ctl" "$UNIT"
  [ "$system" -eq 0 ] && echo "to keep it running while you are logged out: loginctl enable-linger $(id -un)"
  return 0
}

# Commands run in the project folder, so ./.env, sync.db and the other relative paths of the
# configuration always mean the same files; arguments naming existing files are made absolute.
args=()
first=1
for arg in "$@"; do
  if [ "$first" -eq 0 ] && [ "${arg#-}" = "$arg" ] && [ -e "$arg" ]; then
    arg="$(absolute "$arg")"
  fi
  args+=("$arg")
  first=0
done
set -- ${args[@]+"${args[@]}"}
cd "$HERE" || exit 1

cmd="${1:-help}"; shift || true
case "$cmd" in
  help|-h|--help) usage; exit 0 ;;
  version|--version) version; exit 0 ;;
  auto)           auto "$@"; exit ;;
  systemd)        systemd_units "$@"; exit ;;
  test|demo)      setup dev || exit ;;
  sync|webhook|report|export|backup|diagnose|connection|cache) setup runtime || exit ;;
  *)              echo "unknown command: $cmd" >&2; usage >&2; exit 2 ;;
esac
case "$cmd" in
  test)       exec "$PY" -m pytest "$@" ;;
  demo)       demo ;;
  sync)       exec "$PY" sync.py "$@" ;;
  webhook)    exec "$PY" sync.py webhook "$@" ;;
  report)     exec "$PY" report.py "$@" ;;
  export)     exec "$PY" report.py export "$@" ;;
  backup)     exec "$PY" backup.py "$@" ;;
  diagnose)   exec "$PY" diagnose.py "$@" ;;
  connection) exec "$PY" test_connection.py "$@" ;;
  cache)      exec "$PY" sync.py cache "$@" ;;
esac
