"""Reconstruction losses and the named loss breakdown shared by every model and the training loop."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

RECONSTRUCTION_LOSSES = ("mse", "bce")


class LossBreakdown(NamedTuple):
    """Total loss and its named terms (each already weighted; ``total`` is their sum)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


def check_reconstruction_loss(name: str) -> str:
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"unknown reconstruction loss {name!r}; expected one of {RECONSTRUCTION_LOSSES}")
    return name


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean reconstruction error per element.

    ``mse``: mean squared error. ``bce``: binary cross-entropy of outputs in [0, 1] against targets
    in [0, 1] (use :func:`total_loss` with ``logits`` for the numerically stable form).
    """
    check_reconstruction_loss(kind)
    if kind == "mse":
        return F.mse_loss(recon, target)
    return F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), target)


def total_loss(recon: torch.Tensor, target: torch.Tensor, regularizers: dict[str, torch.Tensor],
               kind: str = "mse", logits: torch.Tensor | None = None) -> LossBreakdown:
    """Reconstruction loss plus the model's regularisation terms, as a :class:`LossBreakdown`.

    ``logits``: the decoder's pre-sigmoid output, when the model ends in a sigmoid; BCE then uses
    ``binary_cross_entropy_with_logits`` on it, which stays finite where ``recon`` saturates.
    """
    if kind == "bce" and logits is not None:
        rec = F.binary_cross_entropy_with_logits(logits, target)
    else:
        rec = reconstruction_loss(recon, target, kind)
    terms = {"recon": rec, **regularizers}
    total = rec
    for value in regularizers.values():
        total = total + value
    return LossBreakdown(total, terms)
