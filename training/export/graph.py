"""Edits of exported ONNX graphs: keep the sentence embedding, append the heads, choose what int8 leaves fp32.

The heads go into the graph (Gemm + Softmax per label set, what skl2onnx emits for a logistic regression),
after optimisation and quantisation, so they stay fp32 and one session run returns every label set's
probabilities. Measured against NumPy heads and a separate skl2onnx session in docs/serving.md. `fused_ops`
counts what the O2 optimiser fused, for the export's manifest.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from training.export.bundle import HeadSpec
from training.export.errors import ExportError
from training.export.layout import EMBEDDING_OUTPUT, probabilities_output

Int8Keep = Literal["ffn_output", "none"]
# The fusions ONNX Runtime's O2 optimiser is there for (the export's manifest counts them per body).
FUSED_OPS = ("Attention", "SkipLayerNormalization", "BiasGelu", "FastGelu", "Gelu", "EmbedLayerNormalization")


def keep_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """Drop every graph output but `names` (the token embeddings are never needed)."""
    kept = [o for o in model.graph.output if o.name in names]
    missing = set(names) - {o.name for o in kept}
    if missing:
        raise ExportError(f"the exported graph lacks output(s) {sorted(missing)}")
    del model.graph.output[:]
    model.graph.output.extend(kept)
    return model


def _batch_dim(model: onnx.ModelProto) -> str | int:
    for output in model.graph.output:
        if output.name == EMBEDDING_OUTPUT:
            dim = output.type.tensor_type.shape.dim[0]
            return dim.dim_param or dim.dim_value or "batch_size"
    return "batch_size"


def append_heads(model: onnx.ModelProto, heads: list[HeadSpec]) -> onnx.ModelProto:
    """Add one `probabilities_<label_set>` output per head, computed from `sentence_embedding`.

    A binary head (one coefficient row w, intercept b) becomes rows [0, w] and [0, b]: the softmax of
    (0, z) is (1 - sigmoid(z), sigmoid(z)), exactly sklearn's binary `predict_proba`.
    """
    batch = _batch_dim(model)
    for head in heads:
        coef, intercept = head.coef.astype(np.float32), head.intercept.astype(np.float32)
        if head.binary:
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros(1, dtype=np.float32), intercept])
        weight, bias = f"head_{head.label_set}_coef", f"head_{head.label_set}_intercept"
        logits, output = f"head_{head.label_set}_logits", probabilities_output(head.label_set)
        model.graph.initializer.extend(
            [numpy_helper.from_array(coef, weight), numpy_helper.from_array(intercept, bias)]
        )
        model.graph.node.extend(
            [
                helper.make_node(
                    "Gemm",
                    [EMBEDDING_OUTPUT, weight, bias],
                    [logits],
                    transB=1,
                    name=f"head_{head.label_set}_gemm",
                ),
                helper.make_node(
                    "Softmax", [logits], [output], axis=-1, name=f"head_{head.label_set}_softmax"
                ),
            ]
        )
        model.graph.output.append(
            helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, coef.shape[0]])
        )
    return model


def fused_ops(model: onnx.ModelProto) -> dict[str, int]:
    """How many nodes of each of `FUSED_OPS` a graph has; a fusion it lacks is absent."""
    return dict(Counter(n.op_type for n in model.graph.node if n.op_type in FUSED_OPS))


def int8_exclusions(model: onnx.ModelProto, keep: Int8Keep = "ffn_output") -> list[str]:
    """MatMul nodes that dynamic int8 quantisation must leave in fp32.

    Always: MatMuls of two activations (attention scores and context). ONNX Runtime's own `quantize_dynamic`
    skips them (`MatMulConstBOnly`), Optimum's quantizer does not. With `keep="ffn_output"` also the
    feed-forward output projections (weights of shape (intermediate, hidden), the only MatMuls that shrink
    the width): quantising them cost most of the int8 error on MiniLM (see docs/serving-performance.md).
    """
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    excluded = []
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        shape = weights.get(node.input[1])
        if shape is None or (keep == "ffn_output" and len(shape) == 2 and shape[0] > shape[1]):
            excluded.append(node.name)
    return excluded
