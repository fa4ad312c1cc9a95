"""The torch-free runtime: the export contract, batching and order, variant and provider choice."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from postroom.runs import CPU_RUN_ROWS, CPU_RUN_TOKENS, cut_runs, load_tokenizer, tokenize
from postroom.runtime import RuntimeSetupError, disabled_optimizers
from serving import artifacts
from serving.artifacts import read_export
from serving.errors import ModelUnavailable
from serving.runtime import CPU, CUDA, OnnxClassifier, choose_providers, pick_variant, plan_streams
from tests.serving.builders import LONG_TEXT, Exported, isolated
from training.export import layout
from training.export.parity import ROWS_TOLERANCE
from training.export.predict import run_graph, served_runs


def test_layout_names_match_the_exporter() -> None:
    assert artifacts.EXPORT_MANIFEST == layout.EXPORT_MANIFEST
    assert artifacts.EXPORT_FORMAT == layout.EXPORT_FORMAT


def _publish_everything(exp: Exported) -> None:
    path = exp.export_dir / "export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data["variants"].values():
        entry["published"] = True
    path.write_text(json.dumps(data), encoding="utf-8")


def test_serving_computes_what_the_parity_gate_measured(tmp_path: Path) -> None:
    """serving.runtime and training.export.predict give the same numbers for every variant, int8 included:
    the gate runs each graph in the runs serving cuts a call into."""
    exp = isolated(tmp_path)
    _publish_everything(exp)  # int8 may have failed the gate here; the contract holds for every graph
    manifest = read_export(exp.export_dir)
    texts = [*exp.texts, LONG_TEXT, "Karte verloren", LONG_TEXT[:200]]
    assert len(texts) > 7
    for variant in manifest.variants:
        classifier = OnnxClassifier(
            exp.export_dir,
            variant=variant,
            provider="cpu",
            streams=1,
            threads=1,
            max_batch=7,
            second_look=False,
        )
        ours = classifier.predict_proba(texts)
        body = manifest.bodies["shared"]
        outputs = [manifest.label_sets[n].output for n in classifier.label_sets]
        theirs = run_graph(
            exp.export_dir / manifest.variants[variant].files["shared"],
            exp.export_dir / body.tokenizer,
            texts,
            outputs,
            lowercase=body.lowercase,
            batch_size=7,
        )
        assert classifier.run_rows == min(7, CPU_RUN_ROWS)  # every variant of a new export shares runs
        for name, output in zip(classifier.label_sets, outputs, strict=True):
            assert ours[name].shape == (len(texts), len(manifest.label_sets[name].classes))
            np.testing.assert_allclose(ours[name], theirs[output], atol=2e-5)


def test_the_gate_cuts_a_call_into_the_runs_serving_makes_on_the_cpu(shared: Exported) -> None:
    texts = [LONG_TEXT[: 7 * i % 900] for i in range(75)]
    body = read_export(shared.export_dir).bodies["shared"]
    tokenizer, _ = load_tokenizer(shared.export_dir / body.tokenizer)
    tokens = tokenize(tokenizer, texts, body.lowercase)
    assert len(set(tokens.lengths)) > 20 and max(tokens.lengths) > CPU_RUN_TOKENS // 2
    for variant in ("fp32", "int8"):
        for streams in (1, 2):  # on the CPU the 8-row cap always cuts at least as finely as the streams
            for max_batch in (1, 5, 8, 32, 100):
                classifier = OnnxClassifier(
                    shared.export_dir,
                    variant=variant,
                    provider="cpu",
                    streams=streams,
                    threads=1,
                    max_batch=max_batch,
                    allow_unpublished=True,
                )
                assert served_runs(tokens, max_batch) == classifier._cut(
                    tokens, range(len(texts)), classifier.run_rows
                )
                # The second look's rows, cut for fp32: the gate runs them as a call of their own.
                hesitant = list(range(3, 75, 4))
                subset = tokenize(tokenizer, [texts[i] for i in hesitant], body.lowercase)
                theirs = [[hesitant[i] for i in run] for run in served_runs(subset, max_batch)]
                assert theirs == classifier._cut(tokens, hesitant, classifier.second_run_rows)
    assert served_runs(tokenize(tokenizer, [], False), 32) == []


def test_runs_pad_as_the_tokenizer_file_pads(shared: Exported) -> None:
    """Each run pads its rows itself (the call is tokenised once): the same arrays the tokenizer's own
    padding gives."""
    from tokenizers import Tokenizer

    from postroom.runs import feeds

    body = read_export(shared.export_dir).bodies["shared"]
    padded = Tokenizer.from_file(str(shared.export_dir / body.tokenizer))
    assert padded.padding is not None  # the export sets padding explicitly
    tokenizer, padding = load_tokenizer(shared.export_dir / body.tokenizer)
    texts = ["Karte verloren", LONG_TEXT, "", "Where is my transfer?"]
    tokens = tokenize(tokenizer, texts, lowercase=False)
    assert max(tokens.lengths) == padded.truncation["max_length"]  # truncation stays
    ours = feeds(tokens, range(len(texts)), padding, {"input_ids", "attention_mask", "token_type_ids"})
    theirs = padded.encode_batch(texts)
    np.testing.assert_array_equal(ours["input_ids"], [e.ids for e in theirs])
    np.testing.assert_array_equal(ours["attention_mask"], [e.attention_mask for e in theirs])
    np.testing.assert_array_equal(ours["token_type_ids"], [e.type_ids for e in theirs])


def test_results_keep_input_order_whatever_the_batching(shared: Exported) -> None:
    classifier = OnnxClassifier(shared.export_dir, variant="fp32", provider="cpu", threads=1, max_batch=3)
    texts = [LONG_TEXT, "Karte verloren", "", "  Hallo  ", "Where is my transfer?", LONG_TEXT[:300]]
    together = classifier.predict_proba(texts)
    for index, text in enumerate(texts):
        alone = classifier.predict_proba([text])
        for name in classifier.label_sets:
            np.testing.assert_allclose(together[name][index], alone[name][0], atol=2e-5)
    stripped = classifier.predict_proba(["Hallo"])  # texts are stripped as sentence-transformers does
    np.testing.assert_allclose(stripped["topic"][0], together["topic"][3], atol=2e-5)
    predictions = classifier.predict(texts)
    assert [set(p) for p in predictions] == [set(classifier.label_sets)] * len(texts)
    first = predictions[1]["topic"]
    assert first.top[0].class_name == first.class_name and len(first.top) == 3
    assert classifier.predict([]) == []


def test_a_classifier_leaves_numpy_one_blas_thread(shared: Exported) -> None:
    """The learned confidence's small products run beside ONNX Runtime's streams: OpenBLAS's own threads
    would spin against them (serving.runtime.limit_blas_threads)."""
    from threadpoolctl import threadpool_info

    OnnxClassifier(shared.export_dir, variant="fp32", provider="cpu", threads=1)
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


def test_the_log_names_the_provider(shared: Exported) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("postroom.serving")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        OnnxClassifier(shared.export_dir, provider="auto", threads=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    message = " ".join(r.getMessage() for r in records)
    assert "CPUExecutionProvider" in message and "loaded model" in message


class TestProviders:
    def test_cpu_build_runs_on_the_cpu(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("serving.runtime.check_onnxruntime", lambda: "cpu")
        monkeypatch.setattr("onnxruntime.get_available_providers", lambda: [CPU])
        assert choose_providers("auto") == [CPU]
        assert choose_providers("cpu") == [CPU]
        with pytest.raises(RuntimeSetupError, match="CUDA provider was asked for"):
            choose_providers("cuda")

    def test_gpu_build_prefers_cuda_unless_told_otherwise(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("serving.runtime.check_onnxruntime", lambda: "gpu")
        monkeypatch.setattr("onnxruntime.get_available_providers", lambda: [CUDA, CPU])
        assert choose_providers("auto") == [CUDA, CPU]
        assert choose_providers("cuda") == [CUDA, CPU]
        assert choose_providers("cpu") == [CPU]

    def test_the_gpu_build_preloads_cuda_libraries_once_and_survives_a_failure(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        import onnxruntime as ort

        calls: list[str] = []

        def preload() -> None:
            calls.append("preload")
            raise OSError("libcudnn.so.9: cannot open shared object file")

        monkeypatch.setattr("serving.runtime.check_onnxruntime", lambda: "gpu")
        monkeypatch.setattr("onnxruntime.get_available_providers", lambda: [CUDA, CPU])
        monkeypatch.setattr(ort, "preload_dlls", preload, raising=False)
        monkeypatch.setattr("serving.runtime._preloaded", [])
        assert choose_providers("cpu") == [CPU] and calls == []  # the CPU asked for: nothing to load
        with caplog.at_level("WARNING", logger="postroom.serving"):
            assert choose_providers("auto") == [CUDA, CPU]
        assert choose_providers("cuda") == [CUDA, CPU]
        assert calls == ["preload"]  # once per process
        assert "preload_dlls failed (libcudnn.so.9" in caplog.text

    def test_gpu_build_without_a_usable_gpu_falls_back(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("serving.runtime.check_onnxruntime", lambda: "gpu")
        monkeypatch.setattr("onnxruntime.get_available_providers", lambda: [CPU])
        assert choose_providers("auto") == [CPU]

    @pytest.mark.usefixtures("failing_cuda")
    def test_a_cuda_session_that_fails_to_start_runs_on_the_cpu(
        self, shared: Exported, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The variant and the runs are chosen again for the CPU: a GPU's `optimized` is a slow CPU choice."""
        with caplog.at_level(logging.WARNING, logger="postroom.serving"):
            classifier = OnnxClassifier(shared.export_dir, provider="auto", threads=1)
        assert classifier.provider == CPU
        manifest = read_export(shared.export_dir)
        assert pick_variant(manifest, "auto", on_gpu=True) != pick_variant(manifest, "auto", on_gpu=False)
        assert classifier.variant == pick_variant(manifest, "auto", on_gpu=False)
        assert (classifier.streams, classifier.threads) == plan_streams(0, 1, on_gpu=False)
        assert classifier.run_rows == CPU_RUN_ROWS
        assert "choosing the variant and runs for the CPU" in caplog.text

    def test_the_variant_follows_the_device(self, shared: Exported) -> None:
        manifest = read_export(shared.export_dir)
        published = [n for n, v in manifest.variants.items() if v.published]
        on_cpu = pick_variant(manifest, "auto", on_gpu=False)
        on_gpu = pick_variant(manifest, "auto", on_gpu=True)
        assert on_cpu == next(v for v in manifest.preference["cpu"] if v in published)
        assert on_gpu == next(v for v in manifest.preference["gpu"] if v in published)
        with pytest.raises(ModelUnavailable, match="has no fp16 variant"):
            pick_variant(manifest, "fp16", on_gpu=False)


