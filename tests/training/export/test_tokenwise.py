"""Per-token int8 activations: a row scores the same in any run, close to fp32, on every int8 target."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from postroom.machine import cpu_features
from tests.conftest import banking77_texts as _texts
from tests.serving.builders import LONG_TEXT, exported
from training.export.errors import ExportError
from training.export.exporter import host_int8_target
from training.export.graph import int8_exclusions
from training.export.predict import run_graph
from training.export.tokenwise import GELU_MIN, PerToken, _Graph, lower_bound, per_token

OUTPUTS = ["sentence_embedding", *(f"probabilities_{n}" for n in ("line_of_business", "queue", "topic"))]
# U8S8 (VNNI, arm64), U8U8 (what AVX2 targets used before), and U8S8 in 7 bits (AVX2 without VNNI)
KERNELS = [(QuantType.QInt8, 8), (QuantType.QUInt8, 8), (QuantType.QInt8, 7)]


def _per_run(fp32: Path, target: Path, weights: QuantType) -> Path:
    """ONNX Runtime's dynamic int8 (what Optimum's quantiser writes): one activation range per run. The
    heads stay fp32 (the export appends them after quantising)."""
    model = onnx.load(str(fp32))
    heads = [f"{n.name}_MatMul" for n in model.graph.node if n.op_type == "Gemm"]  # ORT splits a Gemm first
    excluded = int8_exclusions(model, "none") + heads
    quantize_dynamic(
        str(fp32), str(target), per_channel=True, weight_type=weights, nodes_to_exclude=excluded,
        op_types_to_quantize=["MatMul"],
    )  # fmt: skip
    return target


def _outputs(graph: Path, texts: list[str], batch_size: int) -> dict[str, np.ndarray]:
    tokenizer = exported().export_dir / "tokenizer" / "shared" / "tokenizer.json"
    return run_graph(graph, tokenizer, texts, OUTPUTS, batch_size=batch_size)


def _largest(a: dict[str, np.ndarray], b: dict[str, np.ndarray], names: list[str] = OUTPUTS) -> float:
    return max(float(np.abs(a[n].astype(np.float64) - b[n]).max()) for n in names)


@pytest.mark.parametrize(("weights", "bits"), KERNELS)
def test_a_row_scores_the_same_in_any_run_and_close_to_fp32(
    tmp_path: Path, weights: QuantType, bits: int
) -> None:
    fp32 = exported().export_dir / "fp32" / "shared.onnx"
    per_run = _per_run(fp32, tmp_path / "per_run.onnx", weights)
    graph, done = per_token(onnx.load(str(per_run)), bits)
    # MiniLM-L6, per layer: the inputs of query/key/value, the attention output and the up-projection
    # (LayerNorm outputs: symmetric) and of the down-projection (a GELU's output: from its minimum)
    assert done == PerToken(symmetric=18, shifted=6, matmuls=36)
    onnx.save(graph, str(tmp_path / "per_token.onnx"))
    texts = [*_texts("banking77_test.jsonl", 40), LONG_TEXT, LONG_TEXT[:300], "Karte verloren"]
    reference = _outputs(fp32, texts, 32)
    before = {size: _outputs(per_run, texts, size) for size in (32, 1)}
    after = {size: _outputs(tmp_path / "per_token.onnx", texts, size) for size in (32, 1)}
    assert _largest(before[32], before[1]) > 1e-3  # one range per run: the neighbours move a row
    assert _largest(after[32], after[1]) < 1e-5  # one range per token: float rounding only
    probabilities = OUTPUTS[1:]
    assert _largest(after[32], reference, probabilities) < 0.15
    for name in probabilities:
        same = after[32][name].argmax(axis=1) == reference[name].argmax(axis=1)
        assert same.mean() >= 0.95, name
    cosine = (after[32]["sentence_embedding"] * reference["sentence_embedding"]).sum(axis=1)
    assert cosine.min() > 0.98
    if bits == 8:  # its error is the per-run graph's alone (how serving ran int8 before), or smaller
        errors = [_largest(run, reference, probabilities) for run in (before[1], after[32])]
        assert errors[1] <= errors[0] * 1.25, errors


def _gelu(graph_nodes: list[onnx.NodeProto], x: str, out: str) -> None:
    """torch's erf-GELU as exported: x * (erf(x / sqrt 2) + 1) * 0.5, constants as Constant nodes."""
    for name, value in (("sqrt2", math.sqrt(2)), ("one", 1.0), ("half", 0.5)):
        tensor = numpy_helper.from_array(np.array(value, np.float32), name)
        graph_nodes.append(helper.make_node("Constant", [], [f"{out}/{name}"], value=tensor))
    graph_nodes += [
        helper.make_node("Div", [x, f"{out}/sqrt2"], [f"{out}/div"]),
        helper.make_node("Erf", [f"{out}/div"], [f"{out}/erf"]),
        helper.make_node("Add", [f"{out}/erf", f"{out}/one"], [f"{out}/plus"]),
        helper.make_node("Mul", [x, f"{out}/plus"], [f"{out}/times"]),
        helper.make_node("Mul", [f"{out}/times", f"{out}/half"], [out]),
    ]


