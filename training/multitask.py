"""SetFit with one shared body for every label set, and one head per label set.

setfit cannot do this (`multi_target_strategy` is for multi-hot labels of one set). Here the body is
fine-tuned once on all label sets at the same time: one dataset and one loss per label set over the same
texts, batches alternating between label sets (`TrainConfig.multitask_sampler`), so each step pulls the
embedding towards one label set's classes. The step cap counts per label set: the shared body gets as many
steps in total as the separate bodies together, and costs one body at inference instead of one per set.
Imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.config import TrainConfig
from training.contrastive import LabeledTexts, finetune_body
from training.devices import DeviceChoice
from training.progress import NullReporter, Reporter
from training.setfit_trainer import TrainedModels, fit_heads, load_base, self_train_bodies

SHARED_BODY = "shared"


def train_shared(
    base_model: str,
    tasks: list[LabeledTexts],
    config: TrainConfig,
    device: DeviceChoice,
    workdir: Path,
    reporter: Reporter | None = None,
    unlabeled: Sequence[str] = (),
) -> TrainedModels:
    """One body fine-tuned on every label set of `tasks`, one head per label set."""
    reporter = reporter or NullReporter()
    body = load_base(base_model, config, device)
    report = finetune_body(
        body, tasks, config, device, workdir / SHARED_BODY, reporter, description="shared body"
    )
    models = TrainedModels("shared", bodies={SHARED_BODY: body}, body_of={t.name: SHARED_BODY for t in tasks})
    models.reports.append(report)
    fit_heads(models, tasks, config, device, unlabeled)
    self_train_bodies(models, tasks, config, device, workdir, reporter, unlabeled)
    return models


def train_models(
    base_model: str,
    tasks: list[LabeledTexts],
    config: TrainConfig,
    device: DeviceChoice,
    workdir: Path,
    reporter: Reporter | None = None,
    unlabeled: Sequence[str] = (),
) -> TrainedModels:
    """Train the variant `config.variant` names (a single label set always gets its own body)."""
    from training.setfit_trainer import train_separate

    if config.variant == "shared" and len(tasks) > 1:
        return train_shared(base_model, tasks, config, device, workdir, reporter, unlabeled)
    return train_separate(base_model, tasks, config, device, workdir, reporter, unlabeled)