def test_an_export_without_a_published_variant_is_refused(tmp_path: Path) -> None:
    exp = isolated(tmp_path)
    path = exp.export_dir / "export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data["variants"].values():
        entry["published"] = False
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="no published variant"):
        OnnxClassifier(exp.export_dir)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="unreadable"):
        OnnxClassifier(exp.export_dir)
    with pytest.raises(ModelUnavailable, match="run `postroom export`"):
        OnnxClassifier(tmp_path / "nowhere")


def test_without_int8_the_cpu_serves_fp32_before_optimized(tmp_path: Path) -> None:
    """O2's baked-in skip-LayerNorm fusions are slower on the CPU than the plain fp32 graph
    (docs/serving-performance.md); a GPU still takes `optimized` first."""
    exp = isolated(tmp_path)
    _publish_everything(exp)
    path = exp.export_dir / "export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["variants"]["int8"]["published"] = False
    path.write_text(json.dumps(data), encoding="utf-8")
    manifest = read_export(exp.export_dir)
    assert pick_variant(manifest, "auto", on_gpu=False) == "fp32"
    assert pick_variant(manifest, "auto", on_gpu=True) == "optimized"
    assert OnnxClassifier(exp.export_dir, provider="cpu", threads=1).variant == "fp32"


def _set_second_look(exp: Exported, margin: float, margins: dict[str, float] | None = None) -> None:
    """Publish int8 with this second-look margin for every label set, or `margins` per set."""
    path = exp.export_dir / "export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["variants"]["int8"]["published"] = True
    data["variants"]["int8"]["fallback"]["margin"] = margin
    data["variants"]["int8"]["fallback"]["margins"] = margins or dict.fromkeys(data["label_sets"], margin)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_near_ties_is_the_same_rule_as_the_parity_gates() -> None:
    from serving.runtime import near_ties as serving_rule
    from training.export.predict import near_ties as gate_rule

    rng = np.random.default_rng(0)
    heads = [rng.dirichlet(np.ones(k), size=200).astype(np.float32) for k in (2, 5, 14)]
    for margin in (0.0, 0.05, 0.2, 0.9):
        np.testing.assert_array_equal(serving_rule(heads, margin), gate_rule(heads, margin))
    for margins in ([0.0, 0.3, 0.05], [0.2, 0.0, 0.0]):  # one margin per label set
        np.testing.assert_array_equal(serving_rule(heads, margins), gate_rule(heads, margins))
    only_second = serving_rule(heads, [0.0, 0.3, 0.0])
    np.testing.assert_array_equal(only_second, serving_rule(heads[1:2], 0.3))
    for rule in (serving_rule, gate_rule):
        with pytest.raises(ValueError, match="2 margins for 3 label sets"):
            rule(heads, [0.1, 0.1])
    assert not serving_rule(heads, 0.0).any() and serving_rule(heads, 1.0).all()
    tie = np.array([[0.5, 0.45, 0.05], [0.9, 0.05, 0.05]], dtype=np.float32)
    single = np.ones((2, 1), dtype=np.float32)  # a one-column output never hesitates
    assert serving_rule([tie, single], 0.1).tolist() == [True, False]