def _toy(
    tmp_path: Path, smoothing: np.ndarray | None, weights: QuantType = QuantType.QInt8
) -> tuple[Path, dict[str, np.ndarray]]:
    """x -> GELU -> [smoothing] -> MatMul(w_down) (no bias) and MatMul(w_side) + side_bias;
    x -> MatMul(w_up) + bias. Quantised by ONNX Runtime as Optimum does (`weights`: signed or unsigned)."""
    rng = np.random.default_rng(7)
    consts = {
        "w_down": rng.normal(size=(8, 5)).astype(np.float32),
        "w_side": rng.normal(size=(8, 3)).astype(np.float32),
        "side_bias": rng.normal(size=3).astype(np.float32),
        "w_up": rng.normal(size=(8, 6)).astype(np.float32),
        "bias": rng.normal(size=6).astype(np.float32),
    }
    nodes: list[onnx.NodeProto] = []
    _gelu(nodes, "x", "gelu")
    down_in = "gelu"
    if smoothing is not None:
        consts["smoothing"] = smoothing.astype(np.float32)
        nodes.append(helper.make_node("Mul", ["gelu", "smoothing"], ["gelu/smoothed"], name="gelu/smooth"))
        down_in = "gelu/smoothed"
    nodes += [
        helper.make_node("MatMul", [down_in, "w_down"], ["down"], name="down"),
        helper.make_node("MatMul", [down_in, "w_side"], ["side/raw"], name="side"),
        helper.make_node("Add", ["side/raw", "side_bias"], ["side"]),
        helper.make_node("MatMul", ["x", "w_up"], ["up/raw"], name="up"),
        helper.make_node("Add", ["up/raw", "bias"], ["up"]),
    ]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "toy",
        [value("x", TensorProto.FLOAT, ["batch", "tokens", 8])],
        [value(name, TensorProto.FLOAT, None) for name in ("down", "side", "up")],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(tmp_path / "toy.onnx"))
    target = tmp_path / "toy-int8.onnx"
    quantize_dynamic(str(tmp_path / "toy.onnx"), str(target), per_channel=True, weight_type=weights)
    return target, consts


