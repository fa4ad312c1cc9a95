"""Per-token int8 activations: every token's activations get their own range, so no row depends on another.

Optimum's dynamic quantisation (`DynamicQuantizeLinear`) gives a MatMul's activations one range per session
run, over every row and every padding token in it: a message's int8 scores then depended on which other
messages shared its run (up to 0.09 on the demo), so serving ran each int8 row alone. This rewrite of
Optimum's int8 graph gives each token its own scale (per-token dynamic quantisation, as LLM.int8() and
SmoothQuant's W8A8 do): a row scores the same alone and in any run, to float rounding (the export measures it
on every body, `training.export.exporter`), so int8 rows share runs as fp32's do. Measured in
docs/serving-performance.md.

Per quantised activation `x` (each token a vector of `H` channels), in 8 bits:
- symmetric: `s = max|x| / 127` per token, `q = round(x / s) + 128` (uint8 with zero point 128, so the
  weights and kernels are Optimum's);
- bounded below, where `x` is a GELU's output (what each feed-forward down-projection reads): `lo` is GELU's
  minimum (times each channel's smoothing factor), `s = max(x - lo) / 255`, `q = round((x - lo) / s)` with
  zero point 0, and the constant `lo @ W` joins the MatMul's bias: twice the symmetric resolution there.
In 7 bits (`bits=7`) the codes stop at 127 (63 and zero point 64 symmetric, 127 from the lower bound): on x86
CPUs without VNNI, ONNX Runtime multiplies uint8 activations by int8 weights with `vpmaddubsw`, whose 16-bit
sums of two products saturate above 32,767; codes below 128 keep them exact (2 x 127 x 128 = 32,512).
Each MatMul becomes ONNX Runtime's `MatMulIntegerToFloat` (the integer product times the weight scales) times
the token's scale. A token whose activations are all zero gets `s = 0`, and its product is 0 as in fp32.
`QuantizeLinear` with one block per token needs opset 21: the graph is converted first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter

from training.export.errors import ExportError

OPSET = 21  # QuantizeLinear's `block_size` (one block per token)
SUPPORTED_ACTIVATION_BITS = (7, 8)
MS_DOMAIN = "com.microsoft"
GELU_MIN = -0.17  # erf-GELU's minimum is -0.16997 (at x = -0.75179): a safe lower bound
_SQRT2 = float(np.sqrt(2.0))
_PREFIX = "per_token"


@dataclass(frozen=True)
class PerToken:
    """What the rewrite did to one body graph: activations quantised per token, and how."""

    symmetric: int
    shifted: int  # GELU outputs, quantised from their lower bound
    matmuls: int


class _Graph:
    """Lookups over one graph: producers, consumers, constants (initializers and `Constant` nodes)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.inits = {i.name: i for i in model.graph.initializer}
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def constant(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    return numpy_helper.to_array(attribute.t)
        return None

    def add(self, name: str, value: np.ndarray) -> str:
        if name not in self.inits:
            tensor = numpy_helper.from_array(value, name)
            self.model.graph.initializer.append(tensor)
            self.inits[name] = tensor
        return name

    def only(self, name: str, op_type: str) -> onnx.NodeProto:
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or readers[0].op_type != op_type:
            found = [r.op_type for r in readers]
            raise ExportError(f"unexpected int8 graph: {name} is read by {found}, not by one {op_type}")
        return readers[0]


def _is_constant(graph: _Graph, name: str, value: float) -> bool:
    found = graph.constant(name)
    return found is not None and found.size == 1 and abs(float(found.reshape(-1)[0]) - value) < 1e-4


def _gelu_input(graph: _Graph, name: str) -> str | None:
    """The input of the erf-GELU whose output is `name` (`x * (erf(x / sqrt 2) + 1) * 0.5`, as torch exports
    it), or None."""
    half = graph.producer.get(name)
    if half is None or half.op_type != "Mul":
        return None
    for product, constant in (half.input, half.input[::-1]):
        times = graph.producer.get(product)
        if not _is_constant(graph, constant, 0.5) or times is None or times.op_type != "Mul":
            continue
        for x, plus_name in (times.input, times.input[::-1]):
            plus = graph.producer.get(plus_name)
            if plus is None or plus.op_type != "Add":
                continue
            for erf_name, one in (plus.input, plus.input[::-1]):
                erf = graph.producer.get(erf_name)
                is_erf = erf is not None and erf.op_type == "Erf"
                divide = graph.producer.get(erf.input[0]) if is_erf else None
                if (
                    divide is not None
                    and divide.op_type == "Div"
                    and divide.input[0] == x
                    and _is_constant(graph, divide.input[1], _SQRT2)
                    and _is_constant(graph, one, 1.0)
                ):
                    return x
    return None


def lower_bound(graph: _Graph, name: str) -> np.ndarray | None:
    """Per channel, the lowest value activation `name` can take when it is a GELU's output, possibly
    multiplied by positive per-channel factors (smoothing); None when it is not."""
    factors: np.ndarray = np.ones(1, np.float32)
    source = graph.producer.get(name)
    if source is not None and source.op_type == "Mul":
        for activation, vector in (source.input, source.input[::-1]):
            scale = graph.constant(vector)
            if scale is not None and scale.ndim == 1 and scale.size > 1 and (scale > 0).all():
                factors, name = scale.astype(np.float32), activation
                break
    if _gelu_input(graph, name) is None:
        return None
    return (GELU_MIN * factors).astype(np.float32)


def per_token(model: onnx.ModelProto, bits: int = 8) -> tuple[onnx.ModelProto, PerToken]:
    """`model` (Optimum's dynamic int8 graph, opset <= 21) with its activations quantised per token, in codes
    of `bits` bits (`SUPPORTED_ACTIVATION_BITS`).

    Raises:
        ExportError: the graph does not have the shape Optimum's dynamic quantiser writes.
        ValueError: `bits` is not one of `SUPPORTED_ACTIVATION_BITS`.
    """
    if bits not in SUPPORTED_ACTIVATION_BITS:
        raise ValueError(f"activation bits must be one of {SUPPORTED_ACTIVATION_BITS}, got {bits!r}")
    if _opset(model) < OPSET:
        converted = version_converter.convert_version(model, OPSET)
    else:
        converted = onnx.ModelProto()
        converted.CopyFrom(model)
    converted.ir_version = max(converted.ir_version, 10)  # what opset 21 needs
    if not any(o.domain == MS_DOMAIN for o in converted.opset_import):
        converted.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    graph = _Graph(converted)
    dynamic = [n for n in converted.graph.node if n.op_type == "DynamicQuantizeLinear"]
    if not dynamic:
        raise ExportError("unexpected int8 graph: no DynamicQuantizeLinear, nothing to quantise per token")
    scales = {n.output[0]: n.output[1] for n in dynamic}
    chains = {  # by the MatMul's output: Optimum names its nodes, other writers may not
        n.output[0]: _chain(graph, n, scales[n.input[0]])
        for n in converted.graph.node
        if n.op_type == "MatMulInteger" and n.input[0] in scales
    }
    dropped = {name for chain in chains.values() for name in chain[:3]}
    constants = _Constants(graph, _ranks(converted, [n.input[0] for n in dynamic]), bits)
    quantised: dict[str, tuple[str, str | None]] = {}  # quantised activation -> (its scale, its lower bound)
    nodes: list[onnx.NodeProto] = []
    for node in converted.graph.node:
        if node.output[0] in dropped:
            continue
        if node.op_type == "DynamicQuantizeLinear":
            nodes += _quantise(graph, node, quantised, constants)
        elif node.op_type == "MatMulInteger" and node.output[0] in chains:
            nodes += _matmul(graph, node, quantised, chains[node.output[0]], constants)
        else:
            nodes.append(node)
    del converted.graph.node[:]
    converted.graph.node.extend(nodes)
    # The scales change shape (one per token) and the dropped values are gone: no stale shapes for them.
    changed = dropped | {o for n in dynamic for o in n.output[1:]}
    kept = [v for v in converted.graph.value_info if v.name not in changed]
    del converted.graph.value_info[:]
    converted.graph.value_info.extend(kept)
    shifted = sum(1 for _, bound in quantised.values() if bound is not None)
    return converted, PerToken(len(quantised) - shifted, shifted, len(chains))


def _ranks(model: onnx.ModelProto, names: list[str]) -> dict[str, int]:
    """The rank of each named activation where ONNX shape inference knows it."""
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
        if v.type.tensor_type.HasField("shape")
    }
    return {name: known[name] for name in names if name in known}