def test_int8_second_look_serves_hesitant_rows_from_fp32(tmp_path: Path) -> None:
    exp = isolated(tmp_path)
    manifest = read_export(exp.export_dir)
    second = manifest.variants["int8"].fallback
    assert second is not None and second.variant == "fp32" and second.files == manifest.variants["fp32"].files
    texts = [*exp.texts, LONG_TEXT]
    fp32 = OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", threads=1).predict_proba(texts)
    _set_second_look(exp, 0.999)  # every row hesitates: int8 must answer exactly what fp32 answers
    looked = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1)
    always = looked.predict_proba(texts)
    assert looked.fallback_share == 1.0
    looked.reset_second_look_counts()
    assert looked.fallback_share == 0.0 and looked.rows_seen == 0
    for name, matrix in fp32.items():
        np.testing.assert_allclose(always[name], matrix, atol=2e-5)
    raw = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1, second_look=False)
    assert raw.fallback_share is None
    assert any(not np.allclose(raw.predict_proba(texts)[n], fp32[n], atol=2e-5) for n in fp32)
    _set_second_look(exp, 1e-9)  # nothing hesitates that much: int8 alone
    never = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1)
    assert all(np.allclose(never.predict_proba(texts)[n], raw.predict_proba(texts)[n]) for n in fp32)
    assert never.fallback_share == 0.0


