"""The ONNX export: parity with PyTorch, the gate, the artifacts, the graph edits, the bundle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.serving.builders import Exported, exported
from training.export.bundle import BodySpec, HeadSpec, ModelBundle, read_body_modules
from training.export.errors import ExportError
from training.export.exporter import ExportOptions, activation_bits
from training.export.graph import append_heads, int8_exclusions
from training.export.parity import (
    ROWS_TOLERANCE,
    Reference,
    VariantParity,
    compare,
    largest_difference,
    with_rows_checked,
)


@pytest.fixture(scope="module")
def shared() -> Exported:
    return exported()


def _variant(parity: dict, name: str) -> dict:
    return next(v for v in parity["variants"] if v["variant"] == name)


class TestParity:
    def test_float_variants_match_pytorch(self, shared: Exported) -> None:
        for name in ("fp32", "optimized"):
            report = _variant(shared.parity, name)
            assert report["published"], report["reason"]
            assert report["cosine_min"]["shared"] > 0.9999
            for label_set, p in report["label_sets"].items():
                assert p["agreement"] == 1.0, (name, label_set)
                assert p["max_abs_diff"] < 1e-4, (name, label_set)

    def test_int8_is_close_and_the_gate_decides_by_agreement(self, shared: Exported) -> None:
        report = _variant(shared.parity, "int8")
        assert report["cosine_min"]["shared"] > 0.98
        lowest = min(p["agreement"] for p in report["label_sets"].values())
        # quantised per token: a row's outputs are the same alone as in a run with others, to float rounding
        rows = report["rows"]
        assert rows["tolerance"] == ROWS_TOLERANCE and 0.0 <= rows["max_difference_alone"] < 1e-5
        # rows took the fp32 second look: the rows check compares int8's own outputs (its first look in the
        # gate's runs, not run again), not the served ones, which mix in fp32 rows
        assert report["fallback"]["share"]["shared"] > 0
        assert report["published"] == (lowest >= 0.995)
        if not report["published"]:
            assert "below the 99.50% gate" in report["reason"]
        assert all(p["max_abs_diff"] < 0.1 for p in report["label_sets"].values())
        assert all("rows" not in _variant(shared.parity, v) for v in ("fp32", "optimized"))

    def test_int8_is_gated_as_served_with_its_fp32_second_look(self, shared: Exported) -> None:
        report = _variant(shared.parity, "int8")
        assert report["fallback"]["variant"] == "fp32" and report["fallback"]["margin"] == 0.2
        assert set(report["fallback"]["share"]) == {"shared"}
        assert 0.0 <= report["fallback"]["share"]["shared"] <= 1.0
        # no calibration texts here: the fixed margin for every label set, and the report says why
        margins = dict.fromkeys(("line_of_business", "queue", "topic"), 0.2)
        assert report["fallback"]["margins"] == margins and report["fallback"]["source"] == "fixed"
        assert "only 0 calibration texts" in report["fallback"]["note"]
        manifest = json.loads((shared.export_dir / "export.json").read_text(encoding="utf-8"))
        entry = manifest["variants"]["int8"]
        files = {"shared": "fp32/shared.onnx"}
        assert entry["fallback"] == {"variant": "fp32", "margin": 0.2, "margins": margins, "files": files}
        assert manifest["options"]["int8_fallback_margin"] == 0.2
        assert manifest["options"]["int8_margins"]["source"] == "fixed"
        smoothing = manifest["options"]["int8_smoothing"]  # nor any to smooth on
        assert smoothing["bodies"] == {} and smoothing["note"].startswith("only 0 calibration texts")

    def test_gate_logic(self) -> None:
        ref = np.tile(np.array([[0.6, 0.4]]), (200, 1))
        flipped = ref.copy()
        flipped[:1] = [0.4, 0.6]
        reference = Reference({"b": np.ones((200, 4))}, {"s": ref}, 0.0)
        ok = compare("v", reference, {"b": np.ones((200, 4))}, {"s": flipped}, 0.995)
        assert ok.published and ok.label_sets["s"].agreed == 199
        flipped[:2] = [0.4, 0.6]
        bad = compare("v", reference, {"b": np.ones((200, 4))}, {"s": flipped}, 0.995)
        assert not bad.published
        assert bad.reason == "not published: label agreement on s is 99.00% (198/200), below the 99.50% gate"
        nan = compare("v", reference, {"b": np.ones((200, 4))}, {"s": np.full((200, 2), np.nan)}, 0.5)
        assert not nan.published and "non-finite" in nan.reason

    def test_a_variant_whose_rows_depend_on_their_run_is_not_published(self) -> None:
        ref = np.tile(np.array([[0.6, 0.4]]), (200, 1))
        reference = Reference({"b": np.ones((200, 4))}, {"s": ref}, 0.0)

        def gate() -> VariantParity:
            return compare("int8", reference, {"b": np.ones((200, 4))}, {"s": ref}, 0.995)

        assert gate().shares_runs  # not checked: a float variant
        rounding = with_rows_checked(gate(), 3e-7)
        assert rounding.published and rounding.shares_runs and rounding.to_dict()["rows"] == {
            "max_difference_alone": 3e-7,
            "tolerance": ROWS_TOLERANCE,
        }
        moved = with_rows_checked(gate(), 0.09)
        assert not moved.published and not moved.shares_runs
        assert moved.reason == (
            "not published: a row's outputs depend on the other rows of its run (they differ by up to "
            "0.09 from the row run alone, more than 0.0001)"
        )
        assert not with_rows_checked(gate(), float("nan")).published
        # what the export measures: any output, any row; a value that breaks in one shape is no "0"
        a = {"e": np.zeros((3, 2)), "p": np.full((3, 2), 0.5)}
        b = {"e": np.zeros((3, 2)), "p": np.array([[0.5, 0.5], [0.5, 0.52], [0.5, 0.5]])}
        assert largest_difference(a, b) == pytest.approx(0.02)
        b["e"][2, 1] = np.nan
        assert np.isnan(largest_difference(a, b)) and not with_rows_checked(gate(), float("nan")).shares_runs
        refused = compare("int8", reference, {"b": np.ones((200, 4))}, {"s": 1 - ref}, 0.995)
        kept = with_rows_checked(refused, 0.09)  # refused already: its own reason stays
        assert kept.reason.startswith("not published: label agreement on s is 0.00%")


class TestArtifacts:
    def test_manifest_lists_every_file_with_its_checksum(self, shared: Exported) -> None:
        manifest = json.loads((shared.export_dir / "export.json").read_text(encoding="utf-8"))
        assert manifest["version"] == shared.version and manifest["format"] == 1
        on_disk = {
            p.relative_to(shared.export_dir).as_posix() for p in shared.export_dir.rglob("*") if p.is_file()
        }
        assert on_disk - {"export.json"} == set(manifest["files"])
        for rel, digest in manifest["files"].items():
            assert hashlib.sha256((shared.export_dir / rel).read_bytes()).hexdigest() == digest
        for variant in ("fp32", "optimized", "int8"):
            entry = manifest["variants"][variant]
            assert entry["reason"]
            assert entry["files"] == {"shared": f"{variant}/shared.onnx"}  # kept: keep_unpublished=True here
        assert set(manifest["label_sets"]) == {"line_of_business", "queue", "topic"}
        assert manifest["bodies"]["shared"]["max_seq_length"] == 256
        assert manifest["bodies"]["shared"]["inputs"] == ["input_ids", "attention_mask"]

    def test_tokenizer_truncates_at_the_models_length(self, shared: Exported) -> None:
        data = json.loads((shared.export_dir / "tokenizer" / "shared" / "tokenizer.json").read_text("utf-8"))
        assert data["truncation"]["max_length"] == 256  # the packaged file says 128
        assert data["padding"]["strategy"] == "BatchLongest"  # the packaged file pads to 128 always
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(shared.export_dir / "tokenizer" / "shared" / "tokenizer.json"))
        long, short = tokenizer.encode_batch(["wort " * 1000, "kurz"])
        assert len(long.ids) == len(short.ids) == 256 and sum(short.attention_mask) < 8
        assert len(tokenizer.encode_batch(["kurz", "auch kurz"])[0].ids) < 8  # no fixed padding

    def test_graphs_have_the_heads_and_int8_keeps_the_sensitive_matmuls(self, shared: Exported) -> None:
        manifest = json.loads((shared.export_dir / "export.json").read_text(encoding="utf-8"))
        kept = manifest["options"]["int8_fp32_nodes"]["shared"]
        assert len([n for n in kept if n.endswith("/output/dense/MatMul") and "attention" not in n]) == 6
        assert len([n for n in kept if "/attention/self/MatMul" in n]) == 12
        graph = onnx.load(str(shared.export_dir / "int8" / "shared.onnx"), load_external_data=False)
        outputs = [o.name for o in graph.graph.output]
        assert outputs == [
            "sentence_embedding",
            "probabilities_line_of_business",
            "probabilities_queue",
            "probabilities_topic",
        ]
        float_matmuls = {n.name for n in graph.graph.node if n.op_type == "MatMul"}
        assert set(kept) <= float_matmuls
        # quantised per token: each weight MatMul is ONNX Runtime's integer product times the weight scales
        # (query/key/value, attention output, up-projection per layer; the down-projections kept here)
        ops = [n.op_type for n in graph.graph.node]
        assert ops.count("MatMulIntegerToFloat") == 30 and "DynamicQuantizeLinear" not in ops
        assert {o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")} == {21}
        assert manifest["options"]["int8_activations"] == {
            "quantised": "per_token",
            "bits": activation_bits(manifest["options"]["int8_target"]),  # 7 on CPUs without VNNI
            "bodies": {"shared": {"symmetric": 18, "shifted": 0, "matmuls": 30}},
        }
        assert all(entry["shares_runs"] for entry in manifest["variants"].values())

    def test_the_optimized_graph_fuses_attention_and_the_skip_layer_norms(self, shared: Exported) -> None:
        # at opset 18 symbolic shape inference fails on the Normalize tail and no SkipLayerNorm is fused
        manifest = json.loads((shared.export_dir / "export.json").read_text(encoding="utf-8"))
        assert manifest["options"]["opset"] == 17
        graph = onnx.load(str(shared.export_dir / "optimized" / "shared.onnx"), load_external_data=False)
        assert {o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")} == {17}
        ops = [n.op_type for n in graph.graph.node]
        counted = {op: ops.count(op) for op in ("Attention", "SkipLayerNormalization", "LayerNormalization")}
        # MiniLM-L6: one attention and two residual LayerNorms per layer; only the embeddings' stays apart
        assert counted == {"Attention": 6, "SkipLayerNormalization": 12, "LayerNormalization": 1}
        assert manifest["options"]["optimized_fusions"]["shared"]["SkipLayerNormalization"] == 12

    def test_heads_are_saved_beside_the_graphs(self, shared: Exported) -> None:
        heads = json.loads((shared.export_dir / "heads.json").read_text(encoding="utf-8"))
        arrays = np.load(shared.export_dir / "heads.npz")
        assert arrays["topic__coef"].shape == (14, 384)
        assert len(heads["topic"]["classes"]) == 14 and heads["topic"]["binary"] is False


def _identity_graph(dim: int) -> onnx.ModelProto:
    node = helper.make_node("Identity", ["x"], ["sentence_embedding"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", dim])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_heads_in_the_graph_equal_sklearn_binary_and_multiclass() -> None:
    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    binary = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    multi = LogisticRegression().fit(x, np.argmax(x[:, :3], axis=1))
    heads = [
        HeadSpec(
            "two", "b", ("no", "yes"), binary.coef_.astype(np.float32), binary.intercept_.astype(np.float32)
        ),
        HeadSpec(
            "three", "b", ("a", "b", "c"), multi.coef_.astype(np.float32), multi.intercept_.astype(np.float32)
        ),
    ]
    model = append_heads(_identity_graph(8), heads)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    two, three = session.run(["probabilities_two", "probabilities_three"], {"x": x})
    np.testing.assert_allclose(two, binary.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(three, multi.predict_proba(x), atol=1e-6)


def test_int8_exclusions_are_structural() -> None:
    w_up = helper.make_tensor("up", TensorProto.FLOAT, [4, 16], [0.0] * 64)
    w_down = helper.make_tensor("down", TensorProto.FLOAT, [16, 4], [0.0] * 64)
    nodes = [
        helper.make_node("MatMul", ["x", "up"], ["h"], name="up"),
        helper.make_node("MatMul", ["h", "down"], ["y"], name="down"),
        helper.make_node("MatMul", ["y", "y"], ["z"], name="scores"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 4])],
        [w_up, w_down],
    )
    model = helper.make_model(graph)
    assert int8_exclusions(model, "ffn_output") == ["down", "scores"]
    assert int8_exclusions(model, "none") == ["scores"]


class TestBundle:
    def test_heads_are_checked(self, tmp_path: Path) -> None:
        body = {"b": BodySpec("b", tmp_path, 128)}
        good = HeadSpec("s", "b", ("x", "y", "z"), np.zeros((3, 4), np.float32), np.zeros(3, np.float32))
        ModelBundle("v1", body, {"s": good})
        with pytest.raises(ExportError, match="do not fit 3 classes"):
            ModelBundle(
                "v1",
                body,
                {
                    "s": HeadSpec(
                        "s", "b", ("x", "y", "z"), np.zeros((2, 4), np.float32), np.zeros(2, np.float32)
                    )
                },
            )
        with pytest.raises(ExportError, match="NaN"):
            ModelBundle(
                "v1",
                body,
                {
                    "s": HeadSpec(
                        "s", "b", ("x", "y"), np.full((1, 4), np.nan, np.float32), np.zeros(1, np.float32)
                    )
                },
            )
        with pytest.raises(ExportError, match="unknown body"):
            ModelBundle("v1", body, {"s": HeadSpec("s", "other", ("x", "y", "z"), good.coef, good.intercept)})
        with pytest.raises(ExportError, match="cannot be a file name"):
            ModelBundle("../v1", body, {"s": good})

    def test_only_transformer_pooling_normalize_bodies(self, tmp_path: Path) -> None:
        (tmp_path / "modules.json").write_text(
            json.dumps(
                [
                    {"type": "sentence_transformers.models.Transformer"},
                    {"type": "sentence_transformers.models.Pooling"},
                    {"type": "sentence_transformers.models.Dense"},
                ]
            )
        )
        with pytest.raises(ExportError, match="not supported"):
            read_body_modules(tmp_path)
        with pytest.raises(ExportError, match="no modules.json"):
            read_body_modules(tmp_path / "missing")

    def test_bundle_from_setfit_shares_the_body_and_keeps_setfits_column_order(self, tmp_path: Path) -> None:
        from sentence_transformers import SentenceTransformer
        from setfit import SetFitModel
        from sklearn.linear_model import LogisticRegression

        from postroom.settings import packaged_model_path
        from training.export.bundle import bundle_from_setfit

        body = SentenceTransformer(str(packaged_model_path()), device="cpu")
        texts = ["card lost", "card stolen", "transfer late", "money missing", "new address", "moved house"]
        x = body.encode(texts)
        topic = LogisticRegression().fit(x, ["card", "card", "transfer", "transfer", "address", "address"])
        urgent = LogisticRegression().fit(x, ["yes", "yes", "no", "yes", "no", "no"])
        models = {
            "topic": SetFitModel(model_body=body, model_head=topic),
            "urgent": SetFitModel(model_body=body, model_head=urgent, normalize_embeddings=True),
        }
        bundle = bundle_from_setfit(models, tmp_path)
        assert list(bundle.bodies) == ["body0"]
        assert bundle.heads["topic"].classes == ("address", "card", "transfer")  # sklearn's sorted classes_
        assert bundle.heads["urgent"].binary
        np.testing.assert_allclose(
            bundle.heads["topic"].probabilities(x),
            models["topic"].predict_proba(texts, as_numpy=True),
            atol=1e-5,
        )


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="variants"):
        ExportOptions(variants=("fp16",))
    with pytest.raises(ValueError, match="min_agreement"):
        ExportOptions(min_agreement=1.5)
    with pytest.raises(ValueError, match="int8_target"):
        ExportOptions(int8_target="sse2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="int8_fallback_margin"):
        ExportOptions(int8_fallback_margin=1.0)
    with pytest.raises(ValueError, match="int8_smooth"):
        ExportOptions(int8_smooth=-0.1)
