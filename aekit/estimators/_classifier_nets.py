"""The networks :class:`aekit.EncoderClassifier` trains, their named outputs and the joint step's augmentation.

The encoder + head network gives class logits (:class:`ClassifierOutput`); the joint network gives class logits and
the reconstruction of every row it is given (:class:`JointOutput`), so that the ``"joint-classification"``
objective runs one forward pass over the weak and strong views together.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from aekit.models.base import Autoencoder


class ClassifierOutput(NamedTuple):
    """What the encoder + head network returns: class logits (B, K) and the code (B, k) they come from."""

    logits: torch.Tensor
    code: torch.Tensor
    regularizers: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor]


class JointOutput(NamedTuple):
    """What the joint network returns for every row it is given: class logits (B, K), the autoencoder's
    reconstruction (B, *input_shape) and code, and its regularisers and stats."""

    logits: torch.Tensor
    recon: torch.Tensor
    code: torch.Tensor
    regularizers: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor]


class _EncoderWithHead(Autoencoder):
    """The encoder of an autoencoder + a small MLP head: its output (:class:`ClassifierOutput`) holds the class
    logits (B, K), which the ``"classification"`` objective scores against the batch's ``label``."""

    def __init__(self, encoder: nn.Module, head: nn.Module, num_classes: int, input_shape):
        super().__init__(input_shape=input_shape, latent_dim=1, output_activation=None)
        self.encoder, self.head, self.num_classes = encoder, head, num_classes
        self.decoder = nn.Identity()

    def forward(self, x: torch.Tensor) -> ClassifierOutput:
        code = self.encoder(x).flatten(1)              # (B, k)
        return ClassifierOutput(self.head(code), code, {}, {})   # logits (B, K)


class _JointNet(Autoencoder):
    """An autoencoder + a head on its code. ``forward`` gives the class logits (B, K) and the reconstruction of
    every row (:class:`JointOutput`); ``progress`` is the fraction of training done (for the objective's ramp)."""

    def __init__(self, autoencoder: Autoencoder, head: nn.Module, num_classes: int):
        super().__init__(input_shape=autoencoder.input_shape, latent_dim=autoencoder.latent_dim,
                         output_activation=None)
        self.autoencoder, self.head, self.num_classes = autoencoder, head, num_classes
        self.encoder, self.decoder = autoencoder.encoder, nn.Identity()
        self.progress = 0.0

    def set_training_progress(self, step: int, total_steps: int) -> None:
        self.progress = step / max(1, total_steps)
        self.autoencoder.set_training_progress(step, total_steps)

    def forward(self, x: torch.Tensor) -> JointOutput:
        out = self.autoencoder(x)
        return JointOutput(self.head(out.code.flatten(1)), out.recon, out.code, out.regularizers, out.stats)


class _JointViews:
    """The joint step's augmentation (``augment(batch, generator)``): the weak view of each sample as the input,
    and the strong view of the clean sample (the target) as the field ``strong``, both drawn from the step's
    generator (None: the sample itself)."""

    def __init__(self, strong, weak):
        self.strong, self.weak = strong, weak

    def __call__(self, batch, generator):
        weak = batch.input if self.weak is None else self.weak(batch.input, generator)
        strong = batch.target if self.strong is None else self.strong(batch.target, generator)
        return batch.replace(input=weak, strong=strong)


def _head(code_dim: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    if hidden == 0:
        return nn.Sequential(nn.Linear(code_dim, num_classes))
    return nn.Sequential(nn.Linear(code_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))