def test_the_load_log_names_the_second_look(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exp = isolated(tmp_path)
    _set_second_look(exp, 0.2)
    with caplog.at_level(logging.INFO, logger="postroom.serving"):
        OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1)
    assert "near ties (margin < 0.2) run again on fp32" in caplog.text
    caplog.clear()
    _set_second_look(exp, 0.2, {"line_of_business": 0.2, "queue": 0.13, "topic": 0.11})
    with caplog.at_level(logging.INFO, logger="postroom.serving"):
        OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1)
    expected = "near ties (margins < line_of_business 0.2, queue 0.13, topic 0.11) run again on fp32"
    assert expected in caplog.text


def test_the_second_look_uses_each_label_sets_own_margin(tmp_path: Path) -> None:
    exp = isolated(tmp_path)
    texts = [*exp.texts, LONG_TEXT]
    fp32 = OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", threads=1).predict_proba(texts)
    raw = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1, second_look=False)
    alone = raw.predict_proba(texts)
    # `margin` (what older readers use) says never; the per-set margins decide: topic always hesitates.
    _set_second_look(exp, 1e-9, {"line_of_business": 1e-9, "queue": 1e-9, "topic": 0.999})
    topic = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1)
    served = topic.predict_proba(texts)
    assert topic.fallback_share == 1.0  # one body serves all three sets: a hesitant set sends the whole row
    for name, matrix in fp32.items():
        np.testing.assert_allclose(served[name], matrix, atol=2e-5)
    _set_second_look(exp, 0.999, dict.fromkeys(fp32, 1e-9))
    never = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", threads=1)
    assert all(np.allclose(never.predict_proba(texts)[n], alone[n]) for n in fp32)
    assert never.fallback_share == 0.0


