#!/usr/bin/env bash
# Stage what GPU serving on the workplace's device machine needs besides scripts/device/stage.sh's parts
# (see docs/serving.md, "GPU"): onnxruntime-gpu, which that machine lacks (its onnxruntime is the CPU build),
# and the export's onnx / optimum wheels.
#
# The onnxruntime-gpu wheel (256 MB; its CUDA provider library alone 284 MB unpacked) is far above the 64 MiB
# a call carries. Its files are packed as one tar.xz (about 204 MB) and split into parts that each travel
# with one call, in .devstage-ort1/ .. .devstage-ortN/; the first also carries the SHA-256 of the whole, the
# number of parts and the small wheels. scripts/device/setup.sh keeps each part until all are there, checks
# the SHA-256 and unpacks them into the site the other calls installed into. All folders are ignored by git.
#
# Usage: scripts/device/stage-serving.sh   (PART_BYTES: bytes per part, default 45000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
PART_BYTES="${PART_BYTES:-45000000}"
ORT_WHEEL="${ORT_WHEEL:-onnxruntime-gpu==1.31.1}"
# pyproject.toml's export pins, and what onnx and onnxruntime need that a torch install may lack
SMALL=(onnx==1.23.2 optimum==2.1.0 optimum-onnx==0.1.0 protobuf==7.36.2 ml_dtypes==0.7.0 flatbuffers==25.12.19)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf .devstage-ort*
mkdir -p "$work/wheel" "$work/unpacked" .devstage-ort1/wheels
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$work/wheel" "$ORT_WHEEL"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .devstage-ort1/wheels "${SMALL[@]}"
python3 -m zipfile -e "$work"/wheel/*.whl "$work/unpacked"
tar -C "$work/unpacked" -cf - . | xz -6 -T0 > "$work/ort.tar.xz"
sha256sum "$work/ort.tar.xz" | cut -d' ' -f1 > .devstage-ort1/ort.sha256
split -b "$PART_BYTES" -d -a 2 "$work/ort.tar.xz" "$work/ort.part-"
parts=("$work"/ort.part-*)
echo "${#parts[@]}" > .devstage-ort1/ort.parts
for i in "${!parts[@]}"; do
  mkdir -p ".devstage-ort$((i + 1))"
  mv "${parts[$i]}" ".devstage-ort$((i + 1))/"
done

tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024))
for dir in .devstage-ort*; do
  size=$(du -cb "$dir" | tail -1 | cut -f1)
  echo "$dir: a call carries $((tree + size)) B (limit $limit B)"
  if [ $((tree + size)) -gt $limit ]; then
    echo "too large for one call: lower PART_BYTES" >&2
    exit 1
  fi
done
echo "${#parts[@]} calls of parts, one after another while the machine is warm (docs/serving.md, GPU)"
