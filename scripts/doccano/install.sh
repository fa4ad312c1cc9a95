#!/usr/bin/env bash
# Install Doccano 1.8.4 into its own virtual environment (it cannot share Postroom's: it pins Django,
# pandas 1 and numpy 1). Idempotent: does nothing when the venv already holds this exact pinned set.
#
# Usage: scripts/doccano/install.sh [--venv DIR] [--python PYTHON]
#   --venv DIR       where the venv goes (default: $POSTROOM_DOCCANO_VENV, else .cache/doccano-venv in the repo)
#   --python PYTHON  interpreter to build it from (default: $PYTHON, else python3.11, else python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${POSTROOM_DOCCANO_VENV:-$ROOT/.cache/doccano-venv}"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then  # python3.11, else a python3 that is 3.11
  PY=python3.11
  command -v python3.11 > /dev/null 2>&1 || PY=python3
fi
DOCCANO_REQ="doccano==1.8.4"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

CONSTRAINTS="$HERE/constraints.txt"
STAMP="$VENV/.postroom-doccano"
WANT="$DOCCANO_REQ $(sha256sum "$CONSTRAINTS" | cut -c1-16)"

mkdir -p "$(dirname "$VENV")"
# Two installs at once (make and a test run) would corrupt the venv: take a lock beside it.
exec 9>"$VENV.lock"
flock 9

if [[ -x "$VENV/bin/doccano" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "doccano: already installed in $VENV"
  exit 0
fi

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  echo "doccano: $PY is not Python 3.11 (Doccano 1.8.4's pins are measured on 3.11); set PYTHON=..." >&2
  exit 1
fi

started=$(date +%s)
echo "doccano: installing $DOCCANO_REQ into $VENV (about a minute) ..."
rm -rf "$VENV"
"$PY" -m venv "$VENV"
# numpy<2 and marshmallow<4: Doccano 1.8.4 does not start without them; constraints.txt pins the rest.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$CONSTRAINTS" "$DOCCANO_REQ" 'numpy<2' 'marshmallow<4' 2> >(grep -v '^WARNING: Location' >&2)
# Smoke check: the backend imports (catches a broken dependency now, not at start).
"$VENV/bin/python" -c 'import backend, gunicorn, celery, django; assert django.VERSION[:2] == (4, 2)'
echo "$WANT" > "$STAMP"
echo "doccano: installed in $(( $(date +%s) - started )) s"
