"""The SupCon loss stays finite where setfit's own divides zero by zero (the NaN trap)."""

from __future__ import annotations

import torch

from training.losses import supcon_from_embeddings


def _setfit_supcon(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    from setfit.losses import SupConLoss

    class _Body(torch.nn.Module):
        def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"sentence_embedding": features["x"]}

    return SupConLoss(_Body())([{"x": embeddings}], labels)


def test_anchor_without_positive_is_nan_in_setfit_and_finite_here() -> None:
    torch.manual_seed(0)
    embeddings = torch.randn(6, 8, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 3])  # classes 2 and 3 have no in-batch positive
    assert torch.isnan(_setfit_supcon(embeddings, labels))
    loss = supcon_from_embeddings(embeddings, labels, temperature=0.05)
    loss.backward()
    assert torch.isfinite(loss)
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()


def test_batch_without_any_positive_gives_zero_loss_and_zero_grad() -> None:
    embeddings = torch.randn(4, 8, requires_grad=True)
    loss = supcon_from_embeddings(embeddings, torch.tensor([0, 1, 2, 3]), temperature=0.05)
    loss.backward()
    assert loss.item() == 0.0
    assert embeddings.grad is not None and torch.count_nonzero(embeddings.grad) == 0


def test_matches_the_definition_on_a_full_batch() -> None:
    torch.manual_seed(1)
    embeddings = torch.randn(4, 5)
    labels = torch.tensor([0, 0, 1, 1])
    ours = supcon_from_embeddings(embeddings, labels, temperature=0.07)
    reference = _setfit_supcon(embeddings, labels)  # every anchor has a positive: setfit is right here
    assert torch.allclose(ours, reference, atol=1e-5)