def test_evidence_names_match_training() -> None:
    from serving import evidence
    from training import evidence as written

    assert written.EVIDENCE_FILE == "evidence.npz" and layout.EVIDENCE_DIR == "evidence"
    with np.load(_evidence_file(exported_dir())) as stored:
        assert set(stored.files) == {
            evidence.REFERENCE_EMBEDDINGS,
            evidence.REFERENCE_LABELS,
            evidence.SECOND_COEF,
            evidence.SECOND_INTERCEPT,
        }


def exported_dir() -> Path:
    from tests.serving.builders import exported

    return exported().export_dir


def _evidence_file(export: Path) -> Path:
    return export / read_export(export).label_sets["topic"].evidence


def test_predictions_carry_the_learned_confidence_signals_where_the_export_has_evidence(
    shared: Exported,
) -> None:
    from router.confidence import FEATURES

    classifier = OnnxClassifier(shared.export_dir, variant="fp32", provider="cpu", threads=1, max_batch=3)
    assert set(classifier.evidence) == {"topic"}  # the builder gives the reply set evidence, no other set
    texts = ["Karte verloren", "Where is my transfer?", LONG_TEXT[:300], "Hallo"]
    predictions = classifier.predict(texts)
    for prediction in predictions:
        topic = prediction["topic"]
        assert topic.signals is not None and len(topic.signals) == len(FEATURES) - 1
        assert topic.signals[0] == pytest.approx(topic.probability, abs=1e-5)  # the head's probability
        assert topic.signals[3] in (0.0, 1.0)  # does the second head agree
        assert -1.0 <= topic.signals[4] <= 1.0  # a cosine similarity
        assert "signals" in topic.to_record()
        assert all(
            p.signals is None and "signals" not in p.to_record()
            for n, p in prediction.items()
            if n != "topic"
        )
    alone = classifier.predict([texts[2]])[0]["topic"].signals
    assert np.allclose(alone, predictions[2]["topic"].signals, atol=1e-4)  # batching does not change them


def test_unusable_evidence_is_refused_with_the_reason(tmp_path: Path) -> None:
    exp = isolated(tmp_path)
    target = _evidence_file(exp.export_dir)
    target.unlink()  # the mirror links files; write a new one in its place
    np.savez(
        target, reference_embeddings=np.zeros((2, 4), dtype=np.float32), reference_labels=np.array([0, 999])
    )
    manifest_path = exp.export_dir / "export.json"
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    import hashlib

    data["files"][data["label_sets"]["topic"]["evidence"]] = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="names classes the head does not have"):
        OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", threads=1)
    target.write_bytes(b"not an npz")
    with pytest.raises(ModelUnavailable, match="does not match its checksum"):
        OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", threads=1)


def test_a_tokenizer_the_runtime_cannot_pad_is_refused_with_the_reason(tmp_path: Path) -> None:
    """Runs pad their own rows to their longest; a tokenizer file that pads to a fixed length would give
    other numbers than the gate measured: the model does not load, and the error says why."""
    import hashlib

    from tokenizers import Tokenizer

    exp = isolated(tmp_path)
    manifest_path = exp.export_dir / "export.json"
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    relative = data["bodies"]["shared"]["tokenizer"]
    target = exp.export_dir / relative
    tokenizer = Tokenizer.from_file(str(target))
    tokenizer.enable_padding(length=128)
    target.unlink()  # the mirror links files; write a new one in its place
    tokenizer.save(str(target))
    data["files"][relative] = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="fixed-length padding"):
        OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", threads=1)