class _Constants:
    """The rewrite's shared constants, each added to the graph when first used; and the zero points per token
    (`mid`), one per rank of activation (one per activation whose rank is unknown).

    With `bits` bits a symmetric activation's codes run from `mid - top` to `mid + top` (1-255 around 128 in
    8 bits, 1-127 around 64 in 7), a shifted one's from 0 to `2 * mid - 1`."""

    def __init__(self, graph: _Graph, ranks: dict[str, int], bits: int) -> None:
        self._graph = graph
        self.ranks = ranks
        mid = 2 ** (bits - 1)
        self._values = {  # role -> (its name in the graph, which states its value; the value)
            "last_axis": ("last_axis", np.array([-1], np.int64)),
            "inv_symmetric_top": (f"inv{mid - 1}", np.array(1 / (mid - 1), np.float32)),
            "inv_shifted_top": (f"inv{2 * mid - 1}", np.array(1 / (2 * mid - 1), np.float32)),
            "one": ("one", np.array(1, np.float32)),
            "zero_u8": ("zero_u8", np.array(0, np.uint8)),
            "mid_u8": (f"mid{mid}_u8", np.array(mid, np.uint8)),
        }
        self.mid_per_token: dict[str, str] = {}  # rank (or activation) -> its zero points

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in self._values:
            raise AttributeError(name)
        label, value = self._values[name]
        return self._graph.add(f"{_PREFIX}/{label}", value)


