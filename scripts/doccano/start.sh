#!/usr/bin/env bash
# Start a local Doccano 1.8.4: web app (gunicorn, bound to 127.0.0.1 only) and the task worker (Celery; its
# queue lives in the same SQLite database; imports and exports need it). Installs Doccano first if needed.
#
# Usage: scripts/doccano/start.sh [--data-dir DIR] [--port PORT] [--venv DIR] [--timeout SECONDS]
#   --data-dir  SQLite database, uploads, logs and PID files (default: $POSTROOM_DOCCANO_HOME, else var/doccano)
#   --port      loopback port (default: $POSTROOM_DOCCANO_PORT, else 8800)
#   --venv      Doccano's virtual environment (default: $POSTROOM_DOCCANO_VENV, else .cache/doccano-venv)
#   --timeout   seconds to wait until it answers (default: 120)
# Admin user: $POSTROOM_DOCCANO_USER / $POSTROOM_DOCCANO_PASSWORD. When unset, the dev-only defaults below are
# used, with a warning: fine on your laptop, never on a shared host.
# Stop it with scripts/doccano/stop.sh --data-dir DIR (it kills exactly the process groups started here).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="${POSTROOM_DOCCANO_HOME:-$ROOT/var/doccano}"
PORT="${POSTROOM_DOCCANO_PORT:-8800}"
VENV="${POSTROOM_DOCCANO_VENV:-$ROOT/.cache/doccano-venv}"
TIMEOUT=120
WEB_WORKERS="${POSTROOM_DOCCANO_WEB_WORKERS:-2}"
DEV_USER="postroom"
DEV_PASSWORD="dev-only-postroom-password"  # dev default, not a secret; refused by Postroom off loopback

while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --venv) VENV="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "start.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

ADMIN_USER="${POSTROOM_DOCCANO_USER:-}"
ADMIN_PASSWORD="${POSTROOM_DOCCANO_PASSWORD:-}"
if [[ -z "$ADMIN_USER" || -z "$ADMIN_PASSWORD" ]]; then
  echo "doccano: POSTROOM_DOCCANO_USER/POSTROOM_DOCCANO_PASSWORD not set; using the dev-only defaults" >&2
  ADMIN_USER="${ADMIN_USER:-$DEV_USER}"
  ADMIN_PASSWORD="${ADMIN_PASSWORD:-$DEV_PASSWORD}"
fi

# Doccano's database, media and logs hold the experts' view of client e-mails: owner only (0700/0600)
umask 077
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd -P)"
RUN="$DATA/run"
LOGS="$DATA/logs"
mkdir -p "$RUN" "$LOGS" "$DATA/media"

alive() {  # alive PIDFILE: the process group recorded there still runs and is this instance's
  [[ -f "$1" ]] || return 1
  local pgid; pgid="$(cat "$1")"
  kill -0 -- "-$pgid" 2>/dev/null || return 1
  tr '\0' '\n' < "/proc/$pgid/environ" 2>/dev/null | grep -qxF "POSTROOM_DOCCANO_INSTANCE=$DATA"
}

if alive "$RUN/web.pid" && alive "$RUN/worker.pid"; then
  echo "doccano: already running for $DATA (url: $(cat "$RUN/url" 2>/dev/null)); stop it with stop.sh" >&2
  exit 1
fi
if alive "$RUN/web.pid" || alive "$RUN/worker.pid"; then  # half of it: start both afresh
  echo "doccano: only one of the web app and the task worker runs for $DATA; restarting both" >&2
  "$HERE/stop.sh" --data-dir "$DATA" > /dev/null 2>&1 || true
fi
rm -f "$RUN/web.pid" "$RUN/worker.pid" "$RUN/url"

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "doccano: port $PORT on 127.0.0.1 is already in use; pick another with --port" >&2
  exit 1
fi

"$HERE/install.sh" --venv "$VENV"

# A per-instance Django secret (Doccano's built-in default is public).
if [[ ! -s "$DATA/secret_key" ]]; then
  (umask 077; "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DATA/secret_key")
fi