def test_an_unreadable_evidence_file_is_a_clear_model_error(tmp_path: Path) -> None:
    from serving.evidence import load_evidence

    good = tmp_path / "good.npz"
    np.savez(good, reference_embeddings=np.ones((2, 3)), reference_labels=np.array([0, 1]))
    assert load_evidence(good, 2).second_proba(np.ones((1, 3))) is None  # no second head saved
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not numpy")
    lacking = tmp_path / "lacking.npz"
    np.savez(lacking, reference_embeddings=np.ones((2, 3)))
    for path, reason in ((truncated, "cannot read"), (junk, "cannot read"), (lacking, "lacks its reference")):
        with pytest.raises(ModelUnavailable, match=reason):
            load_evidence(path, 2)


@pytest.mark.parametrize(
    ("asked", "on_gpu", "cores", "planned"),
    [
        ((0, 0), False, 2, (2, 1)),  # the CPU default: one single-threaded run per core
        ((0, 0), True, 16, (1, 16)),  # CUDA: one run; its CPU threads only feed the GPU
        ((1, 0), False, 2, (1, 2)),  # one run on every core, as before streams
        ((3, 0), False, 8, (3, 2)),  # the cores shared out
        ((4, 0), False, 2, (4, 1)),  # never below one thread
        ((2, 3), False, 2, (2, 3)),  # both named: taken as they are
    ],
)
def test_streams_and_threads_are_planned_from_the_cores(
    asked: tuple[int, int], on_gpu: bool, cores: int, planned: tuple[int, int]
) -> None:
    assert plan_streams(*asked, on_gpu=on_gpu, cores=cores) == planned


def _pool_threads() -> set[object]:
    import threading

    return {t for t in threading.enumerate() if t.name.startswith("onnx-")}


def test_streams_answer_what_one_run_answers(tmp_path: Path) -> None:
    """Side-by-side runs split batches and bodies across threads; the numbers and their order are the same."""
    exp = isolated(tmp_path)
    _set_second_look(exp, 0.2)
    texts = [*exp.texts, LONG_TEXT, "Karte verloren", LONG_TEXT[:200]] * 3  # batches large enough to split
    for variant in ("fp32", "int8"):
        one = OnnxClassifier(exp.export_dir, variant=variant, provider="cpu", streams=1, threads=1)
        two = OnnxClassifier(exp.export_dir, variant=variant, provider="cpu", streams=2, threads=1)
        assert (one.streams, two.streams) == (1, 2)
        before = _pool_threads()
        alone, split = one.predict_proba(texts), two.predict_proba(texts)
        assert len(_pool_threads() - before) >= 1  # the work really ran in the pool
        for name in alone:
            np.testing.assert_allclose(split[name], alone[name], atol=2e-5)
        if variant == "int8":
            assert two.fallback_share is not None and 0.0 <= two.fallback_share <= 1.0
            assert two.rows_seen == one.rows_seen == len(texts) * len(two._bodies)


def test_the_second_look_runs_the_hesitant_rows_of_the_whole_call_together(tmp_path: Path) -> None:
    """Every row hesitates: each body's second look runs the call's hesitant rows in fp32's runs (several
    short rows to a run), once per batch of hesitant rows, not per batch."""
    exp = isolated(tmp_path)
    _set_second_look(exp, 0.999)
    texts = [*exp.texts, LONG_TEXT] * 2
    fp32 = OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", streams=1, threads=1)
    looked = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", streams=1, threads=1, max_batch=4)
    runs: list[int] = []
    looked._bodies = tuple(replace(b, fallback=_Recorder(b.fallback, runs)) for b in looked._bodies)
    result = looked.predict_proba(texts)
    assert looked.fallback_share == 1.0
    assert sum(runs) == len(texts) * len(looked._bodies) and max(runs) <= 4
    assert max(runs) > 1
    expected = fp32.predict_proba(texts)
    for name, matrix in expected.items():
        np.testing.assert_allclose(result[name], matrix, atol=2e-5)


