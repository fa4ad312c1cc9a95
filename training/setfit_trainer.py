"""SetFit with one body per label set (the simple, accurate baseline), and what both variants share.

Each label set: load the base body, fine-tune it contrastively on that set's training texts
(`training.contrastive`), embed, fit a logistic-regression head (`training.heads`). Imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers import SentenceTransformer

from training.config import TrainConfig
from training.contrastive import BodyTrainingReport, LabeledTexts, encode, finetune_body
from training.devices import DeviceChoice
from training.errors import TrainingError
from training.evidence import ConfidenceEvidence
from training.heads import aligned_proba, fit_head
from training.progress import NullReporter, Reporter
from training.selftrain import SelfTrainingReport, most_confident, self_train_head


@dataclass
class TrainedModels:
    """Bodies (by key) and heads (by label set) of one run, with what the contrastive phase reported."""

    variant: str
    bodies: dict[str, Any]
    body_of: dict[str, str]
    heads: dict[str, Any] = field(default_factory=dict)
    reports: list[BodyTrainingReport] = field(default_factory=list)
    head_seconds: float = 0.0
    self_training: dict[str, SelfTrainingReport] = field(default_factory=dict)  # by label set
    # by label set: rows of the unlabeled texts the self-trained head is surest of, and their pseudo-labels
    pseudo_labels: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    # by label set: every row of the unlabeled texts a head or a body learned from as a pseudo-label
    pseudo_labeled: dict[str, set[int]] = field(default_factory=dict)
    # by label set: what the router's learned confidence reads (training.evidence)
    evidence: dict[str, ConfidenceEvidence] = field(default_factory=dict)

    def body_for(self, label_set: str) -> Any:
        return self.bodies[self.body_of[label_set]]

    @property
    def contrastive_seconds(self) -> float:
        return sum(r.seconds for r in self.reports)


def model_max_length(body: SentenceTransformer) -> int:
    """The longest input the body's transformer accepts (its position embeddings), in tokens.

    Not the tokenizer's `model_max_length`: sentence-transformers sets that to the configured
    `max_seq_length` (256 for the packaged MiniLM, whose position embeddings allow 512).
    """
    config = getattr(getattr(body[0], "auto_model", None), "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        return positions
    return int(body.max_seq_length)


def load_base(base_model: str, config: TrainConfig, device: DeviceChoice) -> SentenceTransformer:
    """The base body on the training device, with `max_seq_length` set (default: the model's maximum)."""
    try:
        body = SentenceTransformer(base_model, device=device.torch_device)
    except (OSError, ValueError) as exc:
        if Path(base_model).expanduser().exists():  # transformers may list every model type after this
            reason = str(exc).strip().splitlines()[0].split(". ")[0].rstrip(".")[:300]
        else:  # a hub id: the hub's own message says to check the internet connection, which is off by design
            reason = "no such local directory and no cached copy"
        raise TrainingError(
            f"cannot load base model {base_model!r}: {reason}. Give a local sentence-transformers directory "
            "or an id in the local Hugging Face cache (no hub access here)"
        ) from None
    limit = model_max_length(body)
    wanted = config.max_seq_length or limit
    if wanted > limit:
        raise TrainingError(f"max_seq_length {wanted} exceeds what {base_model} accepts ({limit} tokens)")
    body.max_seq_length = wanted
    return body


def truncation_stats(body: SentenceTransformer, texts: list[str]) -> dict[str, Any]:
    """How many texts are longer than the body's max_seq_length (in tokens), and length percentiles."""
    if not texts:
        return {"texts": 0, "truncated": 0, "rate": 0.0, "max_seq_length": int(body.max_seq_length)}
    encoded = body.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
    lengths = np.asarray([len(ids) for ids in encoded["input_ids"]])
    truncated = int((lengths > body.max_seq_length).sum())
    return {
        "texts": len(texts),
        "truncated": truncated,
        "rate": truncated / len(texts),
        "max_seq_length": int(body.max_seq_length),
        "tokens_p50": int(np.percentile(lengths, 50)),
        "tokens_p90": int(np.percentile(lengths, 90)),
        "tokens_max": int(lengths.max()),
    }


def fit_heads(
    models: TrainedModels,
    tasks: list[LabeledTexts],
    config: TrainConfig,
    device: DeviceChoice,
    unlabeled: Sequence[str] = (),
) -> None:
    """Embed each label set's training texts (and class texts) with its body and fit its head; given
    unlabeled texts and `config.self_train_rounds`, self-train the head on them (`training.selftrain`)."""
    started = time.perf_counter()
    cache: dict[str, dict[str, np.ndarray]] = {}
    pools: dict[str, np.ndarray] = {}
    for task in tasks:
        key = models.body_of[task.name]
        known = cache.setdefault(key, {})
        named = list(task.class_texts) if config.class_texts else []
        missing = [t for t in dict.fromkeys([*task.texts, *(t for t, _ in named)]) if t not in known]
        if missing:
            vectors = encode(models.bodies[key], missing, config, device)
            known.update(zip(missing, vectors, strict=True))
        labeled = (np.stack([known[t] for t in task.texts]), list(task.labels))
        extra = (np.stack([known[t] for t, _ in named]) if named else labeled[0][:0], [y for _, y in named])
        self_train = bool(unlabeled) and config.self_train_rounds > 0
        if self_train and key not in pools:
            pools[key] = encode(models.bodies[key], list(unlabeled), config, device)
        pool = pools[key] if self_train else labeled[0][:0]
        supervised = fit_head(
            np.vstack([labeled[0], extra[0]]), [*labeled[1], *extra[1]], config, extra_rows=len(extra[1])
        )
        n_classes = int(max(supervised.classes_)) + 1
        models.heads[task.name], report = self_train_head(supervised, labeled, extra, pool, n_classes, config)
        models.evidence[task.name] = ConfidenceEvidence(
            np.vstack([labeled[0], extra[0]]),
            [*labeled[1], *extra[1]],
            supervised if report.rounds else None,
        )
        if self_train:
            models.self_training[task.name] = report
            models.pseudo_labeled.setdefault(task.name, set()).update(report.picked)
        if self_train and config.self_train_body_epochs:  # what self_train_bodies trains on
            head = models.heads[task.name]
            proba = aligned_proba(head, pool, int(max(head.classes_)) + 1)
            rows = most_confident(proba, config.self_train_per_class)
            models.pseudo_labels[task.name] = (rows.tolist(), proba[rows].argmax(axis=1).tolist())
            models.pseudo_labeled[task.name].update(rows.tolist())
    models.head_seconds += time.perf_counter() - started


def self_train_bodies(
    models: TrainedModels,
    tasks: list[LabeledTexts],
    config: TrainConfig,
    device: DeviceChoice,
    workdir: Path,
    reporter: Reporter | None = None,
    unlabeled: Sequence[str] = (),
) -> bool:
    """Fine-tune every body again, `config.self_train_body_epochs` epochs on its label sets' labeled texts
    plus the unlabeled texts their self-trained heads are surest of (`self_train_per_class` per predicted
    class, with their pseudo-labels), then fit the heads again (self-trained too) on the new embeddings.

    Needs the pseudo-labels `fit_heads` leaves when given `unlabeled`; without them (no unlabeled texts,
    self-training off) nothing changes. Returns whether the bodies changed. Measured on BANKING77:
    docs/training.md.
    """
    if not config.self_train_body_epochs or not all(t.name in models.pseudo_labels for t in tasks):
        return False
    epochs = config.with_overrides(epochs=config.self_train_body_epochs)
    for key, body in models.bodies.items():
        own = [t for t in tasks if models.body_of[t.name] == key]
        extended = []
        for task in own:
            rows, labels = models.pseudo_labels[task.name]
            extended.append(
                LabeledTexts(task.name, [*task.texts, *(unlabeled[i] for i in rows)], [*task.labels, *labels])
            )
        report = finetune_body(
            body, extended, epochs, device, workdir / f"{key}-self", reporter, f"body {key}: self-training"
        )
        pseudo = sum(len(models.pseudo_labels[t.name][0]) for t in own)
        models.reports.append(replace(report, pseudo_labeled=pseudo))
    fit_heads(models, tasks, config, device, unlabeled)
    return True


def train_separate(
    base_model: str,
    tasks: list[LabeledTexts],
    config: TrainConfig,
    device: DeviceChoice,
    workdir: Path,
    reporter: Reporter | None = None,
    unlabeled: Sequence[str] = (),
) -> TrainedModels:
    """One fine-tuned body and one head per label set (heads self-trained on `unlabeled`, see fit_heads)."""
    reporter = reporter or NullReporter()
    models = TrainedModels("separate", bodies={}, body_of={})
    for task in tasks:
        body = load_base(base_model, config, device)
        report = finetune_body(
            body, [task], config, device, workdir / task.name, reporter, description=f"body {task.name}"
        )
        models.bodies[task.name] = body
        models.body_of[task.name] = task.name
        models.reports.append(report)
    fit_heads(models, tasks, config, device, unlabeled)
    self_train_bodies(models, tasks, config, device, workdir, reporter, unlabeled)
    return models
