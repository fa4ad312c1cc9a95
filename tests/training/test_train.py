"""Real (tiny) training runs on the packaged MiniLM: artifacts, parity, reproducibility, guards."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.training.builders import mini_training_data, packaged_model, tiny_config
from training.errors import TrainingDiverged
from training.evidence import EVIDENCE_FILE
from training.pipeline import train_and_register
from training.registry import (
    BODIES_DIR,
    DATASET_FILE,
    HEAD_COEF,
    HEAD_INTERCEPT,
    HEAD_META,
    MODEL_CARD,
    REPORT_JSON,
    Registry,
    head_probabilities,
)


@pytest.mark.parametrize("variant", ["shared", "separate"])
def test_train_registers_a_complete_version(tmp_path: Path, variant: str) -> None:
    from training.artifacts import load_predictor

    data = mini_training_data()
    data.split = {"method": "stable-rank", "eval_near_copies": [[data.eval_message_ids[0], "copy@x"]]}
    registry = Registry(tmp_path / "models")
    outcome = train_and_register(
        data, packaged_model(), tiny_config(variant=variant), registry, tmp_path / "scratch"
    )
    version = outcome.version
    manifest = version.manifest
    # message IDs stay in dataset.json: the manifest (models show --json, the model card) holds counts
    assert manifest["dataset"]["split"] == {"method": "stable-rank"}
    dataset = json.loads((version.path / "dataset.json").read_text(encoding="utf-8"))
    assert dataset["split"]["eval_near_copies"] == [[data.eval_message_ids[0], "copy@x"]]
    assert version.version == "v0001" and version.stage == "candidate" and version.verify() == []
    assert manifest["variant"] == variant
    assert set(manifest["bodies"]) == ({"shared"} if variant == "shared" else {"queue", "topic"})
    assert manifest["training"]["device_type"] == "cpu"
    assert manifest["training"]["bodies"][0]["steps"] == 2 * (2 if variant == "shared" else 1)
    for name in ("queue", "topic"):
        metrics = manifest["metrics"][name]
        assert metrics["n_eval"] == 6 and 0.0 <= metrics["macro_f1"] <= 1.0
        assert (version.path / "eval" / name / "confusion_matrix.png").is_file()
        assert (version.path / "eval" / name / "reliability.png").is_file()
        assert "per_class" in json.loads((version.path / "eval" / name / REPORT_JSON).read_text())
        artifacts = version.artifacts(name)
        assert artifacts.max_seq_length == 32
        assert (artifacts.body_dir / "modules.json").is_file()
        assert any(
            "Normalize" in m["type"] for m in json.loads((artifacts.body_dir / "modules.json").read_text())
        )
        meta = json.loads((artifacts.head_dir / HEAD_META).read_text())
        assert meta["classes"] == artifacts.classes == data.label_sets[name].classes
        assert 0.05 <= meta["temperature"] <= 20.0  # cross-validated and folded into the arrays
        predictor = load_predictor(version, name)
        texts = data.label_sets[name].eval_texts
        proba = predictor.predict_proba(texts)
        embeddings = predictor.body.encode(texts)
        from_arrays = head_probabilities(
            embeddings, np.load(artifacts.head_dir / HEAD_COEF), np.load(artifacts.head_dir / HEAD_INTERCEPT)
        )
        assert np.allclose(proba, from_arrays, atol=1e-4)  # what serving computes equals the sklearn head
        predicted = proba.argmax(axis=1)
        accuracy = float((predicted == np.asarray(data.label_sets[name].eval_labels)).mean())
        assert math.isclose(accuracy, metrics["accuracy"], abs_tol=1e-6)
        with np.load(artifacts.head_dir / EVIDENCE_FILE) as evidence:  # the learned confidence's inputs
            split = data.label_sets[name]
            assert len(evidence["reference_labels"]) == len(split.train_texts) + len(split.class_texts)
            norms = np.linalg.norm(evidence["reference_embeddings"], axis=1)
            assert np.allclose(norms, 1.0, atol=1e-5)
            assert (
                "second_coef" not in evidence.files
            )  # no unlabeled messages: no self-training, no second head
    card = (version.path / MODEL_CARD).read_text()
    assert "# Postroom model v0001" in card and "macro-F1" in card
    assert "class names and descriptions" in card and "temperature" in card
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())
    assert not Path("checkpoints").exists()  # the working directory stays clean
    assert (version.path / BODIES_DIR).is_dir()


def test_same_seed_same_model(tmp_path: Path) -> None:
    data = mini_training_data(per_class=4, eval_per_class=2)
    registry = Registry(tmp_path / "models")
    runs = [
        train_and_register(
            data, packaged_model(), tiny_config(variant="shared", seed=7), registry, tmp_path / "scratch"
        )
        for _ in range(2)
    ]
    first, second = (np.load(r.version.path / "heads" / "topic" / HEAD_COEF) for r in runs)
    assert np.array_equal(first, second)
    assert runs[0].metrics == runs[1].metrics
    assert [r.version.version for r in runs] == ["v0001", "v0002"]


def test_nan_loss_stops_training_with_a_clear_error() -> None:
    from training.contrastive import _GuardAndReport
    from training.progress import NullReporter

    with NullReporter().task("t") as task:
        guard = _GuardAndReport(task)
        guard.on_log(None, type("S", (), {"global_step": 3})(), None, logs={"loss": 0.5})
        with pytest.raises(TrainingDiverged, match="became nan at step 3"):
            guard.on_log(None, type("S", (), {"global_step": 3})(), None, logs={"loss": float("nan")})


def test_nan_embeddings_are_refused() -> None:
    import torch

    from training.contrastive import encode
    from training.devices import resolve_device
    from training.setfit_trainer import load_base

    config = tiny_config()
    device = resolve_device(config)
    body = load_base(packaged_model(), config, device)
    with torch.no_grad():
        next(body.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="NaN"):
        encode(body, ["Meine Karte ist weg."], config, device)


def test_failed_training_leaves_no_version(tmp_path: Path) -> None:
    from training.errors import TrainingError

    registry = Registry(tmp_path / "models")
    # a path or hub id that is not on disk: one line, not the hub's advice to check the internet connection
    with pytest.raises(TrainingError, match="no such local directory and no cached copy. Give a local"):
        train_and_register(
            mini_training_data(),
            str(tmp_path / "no-such-model"),
            tiny_config(),
            registry,
            tmp_path / "scratch",
        )
    assert registry.entries() == [] and not list(registry.root.glob(".staging-*"))


def test_a_folder_that_is_no_model_is_named_in_one_short_line(tmp_path: Path) -> None:
    """transformers lists every model type it knows after "Unrecognized model": the error keeps the gist."""
    from training.config import TrainConfig
    from training.devices import resolve_device
    from training.errors import TrainingError
    from training.setfit_trainer import load_base

    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "train.toml").write_text("seed = 1\n", encoding="utf-8")
    config = TrainConfig(device="cpu")
    with pytest.raises(TrainingError) as caught:
        load_base(str(folder), config, resolve_device(config))
    message = str(caught.value)
    assert f"cannot load base model '{folder}': Unrecognized model in {folder}. Give a local" in message
    assert len(message) < 400 and "\n" not in message


def test_default_max_seq_length_is_what_the_model_accepts() -> None:
    from training.config import TrainConfig
    from training.devices import resolve_device
    from training.errors import TrainingError
    from training.setfit_trainer import load_base, truncation_stats

    config = TrainConfig(device="cpu")
    body = load_base(packaged_model(), config, resolve_device(config))
    assert body.max_seq_length == 512  # the packaged config says 256; its position embeddings allow 512
    stats = truncation_stats(body, ["kurz", "lang " * 600])
    assert stats["truncated"] == 1 and stats["rate"] == 0.5
    with pytest.raises(TrainingError, match="exceeds what"):
        load_base(packaged_model(), TrainConfig(max_seq_length=1024), resolve_device(config))


def test_the_head_learns_the_class_texts_too() -> None:
    """A class texts-only class: known to the head with `class_texts`, unknown without."""
    from training.contrastive import LabeledTexts
    from training.devices import resolve_device
    from training.setfit_trainer import TrainedModels, fit_heads, load_base

    config = tiny_config()
    device = resolve_device(config)
    body = load_base(packaged_model(), config, device)
    texts = ["I lost my card", "my card was stolen", "where is my transfer", "transfer not arrived"]
    task = LabeledTexts("topic", texts, [0, 0, 1, 1], (("card lost", 0), ("exchange rate", 2)))
    heads = {}
    for with_names in (True, False):
        models = TrainedModels("separate", bodies={"topic": body}, body_of={"topic": "topic"})
        fit_heads(models, [task], config.with_overrides(class_texts=with_names), device)
        heads[with_names] = models.heads["topic"]
    assert list(heads[True].classes_) == [0, 1, 2] and list(heads[False].classes_) == [0, 1]


def test_heads_self_train_on_unlabeled_messages(tmp_path: Path) -> None:
    from dataclasses import replace

    data = mini_training_data(per_class=4, eval_per_class=2)
    pool = ["Karte gestohlen, bitte sperren", "transfer still pending", "limit too low for rent", "hello"]
    data = replace(data, unlabeled_ids=[f"u-{i}" for i in range(4)], unlabeled_texts=pool)
    config = tiny_config(variant="shared", self_train_per_class=1, self_train_body_epochs=1)
    registry = Registry(tmp_path / "models")
    outcome = train_and_register(data, packaged_model(), config, registry, tmp_path / "scratch")
    reports = outcome.version.manifest["training"]["self_training"]
    assert set(reports) == {"queue", "topic"}
    for report in reports.values():
        assert report["pool"] == 4 and report["rounds"] == 2 and 1 <= report["pseudo_labeled"] <= 4
    record = json.loads((outcome.version.path / DATASET_FILE).read_text(encoding="utf-8"))
    for name in ("queue", "topic"):  # what models compare leaves out: the pool rows a head learned from
        used = record["label_sets"][name]["pseudo_labeled_message_ids"]
        assert len(used) >= reports[name]["pseudo_labeled"] and set(used) <= set(data.unlabeled_ids)
    per_set = [record["label_sets"][name]["pseudo_labeled_message_ids"] for name in ("queue", "topic")]
    assert record["pseudo_labeled_message_ids"] == sorted(set(per_set[0]) | set(per_set[1]))
    for name in ("queue", "topic"):  # the head before self-training is kept as the second head
        head_dir = outcome.version.artifacts(name).head_dir
        with np.load(head_dir / EVIDENCE_FILE) as evidence:
            assert evidence["second_coef"].shape == np.load(head_dir / HEAD_COEF).shape
            assert not np.allclose(evidence["second_coef"], np.load(head_dir / HEAD_COEF))
    card = (outcome.version.path / MODEL_CARD).read_text()
    assert "self-trained on 4 unlabeled messages" in card
    bodies = outcome.version.manifest["training"]["bodies"]
    assert len(bodies) == 2 and bodies[0]["pseudo_labeled"] == 0
    second = bodies[1]
    assert second["label_sets"] == ["queue", "topic"] and 2 <= second["pseudo_labeled"] <= 8
    assert 1 <= second["steps"] <= second["planned_steps"]  # one epoch over labeled + pseudo-labeled texts
    phase = f"(self-training: labeled + {second['pseudo_labeled']} pseudo-labeled messages)"
    assert f"{phase}: {second['steps']} of" in card


def test_body_self_training_is_off_by_default(tmp_path: Path) -> None:
    from dataclasses import replace

    data = mini_training_data(per_class=4, eval_per_class=2)
    data = replace(data, unlabeled_ids=["u-0", "u-1"], unlabeled_texts=["card stolen", "transfer pending"])
    config = tiny_config(variant="separate", self_train_per_class=1)
    outcome = train_and_register(data, packaged_model(), config, Registry(tmp_path / "m"), tmp_path / "s")
    manifest = outcome.version.manifest
    assert set(manifest["training"]["self_training"]) == {"queue", "topic"}  # the heads still self-train
    assert [b["pseudo_labeled"] for b in manifest["training"]["bodies"]] == [0, 0]  # one phase per body
