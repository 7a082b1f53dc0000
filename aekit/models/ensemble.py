"""``mlp-ensemble``: many small MLP autoencoders trained as one network.

The members' weights are stacked, ``(n_members, fan_in, fan_out)`` per layer, so one batched matrix product
(``torch.baddbmm``) runs every member at once: a small table pays the Python and launch cost of one network,
not of ``n_members`` (the batched-ensemble idea of ``torch.func.stack_module_state`` + ``vmap``, written
directly). Each member sees its own random subset of the features (feature bagging: Lazarevic & Kumar,
"Feature bagging for outlier detection", KDD 2005) and, trained with the ``member-mse`` objective, its own
Poisson(1) bootstrap weights on every batch (online bagging: Oza & Russell, AISTATS 2001), as the
autoencoder ensembles of Chen et al. ("Outlier detection with autoencoder ensembles", SDM 2017) vary their
members.

Outputs: ``recon`` (B, D) is the mean, per feature, of the members that see that feature; ``code`` is
(B, n_members, latent_dim); ``pre_output`` is (n_members, B, D), each member's reconstruction with the
features it does not see copied from the input, so a member's residual is zero outside its subset (what
``member-mse`` trains on and :meth:`member_residuals` returns).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from aekit.layers import get_activation
from aekit.models.base import Autoencoder, ModelOutput, register_model
from aekit.models.dense import HIDDEN
from aekit.validation import Integer, Real


class _StackedLinear(nn.Module):
    """``n`` independent linear layers applied to ``(n, B, fan_in)`` in one ``baddbmm``; each member's
    weights start as ``nn.Linear``'s would (uniform in +-1/sqrt(fan_in))."""

    def __init__(self, n: int, fan_in: int, fan_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, h, self.weight)


def _stack(n: int, widths: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(_StackedLinear(n, a, b))
        if i < len(widths) - 2:
            layers.append(get_activation(activation))
    return nn.Sequential(*layers)


@register_model("mlp-ensemble")
class MLPEnsemble(Autoencoder):
    """``n_members`` MLP autoencoders D -> hidden... -> k -> reversed(hidden)... -> D, batched.

    ``feature_fraction``: the share of the features each member sees (at least one; every feature is seen by
    at least one member); the subsets are drawn from torch's random state when the model is built and saved
    with the weights (buffer ``feature_mask``).
    """

    input_kinds = ("table",)
    example_input_shape = (20,)
    loss = "member-mse"  # each member learns its own reconstruction (aekit/objectives.py)
    _constraints = {**Autoencoder._constraints, "hidden": HIDDEN, "n_members": Integer(1),
                    "feature_fraction": Real(0, 1, closed="right")}

    def __init__(self, *, input_shape, latent_dim: int = 4, n_members: int = 8,
                 hidden: tuple[int, ...] | list[int] = (64,), feature_fraction: float = 1.0,
                 activation: str = "relu", output_activation: str | None = None):
        self._check_args(latent_dim=latent_dim, hidden=hidden, n_members=n_members, feature_fraction=feature_fraction)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        hidden = [int(h) for h in hidden]
        d, m = self.input_shape[0], int(n_members)
        self.n_members = m
        self.register_buffer("feature_mask", _feature_subsets(m, d, float(feature_fraction)))
        self.encoder = _stack(m, [d, *hidden, latent_dim], activation)
        self.decoder = _stack(m, [latent_dim, *hidden[::-1], d], activation)

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.n_members, self.latent_dim)

    def _masked(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (n_members, B, D), each member's features only."""
        return x.unsqueeze(0) * self.feature_mask.unsqueeze(1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, n_members, latent_dim)"""
        return self.encoder(self._masked(x)).transpose(0, 1)

    def _member_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.transpose(0, 1))                     # (n_members, B, D)

    def _combine(self, members: torch.Tensor) -> torch.Tensor:
        """Per feature, the mean of the members that see it: (n_members, B, D) -> (B, D)."""
        mask = self.feature_mask.unsqueeze(1)
        return (members * mask).sum(0) / mask.sum(0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self._combine(self._member_logits(z))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        code = self.encode(x)
        members = self.out_act(self._member_logits(code))
        mask = self.feature_mask.unsqueeze(1)
        own = members * mask + x.unsqueeze(0) * (1 - mask)        # outside its subset a member copies the input
        return ModelOutput(self._combine(members), code, own, {}, {})

    def member_residuals(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (n_members, B, D): each member's reconstruction minus ``x``, zero outside its features."""
        return self.forward(x).pre_output - x.unsqueeze(0)


def _feature_subsets(n: int, d: int, fraction: float) -> torch.Tensor:
    """(n, d) 0/1 masks with ``max(1, round(fraction * d))`` features each, every feature in at least one."""
    k = max(1, round(fraction * d))
    mask = torch.zeros(n, d)
    if k == d:
        return mask + 1
    for i in range(n):
        mask[i, torch.randperm(d)[:k]] = 1
    unseen = torch.nonzero(mask.sum(0) == 0).flatten()
    for j, f in enumerate(unseen.tolist()):       # give each unseen feature to a member, in turn
        mask[j % n, f] = 1
    return mask
