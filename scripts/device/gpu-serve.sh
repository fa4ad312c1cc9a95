#!/usr/bin/env bash
# On the device machine (a call after every part of scripts/device/stage-serving.sh and the base's part B
# have arrived): train the demo model there, export its float graphs and run `postroom bench serve` on the
# GPU. Writes $OUT/serve/serve.{json,md} and $OUT/gpu-serve.log. See docs/serving.md, "GPU".
set -uo pipefail
scripts/device/setup.sh || exit 1
source scripts/device/env.sh
source scripts/device/budget.sh 540
mkdir -p "$OUT/serve"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 - <<'PY' || echo "no usable CUDA provider: the benchmark will refuse to start"
import onnxruntime as ort
from postroom.runtime import check_onnxruntime
from serving.runtime import choose_providers
print("onnxruntime", ort.__version__, ort.__file__, ort.get_available_providers())
print("build in use", check_onnxruntime(), "providers", choose_providers("cuda"))
PY
  postroom init && postroom ingest examples/demo/corpus.jsonl \
    && within postroom train --by device --eval-fraction 0.4 \
    && within postroom export latest --variants fp32,optimized
  echo "== bench serve ($(left) s left)"
  within postroom bench serve --device cuda --model latest --batch-size 256 --throughput-n 3080 \
    --http-requests 200 --banking /tmp/data/banking77/banking77_test.jsonl --out-dir "$OUT/serve"
  echo "bench serve exit $?"
} 2>&1 | tee "$OUT/gpu-serve.log" | grep -v -E '^\s*$'
