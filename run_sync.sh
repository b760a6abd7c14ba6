#!/usr/bin/env bash
# tracksync helper: run it from any directory; it works in the project folder, uses the project's
# virtual environment when there is one, and passes every exit code through.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -x "$HERE/.venv/bin/python" ]; then
  PY="$HERE/.venv/bin/python"
elif [ -x "$HERE/venv/bin/python" ]; then
  PY="$HERE/venv/bin/python"
else
  PY="$(command -v python3 || command -v python)"
fi
CRON_TAG="# tracksync-auto"

usage() {
  cat <<'TXT'
Usage: run_sync.sh COMMAND [ARGS]

  test [pytest args]           run the test suite (python -m pytest)
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
  help                         this text

Exit codes are those of the script run (see python sync.py --help).
TXT
}

DEMO_DIR=""
DEMO_PID=""
demo_cleanup() {
  [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null && wait "$DEMO_PID" 2>/dev/null
  [ -n "$DEMO_DIR" ] && rm -rf "$DEMO_DIR"
}

demo() {
  local env_file code=0
  DEMO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tracksync-demo.XXXXXX")"
  trap demo_cleanup EXIT
  env_file="$DEMO_DIR/demo.env"
  "$PY" -m sandbox --seed demo --env-out "$env_file" >"$DEMO_DIR/sandbox.out" 2>"$DEMO_DIR/sandbox.err" &
  DEMO_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$env_file" ] && break
    kill -0 "$DEMO_PID" 2>/dev/null || { cat "$DEMO_DIR/sandbox.err" >&2; return 1; }
    sleep 0.1
  done
  [ -s "$env_file" ] || { echo "the sandbox did not start" >&2; return 1; }
  {
    echo "DATABASE_PATH=$DEMO_DIR/demo.db"
    echo "LOG_FILE=$DEMO_DIR/demo.log"
    echo "CACHE_DIR=$DEMO_DIR/cache"
    echo "EXPORT_DIR=$DEMO_DIR/exports"
    echo "SYNC_JOBS=gitea-kimai,zammad-kimai"
    echo "ZAMMAD_DEFAULT_ACTIVITY=Support"
  } >>"$env_file"
  echo "== Sandbox running (Gitea, Zammad and Kimai stand-ins on loopback). The plan of the first sync:"
  "$PY" sync.py --env-file "$env_file" --dry-run >"$DEMO_DIR/plan.txt"; code=$?
  [ "$code" -eq 0 ] || { cat "$DEMO_DIR/plan.txt"; return "$code"; }
  head -n 10 "$DEMO_DIR/plan.txt"
  echo "  ... ($(grep -c '^  create' "$DEMO_DIR/plan.txt") creates in all, gitea-kimai and zammad-kimai)"
  echo "== First sync: Gitea issues -> Kimai activities, Zammad ticket time -> Kimai timesheets"
  "$PY" sync.py --env-file "$env_file" || return $?
  echo "== Second sync (nothing changed, so nothing is written):"
  "$PY" sync.py --env-file "$env_file"
}

auto() {
  local every=15 remove=0 env_file=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --every) every="${2:-}"; shift 2 ;;
      --remove) remove=1; shift ;;
      --env-file) env_file="${2:-}"; shift 2 ;;
      *) echo "usage: run_sync.sh auto [--every MINUTES] [--env-file PATH] | auto --remove" >&2; return 2 ;;
    esac
  done
  case "$every" in ''|*[!0-9]*) echo "auto: --every takes whole minutes (1-59)" >&2; return 2 ;; esac
  if [ "$every" -lt 1 ] || [ "$every" -gt 59 ]; then echo "auto: --every takes whole minutes (1-59)" >&2; return 2; fi
  command -v crontab >/dev/null || { echo "auto: crontab is not installed" >&2; return 69; }
  local current
  current="$(crontab -l 2>/dev/null | grep -vF "$CRON_TAG" || true)"
  if [ "$remove" -eq 1 ]; then
    printf '%s\n' "$current" | sed '/^$/d' | crontab - && echo "removed the tracksync crontab line"
    return
  fi
  local env_arg="" log="$HERE/cron.log" line
  if [ -n "$env_file" ]; then
    printf -v env_arg ' --env-file %q' "$(cd "$(dirname "$env_file")" && pwd)/$(basename "$env_file")"
  fi
  printf -v line '*/%s * * * * cd %q && flock -n %q %q %q%s >> %q 2>&1 %s' \
    "$every" "$HERE" "$HERE/.cron.lock" "$PY" "$HERE/sync.py" "$env_arg" "$log" "$CRON_TAG"
  { printf '%s\n' "$current" | sed '/^$/d'; echo "$line"; } | crontab - || return 1
  echo "installed: $line"
}

# Commands run in the project folder, so ./.env, sync.db and the other relative paths of the
# configuration always mean the same files; arguments naming existing files are made absolute.
args=()
first=1
for arg in "$@"; do
  if [ "$first" -eq 0 ] && [ "${arg#-}" = "$arg" ] && [ -e "$arg" ]; then
    arg="$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"
  fi
  args+=("$arg")
  first=0
done
set -- ${args[@]+"${args[@]}"}
cd "$HERE" || exit 1

cmd="${1:-help}"; shift || true
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
  auto)       auto "$@" ;;
  help|-h|--help) usage ;;
  *)          echo "unknown command: $cmd" >&2; usage >&2; exit 2 ;;
esac
