"""Per-channel smoothing before dynamic int8 (SmoothQuant, Xiao et al. 2023): exact in fp32, kinder to int8.

int8 quantises a MatMul's activations with one range per token (`training.export.tokenwise`; per run
before), so a few input channels with large values (transformers have them) leave the rest only a few of the
256 steps. For a MatMul `x @ W` smoothing
divides channel j of `x` by `s_j` and multiplies row j of `W` by `s_j`: the product is unchanged in fp32,
the activation's channels become more alike, and per-channel weight quantisation absorbs the larger rows.
`s_j = a_j ** alpha / w_j ** (1 - alpha)`, with `a_j` the channel's largest |value| on calibration texts
(the training messages, never the gate's) and `w_j` the largest |weight| of row j. The division is one `Mul`
by a constant vector in front of the MatMuls that read `x` (the query, key and value projections share it).

Measured on the demo export's bodies (docs/serving-performance.md): alpha 0.8 cut int8's 99th-percentile
probability error against fp32 by 28-64 %; alpha 0.5 (the paper's default for large language models) made
it worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from postroom.runs import feeds, load_tokenizer, tokenize
from postroom.runtime import CPU_PROVIDER
from training.export.predict import served_runs

DEFAULT_ALPHA = 0.8
SCALE_LIMITS = (1e-2, 1e2)  # a channel's factor stays within these (dead channels and huge rows)


@dataclass(frozen=True)
class Smoothed:
    """What smoothing did to one body graph: how many activations (and MatMuls) it scaled, on what."""

    activations: int
    matmuls: int
    texts: int
    alpha: float


def smoothable(model: onnx.ModelProto, excluded: Sequence[str]) -> dict[str, list[onnx.NodeProto]]:
    """MatMuls that int8 will quantise (a 2-D constant weight, not in `excluded`), by activation input.

    A weight that any other node reads too (tied weights) is left alone: scaling it for one reader would
    change what the others compute.
    """
    weights = {init.name: init for init in model.graph.initializer}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for name in set(node.input):
            readers[name] = readers.get(name, 0) + 1
    skip = set(excluded)
    groups: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2 or node.name in skip or readers[weight.name] > 1:
            continue
        groups.setdefault(node.input[0], []).append(node)
    return groups


def activation_ranges(
    model: onnx.ModelProto,
    tokenizer_path: Path,
    texts: Sequence[str],
    names: Sequence[str],
    lowercase: bool,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Each named activation's largest |value| per channel (last axis) over `texts`, each text run alone, so
    no padding token's values count."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        for name in names
        if name not in present
    )
    session = ort.InferenceSession(probe.SerializeToString(), providers=[CPU_PROVIDER])
    tokenizer, padding = load_tokenizer(tokenizer_path)
    tokens = tokenize(tokenizer, texts, lowercase)
    inputs = {i.name for i in session.get_inputs()}
    ranges: dict[str, np.ndarray] = {}
    for rows in served_runs(tokens, batch_size, run_rows=1):
        values = session.run(list(names), feeds(tokens, rows, padding, inputs))
        for name, value in zip(names, values, strict=True):
            largest = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            ranges[name] = largest if name not in ranges else np.maximum(ranges[name], largest)
    return ranges


def smoothing_factors(activation: np.ndarray, weights: Sequence[np.ndarray], alpha: float) -> np.ndarray:
    """`s_j = a_j ** alpha / w_j ** (1 - alpha)` per input channel j; 1 where a channel or its rows are 0."""
    rows = np.max([np.abs(w).max(axis=1) for w in weights], axis=0).astype(np.float64)
    a = np.asarray(activation, np.float64)
    live = (a > 0) & (rows > 0)
    factors = np.ones_like(a)
    factors[live] = a[live] ** alpha / rows[live] ** (1 - alpha)
    return np.clip(factors, *SCALE_LIMITS).astype(np.float32)


def smooth(
    model: onnx.ModelProto,
    tokenizer_path: Path,
    texts: Sequence[str],
    excluded: Sequence[str],
    alpha: float = DEFAULT_ALPHA,
    lowercase: bool = False,
    batch_size: int = 32,
) -> tuple[onnx.ModelProto, Smoothed]:
    """`model` with every MatMul int8 will quantise smoothed (in place, and returned)."""
    groups = smoothable(model, excluded)
    ranges = activation_ranges(model, tokenizer_path, texts, list(groups), lowercase, batch_size)
    weights = {init.name: init for init in model.graph.initializer}
    first_reader: dict[str, onnx.NodeProto] = {}
    for name, nodes in groups.items():
        current = [numpy_helper.to_array(weights[n.input[1]]) for n in nodes]
        factors = smoothing_factors(ranges[name], current, alpha)
        for node, weight in zip(nodes, current, strict=True):
            scaled = (weight * factors[:, None]).astype(weight.dtype)
            weights[node.input[1]].CopyFrom(numpy_helper.from_array(scaled, node.input[1]))
            node.input[0] = f"{name}/smoothed"
        model.graph.initializer.append(numpy_helper.from_array(1.0 / factors, f"{name}/smoothing"))
        first_reader[name] = nodes[0]
    # Each Mul goes right before the first MatMul that reads it, so the graph stays in topological order.
    divide = {
        node.output[0]: helper.make_node(
            "Mul", [name, f"{name}/smoothing"], [f"{name}/smoothed"], name=f"{name}/smooth"
        )
        for name, node in first_reader.items()
    }
    ordered = []
    for node in model.graph.node:
        if node.output[0] in divide:
            ordered.append(divide[node.output[0]])
        kept = onnx.NodeProto()
        kept.CopyFrom(node)
        ordered.append(kept)
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    matmuls = sum(len(nodes) for nodes in groups.values())
    return model, Smoothed(len(groups), matmuls, len(texts), alpha)
