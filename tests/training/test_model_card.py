"""The model card's and `models show`'s per-class review, from a registry version's stored eval report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluate import compute_metrics
from training.model_card import WEAK_F1_BAR, WEAK_F1_GAP, render_model_card, review_version
from training.registry import DATASET_FILE, EVAL_DIR, MODEL_CARD, REPORT_JSON, ModelVersion, Registry

QUEUE = ["payments", "cards", "accounts", "complaints", "fraud"]  # fraud: no held-out message
# true class -> predicted class -> held-out messages (complaints leak into cards and accounts)
OUTCOMES = {
    "payments": {"payments": 26, "accounts": 2},
    "cards": {"cards": 28, "complaints": 1},
    "accounts": {"accounts": 50, "payments": 2},
    "complaints": {"complaints": 17, "cards": 7, "accounts": 5},
}
TRAIN_COUNTS = {"payments": 40, "cards": 46, "accounts": 69, "complaints": 46, "fraud": 4}


def _queue_report() -> dict[str, Any]:
    """The report `training.evaluate` computes for the outcomes above (real sklearn metrics)."""
    y_true, y_pred = [], []
    for true, predicted in OUTCOMES.items():
        for label, count in predicted.items():
            y_true += [QUEUE.index(true)] * count
            y_pred += [QUEUE.index(label)] * count
    proba = np.full((len(y_pred), len(QUEUE)), 0.05)
    proba[np.arange(len(y_pred)), y_pred] = 0.8
    return compute_metrics(np.asarray(y_true), proba, QUEUE)


def publish_with_report(registry: Registry) -> ModelVersion:
    """A registry version with a queue model whose held-out report and dataset file are as training writes
    them; its model card rendered as `postroom train` renders it (from the staging directory)."""
    staging = registry.new_staging_dir()
    (staging / "bodies" / "queue").mkdir(parents=True)
    (staging / "bodies" / "queue" / "model.bin").write_text("weights")
    report = _queue_report()
    (staging / EVAL_DIR / "queue").mkdir(parents=True)
    (staging / EVAL_DIR / "queue" / REPORT_JSON).write_text(json.dumps(report), encoding="utf-8")
    counts = {c: {"train": TRAIN_COUNTS[c], "eval": sum(OUTCOMES.get(c, {}).values())} for c in QUEUE}
    dataset = {"label_sets": {"queue": {"classes": QUEUE, "counts": counts}}}
    (staging / DATASET_FILE).write_text(json.dumps(dataset), encoding="utf-8")
    manifest = {
        "created_at": "2026-03-01T10:00:00+00:00",
        "base_model": "minilm",
        "taxonomy": {"name": "mini", "fingerprint": "abc"},
        "variant": "separate",
        "config": {"loss": "cosine", "head_c": 10.0, "eval_fraction": 0.4, "seed": 0},
        "label_sets": {"queue": {"classes": QUEUE, "body": "queue", "head": "heads/queue"}},
        "bodies": {
            "queue": {"path": "bodies/queue", "max_seq_length": 128, "embedding_dim": 4, "normalize": True}
        },
        "metrics": {"queue": {k: report[k] for k in ("n_eval", "accuracy", "macro_f1", "ece")}},
        "training": {
            "device": "cpu",
            "device_type": "cpu",
            "precision": "fp32",
            "bodies": [
                {
                    "label_sets": ["queue"],
                    "steps": 5,
                    "planned_steps": 50,
                    "step_cap": 5,
                    "capped": True,
                    "seconds": 1.0,
                    "final_loss": 0.2,
                },
            ],
            "seconds": 2.0,
        },
    }
    return registry.publish(staging, manifest, actor="trainer", render={MODEL_CARD: render_model_card})


def expected_from_report(version: ModelVersion) -> dict[str, Any]:
    """What the review must say, computed here from the stored report: the weakest measured class, the
    most confused pair, the classes without held-out examples."""
    report = json.loads((version.path / EVAL_DIR / "queue" / REPORT_JSON).read_text(encoding="utf-8"))
    matrix = report["confusion_matrix"]
    measured = {c: f for c, f in report["per_class"].items() if f["support"] > 0}
    weakest = min(measured, key=lambda c: measured[c]["f1-score"])
    i, j = max(
        ((i, j) for i in range(len(QUEUE)) for j in range(len(QUEUE)) if i != j),
        key=lambda ij: (matrix[ij[0]][ij[1]], -ij[0], -ij[1]),
    )
    return {
        "weakest": weakest,
        "weakest_f1": f"{measured[weakest]['f1-score']:.3f}",
        "weakest_recall": f"{measured[weakest]['recall']:.3f}",
        "pair": f"{QUEUE[i]} → {QUEUE[j]}: {matrix[i][j]} of {sum(matrix[i])}",
        "unmeasured": report["classes_without_eval_examples"],
        "macro_f1": report["macro_f1"],
    }


def test_the_review_flags_the_weak_class_and_its_confusions(tmp_path: Path) -> None:
    version = publish_with_report(Registry(tmp_path / "models"))
    expected = expected_from_report(version)
    (review,) = review_version(version.path, version.manifest)
    rows = {c.name: c for c in review.classes}
    assert expected["weakest"] == "complaints" and expected["unmeasured"] == ["fraud"]
    weakest = rows[expected["weakest"]]
    assert weakest.weak and f"{weakest.f1:.3f}" == expected["weakest_f1"]
    assert weakest.train == TRAIN_COUNTS["complaints"] and weakest.support == 29
    assert [c.name for c in review.weak] == [
        c
        for c, r in rows.items()
        if r.f1 is not None and (r.f1 < WEAK_F1_BAR or r.f1 < expected["macro_f1"] - WEAK_F1_GAP)
    ]
    assert str(review.confusions[0]) == expected["pair"]
    assert rows["fraud"].f1 is None and not rows["fraud"].weak  # not measured is not a failure
    assert review.coverage_note() is not None and "macro-F1 is over 4 of 5 classes" in review.coverage_note()


def test_the_card_written_at_training_has_the_per_class_table(tmp_path: Path) -> None:
    version = publish_with_report(Registry(tmp_path / "models"))
    expected = expected_from_report(version)
    card = (version.path / MODEL_CARD).read_text(encoding="utf-8")
    row = next(line for line in card.splitlines() if line.startswith(f"| {expected['weakest']} |"))
    assert expected["weakest_f1"] in row and expected["weakest_recall"] in row and "**weak**" in row
    assert expected["pair"] in card
    assert "| fraud | 4 | 0 | n/a | n/a | n/a |  |" in card
    assert "macro-F1 is over 4 of 5 classes" in card
    assert "5 of 50 planned contrastive steps, CAPPED at 5 steps on cpu" in card
    assert version.verify() == []  # the card was hashed with the version's other files


def test_a_class_without_held_out_examples_is_null_in_report_json_and_n_a_on_the_card(tmp_path: Path) -> None:
    """`fraud` was not measured: its report figures are null, never 0.0, and the card says n/a."""
    version = publish_with_report(Registry(tmp_path / "models"))
    report = json.loads((version.path / EVAL_DIR / "queue" / REPORT_JSON).read_text(encoding="utf-8"))
    assert report["classes_without_eval_examples"] == ["fraud"]
    assert report["per_class"]["fraud"] == {"precision": None, "recall": None, "f1-score": None, "support": 0}
    measured = [c for c in QUEUE if c != "fraud"]
    assert all(isinstance(report["per_class"][c]["f1-score"], float) for c in measured)
    card = (version.path / MODEL_CARD).read_text(encoding="utf-8")
    assert "| fraud | 4 | 0 | n/a | n/a | n/a |  |" in card
    (review,) = review_version(version.path, version.manifest)
    assert [c.name for c in review.classes if c.f1 is None] == ["fraud"] and review.without_eval == ["fraud"]
