"""Contrastive fine-tuning of one sentence-transformers body on one or several label sets.

This is setfit 1.2.0's first phase (setfit's pair sampler for the cosine loss, sentence-transformers'
trainer underneath), run through `SentenceTransformerTrainer` with explicit arguments rather than through
`setfit.Trainer`, because setfit's Trainer, measured here:
- never switches on the group-by-label batch sampler for the in-batch losses (it compares the loss instance
  with loss classes), so batch-triplet and SupCon train on random batches where most anchors lack a positive
  (SupCon then divides 0 by 0: NaN);
- takes one label column only (no shared body for several label sets);
- writes `./checkpoints` unless told otherwise, enables every installed reporting integration, and offers
  fp16 only (no bf16) with no way to pin the CPU on a CUDA machine.

Several label sets train one body: one dataset and one loss per label set, batches alternate between them
(`multitask_sampler`). A step cap counts per label set, so a shared body gets as many steps in total as the
separate bodies together. Imports torch: import this module lazily.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from sentence_transformers.base.sampler import (
    BatchSamplers,
    GroupByLabelBatchSampler,
    MultiDatasetBatchSamplers,
)
from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
from setfit.sampler import ContrastiveDataset
from transformers import PrinterCallback, ProgressCallback, TrainerCallback, set_seed

from training.config import TrainConfig
from training.devices import DeviceChoice
from training.errors import TrainingDiverged, TrainingError
from training.losses import GROUPED_LOSSES, build_loss
from training.progress import NullReporter, Reporter, Task


@dataclass(frozen=True)
class LabeledTexts:
    """The training texts of one label set, with integer labels (indices into its class list).

    `class_texts` are what the taxonomy says about each class (`ClassDef.texts`: its name in words, its
    description), as (text, label) pairs: extra examples for the head, not for the contrastive phase.
    """

    name: str
    texts: list[str]
    labels: list[int]
    class_texts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class BodyTrainingReport:
    """What the contrastive phase did."""

    label_sets: list[str]
    steps: int
    planned_steps: int  # the uncapped schedule: epochs over the data
    step_cap: int | None  # cap in force (all label sets together), None when uncapped
    seconds: float
    final_loss: float | None
    device: str
    precision: str
    pseudo_labeled: int = 0  # texts with pseudo-labels among those trained on (body self-training)

    @property
    def capped(self) -> bool:
        return self.step_cap is not None and self.step_cap < self.planned_steps

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_sets": self.label_sets,
            "steps": self.steps,
            "planned_steps": self.planned_steps,
            "step_cap": self.step_cap,
            "capped": self.capped,
            "seconds": round(self.seconds, 2),
            "final_loss": self.final_loss,
            "device": self.device,
            "precision": self.precision,
            "pseudo_labeled": self.pseudo_labeled,
        }


class _QuietTrainer(SentenceTransformerTrainer):
    """No model-card tracking (it embeds widget examples, and we write our own card), no printed logs."""

    def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
        pass


class _GuardAndReport(TrainerCallback):
    """Advances a progress task each step; stops training with a clear error on a NaN or infinite loss."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.last_loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.task.set_total(state.max_steps)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.task.advance(1)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any
    ) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the contrastive loss became {loss} at step {state.global_step}; lower body_learning_rate "
                "or use another loss (the supcon loss here is NaN-safe; setfit's own is not)"
            )
        self.last_loss = float(loss)
        self.task.note(f"loss {loss:.4f}")


def _task_dataset(task: LabeledTexts, config: TrainConfig, max_pairs: int) -> Dataset:
    if config.loss in GROUPED_LOSSES:
        return Dataset.from_dict({"sentence": task.texts, "label": [int(y) for y in task.labels]})
    pairs = ContrastiveDataset(
        task.texts, task.labels, multilabel=False, num_iterations=config.pair_iterations, max_pairs=max_pairs
    )
    return Dataset.from_list(list(pairs))


def _steps_per_epoch(datasets: dict[str, Dataset], config: TrainConfig) -> int:
    if config.loss in GROUPED_LOSSES:
        lengths = [
            len(
                GroupByLabelBatchSampler(d, config.batch_size, drop_last=False, valid_label_columns=["label"])
            )
            for d in datasets.values()
        ]
    else:
        lengths = [math.ceil(len(d) / config.batch_size) for d in datasets.values()]
    if len(lengths) > 1 and config.multitask_sampler == "round_robin":
        return min(lengths) * len(lengths)
    return sum(lengths)