def _dequantised(model: onnx.ModelProto, weight: str) -> np.ndarray:
    """A MatMul weight as the int8 graph holds it, back in float."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return (inits[f"{weight}_quantized"].astype(np.float64) - inits[f"{weight}_zero_point"]) * inits[
        f"{weight}_scale"
    ]


def _quantised_per_token(x: np.ndarray, low: np.ndarray | None, bits: int = 8) -> np.ndarray:
    """What the graph computes for an activation: per token, symmetric, or from its lower bound."""
    if low is None:
        scale = np.abs(x).max(axis=-1, keepdims=True) / (2 ** (bits - 1) - 1)
        steps = np.rint(np.divide(x, scale, out=np.zeros_like(x), where=scale > 0))
        return steps * scale
    top = 2**bits - 1
    scale = (x - low).max(axis=-1, keepdims=True) / top
    steps = np.clip(np.rint(np.divide(x - low, scale, out=np.zeros_like(x), where=scale > 0)), 0, top)
    return steps * scale + low


def _with_codes(graph: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """`graph` with its activation codes (the outputs of its QuantizeLinear nodes) as outputs too."""
    codes = [n.output[0] for n in graph.graph.node if n.op_type == "QuantizeLinear"]
    for name in codes:
        graph.graph.output.append(helper.make_tensor_value_info(name, TensorProto.UINT8, None))
    return graph, codes


@pytest.mark.parametrize(("weights", "bits"), KERNELS)
@pytest.mark.parametrize("smoothing", [None, np.linspace(0.5, 2.0, 8)])
def test_the_graph_computes_per_token_quantisation(
    tmp_path: Path, smoothing: np.ndarray | None, weights: QuantType, bits: int
) -> None:
    path, consts = _toy(tmp_path, smoothing, weights)
    int8 = onnx.load(str(path))
    graph, done = per_token(int8, bits)
    assert done == PerToken(symmetric=1, shifted=1, matmuls=3)
    assert not any(n.op_type == "DynamicQuantizeLinear" for n in graph.graph.node)
    graph, codes = _with_codes(graph)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).normal(scale=2.0, size=(3, 5, 8)).astype(np.float32)
    x[1, 2] = 0.0  # a token of zeros: its scale is 0 and its product exactly what fp32 gives
    down, side, up, *quantised = session.run(["down", "side", "up", *codes], {"x": x})
    # every code fits the bits: in 7 bits below 128, so AVX2's U8S8 kernel cannot saturate
    assert max(int(q.max()) for q in quantised) == 2**bits - 1
    x64 = x.astype(np.float64)
    gelu = x64 * (np.vectorize(math.erf)(x64 / math.sqrt(2)) + 1) * 0.5
    factors = np.ones(8) if smoothing is None else smoothing
    smoothed = _quantised_per_token(gelu * factors, GELU_MIN * factors, bits)
    want_down = smoothed @ _dequantised(int8, "w_down")
    if weights == QuantType.QInt8 and bits == 8 and host_int8_target() == "avx2":
        if cpu_features():  # known to have no VNNI: its U8S8 kernel adds two products in 16 bits, and
            # 8-bit codes saturate them (the token of zeros is all 255s from GELU's minimum): why `avx2`
            # exports use 7 bits
            assert np.abs(down - want_down).max() > 1e-2
        return  # with no CPU flags to go by, whether this CPU's kernel saturates is unknown
    # the down-projection has no bias of its own (the shift is added by a node), the side one has (folded)
    np.testing.assert_allclose(down, want_down, atol=2e-5, rtol=1e-5)
    want_side = smoothed @ _dequantised(int8, "w_side") + consts["side_bias"]
    np.testing.assert_allclose(side, want_side, atol=2e-5, rtol=1e-5)
    want_up = _quantised_per_token(x64, None, bits) @ _dequantised(int8, "w_up") + consts["bias"]
    np.testing.assert_allclose(up, want_up, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(up[1, 2], consts["bias"], atol=1e-6)
    # and close to the float graph (int8 weights too: about 1 % here, 2 % with 7-bit activations)
    exact = (gelu * factors) @ consts["w_down"]
    assert np.abs(down - exact).max() < {8: 0.02, 7: 0.04}[bits] * np.abs(exact).max()


def test_activation_bits_other_than_7_or_8_are_refused(tmp_path: Path) -> None:
    path, _ = _toy(tmp_path, None)
    with pytest.raises(ValueError, match="activation bits must be one of"):
        per_token(onnx.load(str(path)), 6)


def test_gelus_minimum_is_a_lower_bound() -> None:
    x = np.linspace(-10, 10, 200_001)
    gelu = x * (np.vectorize(math.erf)(x / math.sqrt(2)) + 1) * 0.5
    assert GELU_MIN < gelu.min() < GELU_MIN + 1e-3


def test_only_gelu_outputs_get_a_lower_bound(tmp_path: Path) -> None:
    path, _ = _toy(tmp_path, np.linspace(0.5, 2.0, 8))
    graph = _Graph(onnx.load(str(path)))
    np.testing.assert_allclose(lower_bound(graph, "gelu/smoothed"), GELU_MIN * np.linspace(0.5, 2.0, 8))
    np.testing.assert_allclose(lower_bound(graph, "gelu"), [GELU_MIN])
    assert lower_bound(graph, "x") is None  # a graph input: anything
    assert lower_bound(graph, "gelu/times") is None  # half a GELU is not one
    (tmp_path / "plain").mkdir()
    model = onnx.load(str(_toy(tmp_path / "plain", None)[0]))
    for node in model.graph.node:  # the same graph with 0.5 replaced by -0.5: no longer bounded below
        if node.op_type == "Constant" and node.output[0] == "gelu/half":
            node.attribute[0].t.CopyFrom(numpy_helper.from_array(np.array(-0.5, np.float32), "half"))
    assert lower_bound(_Graph(model), "gelu") is None


def test_a_graph_not_shaped_as_optimum_writes_it_is_refused(tmp_path: Path) -> None:
    path, _ = _toy(tmp_path, None)

    def broken(change: Callable[[onnx.ModelProto], None], reason: str) -> None:
        model = onnx.load(str(path))
        change(model)
        with pytest.raises(ExportError, match=reason):
            per_token(model)

    def uncast(model: onnx.ModelProto) -> None:  # the int32 product not cast and scaled as expected
        cast = next(n for n in model.graph.node if n.op_type == "Cast")
        cast.op_type = "Identity"
        del cast.attribute[:]

    def read_elsewhere(model: onnx.ModelProto) -> None:  # a quantised activation read by more than MatMuls
        quantised = next(n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear").output[0]
        model.graph.node.append(helper.make_node("Identity", [quantised], ["peek"]))

    def shared_product(model: onnx.ModelProto) -> None:  # one scale product read by two Muls
        scales = next(n for n in model.graph.node if n.output[0].endswith("scales_mul:0"))
        model.graph.node.append(helper.make_node("Mul", [scales.output[0], scales.output[0]], ["twice"]))

    broken(uncast, "is read by .'Identity'., not by one Cast")
    broken(read_elsewhere, "is read by more than weight MatMuls")
    broken(shared_product, "is read by more than")
    float_graph = onnx.load(str(tmp_path / "toy.onnx"))  # not quantised at all
    with pytest.raises(ExportError, match="no DynamicQuantizeLinear"):
        per_token(float_graph)


def test_the_callers_graph_is_left_as_it_was(tmp_path: Path) -> None:
    """The rewrite works on a copy, also of a graph already at opset 21 (no conversion to copy it)."""
    path, _ = _toy(tmp_path, None)
    model = onnx.version_converter.convert_version(onnx.load(str(path)), 21)
    before = model.SerializeToString()
    rewritten, done = per_token(model)
    assert done.matmuls == 3 and model.SerializeToString() == before
    assert any(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node)
    assert not any(n.op_type == "DynamicQuantizeLinear" for n in rewritten.graph.node)
