#!/usr/bin/env bash
# On the device machine (second call): the GPU benchmarks of docs/training.md, most important first, each
# within what is left of the call (the results merge after every run, so a cut one keeps what it did).
# Writes $OUT/bench/{traintime,fewshot}.{json,md} and $OUT/gpu-bench.log.
set -uo pipefail
scripts/device/setup.sh || exit 1
source scripts/device/env.sh
source scripts/device/budget.sh 520
mkdir -p "$OUT/bench"
cp docs/benchmarks/fewshot.json "$OUT/bench/"
[ -f docs/benchmarks/traintime.json ] && cp docs/benchmarks/traintime.json "$OUT/bench/"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  echo "== traintime ($(left) s left)"
  within postroom bench traintime --full --variants separate,shared --seeds 0 --unlabeled on,off \
    --data-root /tmp/data --out-dir "$OUT/bench"
  echo "traintime exit $?"
  echo "== fewshot 16 shots ($(left) s left)"
  within postroom bench fewshot --full --datasets banking77 --shots 16 --methods setfit_separate \
    --setfit-seeds 0,1,2,3,4 --data-root /tmp/data --out-dir "$OUT/bench"
  echo "fewshot exit $?"
} 2>&1 | tee "$OUT/gpu-bench.log" | grep -v -E '^\s*$'
