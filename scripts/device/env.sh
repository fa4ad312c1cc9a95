# On the device machine: source after scripts/device/setup.sh, so `postroom` runs from the carried stack.
export PYTHONPATH="/tmp/site:$PWD" PATH="/tmp/site/bin:$PATH" PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export POSTROOM_DATA_DIR=/tmp/var