def _chain(graph: _Graph, node: onnx.NodeProto, scale: str) -> tuple[str, str, str, str]:
    """Optimum's `MatMulInteger -> Cast -> Mul(x_scale * w_scale)` after `node`: the outputs of the Cast, the
    Mul and the scales' Mul, and the weight scale."""
    cast = graph.only(node.output[0], "Cast")
    multiply = graph.only(cast.output[0], "Mul")
    product = next((i for i in multiply.input if i != cast.output[0]), "")
    scales = graph.producer.get(product)
    if scales is None or scales.op_type != "Mul" or scale not in scales.input or len(node.input) < 4:
        raise ExportError(f"unexpected int8 graph: {multiply.name} does not scale by {scale} x weight scales")
    if len(graph.consumers.get(product, [])) != 1:
        raise ExportError(f"unexpected int8 graph: {product} is read by more than {multiply.name}")
    return cast.output[0], multiply.output[0], product, next(i for i in scales.input if i != scale)


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _quantise(
    graph: _Graph, node: onnx.NodeProto, quantised: dict[str, tuple[str, str | None]], constants: _Constants
) -> list[onnx.NodeProto]:
    """Nodes that quantise `node`'s input per token into `node`'s first output, its scale into the second."""
    x, q, scale = node.input[0], node.output[0], node.output[1]
    width = _width(graph, q)
    at = f"{_PREFIX}/{node.name or q}"
    bound = lower_bound(graph, x)
    if bound is not None:
        low = graph.add(f"{at}/lower_bound", bound)
        quantised[q] = (scale, low)
        return [
            helper.make_node("Sub", [x, low], [f"{at}/shifted"]),
            helper.make_node("ReduceMax", [f"{at}/shifted", constants.last_axis], [f"{at}/max"], keepdims=1),
            helper.make_node("Mul", [f"{at}/max", constants.inv_shifted_top], [scale]),
            helper.make_node("QuantizeLinear", [f"{at}/shifted", scale], [q], axis=-1, block_size=width),
        ]
    quantised[q] = (scale, None)
    made = [
        helper.make_node("Abs", [x], [f"{at}/abs"]),
        helper.make_node("ReduceMax", [f"{at}/abs", constants.last_axis], [f"{at}/max"], keepdims=1),
        helper.make_node("Mul", [f"{at}/max", constants.inv_symmetric_top], [scale]),
    ]
    # The scales of activations of one rank have one shape ([batch, tokens, 1]): their zero points are shared.
    key = f"rank{constants.ranks[x]}" if x in constants.ranks else x
    if key not in constants.mid_per_token:
        zero_point = constants.mid_per_token[key] = f"{at}/mid_per_token"
        made += [
            helper.make_node("Shape", [scale], [f"{at}/token_shape"]),
            helper.make_node("Expand", [constants.mid_u8, f"{at}/token_shape"], [zero_point]),
        ]
    zero_point = constants.mid_per_token[key]
    made.append(helper.make_node("QuantizeLinear", [x, scale, zero_point], [q], axis=-1, block_size=width))
    return made


