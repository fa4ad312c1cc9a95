"""Contrastive objectives for the body, built by name (`TrainConfig.loss`). Imports torch: import lazily.

`SupConLoss` replaces setfit's: setfit 1.2.0 divides by the number of in-batch positives of each anchor,
which is 0/0 = NaN for an anchor whose class has no other example in the batch. That happens all the time
because setfit's `Trainer.train_embeddings` never switches on the group-by-label batch sampler (it compares
the loss *instance* with loss *classes*). This version averages over anchors that have a positive, computes
in float32 under autocast, and returns a zero (finite) loss for a batch without any positive pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses as st_losses
from torch import Tensor, nn

from training.config import TrainConfig

GROUPED_LOSSES = frozenset(
    {"batch_all_triplet", "batch_hard_triplet", "batch_semi_hard_triplet", "supcon"}
)  # these need batches with several texts of each class (group-by-label sampler) and integer labels


class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al. 2020) with in-batch negatives, NaN-safe."""

    def __init__(self, model: SentenceTransformer, temperature: float = 0.05) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        features = next(iter(sentence_features))
        embeddings = self.model(features)["sentence_embedding"]
        return supcon_from_embeddings(embeddings, labels, self.temperature)

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


def supcon_from_embeddings(embeddings: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """The SupCon loss of one batch; anchors without an in-batch positive are left out."""
    emb = nn.functional.normalize(embeddings.float(), p=2, dim=1)
    n = emb.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=emb.device)
    logits = (emb @ emb.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    labels = labels.view(-1)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    counts = positives.sum(dim=1)
    has_positive = counts > 0
    if not bool(has_positive.any()):
        return emb.sum() * 0.0  # no positive pair in this batch: nothing to learn, and no NaN
    summed = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return -(summed[has_positive] / counts[has_positive]).mean()


def build_loss(config: TrainConfig, body: SentenceTransformer) -> nn.Module:
    """The loss module named by `config.loss`, bound to `body`."""
    cosine_distance = st_losses.BatchHardTripletLossDistanceFunction.cosine_distance
    if config.loss == "cosine":
        return st_losses.CosineSimilarityLoss(body)
    if config.loss == "batch_all_triplet":
        return st_losses.BatchAllTripletLoss(body, distance_metric=cosine_distance, margin=config.margin)
    if config.loss == "batch_hard_triplet":
        return st_losses.BatchHardTripletLoss(body, distance_metric=cosine_distance, margin=config.margin)
    if config.loss == "batch_semi_hard_triplet":
        return st_losses.BatchSemiHardTripletLoss(body, distance_metric=cosine_distance, margin=config.margin)
    if config.loss == "supcon":
        return SupConLoss(body, temperature=config.temperature)
    raise ValueError(f"unknown loss {config.loss!r}")
