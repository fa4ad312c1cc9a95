#!/usr/bin/env bash
# The labeling part of `make demo`: when a Doccano answers at $POSTROOM_DOCCANO_URL, run two rounds of the
# loop (Postroom chooses messages, a simulated expert labels them in Doccano from the demo corpus's labels,
# Postroom pulls and checks them) and show the status. Otherwise say how to start one, and exit 0.
#
# Usage: scripts/doccano/demo-loop.sh   (env: POSTROOM_DOCCANO_URL, DEMO_LABEL_BATCH=40, DEMO_LABEL_ROUNDS=2)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
POSTROOM="${POSTROOM:-$ROOT/.venv/bin/postroom}"
export POSTROOM_DOCCANO_URL="${POSTROOM_DOCCANO_URL:-http://127.0.0.1:${POSTROOM_DOCCANO_PORT:-8800}}"
BATCH="${DEMO_LABEL_BATCH:-40}"
ROUNDS="${DEMO_LABEL_ROUNDS:-2}"

if ! check="$("$POSTROOM" label check 2>&1)"; then
  echo "labeling demo skipped: ${check#error: }"
  echo "  Start a local Doccano with \`make doccano\` (installs Doccano 1.8.4 on first use, about a minute),"
  echo "  then run \`make demo\` again; \`make doccano-stop\` stops it."
  exit 0
fi
echo "$check"
for round in $(seq 1 "$ROUNDS"); do
  echo "== labeling round $round: Postroom picks $BATCH messages; a simulated expert labels them in Doccano"
  # Push counts only Doccano's labels: the corpus's own labels are the simulated expert's answer key (training
  # still uses every current label, whatever its source).
  "$POSTROOM" label push --n "$BATCH" --source doccano
  "$POSTROOM" label simulate --oracle-source import
  "$POSTROOM" label pull
done
"$POSTROOM" label status --source doccano