def test_on_the_cpu_a_batch_runs_in_short_runs_with_the_same_numbers(tmp_path: Path) -> None:
    """Of a length-sorted batch, runs of at most 8 rows and 256 padded tokens pad less (`postroom.runs`); a
    GPU would take the whole batch."""
    exp = isolated(tmp_path)
    texts = [*exp.texts, LONG_TEXT, "Karte verloren", LONG_TEXT[:200]] * 3
    assert len(texts) > 2 * CPU_RUN_ROWS
    parted = OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", streams=1, threads=1)
    whole = OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu", streams=1, threads=1)
    whole.run_rows, whole.run_tokens = 32, None  # what CUDA gets
    assert (parted.run_rows, parted.run_tokens) == (CPU_RUN_ROWS, CPU_RUN_TOKENS)
    runs: list[int] = []
    parted._bodies = tuple(replace(b, session=_Recorder(b.session, runs)) for b in parted._bodies)
    result = parted.predict_proba(texts)
    body = parted._bodies[0]
    lengths = tokenize(body.tokenizer, texts, body.lowercase).lengths
    expected_runs = cut_runs(lengths, 32, CPU_RUN_ROWS, CPU_RUN_TOKENS)
    assert sorted(runs) == sorted([len(r) for r in expected_runs] * len(parted._bodies))
    assert max(runs) <= CPU_RUN_ROWS and 1 in runs and max(runs) > 1  # long texts alone, short ones together
    expected = whole.predict_proba(texts)
    for name, matrix in expected.items():
        np.testing.assert_allclose(result[name], matrix, atol=2e-5)


