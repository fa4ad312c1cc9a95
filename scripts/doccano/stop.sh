#!/usr/bin/env bash
# Stop the Doccano started by start.sh for one data dir: exactly the process groups in its PID files, and
# only after checking they belong to that instance (a stale PID reused by another program is left alone).
#
# Usage: scripts/doccano/stop.sh [--data-dir DIR] [--only web|worker]
#   --data-dir  as given to start.sh (default: $POSTROOM_DOCCANO_HOME, else var/doccano)
#   --only      stop just the web app or just the task worker (tests use this to simulate an outage)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="${POSTROOM_DOCCANO_HOME:-$ROOT/var/doccano}"
ONLY=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "stop.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -d "$DATA" ]]; then
  echo "doccano: nothing to stop ($DATA does not exist)"
  exit 0
fi
DATA="$(cd "$DATA" && pwd -P)"
RUN="$DATA/run"
names=(web worker)
[[ -n "$ONLY" ]] && names=("$ONLY")

stop_group() {  # stop_group NAME
  local pidfile="$RUN/$1.pid" pgid
  if [[ ! -f "$pidfile" ]]; then
    echo "doccano: $1 not running (no PID file)"
    return 0
  fi
  pgid="$(cat "$pidfile")"
  if ! [[ "$pgid" =~ ^[0-9]+$ ]] || ! kill -0 -- "-$pgid" 2>/dev/null; then
    echo "doccano: $1 not running (stale PID file)"
    rm -f "$pidfile"
    return 0
  fi
  local marker
  marker="$(tr '\0' '\n' < "/proc/$pgid/environ" 2>/dev/null | grep '^POSTROOM_DOCCANO_INSTANCE=' || true)"
  if [[ "$marker" != "POSTROOM_DOCCANO_INSTANCE=$DATA" ]]; then
    if [[ -n "$marker" ]]; then  # a Doccano of another data dir: never kill it, keep the PID file
      echo "doccano: process group $pgid belongs to ${marker#*=}, not $DATA; left alone" >&2
      status=1
    else  # the PID was reused by an unrelated program: the file is stale
      echo "doccano: $1 not running (PID $pgid now belongs to another program; stale PID file removed)"
      rm -f "$pidfile"
    fi
    return 0
  fi
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 40); do  # Celery's warm shutdown takes a few seconds
    kill -0 -- "-$pgid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 -- "-$pgid" 2>/dev/null; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
    echo "doccano: $1 (process group $pgid) did not stop in 10 s; killed"
  else
    echo "doccano: $1 stopped (process group $pgid)"
  fi
  rm -f "$pidfile"
}

status=0
for name in "${names[@]}"; do
  stop_group "$name"
done
if [[ $status == 0 && ( -z "$ONLY" || "$ONLY" == web ) ]]; then rm -f "$RUN/url"; fi
exit "$status"
