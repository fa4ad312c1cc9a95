"""`postroom train` end to end: store -> training data -> SetFit -> held-out evaluation -> registry."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import Settings
from postroom.taxonomy import Taxonomy
from postroom.workdirs import SCRATCH_DIR, SCRATCH_PREFIX
from training.config import TrainConfig
from training.dataset import TrainingData, build_training_data
from training.progress import NullReporter, Reporter
from training.provenance import provenance
from training.registry import (
    BODIES_DIR,
    DATASET_FILE,
    EVAL_DIR,
    HEADS_DIR,
    MODEL_CARD,
    REPORT_JSON,
    ModelVersion,
    Registry,
    utc_now,
)


@dataclass(frozen=True)
class TrainOutcome:
    version: ModelVersion
    metrics: dict[str, dict[str, Any]]
    seconds: float
    device: str
    capped: bool


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("setfit", "sentence-transformers", "transformers", "torch", "scikit-learn", "numpy"):
        try:
            found[name.replace("-", "_")] = version(name)
        except PackageNotFoundError:
            continue
    return found


def train_and_register(
    data: TrainingData,
    base_model: str,
    config: TrainConfig,
    registry: Registry,
    scratch_root: Path,
    reporter: Reporter | None = None,
    actor: str | None = None,
) -> TrainOutcome:
    """Train every label set of `data`, evaluate on its held-out split, publish a candidate version."""
    from training.artifacts import save_body, save_head
    from training.contrastive import LabeledTexts, encode
    from training.devices import resolve_device
    from training.evaluate import evaluate_label_set
    from training.evidence import save_evidence
    from training.heads import aligned_proba
    from training.model_card import render_model_card
    from training.multitask import train_models
    from training.setfit_trainer import truncation_stats

    reporter = reporter or NullReporter()
    started = time.perf_counter()
    device = resolve_device(config)
    cap = config.step_cap(device.type)
    if cap is not None and device.type == "cpu" and config.cpu_max_steps is not None:
        reporter.info(
            f"training on CPU ({device.name}): contrastive phase capped at {cap} steps per label set"
        )
    else:
        reporter.info(f"training on {device.type} ({device.name}, {device.precision})")
    tasks = [
        LabeledTexts(name, d.train_texts, d.train_labels, d.class_texts)
        for name, d in data.label_sets.items()
    ]
    scratch = (
        scratch_root / f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    )  # the trainer's scratch dir, never ./checkpoints
    staging = registry.new_staging_dir()
    try:
        if data.unlabeled_texts:
            reporter.info(f"self-training the heads on {len(data.unlabeled_texts)} unlabeled messages")
        models = train_models(base_model, tasks, config, device, scratch, reporter, data.unlabeled_texts)
        metrics: dict[str, dict[str, Any]] = {}
        label_sets: dict[str, Any] = {}
        bodies: dict[str, Any] = {}
        truncation: dict[str, Any] = {}
        for key, body in models.bodies.items():
            bodies[key] = {"path": f"{BODIES_DIR}/{key}", **save_body(body, staging / BODIES_DIR / key)}
        with reporter.task("evaluating", total=len(data.label_sets)) as progress:
            for name, split in data.label_sets.items():
                body = models.body_for(name)
                truncation[name] = truncation_stats(body, split.train_texts)
                eval_embeddings = encode(body, split.eval_texts, config, device)
                proba = (
                    aligned_proba(models.heads[name], eval_embeddings, len(split.classes))
                    if split.eval_texts
                    else np.zeros((0, len(split.classes)))
                )
                out_dir = staging / EVAL_DIR / name
                result = evaluate_label_set(name, split.classes, split.eval_labels, proba, out_dir)
                (out_dir / REPORT_JSON).write_text(
                    json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8"
                )
                metrics[name] = {
                    k: result.get(k)
                    for k in (
                        "n_eval",
                        "accuracy",
                        "macro_f1",
                        "weighted_f1",
                        "ece",
                        "plots",
                        "classes_without_eval_examples",
                    )
                }
                head_dir = f"{HEADS_DIR}/{name}"
                save_head(
                    models.heads[name],
                    split.classes,
                    models.body_of[name],
                    bodies[models.body_of[name]]["max_seq_length"],
                    staging / head_dir,
                )
                if name in models.evidence:
                    save_evidence(
                        models.evidence[name], models.heads[name], split.classes, staging / head_dir
                    )
                label_sets[name] = {"classes": split.classes, "body": models.body_of[name], "head": head_dir}
                progress.advance()
        record = data.record(
            {name: models.pseudo_labeled.get(name, set()) for name in data.label_sets}
        )
        (staging / DATASET_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        seconds = time.perf_counter() - started
        manifest: dict[str, Any] = {
            "created_at": utc_now(),
            "base_model": base_model,
            "taxonomy": {"name": data.taxonomy_name, "fingerprint": data.taxonomy_fingerprint},
            "variant": models.variant,
            "config": config.to_dict(),
            "label_sets": label_sets,
            "bodies": bodies,
            "metrics": metrics,
            "truncation": truncation,
            "dataset": {
                "file": DATASET_FILE,
                "train_messages": len(data.train_message_ids),
                "eval_messages": len(data.eval_message_ids),
                # counts and settings; the held-out groups' message IDs stay in dataset.json
                "split": {k: v for k, v in data.split.items() if k != "eval_near_copies"},
                "per_label_set": {
                    n: {"train": len(d.train_ids), "eval": len(d.eval_ids)}
                    for n, d in data.label_sets.items()
                },
            },
            "training": {
                "device": device.name,
                "device_type": device.type,
                "precision": device.precision,
                "bodies": [r.to_dict() for r in models.reports],
                "contrastive_seconds": round(models.contrastive_seconds, 2),
                "head_seconds": round(models.head_seconds, 2),
                "seconds": round(seconds, 2),
                "self_training": {n: r.to_dict() for n, r in models.self_training.items()},
            },
            "libraries": _library_versions(),
            "provenance": provenance(base_model),
            "model_card": MODEL_CARD,
        }
        version = registry.publish(staging, manifest, actor=actor, render={MODEL_CARD: render_model_card})
    except BaseException:
        registry.discard(staging)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TrainOutcome(version, metrics, seconds, device.name, any(r.capped for r in models.reports))


def train_from_store(
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    settings: Settings,
    config: TrainConfig,
    reporter: Reporter | None = None,
    label_sets: list[str] | None = None,
    ignore_unknown: bool = False,
    actor: str | None = None,
) -> TrainOutcome:
    """Build the training data from the store and train, evaluate and register a candidate version.

    The training libraries are imported first: a missing `train` extra is reported before the store is read.
    """
    import setfit  # noqa: F401
    import torch  # noqa: F401

    with sessions() as session:
        data = build_training_data(session, taxonomy, config, label_sets, ignore_unknown)
    return train_and_register(
        data,
        settings.resolved_base_model(),
        config,
        Registry(settings.registry_dir),
        settings.data_dir / SCRATCH_DIR,
        reporter,
        actor,
    )
