"""Per-channel smoothing of int8's MatMul inputs: exact in fp32, less int8 error, in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.conftest import banking77_texts as _texts
from tests.serving.builders import exported
from training.export.bundle import bundle_from_version
from training.export.exporter import (
    ExportOptions,
    activation_bits,
    export_bundle,
    host_int8_target,
    int8_recipes,
)
from training.export.graph import int8_exclusions
from training.export.predict import run_graph
from training.export.smoothing import SCALE_LIMITS, smooth, smoothable, smoothing_factors
from training.registry import Registry

LABEL_SETS = ("line_of_business", "queue", "topic")
OUTPUTS = ["sentence_embedding", *(f"probabilities_{name}" for name in LABEL_SETS)]


def test_factors_follow_the_rule_and_leave_dead_channels_alone() -> None:
    activation = np.array([4.0, 0.0, 1.0, 1e6], dtype=np.float32)
    weights = [np.array([[1.0, -0.25], [0.5, 0.5], [0.0, 0.0], [1.0, 1.0]], dtype=np.float32)]
    factors = smoothing_factors(activation, weights, alpha=0.8)
    assert factors[0] == pytest.approx(4.0**0.8 / 1.0**0.2)
    assert factors[1] == 1.0 and factors[2] == 1.0  # no activation, or no weight: nothing to move
    assert factors[3] == SCALE_LIMITS[1]  # capped
    # query, key and value share their input: one factor per channel, from the largest row of the three
    shared = smoothing_factors(np.ones(2), [np.array([[1.0], [1.0]]), np.array([[16.0], [1.0]])], alpha=0.5)
    assert shared[0] == pytest.approx(1 / 4) and shared[1] == pytest.approx(1.0)


def test_only_matmuls_int8_quantises_and_no_tied_weight_are_smoothed() -> None:
    def weight(name: str) -> onnx.TensorProto:
        return onnx.numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), name)

    nodes = [
        onnx.helper.make_node("MatMul", ["x", "w_q"], ["q"], name="q"),
        onnx.helper.make_node("MatMul", ["x", "w_k"], ["k"], name="k"),  # shares x with q: one group
        onnx.helper.make_node("MatMul", ["x", "w_kept"], ["kept"], name="kept"),  # excluded: stays fp32
        onnx.helper.make_node("MatMul", ["q", "w_tied"], ["a"], name="a"),  # w_tied is read twice
        onnx.helper.make_node("MatMul", ["k", "w_tied"], ["b"], name="b"),
        onnx.helper.make_node("MatMul", ["q", "k"], ["scores"], name="scores"),  # two activations
    ]
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        nodes,
        "toy",
        [value("x", onnx.TensorProto.FLOAT, [1, 4])],
        [value(n, onnx.TensorProto.FLOAT, None) for n in ("kept", "a", "b", "scores")],
        [weight(n) for n in ("w_q", "w_k", "w_kept", "w_tied")],
    )
    groups = smoothable(onnx.helper.make_model(graph), excluded=["kept"])
    assert {name: [n.name for n in group] for name, group in groups.items()} == {"x": ["q", "k"]}


def test_smoothing_is_exact_in_fp32_and_scales_the_matmuls_int8_quantises(tmp_path: Path) -> None:
    shared = exported()
    fp32 = shared.export_dir / "fp32" / "shared.onnx"
    tokenizer = shared.export_dir / "tokenizer" / "shared" / "tokenizer.json"
    model = onnx.load(str(fp32))
    excluded = int8_exclusions(model, "ffn_output")
    smoothed, done = smooth(model, tokenizer, _texts("banking77_train.jsonl", 60), excluded, alpha=0.8)
    # MiniLM-L6, per layer: query, key and value (one input), the attention output, the up-projection
    assert (done.activations, done.matmuls, done.texts, done.alpha) == (18, 30, 60, 0.8)
    assert sum(1 for n in smoothed.graph.node if n.op_type == "Mul" and n.name.endswith("/smooth")) == 18
    onnx.checker.check_model(smoothed)
    onnx.save(smoothed, str(tmp_path / "smoothed.onnx"))
    texts = _texts("banking77_test.jsonl", 64)
    before = run_graph(fp32, tokenizer, texts, OUTPUTS)
    after = run_graph(tmp_path / "smoothed.onnx", tokenizer, texts, OUTPUTS)
    for name in OUTPUTS:
        np.testing.assert_allclose(after[name], before[name], atol=2e-5, err_msg=name)
    with_ffn = smooth(onnx.load(str(fp32)), tokenizer, texts, int8_exclusions(model, "none"))[1]
    assert (with_ffn.activations, with_ffn.matmuls) == (24, 36)  # the down-projections' inputs too


def test_the_int8_target_follows_the_cpu() -> None:
    assert host_int8_target("aarch64", []) == "arm64"
    assert host_int8_target("x86_64", ["avx2", "avx512_vnni"]) == "avx512_vnni"
    assert host_int8_target("x86_64", ["avx2", "avx_vnni"]) == "avx512_vnni"  # U8S8 through VNNI
    assert host_int8_target("x86_64", ["avx2", "fma"]) == "avx2"  # 7-bit activations: no VNNI to add them
    assert [activation_bits(t) for t in ("avx512_vnni", "avx2", "arm64")] == [8, 7, 8]


def test_the_export_smooths_on_calibration_texts_and_int8_errs_less(tmp_path: Path) -> None:
    shared = exported()
    version = Registry(shared.registry_dir).get(shared.version)
    calibration, gate = _texts("banking77_train.jsonl", 150), _texts("banking77_test.jsonl", 300)
    errors, manifests = {}, {}
    for alpha in (0.0, 0.8):
        options = ExportOptions(
            variants=("fp32", "int8"), int8_smooth=alpha, int8_target="avx2", int8_keep_fp32="ffn_output"
        )
        out = tmp_path / f"export-{alpha}"
        export_bundle(bundle_from_version(version), out, gate, options, calibration_texts=calibration)
        manifests[alpha] = json.loads((out / "export.json").read_text(encoding="utf-8"))
        errors[alpha] = manifests[alpha]["options"]["int8_margins"]["errors"]
    smoothing = manifests[0.8]["options"]["int8_smoothing"]
    assert smoothing == {"alpha": 0.8, "texts": 150, "bodies": {"shared": {"activations": 18, "matmuls": 30}}}
    assert manifests[0.8]["options"]["int8_activations"]["bits"] == 7  # avx2: codes AVX2 adds exactly
    assert manifests[0.0]["options"]["int8_smoothing"]["note"] == "smoothing off (int8_smooth 0)"
    assert manifests[0.0]["options"]["int8_smoothing"]["bodies"] == {}
    for name, error in errors[0.8].items():  # int8's 99th-percentile probability error against fp32
        assert error < errors[0.0][name], (name, errors)


def test_int8_recipes_follow_the_target() -> None:
    # on x86 every feed-forward output is quantised first, and kept in fp32 if the gate refuses that
    assert int8_recipes("auto", "avx512_vnni") == ("none", "ffn_output")
    assert int8_recipes("auto", "avx2") == ("none", "ffn_output")
    assert int8_recipes("auto", "arm64") == ("ffn_output",)  # not measured on ARM: kept
    assert int8_recipes("none", "avx2") == ("none",)  # named: only that one
    assert int8_recipes("ffn_output", "avx512_vnni") == ("ffn_output",)
    with pytest.raises(ValueError, match="int8_keep_fp32"):
        ExportOptions(int8_keep_fp32="attention")  # type: ignore[arg-type]


def test_a_refused_int8_is_rebuilt_with_the_feed_forward_outputs_in_fp32(tmp_path: Path) -> None:
    # No second look and every label equal to PyTorch's on 300 out-of-domain texts: int8 with every MatMul
    # quantised cannot pass, so the export rebuilds it with the next recipe and says what it refused.
    shared = exported()
    version = Registry(shared.registry_dir).get(shared.version)
    options = ExportOptions(
        variants=("fp32", "int8"),
        min_agreement=1.0,
        int8_fallback_margin=0.0,
        int8_target="avx512_vnni",
        keep_unpublished=True,
    )
    out = tmp_path / "export"
    result = export_bundle(
        bundle_from_version(version),
        out,
        _texts("banking77_test.jsonl", 300),
        options,
        calibration_texts=_texts("banking77_train.jsonl", 100),
    )
    chosen = result.manifest["options"]
    assert (chosen["int8_keep_fp32_asked"], chosen["int8_keep_fp32"]) == ("auto", "ffn_output")
    [refused] = chosen["int8_keep_refused"]
    assert refused["int8_keep_fp32"] == "none" and refused["reason"].startswith("not published")
    kept = chosen["int8_fp32_nodes"]["shared"]  # the exported int8 is the rebuilt one
    assert len([n for n in kept if n.endswith("/output/dense/MatMul") and "attention" not in n]) == 6
    graph = onnx.load(str(out / "int8" / "shared.onnx"), load_external_data=False)
    assert set(kept) <= {n.name for n in graph.graph.node if n.op_type == "MatMul"}
    assert [p.variant for p in result.parity] == ["fp32", "int8"]  # one verdict per variant
    assert "fp32" in result.published