def test_bodies_with_the_same_tokenizer_tokenise_a_call_once(
    shared: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three bodies trained from one base model have the same tokenizer file: a call tokenises once for
    them (a single message's latency), and a body that lower-cases gets its own tokens."""
    import serving.runtime as runtime

    calls: list[bool] = []

    def counted(tokenizer: Any, texts: Any, lowercase: bool) -> Any:
        calls.append(lowercase)
        return tokenize(tokenizer, texts, lowercase)

    monkeypatch.setattr(runtime, "tokenize", counted)
    classifier = OnnxClassifier(shared.export_dir, variant="fp32", provider="cpu", streams=1, threads=1)
    (body,) = classifier._bodies
    texts = ["Karte verloren", "WHERE IS MY TRANSFER?"]
    alone = classifier.predict_proba(texts)
    assert calls == [body.lowercase]
    twin = replace(body, key="twin")
    cased = replace(body, key="cased", lowercase=True)
    classifier._bodies = (body, twin, cased)
    calls.clear()
    together = classifier.predict_proba(texts)
    assert sorted(calls) == [False, True]  # the twin shared the first body's tokens
    assert set(together) == set(alone)


def test_an_int8_message_scores_the_same_alone_and_in_any_call(shared: Exported) -> None:
    """int8 is quantised per token, so its rows share runs: a message's probabilities do not depend on the
    others of a call (a batch, concurrent requests merged by the micro-batcher) beyond float rounding, and
    are the ones calibration stored; with its fp32 second look too."""
    raw = OnnxClassifier(
        shared.export_dir, variant="int8", provider="cpu", allow_unpublished=True, second_look=False
    )
    served = OnnxClassifier(shared.export_dir, variant="int8", provider="cpu", allow_unpublished=True)
    assert raw.run_rows == served.run_rows == CPU_RUN_ROWS
    assert read_export(shared.export_dir).variants["int8"].shares_runs is True
    texts = [*shared.texts[:20], LONG_TEXT, "Karte verloren", LONG_TEXT[:300]]
    together, looked = raw.predict_proba(texts), served.predict_proba(texts)
    assert served.fallback_share and served.rows_fallen_back > 1  # several rows took the second look
    for row, text in enumerate(texts):
        alone, looked_alone = raw.predict_proba([text]), served.predict_proba([text])
        for name, matrix in together.items():
            np.testing.assert_allclose(matrix[row], alone[name][0], atol=ROWS_TOLERANCE, rtol=0)
            np.testing.assert_allclose(looked[name][row], looked_alone[name][0], atol=ROWS_TOLERANCE, rtol=0)


def test_an_older_exports_int8_runs_its_rows_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Exports made before int8 was quantised per token declare nothing: their int8 quantised a run at a
    time, so its rows still run alone; their fp32 shares runs. A variant declared not to share runs (its rows
    failed the gate's check, kept with --keep-unpublished) runs alone too."""
    exp = isolated(tmp_path)
    path = exp.export_dir / "export.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for entry in manifest["variants"].values():
        del entry["shares_runs"]
    path.unlink()  # a symlink into the shared export
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="postroom.serving"):
        int8 = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", allow_unpublished=True)
    assert "runs of up to 1 row(s): this export's int8 quantises per run" in caplog.text  # re-export it
    fp32 = OnnxClassifier(exp.export_dir, variant="fp32", provider="cpu")
    assert (int8.run_rows, int8.second_run_rows, fp32.run_rows) == (1, CPU_RUN_ROWS, CPU_RUN_ROWS)
    manifest["variants"]["int8"]["shares_runs"] = False
    manifest["variants"]["fp32"]["shares_runs"] = True
    path.write_text(json.dumps(manifest), encoding="utf-8")
    declared = OnnxClassifier(exp.export_dir, variant="int8", provider="cpu", allow_unpublished=True)
    assert (declared.run_rows, declared.second_run_rows) == (1, CPU_RUN_ROWS)
    shared_runs = OnnxClassifier(  # what the benchmark measures beside it: the same graph in runs of eight
        exp.export_dir, variant="int8", provider="cpu", allow_unpublished=True, run_rows=CPU_RUN_ROWS
    )
    assert shared_runs.run_rows == CPU_RUN_ROWS


class _Recorder:
    """A session that notes how many rows each run gets."""

    def __init__(self, session: Any, rows: list[int]) -> None:
        self._session, self.rows = session, rows

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> Any:
        self.rows.append(len(feeds["input_ids"]))
        return self._session.run(names, feeds)


def test_the_load_log_names_streams_and_threads(shared: Exported, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="postroom.serving"):
        OnnxClassifier(shared.export_dir, variant="fp32", provider="cpu", streams=2, threads=1)
    assert "2 stream(s) x 1 thread(s); runs of up to 8 row(s))" in caplog.text


def _residual_layer_norm(path: Path) -> Path:
    """A graph ONNX Runtime fuses into SkipLayerNormalization as it loads it: Add, then LayerNormalization."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = ["batch", "tokens", 8]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "residual"], ["sum"]),
            helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12),
        ],
        "residual_layer_norm",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("residual", TensorProto.FLOAT, shape),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        [
            numpy_helper.from_array(np.ones(8, dtype=np.float32), "gamma"),
            numpy_helper.from_array(np.zeros(8, dtype=np.float32), "beta"),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def _loaded_ops(make_session: Any, tmp_path: Path) -> set[str]:
    """The op types of the graph a session built by `make_session(options)` runs after its optimizations."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "loaded.onnx")
    make_session(options)
    return {node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node}


def test_cpu_sessions_leave_the_residual_layer_norm_unfused(tmp_path: Path) -> None:
    """ONNX Runtime's CPU SkipLayerNormalization is slower than Add + LayerNormalization
    (docs/serving-performance.md): serving's CPU sessions load without that fusion, CUDA sessions keep it."""
    import onnxruntime as ort

    from serving.runtime import _session

    model = _residual_layer_norm(tmp_path / "residual.onnx")
    default = _loaded_ops(lambda o: ort.InferenceSession(str(model), o, providers=[CPU]), tmp_path)
    assert "SkipLayerNormalization" in default  # what ONNX Runtime does unless told otherwise
    served = _loaded_ops(lambda o: _session(ort, model, o, [CPU]), tmp_path)
    assert "SkipLayerNormalization" not in served and {"Add", "LayerNormalization"} <= served
    assert disabled_optimizers([CUDA, CPU]) == []