BACKEND="$("$VENV/bin/python" -c 'import backend, os; print(os.path.dirname(backend.__file__))')"
unset CELERY_BROKER_URL DJANGO_SETTINGS_MODULE  # never inherit another app's broker or settings
export DOCCANO_HOME="$DATA"
export DATABASE_URL="sqlite:///$DATA/db.sqlite3"
export MEDIA_ROOT="$DATA/media"
export SECRET_KEY="$(cat "$DATA/secret_key")"
export DJANGO_SETTINGS_MODULE="config.settings.production"
export STANDALONE="True"   # makes Doccano's URLconf serve the frontend's favicon and media
export DEBUG="False"
export CSRF_TRUSTED_ORIGINS="http://127.0.0.1:$PORT,http://localhost:$PORT"
export POSTROOM_DOCCANO_INSTANCE="$DATA"  # stop.sh checks this before it kills a recorded PID

echo "doccano: preparing the database in $DATA ..."
"$VENV/bin/doccano" init > "$LOGS/init.log" 2>&1 || { cat "$LOGS/init.log" >&2; exit 1; }
# createuser is idempotent (it resets the password). Pass the password in-process, not on a command line.
DOCCANO_ADMIN_USER="$ADMIN_USER" DOCCANO_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$VENV/bin/python" - \
  >> "$LOGS/init.log" 2>&1 <<'PY' || { tail -20 "$LOGS/init.log" >&2; exit 1; }
import os, sys
from backend.cli import main
# `--name=value`: a value that starts with "-" (token_urlsafe gives one in 64) is not taken for an option.
sys.argv = ["doccano", "createuser", "--username=" + os.environ["DOCCANO_ADMIN_USER"],
            "--password=" + os.environ["DOCCANO_ADMIN_PASSWORD"], "--email=admin@example.com"]
main()
PY
# The web app and the worker both create Celery's queue in the broker's tables on first use; started together
# on a fresh database, one of them can lose that race (kombu_queue's UNIQUE constraint) and exit. Create it
# first.
BROKER_URL="sqla+$DATABASE_URL" "$VENV/bin/python" - >> "$LOGS/init.log" 2>&1 <<'PY' \
  || { tail -20 "$LOGS/init.log" >&2; exit 1; }
import os
from kombu import Connection
with Connection(os.environ["BROKER_URL"]) as connection:
    connection.default_channel.queue_declare(queue="celery")
PY

# `doccano webserver` binds 0.0.0.0; run its WSGI app (config.wsgi in the backend dir) on loopback instead.
# Static files are served by WhiteNoise from the backend's staticfiles/ (the built Nuxt frontend included).
setsid "$VENV/bin/gunicorn" --chdir "$BACKEND" --bind "127.0.0.1:$PORT" --workers "$WEB_WORKERS" \
  --timeout 120 --access-logfile - --error-logfile - config.wsgi:application \
  > "$LOGS/web.log" 2>&1 < /dev/null &
echo $! > "$RUN/web.pid"
setsid "$VENV/bin/doccano" task --concurrency 1 > "$LOGS/worker.log" 2>&1 < /dev/null &
echo $! > "$RUN/worker.pid"

URL="http://127.0.0.1:$PORT"
deadline=$(( $(date +%s) + TIMEOUT ))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/json' --max-time 10 \
            "$URL/v1/health/")" == 200 ]]; do
  for name in web worker; do
    if ! alive "$RUN/$name.pid"; then
      echo "doccano: the $name process exited; last lines of $LOGS/$name.log:" >&2
      tail -20 "$LOGS/$name.log" >&2
      "$HERE/stop.sh" --data-dir "$DATA" > /dev/null 2>&1 || true
      exit 1
    fi
  done
  if (( $(date +%s) > deadline )); then
    echo "doccano: not healthy after ${TIMEOUT}s at $URL/v1/health/ (logs in $LOGS); stopping it" >&2
    "$HERE/stop.sh" --data-dir "$DATA" > /dev/null 2>&1 || true
    exit 1
  fi
  sleep 1
done
echo "$URL" > "$RUN/url"
echo "doccano: ready at $URL (web pgid $(cat "$RUN/web.pid"), worker pgid $(cat "$RUN/worker.pid"))"
echo "doccano: for Postroom: export POSTROOM_DOCCANO_URL=$URL"
