"""Where an export lives and what its files are called. `serving.artifacts` reads the same layout.

    <registry>/exports/<version>/
      export.json                  the manifest: bodies, label sets, variants (published or why not), files
      parity.json                  the parity report of every variant against the PyTorch model
      heads.json, heads.npz        the logistic-regression heads (also inside every graph)
      evidence/<label_set>.npz     what the router's learned confidence reads (training/evidence.py)
      tokenizer/<body>/tokenizer.json   truncation and padding set explicitly
      <variant>/<body>.onnx        body + pooling (+ normalisation) + heads; only published variants are kept
    <registry>/exports/<version>.rejected/   the same, when no variant passed the gate (the old export stays)

The export tree sits beside the version directories, not inside them: a version's files are hashed at
training time and must not change (`training.registry.ModelVersion.verify`).
"""

from __future__ import annotations

import re

EXPORT_FORMAT = 1
EXPORT_MANIFEST = "export.json"
PARITY_REPORT = "parity.json"
HEADS_JSON = "heads.json"
HEADS_NPZ = "heads.npz"
TOKENIZER_DIR = "tokenizer"
EVIDENCE_DIR = "evidence"
TOKENIZER_FILE = "tokenizer.json"
EMBEDDING_OUTPUT = "sentence_embedding"
PROBABILITIES_PREFIX = "probabilities_"
REJECTED_SUFFIX = ".rejected"  # an export where no variant passed the gate: report only, never served
VARIANTS = ("fp32", "optimized", "int8")
# Which published variant to serve when none is named. On CPU `int8` (with its fp32 second look) first: since
# the runtime runs single-threaded sessions side by side (streams) and gathers the second looks into batches,
# it beat the float graphs on every CPU measured, in throughput and single-message latency alike
# (docs/serving-performance.md); the gate publishes it only at >= 99.5% agreement, else `fp32` serves:
# `optimized` keeps the skip-LayerNorm fusions O2 baked in, slower on the CPU (session 20: 151 against 170
# msg/s on Zen 4, 208 against 226 on a Xeon). On a GPU, dynamic int8 runs its integer MatMuls on the CPU, so
# serving prefers the float graphs there, `optimized` first.
PREFERENCE_CPU = ("int8", "fp32", "optimized")
PREFERENCE_GPU = ("optimized", "fp32", "int8")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def probabilities_output(label_set: str) -> str:
    """The graph output that holds one label set's class probabilities."""
    return f"{PROBABILITIES_PREFIX}{label_set}"