def _width(graph: _Graph, quantised: str) -> int:
    """The channels of an activation: the rows of the weights of the MatMuls that read it (nothing else may
    read it: the rewrite changes what its zero point means)."""
    readers = graph.consumers.get(quantised, [])
    if any(r.op_type != "MatMulInteger" or r.input[1] not in graph.inits for r in readers):
        raise ExportError(f"unexpected int8 graph: {quantised} is read by more than weight MatMuls")
    rows = {int(graph.inits[r.input[1]].dims[0]) for r in readers}
    if len(rows) != 1:
        raise ExportError(f"unexpected int8 graph: the MatMuls reading {quantised} have {rows} weight rows")
    return rows.pop()


def _matmul(
    graph: _Graph,
    node: onnx.NodeProto,
    quantised: dict[str, tuple[str, str | None]],
    chain: tuple[str, str, str, str],
    constants: _Constants,
) -> list[onnx.NodeProto]:
    """`node` and its chain (`_chain`) as `MatMulIntegerToFloat(w_scale) -> Mul(token scale)`, writing the
    chain's output; for a shifted input, `lower bound @ W` is added to the bias."""
    scale, bound = quantised[node.input[0]]
    out, w_scale = chain[1], chain[3]
    zero_point = constants.mid_u8 if bound is None else constants.zero_u8
    made = [
        helper.make_node(
            "MatMulIntegerToFloat",
            [node.input[0], node.input[1], constants.one, w_scale, zero_point, node.input[3]],
            [f"{out}/per_weight"],
            domain=MS_DOMAIN,
            name=node.name or out,
        ),
        helper.make_node("Mul", [f"{out}/per_weight", scale], [out], name=f"{out}/per_token"),
    ]
    if bound is None:
        return made
    added = _fold_shift(graph, node, w_scale, bound, out)
    if added:
        made[-1].output[0] = f"{out}/unshifted"
    return made + added


def _fold_shift(
    graph: _Graph, node: onnx.NodeProto, w_scale: str, bound: str, out: str
) -> list[onnx.NodeProto]:
    """`lower bound @ W` (W as int8 dequantises it) added to the bias `out` is added to; or, where there is
    none of its own, nodes that add it."""
    weight = numpy_helper.to_array(graph.inits[node.input[1]]).astype(np.float64)
    zero = graph.constant(node.input[3])
    factor = graph.constant(w_scale)
    if zero is None or factor is None:
        raise ExportError(f"unexpected int8 graph: {node.name}'s weight zero point or scale is not constant")
    dequantised = (weight - zero.astype(np.float64)) * factor.astype(np.float64)
    low = np.broadcast_to(graph.constant(bound).astype(np.float64), dequantised.shape[:1])
    shift = (low @ dequantised).astype(np.float32)
    readers = graph.consumers.get(out, [])
    if len(readers) == 1 and readers[0].op_type == "Add":
        bias = next((i for i in readers[0].input if i != out), "")
        if bias in graph.inits and len(graph.consumers.get(bias, [])) == 1:
            value = numpy_helper.to_array(graph.inits[bias])
            if value.shape == shift.shape:
                graph.inits[bias].CopyFrom(numpy_helper.from_array((value + shift).astype(value.dtype), bias))
                return []
    return [helper.make_node("Add", [f"{out}/unshifted", graph.add(f"{out}/shift", shift)], [out])]