def _check_groups(task: LabeledTexts) -> None:
    counts = np.bincount(np.asarray(task.labels, dtype=int))
    if int((counts >= 2).sum()) < 2:
        raise TrainingError(
            f"label set {task.name!r}: contrastive training needs at least two classes with two or more "
            "examples each"
        )


def finetune_body(
    body: SentenceTransformer,
    tasks: list[LabeledTexts],
    config: TrainConfig,
    device: DeviceChoice,
    workdir: Path,
    reporter: Reporter | None = None,
    description: str = "fine-tuning body",
) -> BodyTrainingReport:
    """Fine-tune `body` in place on every task of `tasks` (one for a separate model, several for shared).

    `workdir` receives the trainer's scratch files (no checkpoints are saved); the caller deletes it.
    """
    if not tasks:
        raise TrainingError("no label set to train on")
    for task in tasks:
        _check_groups(task)
    reporter = reporter or NullReporter()
    set_seed(config.seed)
    cap = config.step_cap(device.type)
    total_cap = cap * len(tasks) if cap else None
    max_pairs = -1 if cap is None else cap * config.batch_size
    datasets = {task.name: _task_dataset(task, config, max_pairs) for task in tasks}
    planned = _steps_per_epoch(datasets, config) * config.epochs
    max_steps = min(planned, total_cap) if total_cap else planned
    losses = {name: build_loss(config, body) for name in datasets}
    args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir),
        per_device_train_batch_size=config.batch_size,
        max_steps=max_steps,
        learning_rate=config.body_learning_rate,
        warmup_ratio=config.warmup_proportion,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device.type == "cpu",
        bf16=device.precision == "bf16",
        fp16=device.precision == "fp16",
        batch_sampler=BatchSamplers.GROUP_BY_LABEL
        if config.loss in GROUPED_LOSSES
        else BatchSamplers.BATCH_SAMPLER,
        multi_dataset_batch_sampler=(
            MultiDatasetBatchSamplers.ROUND_ROBIN
            if config.multitask_sampler == "round_robin"
            else MultiDatasetBatchSamplers.PROPORTIONAL
        ),
        save_strategy="no",
        report_to="none",
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,
        disable_tqdm=True,
        dataloader_drop_last=False,
    )
    single = len(datasets) == 1
    with reporter.task(description, total=max_steps) as progress:
        callback = _GuardAndReport(progress)
        trainer = _QuietTrainer(
            model=body,
            args=args,
            train_dataset=next(iter(datasets.values())) if single else DatasetDict(datasets),
            loss=next(iter(losses.values())) if single else losses,
            callbacks=[callback],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    body.to(device.torch_device)
    body.eval()
    return BodyTrainingReport(
        label_sets=[t.name for t in tasks],
        steps=int(trainer.state.global_step),
        planned_steps=planned,
        step_cap=total_cap,
        seconds=seconds,
        final_loss=callback.last_loss,
        device=device.name,
        precision=device.precision,
    )


def encode(
    body: SentenceTransformer, texts: list[str], config: TrainConfig, device: DeviceChoice
) -> np.ndarray:
    """Embeddings of `texts` (float32), with autocast on CUDA; NaN or infinite values are an error."""
    if not texts:
        return np.zeros((0, body.get_embedding_dimension() or 0), dtype=np.float32)
    body.eval()
    with torch.inference_mode():
        if device.type == "cuda" and device.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if device.precision == "bf16" else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                vectors = body.encode(
                    texts, batch_size=config.encode_batch_size, convert_to_numpy=True, show_progress_bar=False
                )
        else:
            vectors = body.encode(
                texts, batch_size=config.encode_batch_size, convert_to_numpy=True, show_progress_bar=False
            )
    vectors = np.asarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise TrainingDiverged(
            "the fine-tuned body produces NaN or infinite embeddings; training diverged (lower "
            "body_learning_rate, or use another loss)"
        )
    return vectors
